package table

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// scanChunks are the buffer sizes the differential tests try: tiny ones put
// chunk boundaries everywhere, inside keys, line endings and continuations.
var scanChunks = []int{1, 2, 3, 5, 7, 16, 64, scanChunk}

// checkScan compares scan with chunk-sized buffers against Parse on data:
// the same refusal, Len, Warnings, Lookup of every key of Parse's Entries
// and of a few absent keys, and every entry seen by each.
func checkScan(t *testing.T, data []byte, chunk int, lim limits) {
	t.Helper()
	tab, perr := parse("t", data, lim)
	var wanted []string
	if tab != nil {
		for _, e := range tab.Entries {
			wanted = append(wanted, e.Key, strings.ToLower(e.Key), e.Key+"x")
		}
	}
	wanted = append(wanted, "absent", "AB:CD", "")
	var seen []Entry
	each := func(e Entry) {
		e.Key, e.Value = strings.Clone(e.Key), strings.Clone(e.Value)
		seen = append(seen, e)
	}
	sum, serr := scan("t", bytes.NewReader(data), bytes.NewReader(data), wanted, each, chunk, lim, 0)
	if (perr != nil) != (serr != nil) {
		t.Fatalf("chunk %d, input %q: Parse error %v, Scan error %v", chunk, data, perr, serr)
	}
	if perr != nil {
		// The same message, but for the byte limit: Scan stops reading
		// past it and cannot say the size.
		if pe := perr.Error(); pe != serr.Error() && !strings.Contains(pe, " bytes is over the limit of ") {
			t.Errorf("chunk %d, input %q: Scan error %q, Parse error %q", chunk, data, serr, pe)
		}
		return
	}
	if sum.Len() != tab.Len() {
		t.Errorf("chunk %d, input %q: Scan Len = %d, Parse Len = %d", chunk, data, sum.Len(), tab.Len())
	}
	if !slices.Equal(sum.Warnings, tab.Warnings) {
		t.Errorf("chunk %d, input %q: Scan Warnings =\n%v\nParse Warnings =\n%v", chunk, data, sum.Warnings, tab.Warnings)
	}
	if !slices.Equal(seen, tab.Entries) {
		t.Errorf("chunk %d, input %q: Scan entries =\n%+v\nParse Entries =\n%+v", chunk, data, seen, tab.Entries)
	}
	for _, k := range wanted {
		se, sok := sum.Lookup(k)
		pe, pok := tab.Lookup(k)
		if se != pe || sok != pok {
			t.Errorf("chunk %d, input %q: Scan Lookup(%q) = %v, %v; Parse Lookup = %v, %v", chunk, data, k, se, sok, pe, pok)
		}
	}
}

func TestScanFixtures(t *testing.T) {
	t.Parallel()
	for _, in := range fixtures(t) {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(in), func(t *testing.T) {
			t.Parallel()
			for _, chunk := range scanChunks {
				checkScan(t, data, chunk, limits{MaxBytes, MaxLines, MaxLineBytes})
			}
		})
	}
}

func TestScanCases(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("K", 300)
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"duplicates, case folded", "AB:CD x\nab:cd y\nAb:Cd z\n"},
		{"duplicate of a key split by quotes", "\"a\n b\" 1\n\"A\n B\" 2\n"},
		{"duplicate of a long key", long + " 1\n" + strings.ToLower(long) + " 2\n"},
		{"continuation across chunks", "k\n  v1\n # c\n\n  v2\nk2 v\n"},
		{"no final newline", "a 1\nb 2"},
		{"crlf", "a 1\r\nb\r\n 2\r\n"},
		{"leading space", "  x y\n  z\na 1\n"},
		{"non-UTF-8 and alias", "a\xff 1\nk: v\nk: w\n"},
		{"non-ASCII folding", "\u212a 1\nk 2\nK 3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, chunk := range scanChunks {
				checkScan(t, []byte(tt.in), chunk, limits{MaxBytes, MaxLines, MaxLineBytes})
			}
		})
	}
}

