package table

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"io"
	"math/bits"
	"strings"
	"unsafe"
)

// Scan: the check-only path. It judges a source file exactly as Parse does
// (the same parser code, rules 1 to 4 and the logical-line assembly) but
// streams it in chunks and keeps only what a check needs:
//
//   - the warnings, duplicates included, identical to Parse's;
//   - the number of distinct keys;
//   - the entries of a few wanted keys;
//   - for every entry, one call of a function of the caller's.
//
// Duplicates need every key seen: Scan keeps, per distinct key, a 64-bit
// hash of its index form (see canonAppend), its line and where its text is
// in the file (24 bytes a key, against Parse's whole text, Lines and
// Entries). Two keys with the same hash are compared by their bytes, read
// back from the file (io.ReaderAt), so a hash collision never makes a false
// duplicate. A key that does not lie within its first physical line (quoted
// whitespace across a continuation line) is kept as text instead.

// scanChunk is the size of Scan's read buffer. A longer physical line grows
// the buffer, up to MaxLineBytes.
const scanChunk = 256 << 10

// Summary is what Scan keeps of a source file: enough to judge it, not to
// edit or print it.
type Summary struct {
	// Path names the file in messages.
	Path string
	// Warnings holds what postmap would warn about, in line order: the
	// same as Table.Warnings of the same file.
	Warnings []Warning

	n     int
	found map[string]Entry // the wanted keys the table has, by index form
}

// Len returns the number of distinct keys, the number of entries that
// postmap stores.
func (s *Summary) Len() int {
	return s.n
}

// Lookup returns the entry that postmap's table returns for key, as
// Table.Lookup does, for the keys wanted by Scan; for any other key it
// reports false.
func (s *Summary) Lookup(key string) (Entry, bool) {
	e, ok := s.found[string(canonAppend(nil, key))]
	return e, ok
}

// Scan reads the source file at path as Read does, with the same checks
// and refusals, but without keeping it: it returns the Summary that
// knows the entries of the wanted keys only, and calls each, when not nil,
// with every entry in file order, duplicates included (Entry.DupOf set as
// in Table.Entries). The strings of the Entry passed to each are valid
// only during the call; each must copy what it keeps. When Scan fails, each
// may already have seen some entries.
func Scan(path string, wanted []string, each func(Entry)) (*Summary, error) {
	f, fi, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Size the key set for a line every 64 bytes, as in relay_clientcerts
	// tables (a SHA-256 fingerprint is 95 bytes), so that it rarely grows.
	return scan(path, f, f, wanted, each, scanChunk, limits{MaxBytes, MaxLines, MaxLineBytes}, int(fi.Size()/64))
}

// record is what Scan keeps of a distinct key.
type record struct {
	h         uint64 // the hash of its index form
	line, off uint32 // its line, and the file offset of its text
	klen      uint32 // its length; 0 when its text is in scanner.spill
}

// scanner holds the state of one Scan.
type scanner struct {
	p     parser
	ra    io.ReaderAt
	ix    index      // only for its seed and hash
	recs  [][]record // blocks of recBlock records: growing copies none
	n     int        // records
	slots []uint32   // an open-addressing set of recs, laid out as index.slots
	spill map[uint32]string
	want  map[uint64][]string // index forms of the wanted keys, by hash
	bloom uint64              // bit h>>58 set for the hash h of every wanted key
	sum   *Summary
	each  func(Entry)
	err   error
}

