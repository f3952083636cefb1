package table

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"testing"
	"unicode/utf8"
)

// refParse is an oracle: a literal transliteration of Postfix's readllines()
// (src/util/readlline.c) and of the loop in postmap() (src/postmap/postmap.c)
// that reads one byte at a time with getc/ungetc, as the C code does. Parse
// must agree with it on every NUL-free input. It returns the stored entries
// as "foldedkey\tvalue@line" and the warnings as "LINE kind".
func refParse(data []byte) (stored, warns []string) {
	const eof = -1
	pos := 0
	getc := func() int {
		if pos >= len(data) {
			return eof
		}
		pos++
		return int(data[pos-1])
	}
	ungetc := func() { pos-- }
	space := func(c int) bool { return c >= 0 && isSpace(byte(c)) }
	lineno, firstLine := 0, 0

	var readllines func() []byte
	readllines = func() []byte {
		var buf []byte
		for {
			start := len(buf)
			ch := getc()
			for ch != eof && ch != '\n' {
				buf = append(buf, byte(ch))
				ch = getc()
			}
			if ch == '\n' || len(buf) > start {
				lineno++
			}
			cp := start
			for cp < len(buf) && space(int(buf[cp])) {
				cp++
			}
			if cp == len(buf) || buf[cp] == '#' {
				buf = buf[:start]
			} else if start == 0 {
				firstLine = lineno
			}
			if ch == eof {
				break
			}
			if len(buf) > 0 {
				next := getc()
				if next != eof {
					ungetc()
				}
				if next != '#' && !space(next) {
					break
				}
			}
		}
		if len(buf) > 0 && space(int(buf[0])) {
			warns = append(warns, fmt.Sprintf("%d %s", firstLine, WarnLeadingSpace))
			return readllines()
		}
		return buf
	}

	seen := map[string]bool{}
	for {
		line := readllines()
		if len(line) == 0 {
			break
		}
		warn := func(k WarningKind) { warns = append(warns, fmt.Sprintf("%d %s", firstLine, k)) }
		if !utf8.Valid(line) {
			warn(WarnNotUTF8)
			continue
		}
		inQuotes := false
		v := 0
		for ; v < len(line); v++ {
			if line[v] == '\\' {
				if v++; v == len(line) {
					break
				}
			} else if space(int(line[v])) {
				if !inQuotes {
					break
				}
			} else if line[v] == '"' {
				inQuotes = !inQuotes
			}
		}
		if inQuotes {
			warn(WarnUnbalancedQuote)
			continue
		}
		key := string(line[:v])
		if v < len(line) {
			v++
		}
		for v < len(line) && space(int(line[v])) {
			v++
		}
		e := len(line)
		for e > v && space(int(line[e-1])) {
			e--
		}
		value := string(line[v:e])
		if key == "" || value == "" {
			warn(WarnMissingValue)
			continue
		}
		if key[len(key)-1] == ':' {
			warn(WarnAliasFormat)
		}
		fk := Fold(key)
		if seen[fk] {
			warn(WarnDuplicate)
			continue
		}
		seen[fk] = true
		stored = append(stored, fmt.Sprintf("%s\t%s@%d", fk, value, firstLine))
	}
	return stored, warns
}

// checkTable checks the invariants of a table parsed from data.
func checkTable(t *testing.T, data []byte, tab *Table) {
	t.Helper()
	if got := tab.Bytes(); !bytes.Equal(got, data) {
		t.Fatalf("Bytes() != input\ninput: %q\ngot:   %q", data, got)
	}
	for i, l := range tab.Lines {
		if len(l.Raw) == 0 || bytes.IndexByte(l.Raw[:len(l.Raw)-1], '\n') >= 0 ||
			(i < len(tab.Lines)-1 && l.Raw[len(l.Raw)-1] != '\n') {
			t.Fatalf("input %q: line %d is not one physical line: %q", data, i+1, l.Raw)
		}
	}
	var stored, warns []string
	distinct := 0
	for _, e := range tab.Entries {
		if e.Line < 1 || e.EndLine < e.Line || e.EndLine > len(tab.Lines) {
			t.Fatalf("input %q: entry %+v has lines outside 1..%d", data, e, len(tab.Lines))
		}
		got, ok := tab.Lookup(e.Key)
		if !ok {
			t.Fatalf("input %q: Lookup(%q) found nothing; entry %+v", data, e.Key, e)
		}
		if e.DupOf == 0 {
			distinct++
			if got != e {
				t.Fatalf("input %q: Lookup(%q) = %+v, want %+v", data, e.Key, got, e)
			}
			stored = append(stored, fmt.Sprintf("%s\t%s@%d", Fold(e.Key), e.Value, e.Line))
		} else if got.Line != e.DupOf || got.DupOf != 0 {
			t.Fatalf("input %q: duplicate %+v: Lookup(%q) = %+v, want the entry of line %d", data, e, e.Key, got, e.DupOf)
		}
	}
	if tab.Len() != distinct {
		t.Fatalf("input %q: Len() = %d, want %d distinct keys", data, tab.Len(), distinct)
	}
	for _, w := range tab.Warnings {
		warns = append(warns, fmt.Sprintf("%d %s", w.Line, w.Kind))
	}
	refStored, refWarns := refParse(data)
	if !slices.Equal(stored, refStored) || !slices.Equal(warns, refWarns) {
		t.Fatalf("input %q: disagrees with the transliterated C code\ngot  entries %q\nwant entries %q\ngot  warnings %q\nwant warnings %q",
			data, stored, refStored, warns, refWarns)
	}
}

