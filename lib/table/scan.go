package table

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Scan: the check-only path. It judges a source file exactly as Parse does
// (the same limits, the same parser code: rules 1 to 4 and the
// logical-line assembly) but keeps only what a check needs:
//
//   - the warnings, duplicates included, identical to Parse's;
//   - the number of distinct keys;
//   - where each distinct key is, so that Find can return the entries of
//     keys known only after the scan (the fingerprints of relays probed
//     meanwhile: the scan need not wait for them);
//   - the first few entries whose key a function of the caller's marks,
//     and how many it marks in all.
//
// Scan maps the file into memory (mmap, read-only) instead of copying it:
// for the big tables that matter here the copy and a buffer's page faults
// cost more than the parsing. Keys and values point into the mapping only
// while Scan or Find runs; what outlives them is copied. A file truncated
// meanwhile (an editor rewriting it in place) makes reading the lost pages
// fault: Scan and Find turn that fault into an error (debug.SetPanicOnFault)
// instead of the SIGBUS that would kill the process, and Find first checks
// that the file's size and modification time are still those scanned.
//
// A big file is scanned by several goroutines at once, in two rounds:
//
//  1. The file is cut into parts, each starting with a start line (see the
//     grammar), so that no logical line crosses a cut, and a few
//     goroutines parse a part at a time, its lines numbered from 1: its
//     warnings but duplicates, and for each entry the hash of its key's
//     index form (see canonAppend), its line and its offset, in file order
//     (16 bytes an entry). A part goes a window of about 1 MiB at a time,
//     which it checks for NUL bytes and non-ASCII bytes before parsing it,
//     and unmaps after (the pages stay in the page cache): the mapping
//     adds a few windows to the peak RSS, not the file. Input that Parse
//     refuses is judged again, in one piece, for Parse's error.
//  2. As soon as a part and every part before it are parsed, one goroutine
//     (whichever finished a part and finds no other at it) numbers its
//     lines on and puts its entries, in file order, into one key set: the
//     first entry of each key is stored, the others are duplicates. Two
//     keys with the same hash are compared by their bytes, read back from
//     the mapping, so a hash collision never makes a false duplicate.
//
// The duplicate warnings are then put in line order among the others. A
// key that does not lie within its first physical line (quoted whitespace
// across a continuation line) is kept as text. Find parses a found key's
// logical line again, from the mapping.

// Summary is what Scan keeps of a source file: enough to judge it, not to
// edit or print it.
type Summary struct {
	// Path names the file in messages.
	Path string
	// Warnings holds what postmap would warn about, in line order: the
	// same as Table.Warnings of the same file.
	Warnings []Warning
	// Marked holds the first entries, in file order and up to the number
	// Scan was given, whose key the function given to Scan marked; DupOf
	// is not set. Marks counts every entry marked.
	Marked []Entry
	Marks  int
	// CacheNote says, for a verbose report, whether the Summary came from
	// a Cache or why not, and whether Find saved what it learned to one.
	// It is "" when Scan was given no Cache.
	CacheNote string

	n     int              // distinct keys
	found map[string]Entry // the keys found by Find, by index form
	sc    *scanner         // the key set, for Find; nil after Close
	unmap func() error     // releases sc.data; nil when it is not a mapping
	file  *os.File         // the file scanned; nil when not Scan's own
	stat  os.FileInfo      // file, when Scan opened it

	// With a Cache: where to save, and what.
	cache   *Cache
	cf      *cacheFile
	mark    func(key string) bool // Scan's, for rescan
	keep    int
	pieces  []piece           // the file's checksums
	answers map[string]answer // the keys looked up, by index form
	asked   []string          // the keys looked up by the Find running
	dirty   bool              // the cache file does not hold all that s knows
	trimmed bool              // the Find running has trimmed answers to its keys
}

// Len returns the number of distinct keys, the number of entries that
// postmap stores.
func (s *Summary) Len() int {
	return s.n
}

