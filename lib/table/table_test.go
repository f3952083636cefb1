package table

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// summary renders entries and warnings compactly for comparison:
// entries "key=value@line-endline[dup N]", warnings "line:kind".
func summary(t *Table) (entries, warnings []string) {
	entries, warnings = []string{}, []string{}
	for _, e := range t.Entries {
		s := fmt.Sprintf("%s=%s@%d-%d", e.Key, e.Value, e.Line, e.EndLine)
		if e.DupOf != 0 {
			s += fmt.Sprintf(" dup %d", e.DupOf)
		}
		entries = append(entries, s)
	}
	for _, w := range t.Warnings {
		warnings = append(warnings, fmt.Sprintf("%d:%s", w.Line, w.Kind))
	}
	return entries, warnings
}

func TestParseRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		entries  []string
		warnings []string
	}{
		{"empty file", "", nil, nil},
		{"space separates key and value", "k v\n", []string{"k=v@1-1"}, nil},
		{"tab separates key and value", "k\tv\n", []string{"k=v@1-1"}, nil},
		{"runs of whitespace separate", "k \t  v\n", []string{"k=v@1-1"}, nil},
		{"vertical tab and form feed are whitespace", "k\vv\nl\fw\n", []string{"k=v@1-1", "l=w@2-2"}, nil},
		{"CR is whitespace", "k\rv\n", []string{"k=v@1-1"}, nil},
		{"inner whitespace of the value stays", "k a \t b\n", []string{"k=a \t b@1-1"}, nil},
		{"trailing whitespace of the value is trimmed", "k v \t\v\f\r\n", []string{"k=v@1-1"}, nil},
		{"CRLF line", "k v\r\n", []string{"k=v@1-1"}, nil},
		{"CR inside the value stays", "k a\rb\n", []string{"k=a\rb@1-1"}, nil},
		{"no final newline", "k v", []string{"k=v@1-1"}, nil},
		{"NBSP is not whitespace", "k\u00a0v w\n", []string{"k\u00a0v=w@1-1"}, nil},
		{"comment", "# k v\n", nil, nil},
		{"indented comment", " \t# k v\n", nil, nil},
		{"hash after the key is value", "k #v\n", []string{"k=#v@1-1"}, nil},
		{"hash inside the key", "k#1 v\n", []string{"k#1=v@1-1"}, nil},
		{"blank and whitespace-only lines", "\n \n\t\r\n\v\nk v\n", []string{"k=v@5-5"}, nil},
		{"continuation joins with its leading whitespace", "k a\n  b\n", []string{"k=a  b@1-2"}, nil},
		{"value only on the continuation", "k\n\tv\n", []string{"k=v@1-2"}, nil},
		{"comment inside a continued entry", "k a\n# c\n b\n", []string{"k=a b@1-3"}, nil},
		{"indented comment inside a continued entry", "k a\n  # c\n b\n", []string{"k=a b@1-3"}, nil},
		{"blank line inside a continued entry", "k a\n\n b\n", []string{"k=a b@1-3"}, nil},
		{"CRLF blank line inside a continued entry", "k a\r\n\r\n b\r\n", []string{"k=a\r b@1-3"}, nil},
		{"indented comment is not a value", "k\n  # not a value\n", nil, []string{"1:missing-value"}},
		{"continuation ends at the next start line", "k a\n b\nl c\n", []string{"k=a b@1-2", "l=c@3-3"}, nil},
		{"first logical line with leading whitespace", " k v\nl w\n", []string{"l=w@2-2"}, []string{"1:leading-space"}},
		{"leading whitespace after comments", "# c\n\n\tk v\n more\nl w\n", []string{"l=w@5-5"}, []string{"3:leading-space"}},
		{"key without value", "k\n", nil, []string{"1:missing-value"}},
		{"key with whitespace only", "k \t\r\n", nil, []string{"1:missing-value"}},
		{"warning names the first line of a logical line", "# c\nk\n\n", nil, []string{"2:missing-value"}},
		{"alias format is kept", "k: v\n", []string{"k:=v@1-1"}, []string{"1:alias-format"}},
		{"colon inside the key is fine", "AB:CD v\n", []string{"AB:CD=v@1-1"}, nil},
		{"quoted whitespace in the key", "\"a b\" v\n", []string{"\"a b\"=v@1-1"}, nil},
		{"quotes inside the key", "a\"b c\"d v\n", []string{"a\"b c\"d=v@1-1"}, nil},
		{"quotes in the value do not matter", "k \"v\n", []string{"k=\"v@1-1"}, nil},
		{"unbalanced quote", "\"k v\n", nil, []string{"1:unbalanced-quote"}},
		{"escaped space in the key", "a\\ b v\n", []string{"a\\ b=v@1-1"}, nil},
		{"escaped quote does not quote", "a\\\"b v\n", []string{"a\\\"b=v@1-1"}, nil},
		{"trailing backslash eats nothing", "k\\\n", nil, []string{"1:missing-value"}},
		{"backslash escapes a continuation's space", "k\\\n v w\n", []string{"k\\ v=w@1-2"}, nil},
		{"quote spans a continuation", "\"a\n b\" v\n", []string{"\"a b\"=v@1-2"}, nil},
		{"invalid UTF-8", "k \xff\n", nil, []string{"1:not-utf8"}},
		{"invalid UTF-8 in a comment is fine", "# \xff\nk v\n", []string{"k=v@2-2"}, nil},
		{"surrogate is invalid UTF-8", "k \xed\xa0\x80\n", nil, []string{"1:not-utf8"}},
		{"UTF-8 value", "k caf\u00e9\n", []string{"k=caf\u00e9@1-1"}, nil},
		{"duplicate: the first wins", "k 1\nK 2\n", []string{"k=1@1-1", "K=2@2-2 dup 1"}, []string{"2:duplicate"}},
		{"duplicate after a skipped line", "k\nk 1\nk 2\n", []string{"k=1@2-2", "k=2@3-3 dup 2"}, []string{"1:missing-value", "3:duplicate"}},
		{"non-ASCII keys fold", "\u00c4 1\n\u00e4 2\n", []string{"\u00c4=1@1-1", "\u00e4=2@2-2 dup 1"}, []string{"2:duplicate"}},
		{"Kelvin sign folds to k", "\u212a 1\nk 2\n", []string{"\u212a=1@1-1", "k=2@2-2 dup 1"}, []string{"2:duplicate"}},
		{"dotless i does not fold to i", "\u0131 1\ni 2\nI 3\n", []string{"\u0131=1@1-1", "i=2@2-2", "I=3@3-3 dup 2"}, []string{"3:duplicate"}},
		{"final sigma folds to sigma", "\u03c3 1\n\u03c2 2\n\u03a3 3\n", []string{"\u03c3=1@1-1", "\u03c2=2@2-2 dup 1", "\u03a3=3@3-3 dup 1"}, []string{"2:duplicate", "3:duplicate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tab, err := Parse("t", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			entries, warnings := summary(tab)
			want := func(s []string) []string {
				if s == nil {
					return []string{}
				}
				return s
			}
			if !slices.Equal(entries, want(tt.entries)) || !slices.Equal(warnings, want(tt.warnings)) {
				t.Errorf("Parse(%q)\ngot  entries %q warnings %q\nwant entries %q warnings %q", tt.in, entries, warnings, want(tt.entries), want(tt.warnings))
			}
			if got := tab.Bytes(); !bytes.Equal(got, []byte(tt.in)) {
				t.Errorf("Parse(%q).Bytes() = %q", tt.in, got)
			}
		})
	}
}