// FuzzParse checks render(parse(b)) == b, agreement with the transliterated
// C code, and Lookup against Entries. Seeds: testdata/fuzz/FuzzParse and the
// fixtures.
func FuzzParse(f *testing.F) {
	for _, in := range fixtures(f) {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := Parse("fuzz", data)
		if err != nil {
			if bytes.IndexByte(data, 0) < 0 {
				t.Fatalf("Parse(%q) = error %v; only NUL bytes are refused at this size", data, err)
			}
			return
		}
		checkTable(t, data, tab)
	})
}

// FuzzEdit checks that Append and ReplaceKey change only the bytes they edit.
func FuzzEdit(f *testing.F) {
	f.Add([]byte("a 1\nb 2"), "c", "3", "A")
	f.Add([]byte("a 1\r\n# c\r\n"), "x:y", "v w", "a")
	f.Add([]byte(" x\n\"q r\" v\n"), "\"q", "v", "\"q r\"")
	f.Fuzz(func(t *testing.T, data []byte, key, value, old string) {
		tab, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		before := slices.Clone(tab.Lines)
		_, present := tab.Lookup(key)
		if err := tab.Append(key, value); err == nil {
			checkAppended(t, data, before, tab, key, value)
		} else if !bytes.Equal(tab.Bytes(), data) {
			t.Fatalf("failed Append(%q, %q) changed the table %q to %q", key, value, data, tab.Bytes())
		} else if checkKey(key) == nil && checkValue(value) == nil && !present {
			t.Fatalf("Append(%q, %q) to %q: %v; want success", key, value, data, err)
		}

		tab, _ = Parse("fuzz", data)
		e, found := tab.Lookup(old)
		other, taken := tab.Lookup(key)
		if err := tab.ReplaceKey(old, key); err == nil {
			checkReplaced(t, data, before, tab, e, key)
		} else if !bytes.Equal(tab.Bytes(), data) {
			t.Fatalf("failed ReplaceKey(%q, %q) changed the table %q to %q", old, key, data, tab.Bytes())
		} else if found && checkKey(key) == nil && (!taken || other.Line == e.Line) &&
			bytes.HasPrefix(before[e.Line-1].Text(), []byte(e.Key)) {
			t.Fatalf("ReplaceKey(%q, %q) in %q: %v; want success", old, key, data, err)
		}
	})
}

// checkAppended checks tab after Append(key, value) on the table of data,
// whose lines were before.
func checkAppended(t *testing.T, data []byte, before []Line, tab *Table, key, value string) {
	t.Helper()
	if len(tab.Lines) != len(before)+1 {
		t.Fatalf("Append(%q, %q) to %q: %d lines, want %d", key, value, data, len(tab.Lines), len(before)+1)
	}
	for i, l := range before {
		got := tab.Lines[i].Raw
		if i == len(before)-1 && l.Ending() == "" {
			if !bytes.HasPrefix(got, l.Raw) || (got[len(got)-1] != '\n') || len(got)-len(l.Raw) > 2 {
				t.Fatalf("Append(%q, %q) to %q: last line %q became %q, want only a line ending added", key, value, data, l.Raw, got)
			}
			continue
		}
		if !bytes.Equal(got, l.Raw) {
			t.Fatalf("Append(%q, %q) to %q changed line %d from %q to %q", key, value, data, i+1, l.Raw, got)
		}
	}
	last := tab.Lines[len(tab.Lines)-1].Text()
	if string(last) != key+" "+value {
		t.Fatalf("Append(%q, %q) to %q: new line %q", key, value, data, last)
	}
	if e, ok := tab.Lookup(key); !ok || e.Value != value || e.Line != len(tab.Lines) {
		t.Fatalf("Append(%q, %q) to %q: Lookup = %+v, %v", key, value, data, e, ok)
	}
	checkTable(t, tab.Bytes(), tab)
}

// checkReplaced checks tab after ReplaceKey(e.Key, newKey) on the table of
// data, whose lines were before.
func checkReplaced(t *testing.T, data []byte, before []Line, tab *Table, e Entry, newKey string) {
	t.Helper()
	if len(tab.Lines) != len(before) {
		t.Fatalf("ReplaceKey(%q, %q) in %q: %d lines, want %d", e.Key, newKey, data, len(tab.Lines), len(before))
	}
	for i, l := range before {
		want := l.Raw
		if i == e.Line-1 {
			want = append([]byte(newKey), l.Raw[len(e.Key):]...)
		}
		if got := tab.Lines[i].Raw; !bytes.Equal(got, want) {
			t.Fatalf("ReplaceKey(%q, %q) in %q: line %d is %q, want %q", e.Key, newKey, data, i+1, got, want)
		}
	}
	if got, ok := tab.Lookup(newKey); !ok || got.Value != e.Value || got.Line != e.Line {
		t.Fatalf("ReplaceKey(%q, %q) in %q: Lookup(%q) = %+v, %v; want value %q on line %d", e.Key, newKey, data, newKey, got, ok, e.Value, e.Line)
	}
	checkTable(t, tab.Bytes(), tab)
}
