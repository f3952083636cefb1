// Package table reads, judges and edits Postfix lookup-table source files:
// the text that postmap(1) compiles into an indexed table, such as the
// relay_clientcerts file that lists one "fingerprint label" entry a line.
//
// It judges every line exactly as postmap(1) does (Postfix 3.7, checked
// against 3.7.11; with smtputf8_enable = yes, the default, and without -f), so that the
// entries it reports are the entries a compiled table holds, and it keeps
// every byte of the file: [Table.Bytes] of an unedited table is the parsed
// input, byte for byte. The edit methods change only the bytes they edit.
// [Scan] judges a file the same way, with the same code, for a check that
// needs no edit: it maps the file, parses it in parts on several
// goroutines, and keeps only the warnings, the number of keys and where
// each key is, for [Summary.Find].
//
// It does not compile tables, run postmap, lock or write files, or read
// pattern tables (regexp:, pcre:, cidr: ...), whose syntax differs.
//
// # Source grammar
//
// This is what postmap(1) reads (src/util/readlline.c readllines() and
// src/postmap/postmap.c postmap() in the Postfix source), verified against
// /usr/sbin/postmap by TestPostmapDifferential.
//
//	file    = *line
//	line    = *byte ("\n" / end of file)  ; only LF ends a line; CR is an ordinary byte
//	space   = " " / "\t" / "\n" / "\v" / "\f" / "\r"  ; ASCII isspace(); no other byte
//
// Every physical line is exactly one of:
//
//	blank   = *space                      ; ignored
//	comment = *space "#" *byte            ; ignored; "#" counts only as the first non-space byte
//	start   = (byte - space - "#") *byte  ; begins a logical line
//	more    = 1*space (byte - space - "#") *byte  ; continues one
//
// A logical line is a start line together with every line before the next
// start line: the text of each more line is appended to it WITHOUT the line
// ending in between and WITH the more line's leading whitespace, so "key\n
// value" reads as "key value"; blank and comment lines in between are dropped
// and do not end it. Text is never split at a "\r": a CRLF line keeps its
// "\r", which trims away as space at the end of a value but stays inside a
// value continued on the next line ("k a\r\n b\r\n" has the value "a\r b").
//
// More lines before the first start line form a logical line of their own,
// which postmap skips with the warning "logical line must not start with
// whitespace" (only the first logical line of a file can start with
// whitespace: after it, any line that starts with whitespace continues).
//
// A logical line L is then judged in this order; the first failing step
// skips it with a warning:
//
//  1. L must be valid UTF-8 ("non-UTF-8 input").
//  2. The key is L up to its first space byte that is neither inside double
//     quotes nor escaped: a backslash escapes the next byte, a double quote
//     toggles quoting, and both stay in the key. L ending inside quotes is
//     "unbalanced '\"'".
//  3. The value is the rest of L with leading and trailing space trimmed
//     (inner space, "#" and quotes are kept). An empty value is "expected
//     format: key whitespace value".
//  4. A key that ends in ":" only draws a warning ("record is in \"key:
//     value\" format; is this an alias file?"); the entry is kept.
//  5. The key is folded to lower case (postmap without -f) and stored; a
//     folded key seen before draws "duplicate entry" and the FIRST value wins.
//
// A warning names the first physical line of its logical line, as postmap
// does (postmap itself names no line for leading whitespace or duplicates).
//
// Input postmap would accept but mangle is refused outright by [Parse]: a
// NUL byte (postmap silently cuts the logical line there). So are inputs
// beyond [MaxBytes], [MaxLines] or [MaxLineBytes].
//
// Case folding: ASCII keys fold exactly as in postmap. Postfix folds other
// keys with ICU full case folding; this package uses Go's simple case
// mappings, which agree except for the few characters whose folding changes
// length (for example ICU folds "ß" to "ss"). Relay fingerprints are ASCII.
package table

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"syscall"
	"unicode/utf8"
	"unsafe"
)

// Limits on input that Parse and Read refuse outright. Postfix has none, but
// a relay_clientcerts table near them is surely a mistake, and each physical
// line costs a few dozen bytes of memory beyond its text.
const (
	MaxBytes     = 256 << 20 // MaxBytes is the largest source file accepted, in bytes.
	MaxLines     = 8 << 20   // MaxLines is the most physical lines accepted.
	MaxLineBytes = 1 << 20   // MaxLineBytes is the longest physical line accepted, ending included.
)

