package table

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Editing. Each edit changes only the bytes it must, then parses the result
// again, so that Lines, Entries, Warnings and the index stay exact; an edit
// costs one parse of the table. An edit that would not read back as intended
// fails and leaves the table as it was.

// ReplaceKey replaces the key text of the entry that Lookup(key) returns
// with newKey, in that entry's first physical line, keeping the whitespace,
// value and line ending after it and every other byte of the file.
//
// It fails when no entry has key, when newKey is not a plain key (empty,
// containing whitespace, a NUL byte or invalid UTF-8, starting with "#",
// with unbalanced quotes or a trailing backslash), when another entry
// already has newKey, or when the key spans lines (quoted whitespace). If
// later duplicates of key exist, the first of them takes effect afterwards.
func (t *Table) ReplaceKey(key, newKey string) error {
	i, ok := t.lookup(key)
	if !ok {
		return fmt.Errorf("%s: no entry with key %q", t.Path, key)
	}
	e := t.Entries[i]
	if err := checkKey(newKey); err != nil {
		return fmt.Errorf("%s:%d: replace key %q: %w", t.Path, e.Line, e.Key, err)
	}
	if j, ok := t.lookup(newKey); ok && j != i {
		return fmt.Errorf("%s:%d: replace key %q: key %q already present at line %d", t.Path, e.Line, e.Key, newKey, t.Entries[j].Line)
	}
	raw := t.Lines[e.Line-1].Raw
	text := Line{Raw: raw}.Text()
	if !bytes.HasPrefix(text, []byte(e.Key)) {
		return fmt.Errorf("%s:%d: replace key %q: the key spans lines; edit it by hand", t.Path, e.Line, e.Key)
	}
	edited := make([]byte, 0, len(newKey)+len(raw)-len(e.Key))
	edited = append(append(edited, newKey...), raw[len(e.Key):]...)

	var buf bytes.Buffer
	buf.Grow(t.size() + len(edited) - len(raw))
	for n, l := range t.Lines {
		if n == e.Line-1 {
			buf.Write(edited)
		} else {
			buf.Write(l.Raw)
		}
	}
	return t.reparse(buf.Bytes(), e.Line, newKey, e.Value)
}

// Append adds the entry "key value" as a new last line, ended with the
// file's dominant line ending ("\n" when there is none, or on a tie). If the
// file lacks a final line ending, Append first ends its last line in the
// same style, so that the new line does not merge into it.
//
// It fails when key is not a plain key (see ReplaceKey) or is already
// present, or when value is empty, has leading or trailing whitespace, or
// contains a line break, a NUL byte or invalid UTF-8.
func (t *Table) Append(key, value string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("%s: append %q: %w", t.Path, key, err)
	}
	if err := checkValue(value); err != nil {
		return fmt.Errorf("%s: append %q: %w", t.Path, key, err)
	}
	if j, ok := t.lookup(key); ok {
		return fmt.Errorf("%s: append %q: key already present at line %d", t.Path, key, t.Entries[j].Line)
	}
	eol := t.ending()
	data := make([]byte, 0, t.size()+len(eol)+len(key)+1+len(value)+len(eol))
	for _, l := range t.Lines {
		data = append(data, l.Raw...)
	}
	if n := len(data); n > 0 && data[n-1] != '\n' {
		if eol == "\r\n" && data[n-1] == '\r' {
			data = append(data, '\n') // the line already ends in "\r"
		} else {
			data = append(data, eol...)
		}
	}
	data = append(data, key...)
	data = append(data, ' ')
	data = append(data, value...)
	data = append(data, eol...)
	line := bytes.Count(data, []byte{'\n'})
	return t.reparse(data, line, key, value)
}

// reparse parses data and, if its entry on line reads back as key and
// value, makes it t.
func (t *Table) reparse(data []byte, line int, key, value string) error {
	nt, err := Parse(t.Path, data)
	if err != nil {
		return err
	}
	for _, e := range nt.Entries {
		if e.Line != line {
			continue
		}
		if e.Key != key || e.Value != value || e.DupOf != 0 {
			break
		}
		*t = *nt
		return nil
	}
	return fmt.Errorf("%s:%d: edited entry would not read back as %q %q; table left unchanged", t.Path, line, key, value)
}

// ending returns the dominant line ending of t.
func (t *Table) ending() string {
	crlf, lf := 0, 0
	for _, l := range t.Lines {
		switch l.Ending() {
		case "\r\n":
			crlf++
		case "\n":
			lf++
		}
	}
	if crlf > lf {
		return "\r\n"
	}
	return "\n"
}

func (t *Table) size() int {
	n := 0
	for _, l := range t.Lines {
		n += len(l.Raw)
	}
	return n
}

// checkKey accepts a key that reads back as itself at the start of a line
// followed by whitespace.
func checkKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("empty key")
	case strings.IndexByte(k, 0) >= 0:
		return fmt.Errorf("key contains a NUL byte")
	case !utf8.ValidString(k):
		return fmt.Errorf("key is not valid UTF-8")
	case k[0] == '#':
		return fmt.Errorf("key starts with '#', which makes the line a comment")
	}
	for i := 0; i < len(k); i++ {
		if isSpace(k[i]) {
			return fmt.Errorf("key contains whitespace %q", k[i])
		}
	}
	if n, quoted, _ := scanKey(nil, k+" "); n != len(k) || quoted {
		return fmt.Errorf("key has an unbalanced '\"' or a trailing backslash")
	}
	return nil
}

// checkValue accepts a value that reads back as itself after a key and
// whitespace.
func checkValue(v string) error {
	switch {
	case v == "":
		return fmt.Errorf("empty value")
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("value contains a NUL byte")
	case strings.IndexByte(v, '\n') >= 0:
		return fmt.Errorf("value contains a line break")
	case !utf8.ValidString(v):
		return fmt.Errorf("value is not valid UTF-8")
	case trimSpace(v) != v:
		return fmt.Errorf("value has leading or trailing whitespace, which postmap would trim")
	}
	return nil
}
