package table

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestReplaceKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, key, newKey, want string
	}{
		{"keeps separator, value and ending", "# c\nAB:CD\t relay-a  \nEF:01 b\n", "ab:cd", "11:22", "# c\n11:22\t relay-a  \nEF:01 b\n"},
		{"CRLF ending stays", "AB:CD x\r\nEF:01 y\r\n", "EF:01", "99:88:77", "AB:CD x\r\n99:88:77 y\r\n"},
		{"no final newline stays", "a 1\nb 2", "b", "c", "a 1\nc 2"},
		{"continued entry: only the first line changes", "a\n  1\n# c\n  2\nb 3\n", "a", "zz", "zz\n  1\n# c\n  2\nb 3\n"},
		{"case-only change of the same key", "ab:cd 1\n", "AB:CD", "AB:CD", "AB:CD 1\n"},
		{"first of duplicates", "a 1\nA 2\n", "a", "b", "b 1\nA 2\n"},
		{"shorter key", "long-key v\n", "long-key", "k", "k v\n"},
		{"quoted old key", "\"a b\" v\n", "\"a b\"", "c", "c v\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tab := mustParse(t, tt.in)
			before, _ := tab.Lookup(tt.key)
			if err := tab.ReplaceKey(tt.key, tt.newKey); err != nil {
				t.Fatalf("ReplaceKey(%q, %q) in %q: %v", tt.key, tt.newKey, tt.in, err)
			}
			if got := string(tab.Bytes()); got != tt.want {
				t.Errorf("ReplaceKey(%q, %q) in %q\ngot  %q\nwant %q", tt.key, tt.newKey, tt.in, got, tt.want)
			}
			e, ok := tab.Lookup(tt.newKey)
			if !ok || e.Key != tt.newKey || e.Value != before.Value || e.Line != before.Line {
				t.Errorf("after ReplaceKey: Lookup(%q) = %+v, %v; want value %q on line %d", tt.newKey, e, ok, before.Value, before.Line)
			}
			checkTable(t, tab.Bytes(), tab)
		})
	}
}

func TestReplaceKeyRefuses(t *testing.T) {
	t.Parallel()
	in := "a 1\nb 2\n\"q\n r\" 3\n"
	tests := []struct {
		name, key, newKey, want string
	}{
		{"missing key", "x", "y", `no entry with key "x"`},
		{"new key taken", "a", "B", `key "B" already present at line 2`},
		{"empty", "a", "", "empty key"},
		{"whitespace", "a", "c d", "key contains whitespace"},
		{"tab", "a", "c\td", "key contains whitespace"},
		{"newline", "a", "c\nd", "key contains whitespace"},
		{"comment", "a", "#c", "starts with '#'"},
		{"NUL", "a", "c\x00", "NUL byte"},
		{"invalid UTF-8", "a", "c\xff", "not valid UTF-8"},
		{"unbalanced quote", "a", "\"c", "unbalanced"},
		{"trailing backslash", "a", "c\\", "trailing backslash"},
		{"key spans lines", "\"q r\"", "z", "spans lines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tab := mustParse(t, in)
			err := tab.ReplaceKey(tt.key, tt.newKey)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReplaceKey(%q, %q) error = %v, want it to contain %q", tt.key, tt.newKey, err, tt.want)
			}
			if got := string(tab.Bytes()); got != in {
				t.Errorf("failed ReplaceKey changed the table to %q", got)
			}
		})
	}
}