// Line is one physical line of a source file, Raw including its line ending
// ("\n", "\r\n", or none on a last line without one).
type Line struct {
	Raw []byte
}

// Ending returns the line ending of l: "\r\n", "\n", or "".
func (l Line) Ending() string {
	n := len(l.Raw)
	switch {
	case n >= 2 && l.Raw[n-2] == '\r' && l.Raw[n-1] == '\n':
		return "\r\n"
	case n >= 1 && l.Raw[n-1] == '\n':
		return "\n"
	}
	return ""
}

// Text returns l without its line ending.
func (l Line) Text() []byte {
	return l.Raw[:len(l.Raw)-len(l.Ending())]
}

// Entry is one entry of a table, as postmap sees it.
type Entry struct {
	// Key is the key as written, not case-folded; postmap stores it
	// folded, so compare keys with Fold or use Table.Lookup.
	Key string
	// Value is the value with leading and trailing whitespace trimmed.
	Value string
	// Line and EndLine are the 1-based physical lines of the first and last
	// text of the logical line (equal unless continuation lines follow).
	// Comment and blank lines between them belong to no entry.
	Line, EndLine int
	// DupOf is 0 for an entry that postmap stores. For a duplicate, which
	// postmap ignores, it is the line of the entry with the same folded key
	// that wins.
	DupOf int
}

// WarningKind says which rule a Warning is about.
type WarningKind int

// The kinds of Warning, one per rule of the grammar.
const (
	WarnLeadingSpace    WarningKind = iota + 1 // first logical line starts with whitespace; skipped
	WarnNotUTF8                                // logical line is not valid UTF-8; skipped
	WarnUnbalancedQuote                        // logical line ends inside double quotes; skipped
	WarnMissingValue                           // key without value; skipped
	WarnAliasFormat                            // key ends in ":"; kept
	WarnDuplicate                              // folded key seen before; ignored, the first wins
)

// String returns a short name of k.
func (k WarningKind) String() string {
	switch k {
	case WarnLeadingSpace:
		return "leading-space"
	case WarnNotUTF8:
		return "not-utf8"
	case WarnUnbalancedQuote:
		return "unbalanced-quote"
	case WarnMissingValue:
		return "missing-value"
	case WarnAliasFormat:
		return "alias-format"
	case WarnDuplicate:
		return "duplicate"
	}
	return fmt.Sprintf("WarningKind(%d)", int(k))
}

// Warning is something postmap would warn about: a skipped logical line, an
// alias-style key, or a duplicate key.
type Warning struct {
	Path string
	Line int // first physical line of the logical line, 1-based
	Kind WarningKind
	Msg  string
}

// String returns w as "PATH:LINE: msg".
func (w Warning) String() string {
	return fmt.Sprintf("%s:%d: %s", w.Path, w.Line, w.Msg)
}

// Table is a parsed source file. Treat its fields as read-only: the edit
// methods keep them and the lookup index consistent.
type Table struct {
	// Path names the file in messages.
	Path string
	// Lines holds every physical line; concatenated they are the file.
	Lines []Line
	// Entries holds the entries in file order, duplicates included (see
	// Entry.DupOf); postmap and Lookup see the first of each key.
	Entries []Entry
	// Warnings holds what postmap would warn about, in line order.
	Warnings []Warning

	index index // the entries that postmap stores, by folded key
}

// Parse parses data, the contents of the source file path (path only names
// it in messages). Parse keeps data: Lines slice it, so the caller must not
// modify data afterwards.
//
// Parse fails only for input it refuses outright (see the package
// documentation); everything postmap tolerates becomes a Warning.
func Parse(path string, data []byte) (*Table, error) {
	return parse(path, data, limits{MaxBytes, MaxLines, MaxLineBytes})
}

// limits are the limits of Parse, smaller in tests.
type limits struct{ bytes, lines, lineBytes int }