// scan is Scan reading r, with ra reading the same bytes at any offset,
// a buffer of chunk bytes to start with, the limits lim, and room for about
// keys distinct keys before the key set grows.
func scan(path string, r io.Reader, ra io.ReaderAt, wanted []string, each func(Entry), chunk int, lim limits, keys int) (*Summary, error) {
	s := &scanner{
		ra:    ra,
		ix:    index{seed: maphash.MakeSeed()},
		slots: make([]uint32, 1<<bits.Len(uint(max(keys, 128)+max(keys, 128)/4))), // as newIndex
		want:  map[uint64][]string{},
		sum:   &Summary{Path: path, found: map[string]Entry{}},
		each:  each,
	}
	for _, w := range wanted {
		c := string(canonAppend(nil, w))
		h := maphash.String(s.ix.seed, c)
		s.want[h] = append(s.want[h], c)
		s.bloom |= 1 << (h >> 58)
	}
	s.p = parser{path: path, entry: s.entry}

	buf := make([]byte, max(chunk, 1))
	var (
		start, filled int   // buf[start:filled] is read but not yet split into lines
		base          int64 // the file offset of buf[0]
		total         int64 // bytes read
		lines         int
		eof           bool
	)
	// refuse reads the rest of r, from the line at buf[start], to return
	// the error Parse returns for the whole input.
	refuse := func() error {
		return refusal(path, r, buf, buf[start:filled], eof, lines, total, lim)
	}
	// line hands buf[start:end] to the parser, end including its "\n".
	line := func(end int) error {
		if end-start > lim.lineBytes || lines+1 > lim.lines {
			return refuse()
		}
		lines++
		s.p.line(lines, start, end-trailingLF(buf[start:end]))
		return s.err
	}
	for {
		for {
			i := bytes.IndexByte(buf[start:filled], '\n')
			if i < 0 {
				break
			}
			if err := line(start + i + 1); err != nil {
				return nil, err
			}
			start += i + 1
		}
		if eof {
			if start < filled { // a last line without "\n"
				if err := line(filled); err != nil {
					return nil, err
				}
			}
			break
		}
		if filled-start > lim.lineBytes {
			return nil, refuse()
		}
		// Keep the partial line at the start of buf and read on.
		s.p.own() // the logical line being assembled may point into buf
		n := copy(buf, buf[start:filled])
		base += int64(start)
		start, filled = 0, n
		if filled == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)[:len(buf)*2]
		}
		s.p.s, s.p.base = unsafe.String(unsafe.SliceData(buf), len(buf)), base
		m, err := r.Read(buf[filled:])
		filled += m
		total += int64(m)
		switch {
		case err == io.EOF:
			eof = true
		case err != nil:
			return nil, fmt.Errorf("read table source: %w", err)
		}
		if bytes.IndexByte(buf[filled-m:filled], 0) >= 0 || total > int64(lim.bytes) {
			return nil, refuse()
		}
	}
	s.p.flush()
	if s.err != nil {
		return nil, s.err
	}
	s.sum.Warnings, s.sum.n = s.p.warnings, s.n
	return s.sum, nil
}

// entry is Scan's rule 5: it records the key, or warns about a duplicate.
func (s *scanner) entry(key, value string, canon bool, at span) {
	if s.err != nil {
		return
	}
	if (s.n+1)*5 > len(s.slots)*4 {
		s.grow()
	}
	h := s.ix.hash(key, canon)
	e := Entry{Key: key, Value: value, Line: at.first, EndLine: at.last}
	win, slot, err := s.find(key, canon, h)
	switch {
	case err != nil:
		s.err = err
		return
	case win > 0:
		e.DupOf = win
		s.p.duplicate(at.first, key, win)
	default:
		i := uint32(s.n)
		r := record{h: h, line: uint32(at.first), off: uint32(at.start), klen: uint32(len(key))}
		if len(key) > at.firstLen {
			// The key goes on past its first line: it is not in the file
			// as one run of bytes.
			if s.spill == nil {
				s.spill = map[uint32]string{}
			}
			s.spill[i], r.klen = strings.Clone(key), 0
		}
		if i%recBlock == 0 {
			s.recs = append(s.recs, make([]record, 0, recBlock))
		}
		s.recs[i/recBlock] = append(s.recs[i/recBlock], r)
		s.n++
		s.slots[slot] = uint32(h>>56)<<24 | (i + 1)
		if s.bloom&(1<<(h>>58)) != 0 {
			for _, c := range s.want[h] {
				if sameKey(c, key, canon) {
					s.sum.found[c] = Entry{Key: strings.Clone(key), Value: strings.Clone(value), Line: at.first, EndLine: at.last}
				}
			}
		}
	}
	if s.each != nil {
		s.each(e)
	}
}