// TestScanRefuses checks that Scan refuses what Parse refuses, with the
// limits made small.
func TestScanRefuses(t *testing.T) {
	t.Parallel()
	small := limits{bytes: 64, lines: 4, lineBytes: 16}
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"NUL byte", "a 1\nb \x002\n", "t:2: NUL byte"},
		{"NUL in a comment", "# \x00\n", "t:1: NUL byte"},
		{"NUL after a long line", strings.Repeat("b", 20) + "\n\x00", "t:2: NUL byte"},
		{"line too long", "a 1\n" + strings.Repeat("b", 16) + "\n", "t:2: line of 17 bytes is over the limit of 16 bytes"},
		{"last line too long", strings.Repeat("b", 17), "t:1: line of 17 bytes"},
		{"too many lines", "a\nb\nc\nd\ne", "t: 5 lines is over the limit of 4 lines"},
		{"too many lines after a long line", strings.Repeat("b", 20) + "\nb\nc\nd\ne", "t: 5 lines is over the limit of 4 lines"},
		{"file too large", strings.Repeat("a 1\n", 17), "t: over the limit of 64 bytes"},
		{"at the limits", "a 1\n" + strings.Repeat("b", 15) + "\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, chunk := range scanChunks {
				r := strings.NewReader(tt.in)
				_, err := scan("t", r, r, nil, nil, chunk, small, 0)
				if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)) {
					t.Errorf("chunk %d: scan(%q) error = %v, want prefix %q", chunk, tt.in, err, tt.want)
				}
				checkScan(t, []byte(tt.in), chunk, small)
			}
		})
	}
}

// TestScanHashCollision forces every key into one hash: keys that differ
// must not become duplicates, and real duplicates are still found by their
// bytes, read back from the file.
func TestScanHashCollision(t *testing.T) {
	t.Parallel()
	data := []byte("AA:01 x\nAA:02 y\naa:01 z\n\"q\n r\" 1\n\"Q\n R\" 2\n")
	r := bytes.NewReader(data)
	s := &scanner{ra: r, ix: index{seed: maphash.MakeSeed()}, slots: make([]uint32, 8), sum: &Summary{found: map[string]Entry{}}}
	s.p = parser{path: "t", entry: func(key, value string, canon bool, at span) {
		// As scanner.entry, with a constant hash.
		const h = 42 << 56
		win, slot, err := s.find(key, canon, h)
		if err != nil {
			t.Fatal(err)
		}
		if win > 0 {
			s.p.duplicate(at.first, key, win)
			return
		}
		rec := record{h: h, line: uint32(at.first), off: uint32(at.start), klen: uint32(len(key))}
		if len(key) > at.firstLen {
			s.spill = map[uint32]string{uint32(s.n): key}
			rec.klen = 0
		}
		s.slots[slot] = uint32(h>>56)<<24 | uint32(s.n+1)
		if s.n == 0 {
			s.recs = [][]record{nil}
		}
		s.recs[0] = append(s.recs[0], rec)
		s.n++
	}}
	s.p.s = string(data)
	off, n := 0, 0
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if l == "" {
			continue
		}
		n++
		s.p.line(n, off, off+len(l)-1)
		off += len(l)
	}
	s.p.flush()
	var got []string
	for _, w := range s.p.warnings {
		got = append(got, w.String())
	}
	want := []string{
		`t:3: duplicate entry: "aa:01" (postmap keeps the first, line 1)`,
		`t:6: duplicate entry: "\"Q R\"" (postmap keeps the first, line 4)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings of %q with one hash for all keys:\ngot  %q\nwant %q", data, got, want)
	}
}

func TestScanFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "relay_clientcerts")
	data := []byte("AB:CD relay1\n# c\nab:cd again\nEF:01 relay2\n")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	sum, err := Scan(path, []string{"ef:01", "00:00"}, func(Entry) { n++ })
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := sum.Lookup("EF:01"); !ok || e.Line != 4 || e.Value != "relay2" {
		t.Errorf("Scan(%q).Lookup(EF:01) = %v, %v; want line 4, relay2", data, e, ok)
	}
	if sum.Len() != 2 || n != 3 || len(sum.Warnings) != 1 {
		t.Errorf("Scan(%q): Len %d, %d entries, warnings %v; want 2, 3, one duplicate", data, sum.Len(), n, sum.Warnings)
	}
	for _, bad := range []string{dir, filepath.Join(dir, "missing")} {
		if _, err := Scan(bad, nil, nil); err == nil {
			t.Errorf("Scan(%q) succeeded, want an error", bad)
		}
	}
}

// FuzzScan checks Scan against Parse on random input and chunk sizes.
func FuzzScan(f *testing.F) {
	for _, in := range fixtures(f) {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(3))
	}
	f.Add([]byte("a 1\nA 2\n\"x\n y\" 3\n\"X\n Y\" 4"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		checkScan(t, data, int(chunk%64)+1, limits{MaxBytes, MaxLines, 64})
	})
}

func BenchmarkScan(b *testing.B) {
	for _, n := range []int{1, 10_000, 100_000} {
		data := benchTable(n)
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				r := bytes.NewReader(data)
				sum, err := scan("bench", r, r, []string{"AB:CD"}, func(Entry) {}, scanChunk, limits{MaxBytes, MaxLines, MaxLineBytes}, len(data)/64)
				if err != nil || sum.Len() != n {
					b.Fatalf("scan: %v, %d keys", err, sum.Len())
				}
			}
		})
	}
}