// Lookup returns the entry that postmap's table returns for key, as
// Table.Lookup does, for the keys given to Find; for any other key it
// reports false.
func (s *Summary) Lookup(key string) (Entry, bool) {
	e, ok := s.found[string(canonAppend(nil, key))]
	return e, ok
}

// Find looks keys up in the scanned file, for Lookup: it finds each in the
// key set and parses its logical line again. It fails when the file no
// longer holds there what Scan read (its size, modification or status
// change time differ, or a found key is no longer there), or after Close.
func (s *Summary) Find(keys []string) error {
	if s.sc == nil {
		return fmt.Errorf("%s: find keys: the scan is closed", s.Path)
	}
	if s.file != nil {
		// Written in place since the scan: what Scan judged is gone.
		fi, err := s.file.Stat()
		if err != nil {
			return fmt.Errorf("read table source: %w", err)
		}
		if changed(s.stat, fi) {
			return fmt.Errorf("%s: the file changed while it was read (rewritten in place?): run the check again", s.Path)
		}
	}
	s.asked, s.trimmed = s.asked[:0], false
	cached := s.sc.slots == nil
	err := s.sc.guard(func() error { return s.find(keys) })
	if err == nil && cached && s.sc.slots != nil {
		// Parsed meanwhile: the keys answered from the cache before the
		// parse are answered again, as the parse (which may have found
		// the cache wrong) says.
		for _, k := range keys {
			delete(s.found, string(canonAppend(nil, k)))
		}
		err = s.sc.guard(func() error { return s.find(keys) })
	}
	if err == nil && s.cache != nil && s.dirty {
		note := "saved to the scan cache " + s.cf.path
		if err := s.cache.save(s.cf, s, s.keep); err != nil {
			note = "not saved to the scan cache: " + err.Error()
		} else {
			s.dirty = false
		}
		if s.CacheNote != "" {
			note = s.CacheNote + "; " + note
		}
		s.CacheNote = note
	}
	return err
}

// find is Find's loop over keys, under guard.
func (s *Summary) find(keys []string) error {
	for _, k := range keys {
		c := string(canonAppend(nil, k))
		if _, ok := s.found[c]; ok {
			continue
		}
		r, ok, err := s.where(c)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		e, ok := s.sc.entryAt(r)
		if (!ok || !sameKey(e.Key, c, true)) && s.sc.slots == nil {
			// The cache's answer does not hold: the cache is wrong, or
			// the file changed. Parse it, which tells, and ask again.
			if err := s.rescan(); err != nil {
				return err
			}
			if r, ok = s.sc.lookup(c); !ok {
				continue
			}
			e, ok = s.sc.entryAt(r)
		}
		if !ok || !sameKey(e.Key, c, true) {
			return fmt.Errorf("%s:%d: the file changed while it was read: the key there is no longer %q", s.Path, r.line&^spilled, k)
		}
		e.Key, e.Value = strings.Clone(e.Key), strings.Clone(e.Value)
		s.found[c] = e
	}
	return nil
}

// where returns the record of the first entry whose key has the index
// form c, and whether there is one: from the cache, or else from the key
// set, which a Summary from the cache builds first (see rescan).
func (s *Summary) where(c string) (record, bool, error) {
	if s.answers != nil {
		s.asked = append(s.asked, c)
	}
	if a, ok := s.answers[c]; ok {
		return record{off: a.off, line: a.line}, a.found, nil
	}
	if s.sc.slots == nil {
		if err := s.rescan(); err != nil {
			return record{}, false, err
		}
	}
	r, ok := s.sc.lookup(c)
	if s.answers != nil {
		if len(s.answers) >= maxCachedAnswers && !s.trimmed {
			s.trimmed = true
			// Keep this run's keys, which the next run asks again.
			kept := map[string]answer{}
			for _, k := range s.asked {
				if a, ok := s.answers[k]; ok {
					kept[k] = a
				}
			}
			s.answers = kept
		}
		s.answers[c] = answer{found: ok, off: r.off, line: r.line &^ spilled}
		s.dirty = true
	}
	return r, ok, nil
}