func TestWarningString(t *testing.T) {
	t.Parallel()
	tab, err := Parse("/etc/postfix/relay_clientcerts", []byte("# c\nAB:CD\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "/etc/postfix/relay_clientcerts:2: expected format: key whitespace value (postmap skips this line)"
	if len(tab.Warnings) != 1 || tab.Warnings[0].String() != want {
		t.Errorf("warnings = %v, want [%s]", tab.Warnings, want)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	tab, err := Parse("t", []byte("AB:CD first\nab:cd second\nef:01 other\n"+strings.Repeat("X", 200)+" long\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key, value string
		ok         bool
	}{
		{"AB:CD", "first", true},
		{"ab:cd", "first", true},
		{"aB:cD", "first", true},
		{"EF:01", "other", true},
		{strings.Repeat("x", 200), "long", true},
		{"AB:C", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		e, ok := tab.Lookup(tt.key)
		if ok != tt.ok || e.Value != tt.value {
			t.Errorf("Lookup(%q) = %+v, %v; want value %q, %v", tt.key, e, ok, tt.value, tt.ok)
		}
	}
	if got := tab.Len(); got != 3 {
		t.Errorf("Len() = %d, want 3", got)
	}
	var zero Table
	if _, ok := zero.Lookup("x"); ok || zero.Len() != 0 || len(zero.Bytes()) != 0 {
		t.Errorf("zero Table: Lookup found something or Len/Bytes not empty")
	}
}

func TestFold(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"ab:cd", "ab:cd"},
		{"AB:CD", "ab:cd"},
		{"\u00c4rger", "\u00e4rger"},
		{"\u212a", "k"},      // Kelvin sign
		{"\u017f", "s"},      // long s
		{"\u0131", "\u0131"}, // dotless i has no simple folding
		{"\u0130", "\u0130"}, // ICU folds it to "i\u0307", a length change we do not copy
		{"\u03a3\u03c2", "\u03c3\u03c3"},
		{"\uab70", "\u13a0"}, // Cherokee folds to upper case
		{"\xffA", "\xffa"},   // not UTF-8: bytes kept
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	small := limits{bytes: 64, lines: 4, lineBytes: 16}
	tests := []struct {
		name string
		in   string
		lim  limits
		want string
	}{
		{"NUL byte", "a 1\nb \x002\n", small, "t:2: NUL byte"},
		{"NUL in a comment", "# \x00\n", small, "t:1: NUL byte"},
		{"line too long", "a 1\n" + strings.Repeat("b", 16) + "\n", small, "t:2: line of 17 bytes is over the limit of 16 bytes"},
		{"last line too long", strings.Repeat("b", 17), small, "t:1: line of 17 bytes"},
		{"too many lines", "a\nb\nc\nd\ne", small, "t: 5 lines is over the limit of 4 lines"},
		{"file too large", strings.Repeat("a 1\n", 17), small, "t: 68 bytes is over the limit of 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse("t", []byte(tt.in), tt.lim)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("parse(%q) error = %v, want prefix %q", tt.in, err, tt.want)
			}
		})
	}
	// At the limits exactly, input is accepted.
	if _, err := parse("t", []byte("a 1\n"+strings.Repeat("b", 15)+"\n"), small); err != nil {
		t.Errorf("line of exactly 16 bytes: %v", err)
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "relay_clientcerts")
	data := []byte("# c\r\nAB:CD relay\r\nEF:01 x")
	if err := os.WriteFile(good, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tab, err := Read(good)
	if err != nil {
		t.Fatalf("Read(%s): %v", good, err)
	}
	if !bytes.Equal(tab.Bytes(), data) || tab.Len() != 2 || tab.Path != good {
		t.Errorf("Read(%s) = %q with %d keys, path %q; want %q, 2 keys", good, tab.Bytes(), tab.Len(), tab.Path, data)
	}

	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if tab, err := Read(empty); err != nil || len(tab.Lines) != 0 {
		t.Errorf("Read(empty) = %v, %v; want an empty table", tab, err)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	nul := filepath.Join(dir, "nul")
	if err := os.WriteFile(nul, []byte("a 1\n\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
		is               error
	}{
		{"missing", filepath.Join(dir, "missing"), "no such file or directory", fs.ErrNotExist},
		{"directory", dir, "is a directory", nil},
		{"fifo", fifo, "not a regular file", nil},
		{"NUL byte", nul, nul + ":2: NUL byte", nil},
	}
	for _, tt := range tests {
		_, err := Read(tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
			t.Errorf("%s: Read(%s) error = %v, want it to contain %q (errors.Is %v)", tt.name, tt.path, err, tt.want, tt.is)
		}
	}
}

func TestLineEnding(t *testing.T) {
	t.Parallel()
	tests := []struct{ raw, ending, text string }{
		{"a\n", "\n", "a"},
		{"a\r\n", "\r\n", "a"},
		{"a\r", "", "a\r"},
		{"a", "", "a"},
		{"\n", "\n", ""},
		{"\r\n", "\r\n", ""},
	}
	for _, tt := range tests {
		l := Line{Raw: []byte(tt.raw)}
		if l.Ending() != tt.ending || string(l.Text()) != tt.text {
			t.Errorf("Line(%q): Ending() = %q, Text() = %q; want %q, %q", tt.raw, l.Ending(), l.Text(), tt.ending, tt.text)
		}
	}
}

// TestReadRewritten: a file rewritten in place while Read reads it (same
// size, another key: only the modification time tells; or cut short) is
// refused, not parsed half old and half new. Not parallel: it sets
// testHookRead.
func TestReadRewritten(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, after string
	}{
		{"same size", "EF:01 relay\n"},
		{"truncated", "EF:01"},
	} {
		path := filepath.Join(dir, "relay_clientcerts")
		if err := os.WriteFile(path, []byte("AB:CD relay\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		testHookRead = func(string) {
			if err := os.WriteFile(path, []byte(tt.after), 0o644); err != nil {
				t.Error(err)
			}
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Error(err)
			}
		}
		_, err := Read(path)
		testHookRead = nil
		if err == nil || !strings.Contains(err.Error(), "the file changed while it was read") {
			t.Errorf("%s: Read of a table rewritten meanwhile: error %v, want the file changed while it was read", tt.name, err)
		}
	}
}