func TestAppend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, key, value, want string
	}{
		{"empty file", "", "AB:CD", "relay", "AB:CD relay\n"},
		{"LF file", "a 1\n", "b", "2", "a 1\nb 2\n"},
		{"CRLF file", "a 1\r\nb 2\r\n", "c", "3", "a 1\r\nb 2\r\nc 3\r\n"},
		{"mostly CRLF", "# c\na 1\r\nb 2\r\n", "c", "3", "# c\na 1\r\nb 2\r\nc 3\r\n"},
		{"tie takes LF", "a 1\r\nb 2\n", "c", "3", "a 1\r\nb 2\nc 3\n"},
		{"no final newline", "a 1\nb 2", "c", "3", "a 1\nb 2\nc 3\n"},
		{"no final CRLF", "a 1\r\nb 2", "c", "3", "a 1\r\nb 2\r\nc 3\r\n"},
		{"last line ends in CR", "a 1\r\nb 2\r", "c", "3", "a 1\r\nb 2\r\nc 3\r\n"},
		{"single line without newline", "a 1", "c", "3", "a 1\nc 3\n"},
		{"after a continued entry", "a\n 1", "c", "3", "a\n 1\nc 3\n"},
		{"after a comment without newline", "a 1\n# end", "c", "3", "a 1\n# end\nc 3\n"},
		{"value with inner whitespace", "", "k", "a  b\tc", "k a  b\tc\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tab := mustParse(t, tt.in)
			if err := tab.Append(tt.key, tt.value); err != nil {
				t.Fatalf("Append(%q, %q) to %q: %v", tt.key, tt.value, tt.in, err)
			}
			if got := string(tab.Bytes()); got != tt.want {
				t.Errorf("Append(%q, %q) to %q\ngot  %q\nwant %q", tt.key, tt.value, tt.in, got, tt.want)
			}
			if e, ok := tab.Lookup(tt.key); !ok || e.Value != tt.value {
				t.Errorf("after Append: Lookup(%q) = %+v, %v", tt.key, e, ok)
			}
			checkTable(t, tab.Bytes(), tab)
		})
	}
}

func TestAppendRefuses(t *testing.T) {
	t.Parallel()
	in := "a 1\n"
	tests := []struct {
		name, key, value, want string
	}{
		{"present", "A", "2", "key already present at line 1"},
		{"bad key", "b c", "2", "key contains whitespace"},
		{"empty value", "b", "", "empty value"},
		{"leading whitespace", "b", " 2", "leading or trailing whitespace"},
		{"trailing CR", "b", "2\r", "leading or trailing whitespace"},
		{"line break", "b", "2\n3", "line break"},
		{"NUL", "b", "2\x00", "NUL byte"},
		{"invalid UTF-8", "b", "\xff", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tab := mustParse(t, in)
			err := tab.Append(tt.key, tt.value)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Append(%q, %q) error = %v, want it to contain %q", tt.key, tt.value, err, tt.want)
			}
			if got := string(tab.Bytes()); got != in {
				t.Errorf("failed Append changed the table to %q", got)
			}
		})
	}
}

// TestEditProperty makes random tables and random edits, and checks that
// each edit changes only the bytes it edits.
func TestEditProperty(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	keys := []string{"AB:CD", "ab:cd", "EF:01", "k", "K:", "x", "\u00c4", "\"q r\""}
	edits := 0
	for i := range 2000 {
		var data []byte
		if i%2 == 0 {
			data = randomBytes(rng)
		} else {
			data = randomLines(rng)
		}
		tab, err := Parse("p", data)
		if err != nil {
			t.Fatalf("Parse(%q): %v", data, err)
		}
		before := slices.Clone(tab.Lines)
		key := keys[rng.IntN(len(keys))]
		if rng.IntN(2) == 0 && len(tab.Entries) > 0 {
			e := tab.Entries[rng.IntN(len(tab.Entries))]
			if e.DupOf != 0 {
				e, _ = tab.Lookup(e.Key)
			}
			if err := tab.ReplaceKey(e.Key, key); err == nil {
				checkReplaced(t, data, before, tab, e, key)
				edits++
			} else if !bytes.Equal(tab.Bytes(), data) {
				t.Fatalf("failed ReplaceKey(%q, %q) changed %q to %q", e.Key, key, data, tab.Bytes())
			}
			continue
		}
		if err := tab.Append(key, "v w"); err == nil {
			checkAppended(t, data, before, tab, key, "v w")
			edits++
		} else if !bytes.Equal(tab.Bytes(), data) {
			t.Fatalf("failed Append(%q) changed %q to %q", key, data, tab.Bytes())
		}
	}
	if edits < 500 {
		t.Errorf("only %d of 2000 random edits succeeded; the generator no longer exercises edits", edits)
	}
}

func mustParse(t *testing.T, in string) *Table {
	t.Helper()
	tab, err := Parse("t", []byte(in))
	if err != nil {
		t.Fatalf("Parse(%q): %v", in, err)
	}
	return tab
}