// rescan parses the file of a Summary from the cache, as Scan would have:
// for a key the cache knows nothing of, or an answer of the cache that
// does not hold. It takes what the parse finds (the same, unless the
// cache was wrong), and answers again every key the cache answered, so
// that a wrong cache heals, unless the file changed meanwhile.
func (s *Summary) rescan() error {
	workers := max(runtime.GOMAXPROCS(0)-1, 1)
	parts := min(4*workers, 1+len(s.sc.data)/minPart)
	sum, err := scan(s.Path, s.sc.data, s.mark, s.keep, limits{MaxBytes, MaxLines, MaxLineBytes}, parts, workers, s.sc.mapped, true)
	if err != nil {
		return err
	}
	note := "the scan cache " + s.cf.path + " did not know every key looked up: the file was parsed"
	if sum.n != s.n || !slices.Equal(sum.Warnings, s.Warnings) || !slices.Equal(sum.Marked, s.Marked) || sum.Marks != s.Marks {
		// Either the file changed since its checksums were compared, or
		// the cache was wrong: the checksums of the bytes parsed tell.
		var same bool
		if err := s.sc.guard(func() error { same = verify(s.Path, s.sc.data, s.pieces, s.sc.mapped); return nil }); err != nil || !same {
			return fmt.Errorf("%s: the file changed while it was read (rewritten in place?): run the check again", s.Path)
		}
		s.n, s.Warnings, s.Marked, s.Marks = sum.n, sum.Warnings, sum.Marked, sum.Marks
		note = "the scan cache " + s.cf.path + " was wrong: the file was parsed"
	}
	s.sc, s.pieces = sum.sc, sum.pieces
	for k, a := range s.answers {
		r, ok := s.sc.lookup(k)
		if fresh := (answer{found: ok, off: r.off, line: r.line &^ spilled}); fresh != a {
			s.answers[k] = fresh
			note = "the scan cache " + s.cf.path + " was wrong: the file was parsed"
		}
	}
	s.CacheNote, s.dirty = note, true
	return nil
}

// Close releases the file and the key set; Lookup goes on answering for
// the keys found before.
func (s *Summary) Close() error {
	s.sc = nil
	var err error
	if s.unmap != nil {
		err = s.unmap()
		s.unmap = nil
	}
	if s.file != nil {
		if cerr := s.file.Close(); err == nil {
			err = cerr
		}
		s.file = nil
	}
	if s.cf != nil && s.cache != nil {
		s.cf.root.Close()
		s.cache = nil
	}
	return err
}

// Scan reads the source file at path as Read does, with the same checks
// and refusals, but without keeping it: it returns the Summary that knows
// where each key is. mark, when not nil, is called with the key of every
// entry, duplicates included, from several goroutines at once and in no
// order; the key is valid only during the call. Scan keeps the first keep
// entries whose key mark marks. The Summary holds the file, for Find,
// until Close.
//
// A big file is scanned by GOMAXPROCS-1 goroutines (at least one): a
// caller that wants every CPU busy while it also waits on the network
// raises GOMAXPROCS to one more than the CPUs.
func Scan(path string, mark func(key string) bool, keep int) (*Summary, error) {
	return scanPath(path, mark, keep, nil)
}

