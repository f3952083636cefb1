// Package table reads, judges and edits Postfix lookup-table source files:
// the text that postmap(1) compiles into an indexed table, such as the
// relay_clientcerts file that lists one "fingerprint label" entry a line.
//
// It judges every line exactly as postmap(1) does (Postfix 3.7, checked
// against 3.7.11; with smtputf8_enable = yes, the default, and without -f), so that the
// entries it reports are the entries a compiled table holds, and it keeps
// every byte of the file: [Table.Bytes] of an unedited table is the parsed
// input, byte for byte. The edit methods change only the bytes they edit.
// Parse is one linear pass over the input; a check and a fix read a table
// the same way.
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
	"slices"
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
// start line (or the end of the input) shows where it ends.
func parse(path string, data []byte, lim limits) (*Table, error) {
	n, err := check(path, data, lim)
	if err != nil {
		return nil, err
	}
	// n bounds the number of entries too: allocate everything once.
	t := &Table{Path: path, Lines: make([]Line, 0, n), Entries: make([]Entry, 0, n), index: newIndex(n)}
	p := parser{t: t, s: unsafe.String(unsafe.SliceData(data), len(data))} // Parse keeps data: no copy
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

// Read reads and parses the source file at path, refusing what is not a
// regular file (a FIFO would block) and files over MaxBytes.
func Read(path string) (*Table, error) {
	f, fi, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, 0, fi.Size()+1) // +1: see EOF without growing
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
	if testHookRead != nil {
		testHookRead(path)
	}
	// A file rewritten in place while it was read (an admin's "generate >
	// table") may have been read half old, half new.
	if now, err := f.Stat(); err != nil || now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) || int64(len(data)) != fi.Size() {
		return nil, fmt.Errorf("read table source %s: the file changed while it was read (rewritten in place?): run the check again", path)
	}
	return Parse(path, data)
}

// testHookRead, when not nil, runs after Read has read the file at path,
// before it checks that the file did not change meanwhile.
var testHookRead func(path string)

// open opens the source file at path for reading, refusing what Read
// should not read; fi describes the file opened.
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

// lookup returns the position in t.Entries of the entry Lookup returns.
func (t *Table) lookup(key string) (int, bool) {
	return t.index.lookup(t.Entries, key)
}

// Len returns the number of distinct keys, the number of entries that
// postmap stores.
func (t *Table) Len() int {
	return t.index.n
}

// parser assembles logical lines and judges each by the rules of the
// grammar, adding what it keeps to t.
type parser struct {
	t *Table
	s string // the input; keys and values are substrings of it

	// The logical line being assembled; first == 0 when there is none.
	first, last int    // its first and last physical line with text
	bad         bool   // it started with whitespace
	off, end    int    // byte range in s of its first line's text
	joined      []byte // its text, when it spans several lines
	multi       bool   // joined holds its text
	buf         []byte // the folding of its key
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
	case i == 0 || p.first == 0:
		p.flush()
		p.first, p.last, p.off, p.end, p.bad, p.multi = n, n, off, end, i > 0, false
	default:
		if !p.multi {
			p.joined = append(p.joined[:0], p.s[p.off:p.end]...)
			p.multi = true
		}
		p.joined = append(p.joined, text...)
		p.last = n
	}
}

// flush judges the logical line being assembled, if any: rules 1 to 5.
func (p *parser) flush() {
	if p.first == 0 {
		return
	}
	text := p.s[p.off:p.end]
	if p.multi {
		text = string(p.joined)
	}
	first, last := p.first, p.last
	p.first = 0
	if p.bad {
		lines := fmt.Sprintf("line %d", first)
		if last > first {
			lines = fmt.Sprintf("lines %d-%d", first, last)
		}
		p.warn(first, WarnLeadingSpace, "logical line must not start with whitespace: %q (postmap skips %s)", abbrev(text, 30), lines)
		return
	}
	if !utf8.ValidString(text) {
		p.warn(first, WarnNotUTF8, "non-UTF-8 input %q (postmap skips this line)", abbrev(text, 30))
		return
	}
	k, inQuotes, folded := scanKey(p.buf[:0], text)
	if inQuotes {
		p.warn(first, WarnUnbalancedQuote, "unbalanced '\"' in %q (postmap skips this line)", abbrev(text, 30))
		return
	}
	key, value := text[:k], trimSpace(text[k:])
	if key == "" || value == "" {
		p.warn(first, WarnMissingValue, "expected format: key whitespace value (postmap skips this line)")
		return
	}
	if key[len(key)-1] == ':' {
		p.warn(first, WarnAliasFormat, "record is in \"key: value\" format; is this an alias file?")
	}
	p.buf = folded
	e := Entry{Key: key, Value: value, Line: first, EndLine: last}
	if win, ok := p.t.index.add(p.t.Entries, folded, len(p.t.Entries)); !ok {
		e.DupOf = p.t.Entries[win].Line
		p.warn(first, WarnDuplicate, "duplicate entry: %q (postmap keeps the first, line %d)", key, e.DupOf)
	}
	p.t.Entries = append(p.t.Entries, e)
}

func (p *parser) warn(line int, kind WarningKind, format string, args ...any) {
	p.t.Warnings = append(p.t.Warnings, Warning{Path: p.t.Path, Line: line, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// scanKey returns the length of the key at the start of logical line s,
// whether s ended inside double quotes (rule 2 of the grammar), and the
// key's folding (see Fold) appended to dst. It folds an ASCII key as it
// scans it, in one pass.
func scanKey(dst []byte, s string) (n int, quoted bool, folded []byte) {
	n, ascii := len(s), true
	start := len(dst)
	dst = slices.Grow(dst, len(s))
	out := dst[start : start+len(s)]
scan:
	for i := 0; i < len(s); i++ {
		i += foldPlain(out[i:], s[i:]) // most bytes of most keys
		if i == len(s) {
			break
		}
		c := s[i]
		out[i] = c
		switch {
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '\\':
			if i++; i < len(s) { // the escaped byte is part of the key
				out[i] = lowerASCII[s[i]]
				ascii = ascii && s[i] < utf8.RuneSelf
			}
		case c == '"':
			quoted = !quoted
		case !quoted:
			n = i // space
			break scan
		}
	}
	if !ascii {
		return n, quoted, foldAppend(dst[:start], s[:n])
	}
	return n, quoted, dst[:start+n]
}

// foldPlain writes to out the folding of the longest prefix of s that
// keyFold maps without zeros, and returns its length.
func foldPlain(out []byte, s string) int {
	out = out[:len(s)]
	for i := 0; i < len(s); i++ {
		f := keyFold[s[i]]
		if f == 0 {
			return i
		}
		out[i] = f
	}
	return len(s)
}

// keyFold maps the bytes of a key that scanKey copies without a second
// look to their ASCII lower case, and the others to 0: space, '"', '\\',
// non-ASCII bytes and NUL (which Parse refuses).
var keyFold = func() (t [256]byte) {
	for c := range t {
		if c != 0 && c != '\\' && c != '"' && !isSpace(byte(c)) && c < utf8.RuneSelf {
			t[c] = lowerASCII[c]
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