// parse makes one pass over data: it splits it into physical lines and
// feeds each to a parser, which judges a logical line as soon as the next
// start line (or the end of the input) shows where it ends. Only the checks
// for refused input, done with vectorised searches, read data before.
func parse(path string, data []byte, lim limits) (*Table, error) {
	n, err := check(path, data, lim)
	if err != nil {
		return nil, err
	}

	// n bounds the number of entries too: allocate everything once.
	t := &Table{Path: path, Lines: make([]Line, 0, n), Entries: make([]Entry, 0, n), index: newIndex(n)}
	prefault(t.Lines)
	prefault(t.Entries)
	p := parser{path: path, s: unsafe.String(unsafe.SliceData(data), len(data))} // Parse keeps data: no copy
	p.entry = func(key, value string, canon bool, at span) { t.add(&p, key, value, canon, at) }
	for off := 0; off < len(data); {
		end := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		if end-off > lim.lineBytes {
			return nil, fmt.Errorf("%s:%d: line of %d bytes is over the limit of %d bytes", path, len(t.Lines)+1, end-off, lim.lineBytes)
		}
		t.Lines = append(t.Lines, Line{Raw: data[off:end:end]})
		p.line(len(t.Lines), off, end-trailingLF(data[off:end]))
		off = end
	}
	p.flush()
	t.Warnings = p.warnings
	return t, nil
}

// check refuses data that breaks a limit of lim, or holds a NUL byte, and
// returns the number of physical lines, an upper bound on the entries. It
// reads data with vectorised searches only.
func check(path string, data []byte, lim limits) (lines int, err error) {
	if len(data) > lim.bytes {
		return 0, fmt.Errorf("%s: %d bytes is over the limit of %d bytes for a table source file", path, len(data), lim.bytes)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return 0, fmt.Errorf("%s:%d: NUL byte (postmap would silently cut the line there)", path, 1+bytes.Count(data[:i], []byte{'\n'}))
	}
	n := bytes.Count(data, []byte{'\n'})
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	if n > lim.lines {
		return 0, fmt.Errorf("%s: %d lines is over the limit of %d lines for a table source file", path, n, lim.lines)
	}
	return n, nil
}

// Read reads and parses the source file at path.
//
// Read copies the file into memory with read(2): mapping it instead
// (mmap) would be faster for big tables, but the keys, values and Lines
// would then point into the file itself, and a file truncated while they
// live (an editor that rewrites it in place) would kill the process with
// SIGBUS when they are read, even from a private mapping. Scan maps the
// file, but reads it only under a guard and keeps no string into it.
func Read(path string) (*Table, error) {
	f, fi, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, 0, fi.Size()+1) // +1: see EOF without growing
	prefault(data)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if len(data) > MaxBytes {
			return nil, fmt.Errorf("read table source %s: over the limit of %d bytes", path, MaxBytes)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read table source: %w", err)
		}
	}
	return Parse(path, data)
}

// open opens the source file at path for reading, refusing what Read and
// Scan should not read; fi describes the file opened.
func open(path string) (f *os.File, fi os.FileInfo, err error) {
	// Stat before opening: opening a FIFO would block.
	fi, err = os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read table source: %w", err)
	}
	if err := checkFile(path, fi); err != nil {
		return nil, nil, err
	}
	// O_NONBLOCK too: a FIFO swapped in after the Stat must not block.
	f, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("read table source: %w", err)
	}
	if fi, err = f.Stat(); err != nil { // the file opened, in case it was replaced
		f.Close()
		return nil, nil, fmt.Errorf("read table source: %w", err)
	}
	if err := checkFile(path, fi); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// checkFile refuses what Read should not read.