// scanPath is Scan, and Cache.Scan when c is not nil.
func scanPath(path string, mark func(key string) bool, keep int, c *Cache) (*Summary, error) {
	f, fi, err := open(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxBytes {
		f.Close()
		return nil, fmt.Errorf("%s: %d bytes is over the limit of %d bytes for a table source file", path, fi.Size(), MaxBytes)
	}
	data, unmap, err := mapFile(f, int(fi.Size()))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read table source: %w", err)
	}
	var (
		cf   *cacheFile
		note string
	)
	if c != nil {
		var sum *Summary
		if cf, err = c.file(path); err != nil {
			note, c = "scan cache not used: "+err.Error(), nil
		} else if sum, err = c.load(cf, path, fi, data, keep, unmap != nil); err == nil {
			sum.sc = &scanner{path: path, data: data, s: unsafe.String(unsafe.SliceData(data), len(data)), mapped: unmap != nil}
			sum.withCache(c, cf, mark, keep)
			sum.unmap, sum.file, sum.stat = unmap, f, fi
			return sum, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			note = "scan cache " + cf.path + " not used: " + err.Error()
		}
	}
	// A worker per P but one: while every P computes, Go notices a
	// network connection that became ready (a relay's answer to a probe
	// running meanwhile) only when sysmon polls, every 10 ms. Four parts a
	// worker, so that the parts' ends, where a worker waits or puts parts
	// into the key set, come apart.
	workers := max(runtime.GOMAXPROCS(0)-1, 1)
	parts := min(4*workers, 1+len(data)/minPart)
	sum, err := scan(path, data, mark, keep, limits{MaxBytes, MaxLines, MaxLineBytes}, parts, workers, unmap != nil, c != nil)
	if err != nil {
		if unmap != nil {
			unmap()
		}
		f.Close()
		if cf != nil {
			cf.root.Close()
		}
		return nil, err
	}
	sum.unmap, sum.file, sum.stat = unmap, f, fi
	sum.CacheNote = note
	if c != nil {
		sum.withCache(c, cf, mark, keep)
		sum.answers, sum.dirty = map[string]answer{}, true
	}
	return sum, nil
}

// withCache makes s, scanned or from the cache, save to cache file cf
// of c what Find learns, and parse again with mark and keep if need be.
func (s *Summary) withCache(c *Cache, cf *cacheFile, mark func(key string) bool, keep int) {
	s.cache, s.cf, s.mark, s.keep = c, cf, mark, keep
}

// minPart is the least size of a part worth a goroutine of its own.
const minPart = 1 << 20

// window is about the size of the pieces a part is parsed in.
const window = 1 << 20

// spilled marks record.line when the key's text is in scanner.spill.
const spilled = 1 << 31

// An array of negative length fails to compile: line numbers must leave
// the spilled bit free.
var _ [spilled - MaxLines]struct{}

// record is what Scan keeps of an entry.
type record struct {
	h    uint64 // the hash of its key's index form
	off  uint32 // the offset in the file of its logical line, which starts with its key
	line uint32 // that line's number, or'ed with spilled when the key is in scanner.spill
}

// part is a piece of the file that one goroutine parses.
type part struct {
	start, end int  // data[start:end]
	lines      int  // its physical lines
	refused    bool // it holds a NUL byte or an over-long line
	warnings   []Warning
	recs       []record // its entries, in file order
	spill      map[uint32]string
	pieces     []piece // the checksums of its windows, when scanner.sums
	marked     []Entry
	marks      int
	parsed     bool   // under scanner.mu
	base       uint32 // the entries of the parts before; set by dedup
	first      int    // the lines of the parts before; set by dedup
}

// dup is a duplicate entry: its record, and the line of the entry it
// repeats.
type dup struct {
	r   record
	win uint32
}

// scanner holds what Find needs of one Scan.
type scanner struct {
	path   string
	data   []byte
	s      string // data
	ix     index  // only for its seed and hash
	parts  []part
	mapped bool // data is a mapping of the file, which release may unmap
	sums   bool // take the checksums of the file for a Cache (see part.pieces)

	mu   sync.Mutex   // guards part.parsed
	seen atomic.Int64 // physical lines parsed so far, all parts

	// The key set, built in file order a part at a time by whoever holds
	// setMu (see finished).
	setMu   sync.Mutex
	next    int      // the first part not yet in the set
	slots   []uint32 // an open-addressing set, laid out as index.slots, of entry numbers + 1
	n       int      // distinct keys
	entries uint32   // entries of the parts in the set
	lines   int      // lines of the parts in the set
	dups    []dup
	spill   map[uint32]string // the keys of the set's entries not in one run of bytes, by offset
	refused bool              // a part was refused: the set stops growing
}