// find returns the line of the entry stored with the index form of key,
// whose hash is h, or, when there is none, 0 and the empty slot where key
// belongs.
func (s *scanner) find(key string, canon bool, h uint64) (line, slot int, err error) {
	mask := uint64(len(s.slots) - 1)
	tag := uint32(h>>56) << 24
	for i := h & mask; ; i = (i + 1) & mask {
		v := s.slots[i]
		if v == 0 {
			return 0, int(i), nil
		}
		if v&^entryMask != tag {
			continue
		}
		n := v&entryMask - 1
		if r := s.rec(n); r.h == h {
			k, err := s.key(n)
			if err != nil {
				return 0, 0, err
			}
			if sameKey(k, key, canon) {
				return int(r.line), 0, nil
			}
		}
	}
}

// key returns the text of the key of record n, read back from the file.
func (s *scanner) key(n uint32) (string, error) {
	r := s.rec(n)
	if r.klen == 0 {
		return s.spill[n], nil
	}
	b := make([]byte, r.klen)
	if _, err := s.ra.ReadAt(b, int64(r.off)); err != nil {
		return "", fmt.Errorf("%s:%d: read the key again: %w", s.p.path, r.line, err)
	}
	return string(b), nil
}

// grow doubles the slots.
func (s *scanner) grow() {
	s.slots = make([]uint32, 2*len(s.slots))
	mask := uint64(len(s.slots) - 1)
	for b, block := range s.recs {
		for j, r := range block {
			i := r.h & mask
			for s.slots[i] != 0 {
				i = (i + 1) & mask
			}
			s.slots[i] = uint32(r.h>>56)<<24 | uint32(b*recBlock+j+1)
		}
	}
}

// recBlock is the number of records in a block of scanner.recs.
const recBlock = 4096

// rec returns record n.
func (s *scanner) rec(n uint32) record {
	return s.recs[n/recBlock][n%recBlock]
}

// refusal reads the rest of the input after rest, which starts at line
// lines+1 and is followed by r unless eof, and returns the error that
// Parse returns for the whole input, which it knows to break a limit:
// the first of too many bytes, a NUL byte, too many lines, an over-long
// line. It reads into buf, and stops early past lim.bytes.
func refusal(path string, r io.Reader, buf, rest []byte, eof bool, lines int, total int64, lim limits) error {
	var (
		nul        int // the line of the first NUL byte; 0 when none
		long, size int // the first over-long line and its size
		cur        int // the size of the line being read so far
	)
	feed := func(b []byte) {
		if i := bytes.IndexByte(b, 0); i >= 0 && nul == 0 {
			nul = lines + 1 + bytes.Count(b[:i], []byte{'\n'})
		}
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				cur += len(b)
				return
			}
			cur += i + 1
			lines++
			if long == 0 && cur > lim.lineBytes {
				long, size = lines, cur
			}
			cur, b = 0, b[i+1:]
		}
	}
	feed(rest)
	for !eof && total <= int64(lim.bytes) {
		m, err := r.Read(buf)
		total += int64(m)
		feed(buf[:m])
		switch {
		case err == io.EOF:
			eof = true
		case err != nil:
			return fmt.Errorf("read table source: %w", err)
		}
	}
	if cur > 0 {
		lines++
		if long == 0 && cur > lim.lineBytes {
			long, size = lines, cur
		}
	}
	switch {
	case total > int64(lim.bytes):
		return fmt.Errorf("%s: over the limit of %d bytes for a table source file", path, lim.bytes)
	case nul > 0:
		return fmt.Errorf("%s:%d: NUL byte (postmap would silently cut the line there)", path, nul)
	case lines > lim.lines:
		return fmt.Errorf("%s: %d lines is over the limit of %d lines for a table source file", path, lines, lim.lines)
	case long > 0:
		return fmt.Errorf("%s:%d: line of %d bytes is over the limit of %d bytes", path, long, size, lim.lineBytes)
	}
	return fmt.Errorf("%s: refused, but no limit broken: a bug", path) // not reached
}