func checkFile(path string, fi os.FileInfo) error {
	switch {
	case fi.IsDir():
		return fmt.Errorf("read table source %s: is a directory, not a file", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("read table source %s: not a regular file (mode %s)", path, fi.Mode())
	case fi.Size() > MaxBytes:
		return fmt.Errorf("read table source %s: %d bytes is over the limit of %d bytes", path, fi.Size(), MaxBytes)
	}
	return nil
}

// Bytes returns the source text of t: for an unedited table, exactly the
// parsed input.
func (t *Table) Bytes() []byte {
	n := 0
	for _, l := range t.Lines {
		n += len(l.Raw)
	}
	out := make([]byte, 0, n)
	for _, l := range t.Lines {
		out = append(out, l.Raw...)
	}
	return out
}

// Lookup returns the entry that postmap's table returns for key: keys
// compare case-insensitively and the first of duplicates wins.
func (t *Table) Lookup(key string) (Entry, bool) {
	i, ok := t.lookup(key)
	if !ok {
		return Entry{}, false
	}
	return t.Entries[i], true
}

func (t *Table) lookup(key string) (int, bool) {
	return t.index.lookup(t.Entries, key)
}

// Len returns the number of distinct keys, the number of entries that
// postmap stores.
func (t *Table) Len() int {
	return t.index.n
}

// parser assembles logical lines and judges each, for Parse and for Scan
// alike: rules 1 to 4 of the grammar here, rule 5 (duplicates) in the
// entry function that its user sets.
type parser struct {
	path     string
	warnings []Warning
	// entry takes each logical line that rules 1 to 4 keep: its key and
	// value, whether key is its own index form (see canonical), and where
	// it is.
	entry func(key, value string, canon bool, at span)

	s    string // the input, or Scan's buffer; keys and values are substrings of it
	base int64  // the file offset of s[0]

	// The bytes at file offsets asciiFrom to asciiTo are known to be
	// ASCII: rule 1 needs no check for a logical line that starts there
	// (and so lies there: Scan extends the range before it parses on).
	asciiFrom, asciiTo int64

	// The logical line being assembled; first == 0 when there is none.
	first, last int   // its first and last physical line with text
	bad         bool  // it started with whitespace
	off, end    int   // byte range in s of its first line's text
	start       int64 // file offset of its first line
	firstLen    int   // length of its first line's text
	multi       bool  // joined holds its text, which spans several lines (or outlived s)
	joined      []byte
}

// span says where a logical line is in the file.
type span struct {
	first, last int   // its first and last physical line with text, 1-based
	start       int64 // the file offset of its first byte, where its key starts
	firstLen    int   // the length of its first physical line's text
}

// line takes physical line number n, whose text (without "\n") is s[off:end].
func (p *parser) line(n, off, end int) {
	text := p.s[off:end]
	i := 0
	for i < len(text) && isSpace(text[i]) {
		i++
	}
	switch {
	case i == len(text) || text[i] == '#':
		return // blank or comment: neither text nor the end of a logical line
	case i == 0:
		p.flush()
		p.first, p.last, p.off, p.end, p.bad, p.multi = n, n, off, end, false, false
		p.start, p.firstLen = p.base+int64(off), end-off
	case p.first == 0:
		p.first, p.last, p.off, p.end, p.bad, p.multi = n, n, off, end, true, false
		p.start, p.firstLen = p.base+int64(off), end-off
	default:
		p.own()
		p.joined = append(p.joined, text...)
		p.last = n
	}
}

// own copies the text of the logical line being assembled into joined, so
// that it no longer points into s: Scan calls it before reusing its buffer.
func (p *parser) own() {
	if p.first != 0 && !p.multi {
		p.joined = append(p.joined[:0], p.s[p.off:p.end]...)
		p.multi = true
	}
}

// flush judges the logical line being assembled, if any.
func (p *parser) flush() {
	if p.first == 0 {
		return
	}
	text := p.s[p.off:p.end]
	if p.multi {
		text = string(p.joined)
	}
	at := span{p.first, p.last, p.start, p.firstLen}
	p.first = 0
	if p.bad {
		lines := fmt.Sprintf("line %d", at.first)
		if at.last > at.first {
			lines = fmt.Sprintf("lines %d-%d", at.first, at.last)
		}
		p.warn(at.first, WarnLeadingSpace, "logical line must not start with whitespace: %q (postmap skips %s)", abbrev(text, 30), lines)
		return
	}
	p.judge(text, at)
}

// judge applies rules 1 to 4 to one logical line and hands what they keep
// to p.entry.
func (p *parser) judge(text string, at span) {
	if (at.start < p.asciiFrom || at.start >= p.asciiTo) && !utf8.ValidString(text) {
		p.warn(at.first, WarnNotUTF8, "non-UTF-8 input %q (postmap skips this line)", abbrev(text, 30))
		return
	}
	k, inQuotes, canon := scanKey(text)
	if inQuotes {
		p.warn(at.first, WarnUnbalancedQuote, "unbalanced '\"' in %q (postmap skips this line)", abbrev(text, 30))
		return
	}
	key, value := text[:k], trimSpace(text[k:])
	if key == "" || value == "" {
		p.warn(at.first, WarnMissingValue, "expected format: key whitespace value (postmap skips this line)")
		return
	}
	if key[len(key)-1] == ':' {
		p.warn(at.first, WarnAliasFormat, "record is in \"key: value\" format; is this an alias file?")
	}
	p.entry(key, value, canon, at)
}

// duplicate warns about key at line, whose folding the entry at line win
// already has (rule 5).
func (p *parser) duplicate(line int, key string, win int) {
	p.warn(line, WarnDuplicate, "duplicate entry: %q (postmap keeps the first, line %d)", key, win)
}

func (p *parser) warn(line int, kind WarningKind, format string, args ...any) {
	p.warnings = append(p.warnings, Warning{Path: p.path, Line: line, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// add is Parse's rule 5: it stores the entry, or warns about a duplicate.
func (t *Table) add(p *parser, key, value string, canon bool, at span) {
	h := t.index.hash(key, canon)
	if i, slot := t.index.find(t.Entries, key, canon, h); i < 0 {
		t.index.add(slot, h, len(t.Entries))
	} else {
		win := t.Entries[i].Line
		t.Entries = append(t.Entries, Entry{Key: key, Value: value, Line: at.first, EndLine: at.last, DupOf: win})
		p.duplicate(at.first, key, win)
		return
	}
	t.Entries = append(t.Entries, Entry{Key: key, Value: value, Line: at.first, EndLine: at.last})
}

// scanKey returns the length of the key at the start of logical line s,
// whether s ended inside double quotes (rule 2 of the grammar), and whether
// the key is its own index form (see canonical), all in one pass over the
// key that looks each byte up once in keyClass.
func scanKey(s string) (n int, quoted, canon bool) {
	// Fast path: skip what plainPrefix vouches for, all but the last few
	// bytes of a fingerprint. Its bytes are in no class.
	i := plainPrefix(s)
	var seen byte // the union of the classes of the key's bytes
	for ; i < len(s); i++ {
		c := s[i]
		class := keyClass[c]
		seen |= class
		if class&keyStop == 0 {
			continue
		}
		switch {
		case c == '\\':
			if i++; i < len(s) {
				seen |= keyClass[s[i]] // the escaped byte is part of the key
			}
		case c == '"':
			quoted = !quoted
		case !quoted: // space
			return i, false, seen&keyFolds == 0
		}
	}
	return len(s), quoted, seen&keyFolds == 0
}

// plainPrefix returns the length of the longest prefix of s made of whole
// 8-byte blocks whose bytes are all in '#'..'[' (0x23..0x5B): digits, ':',
// upper-case letters and some signs, and none of space, '"', '\\',
// lower-case letters or non-ASCII, so that scanKey can skip the prefix.
//
// It tests the 8 bytes of a block at once, as one 64-bit word w (SIMD
// within a register): with no byte of w above 0x7F, adding 0x80-0x23 to
// every byte sets its high bit exactly when it is >= 0x23, adding 0x7F-0x5B
// sets it exactly when it is > 0x5B, and neither sum carries into the next
// byte.
func plainPrefix(s string) int {
	const (
		ones = 0x0101010101010101
		high = 0x80 * ones
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if w&high != 0 || (w+(0x80-0x23)*ones)&high != high || (w+(0x7F-0x5B)*ones)&high != 0 {
			break
		}
	}
	return i
}

// The classes of bytes for scanKey, as bits.
const (
	keyStop  = 1 << iota // space, '"' or '\\': scanKey must look at it
	keyFolds             // lower-case ASCII or not ASCII: the index form differs
)

// keyClass holds the class of every byte.
var keyClass = func() (t [256]byte) {
	for c := range t {
		if c == '\\' || c == '"' || isSpace(byte(c)) {
			t[c] |= keyStop
		}
		if c >= utf8.RuneSelf || 'a' <= c && c <= 'z' {
			t[c] |= keyFolds
		}
	}
	return t
}()

// isSpace reports whether c is space as Postfix's ISSPACE() sees it: ASCII
// isspace() in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || ('\t' <= c && c <= '\r')
}

func trimSpace(s string) string {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

func trailingLF(b []byte) int {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return 1
	}
	return 0
}

// abbrev cuts s to n bytes followed by "...", as postmap quotes lines.
func abbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