// rec returns entry number i, counted over the parts in the set, in file
// order.
func (s *scanner) rec(i uint32) record {
	// The parts in the set, and the one being put in.
	n := min(s.next+1, len(s.parts))
	k := sort.Search(n, func(k int) bool { return s.parts[k].base > i }) - 1
	return s.parts[k].recs[i-s.parts[k].base]
}

// scan is Scan of data, the contents of path, within the limits lim, cut
// into at most n parts parsed by at most workers goroutines; with sums,
// it takes the checksums of data for a Cache too.
func scan(path string, data []byte, mark func(key string) bool, keep int, lim limits, n, workers int, mapped, sums bool) (*Summary, error) {
	if len(data) > lim.bytes {
		return nil, fmt.Errorf("%s: %d bytes is over the limit of %d bytes for a table source file", path, len(data), lim.bytes)
	}
	s := &scanner{
		path:   path,
		data:   data,
		s:      unsafe.String(unsafe.SliceData(data), len(data)),
		ix:     index{seed: maphash.MakeSeed()},
		mapped: mapped,
		sums:   sums,
	}
	// Size the key set for an entry every 96 bytes (see parse), so that
	// it rarely grows.
	keys := len(data)/96 + 16
	s.slots = make([]uint32, 1<<bits.Len(uint(keys+keys/4))) // as newIndex
	prefault(s.slots)
	clear(s.slots)
	if err := s.guard(func() error { s.parts = cut(data, n); return nil }); err != nil {
		return nil, err
	}
	// Round 1: parse the parts, and round 2 as they are parsed.
	var next atomic.Int64
	err := s.each(min(workers, len(s.parts)), func(int) error {
		for {
			k := int(next.Add(1)) - 1
			if k >= len(s.parts) {
				return nil
			}
			s.parse(&s.parts[k], mark, keep, lim)
			s.finished(k)
		}
	})
	if err == nil {
		err = s.guard(func() error { s.finished(-1); return nil })
	}
	if err != nil {
		return nil, err
	}
	for _, p := range s.parts {
		if p.refused || s.lines > lim.lines {
			// Refused: say why as Parse does, whose checks come in
			// another order (a NUL byte anywhere first).
			return nil, s.guard(func() error { return refusal(path, data, lim) })
		}
	}

	sum := &Summary{Path: path, n: s.n, found: map[string]Entry{}, sc: s}
	if testHookBeforeMerge != nil {
		testHookBeforeMerge(path)
	}
	if err := s.guard(func() error { s.merge(sum, keep); return nil }); err != nil {
		return nil, err
	}
	for _, p := range s.parts {
		sum.pieces = append(sum.pieces, p.pieces...)
	}
	return sum, nil
}

// testHookBeforeMerge, when a test sets it, runs before scan words the
// duplicate warnings from the mapping.
var testHookBeforeMerge func(path string)

// merge puts the warnings of the parts, duplicates included, and their
// marked entries into sum. It reads keys back from the mapping.
func (s *scanner) merge(sum *Summary, keep int) {
	dups := s.dups
	slices.SortFunc(dups, func(a, b dup) int { return int(a.r.line&^spilled) - int(b.r.line&^spilled) })
	for i := range s.parts {
		p := &s.parts[i]
		// Merge in line order; a duplicate warning comes last for its
		// line, as the parser warns about a line before it stores it.
		for _, w := range p.warnings {
			w.Line += p.first
			for len(dups) > 0 && int(dups[0].r.line&^spilled) < w.Line {
				sum.Warnings = append(sum.Warnings, s.dupWarning(dups[0]))
				dups = dups[1:]
			}
			sum.Warnings = append(sum.Warnings, w)
		}
		for _, e := range p.marked {
			if len(sum.Marked) < keep {
				e.Line += p.first
				e.EndLine += p.first
				sum.Marked = append(sum.Marked, e)
			}
		}
		sum.Marks += p.marks
	}
	for _, d := range dups {
		sum.Warnings = append(sum.Warnings, s.dupWarning(d))
	}
}

