package table

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScanKey(t *testing.T) {
	t.Parallel()
	fp := "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
	lower := strings.ToLower(fp)
	tests := []struct {
		name, in string
		n        int
		quoted   bool
		folded   string
	}{
		{"fingerprint", fp + " relay", len(fp), false, lower},
		{"fingerprint, tab", fp + "\tRelay", len(fp), false, lower},
		{"carriage return ends it", fp + "\r", len(fp), false, lower},
		{"non-ASCII", fp + "\u00c4 x", len(fp) + 2, false, lower + "\u00e4"},
		{"not UTF-8", "A\xffB C", 3, false, "a\xffb"},
		{"quoted space", fp + "\" \" x", len(fp) + 3, false, lower + "\" \""},
		{"escaped space", fp + "\\  x", len(fp) + 2, false, lower + "\\ "},
		{"escaped quote", fp + "\\\" x", len(fp) + 2, false, lower + "\\\""},
		{"escaped letter and non-ASCII", "A\\B\\\u00c4 x", 6, false, "a\\b\\\u00e4"},
		{"trailing backslash", fp + "\\", len(fp) + 1, false, lower + "\\"},
		{"unbalanced quote", fp + "\" X", len(fp) + 3, true, lower + "\" x"},
		{"no value", fp, len(fp), false, lower},
		{"empty", "", 0, false, ""},
		{"space first", " x", 0, false, ""},
	}
	for _, tt := range tests {
		dst := []byte("kept")
		n, quoted, folded := scanKey(dst, tt.in)
		if n != tt.n || quoted != tt.quoted || string(folded) != "kept"+tt.folded {
			t.Errorf("%s: scanKey(%q, %q) = %d, %v, %q; want %d, %v, %q", tt.name, dst, tt.in, n, quoted, folded, tt.n, tt.quoted, "kept"+tt.folded)
		}
		if want := Fold(tt.in[:tt.n]); tt.n > 0 && string(folded[len(dst):]) != want {
			t.Errorf("%s: scanKey(%q) folded %q, Fold of the key is %q", tt.name, tt.in, folded[len(dst):], want)
		}
	}
}

// TestIndexMany checks Lookup, Len and duplicates on a table big enough
// that hash tags collide and probes run long: keys folded and not, ASCII
// and not, longer and shorter than the stack buffers for foldings.
func TestIndexMany(t *testing.T) {
	t.Parallel()
	keys := func(i int) []string { // spellings of one key; all fold alike
		switch i % 4 {
		case 0:
			k := fmt.Sprintf("%02X:%02X:%02X:%02X", i>>24, i>>16&255, i>>8&255, i&255)
			return []string{k, strings.ToLower(k)}
		case 1:
			k := fmt.Sprintf("key-%d", i)
			return []string{k, strings.ToUpper(k)}
		case 2:
			k := fmt.Sprintf("\u00c4rger-%d", i)
			return []string{k, strings.ToLower(k), strings.ToUpper(k)}
		}
		k := fmt.Sprintf("%d-%s", i, strings.Repeat("Ab", 80))
		return []string{k, strings.ToLower(k), strings.ToUpper(k)}
	}
	const n = 4000
	var src bytes.Buffer
	for i := range n {
		fmt.Fprintf(&src, "%s v%d\n", keys(i)[0], i)
	}
	for i := 0; i < n; i += 7 { // duplicates in another spelling
		fmt.Fprintf(&src, "%s dup%d\n", keys(i)[1], i)
	}
	tab, err := Parse("t", src.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != n {
		t.Errorf("Len() = %d, want %d", tab.Len(), n)
	}
	dups := 0
	for _, e := range tab.Entries {
		if e.DupOf != 0 {
			dups++
			if want := fmt.Sprintf("dup%d", e.DupOf-1); e.Value != want {
				t.Errorf("duplicate %+v: want value %q", e, want)
			}
		}
	}
	if want := (n + 6) / 7; dups != want || len(tab.Warnings) != want {
		t.Errorf("%d duplicates, %d warnings; want %d", dups, len(tab.Warnings), want)
	}
	for i := range n {
		for _, k := range keys(i) {
			e, ok := tab.Lookup(k)
			if want := fmt.Sprintf("v%d", i); !ok || e.Value != want || e.Line != i+1 {
				t.Fatalf("Lookup(%q) = %+v, %v; want value %q on line %d", k, e, ok, want, i+1)
			}
		}
	}
	for _, k := range []string{"", "00:00:00", "key-", "key-4000", "\u00c4rger-4002", strings.Repeat("Ab", 80), "v1"} {
		if e, ok := tab.Lookup(k); ok {
			t.Errorf("Lookup(%q) = %+v, want nothing", k, e)
		}
	}
}

// TestReadBig reads a table of 20 000 entries and compares it with Parse.
func TestReadBig(t *testing.T) {
	t.Parallel()
	data := benchTable(20_000)
	path := filepath.Join(t.TempDir(), "relay_clientcerts")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tab, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tab.Bytes(), data) || tab.Len() != 20_000 || len(tab.Warnings) != 0 {
		t.Errorf("Read of %d bytes: Bytes() differs: %v, Len() = %d, %d warnings; want the input, 20000, 0",
			len(data), !bytes.Equal(tab.Bytes(), data), tab.Len(), len(tab.Warnings))
	}
	want, err := Parse("x", data)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range tab.Entries {
		if e != want.Entries[i] {
			t.Fatalf("Read: entry %d = %+v, Parse: %+v", i, e, want.Entries[i])
		}
	}
}