// finished notes that part k is parsed (k < 0: none) and, unless another
// goroutine is at it, puts every parsed part that comes next in file
// order into the key set. Scan calls it once more when every part is
// parsed, for the parts another goroutine left.
func (s *scanner) finished(k int) {
	if k >= 0 {
		s.mu.Lock()
		s.parts[k].parsed = true
		s.mu.Unlock()
	}
	if !s.setMu.TryLock() {
		return
	}
	defer s.setMu.Unlock()
	for {
		s.mu.Lock()
		ready := s.next < len(s.parts) && s.parts[s.next].parsed
		s.mu.Unlock()
		if !ready {
			return
		}
		s.dedup(&s.parts[s.next])
		s.next++
	}
}

// isASCII reports whether b holds no byte above 0x7F.
func isASCII(b []byte) bool {
	var acc0, acc1, acc2, acc3 uint64
	for len(b) >= 32 {
		acc0 |= binary.LittleEndian.Uint64(b)
		acc1 |= binary.LittleEndian.Uint64(b[8:])
		acc2 |= binary.LittleEndian.Uint64(b[16:])
		acc3 |= binary.LittleEndian.Uint64(b[24:])
		b = b[32:]
	}
	for _, c := range b {
		acc0 |= uint64(c)
	}
	return (acc0|acc1|acc2|acc3)&0x8080808080808080 == 0
}

// cut cuts data into at most n parts of about the same size, each but the
// first starting with a start line.
func cut(data []byte, n int) []part {
	parts := make([]part, 0, n)
	start := 0
	for i := 1; i < n; i++ {
		at := max(start, len(data)*i/n)
		for at < len(data) {
			j := bytes.IndexByte(data[at:], '\n')
			if j < 0 {
				at = len(data)
				break
			}
			at += j + 1
			if at < len(data) && !isSpace(data[at]) && data[at] != '#' {
				break
			}
		}
		if at >= len(data) {
			break
		}
		parts = append(parts, part{start: start, end: at})
		start = at
	}
	return append(parts, part{start: start, end: len(data)})
}

// each runs f(0) to f(n-1), each on a goroutine of its own but the last,
// with faults on the mapping turned into errors (see guard), and returns
// the error of the first f, in that order, that failed.
func (s *scanner) each(n int, f func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n - 1 {
		wg.Go(func() { errs[i] = s.guard(func() error { return f(i) }) })
	}
	errs[n-1] = s.guard(func() error { return f(n - 1) })
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// parse is round 1 for part p: its warnings but duplicates, its entries'
// records and marked entries, its lines numbered from 1 (dedup and scan
// number them on). It stops at the first NUL byte or over-long line, with
// p.refused set.
func (s *scanner) parse(p *part, mark func(key string) bool, keep int, lim limits) {
	// Room for an entry every 96 bytes: relay_clientcerts lines are
	// longer (a SHA-256 fingerprint alone is 95 bytes); append grows it
	// for shorter ones.
	p.recs = make([]record, 0, (p.end-p.start)/96+16)
	prefault(p.recs)
	ps := parser{path: s.path, s: s.s}
	ps.entry = func(key, value string, canon bool, at span) {
		r := record{h: s.ix.hash(key, canon), off: uint32(at.start), line: uint32(at.first)}
		if len(key) > at.firstLen {
			// The key goes on past its first line: it is not in the file
			// as one run of bytes.
			if p.spill == nil {
				p.spill = map[uint32]string{}
			}
			p.spill[r.off], r.line = strings.Clone(key), r.line|spilled
		}
		p.recs = append(p.recs, r)
		if mark != nil && mark(key) {
			if p.marks++; len(p.marked) < keep {
				p.marked = append(p.marked, Entry{Key: strings.Clone(key), Value: strings.Clone(value), Line: at.first, EndLine: at.last})
			}
		}
	}
	// Go through the part a window of whole lines at a time: refuse a NUL
	// byte, check that the window is ASCII (so rule 1 holds for its lines:
	// see parser.asciiFrom), which also brings it into the cache for the
	// parser, and let the kernel unmap the windows done with, so that the
	// mapping adds a few windows to the peak RSS, not the file.
	line, done := 1, p.start
	for w := p.start; w < p.end; {
		wend := p.end
		if w+window < p.end {
			if i := bytes.IndexByte(s.data[w+window:p.end], '\n'); i >= 0 {
				wend = w + window + i + 1
			}
		}
		if bytes.IndexByte(s.data[w:wend], 0) >= 0 {
			p.refused = true
			return
		}
		if s.sums {
			p.pieces = append(p.pieces, sums(s.data[w:wend], wend))
		}
		if !isASCII(s.data[w:wend]) {
			ps.asciiFrom, ps.asciiTo = 0, 0
		} else if ps.asciiTo != int64(w) {
			ps.asciiFrom, ps.asciiTo = int64(w), int64(wend)
		} else {
			ps.asciiTo = int64(wend)
		}
		first := line
		for off := w; off < wend; line++ {
			end := wend
			if i := bytes.IndexByte(s.data[off:wend], '\n'); i >= 0 {
				end = off + i + 1
			}
			if end-off > lim.lineBytes {
				p.refused = true
				return
			}
			ps.line(line, off, end-trailingLF(s.data[off:end]))
			off = end
		}
		if s.seen.Add(int64(line-first)) > int64(lim.lines) {
			// Over the limit of lines, all parts together: Parse refuses
			// such input before it reads an entry, and the key set's
			// entry numbers must stay within entryMask.
			p.refused = true
			return
		}
		if s.mapped {
			// The window's last logical line may still be read (it is
			// judged when the next one starts): its pages come back.
			release(s.data[done:wend])
			done = wend
		}
		w = wend
	}
	ps.flush()
	if s.mapped {
		release(s.data[done:p.end])
	}
	p.lines, p.warnings = line-1, ps.warnings
}

// refusal returns the error Parse returns for data, which breaks a limit
// of lim or holds a NUL byte.
func refusal(path string, data []byte, lim limits) error {
	if _, err := check(path, data, lim); err != nil {
		return err
	}
	line := 0
	for off := 0; off < len(data); {
		end := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		line++
		if end-off > lim.lineBytes {
			return fmt.Errorf("%s:%d: line of %d bytes is over the limit of %d bytes", path, line, end-off, lim.lineBytes)
		}
		off = end
	}
	return fmt.Errorf("%s: refused, but no limit broken: a bug", path) // not reached
}

// dedup is round 2 for part p, the part after those in the key set: it
// numbers its entries' lines on, stores the first entry of each of its
// keys the set does not hold, and notes the others as duplicates.
func (s *scanner) dedup(p *part) {
	if s.refused = s.refused || p.refused; s.refused {
		return // the scan fails: nothing more to number or look up
	}
	p.base, p.first = s.entries, s.lines
	for off, k := range p.spill {
		if s.spill == nil {
			s.spill = map[uint32]string{}
		}
		s.spill[off] = k
	}
	for j := range p.recs {
		r := &p.recs[j]
		r.line += uint32(p.first)
		if (s.n+1)*5 > len(s.slots)*4 {
			s.grow()
		}
		slot, win, found := s.probe(*r)
		if found {
			s.dups = append(s.dups, dup{*r, win.line &^ spilled})
			continue
		}
		s.slots[slot] = uint32(r.h>>56)<<24 | (p.base + uint32(j) + 1)
		s.n++
	}
	s.entries += uint32(len(p.recs))
	s.lines += p.lines
}

// grow doubles the slots of the key set.
func (s *scanner) grow() {
	old := s.slots
	s.slots = make([]uint32, 2*len(old))
	mask := uint64(len(s.slots) - 1)
	for _, v := range old {
		if v == 0 {
			continue
		}
		i := s.rec(v&entryMask-1).h & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = v
	}
}

// probe looks the key of r up in the key set: it returns the record of the
// same key and true, or the empty slot where r belongs and false.
func (s *scanner) probe(r record) (slot uint64, win record, found bool) {
	mask := uint64(len(s.slots) - 1)
	tag := uint32(r.h>>56) << 24
	for i := r.h & mask; ; i = (i + 1) & mask {
		v := s.slots[i]
		if v == 0 {
			return i, record{}, false
		}
		if v&^entryMask != tag {
			continue
		}
		w := s.rec(v&entryMask - 1)
		if w.h == r.h {
			k := s.key(r)
			if sameKey(s.key(w), k, canonical(k)) {
				return i, w, true
			}
		}
	}
}

// lookup returns the record of the first entry whose key has the index
// form c.
func (s *scanner) lookup(c string) (record, bool) {
	h := s.ix.hash(c, true)
	mask := uint64(len(s.slots) - 1)
	tag := uint32(h>>56) << 24
	for i := h & mask; ; i = (i + 1) & mask {
		v := s.slots[i]
		if v == 0 {
			return record{}, false
		}
		if v&^entryMask != tag {
			continue
		}
		if r := s.rec(v&entryMask - 1); r.h == h && sameKey(s.key(r), c, true) {
			return r, true
		}
	}
}

// key returns the text of the key of r.
func (s *scanner) key(r record) string {
	if r.line&spilled != 0 {
		return s.spill[r.off]
	}
	text := s.s[r.off:]
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	}
	k, _, _ := scanKey(text)
	return text[:k]
}

// dupWarning returns the warning about duplicate d, as Parse words it.
func (s *scanner) dupWarning(d dup) Warning {
	p := parser{path: s.path}
	p.duplicate(int(d.r.line&^spilled), s.key(d.r), int(d.win))
	return p.warnings[0]
}

// guard runs f, turning a fault in reading the mapped file (it was
// truncated meanwhile) into an error.
func (s *scanner) guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			err = fmt.Errorf("%s: the file shrank while it was read (rewritten in place?), or reading it failed", s.path)
		}
	}()
	return f()
}

// entryAt parses the logical line of r again and returns its entry, as
// Parse would: Find's way to the entry of a key. It reports false when the
// line holds no entry any more.
func (s *scanner) entryAt(r record) (Entry, bool) {
	var e Entry
	p := parser{path: s.path, s: s.s, entry: func(key, value string, _ bool, at span) {
		if e.Line == 0 {
			e = Entry{Key: key, Value: value, Line: at.first, EndLine: at.last}
		}
	}}
	// The logical line ends before the next line that starts with neither
	// space nor "#" (a start line), or at the end of the file.
	first := int(r.line &^ spilled)
	for off, line := int(r.off), first; off < len(s.s); line++ {
		end := len(s.s)
		if i := strings.IndexByte(s.s[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		if line > first && !isSpace(s.s[off]) && s.s[off] != '#' {
			break
		}
		p.line(line, off, end-trailingLF(s.data[off:end]))
		off = end
	}
	p.flush()
	return e, e.Line != 0
}

// readFile reads the first size bytes of f into memory, for Scan where the
// file is not mapped: nothing needs unmapping.
func readFile(f *os.File, size int) ([]byte, func() error, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, err
	}
	return data, nil, nil
}
