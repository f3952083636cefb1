package table

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scanParts are the numbers of parts the differential tests cut inputs
// into: many puts cuts everywhere a start line allows.
var scanParts = []int{1, 2, 3, 7, 64}

// checkScan compares scan, cut into each of scanParts, against Parse on
// data: the same refusal, Len, Warnings, Lookup (after Find) of every key
// of Parse's Entries and of a few absent keys, and marked entries (every
// key marked) equal to Parse's Entries.
func checkScan(t *testing.T, data []byte, lim limits) {
	t.Helper()
	tab, perr := parse("t", data, lim)
	var wanted []string
	if tab != nil {
		for _, e := range tab.Entries {
			wanted = append(wanted, e.Key, strings.ToLower(e.Key), e.Key+"x")
		}
	}
	wanted = append(wanted, "absent", "AB:CD", "")
	for _, parts := range scanParts {
		var marks atomic.Int64
		mark := func(string) bool { marks.Add(1); return true }
		sum, serr := scan("t", data, mark, MaxLines, lim, parts, 2, false, false)
		if (perr != nil) != (serr != nil) {
			t.Fatalf("%d parts, input %q: Parse error %v, Scan error %v", parts, data, perr, serr)
		}
		if perr != nil {
			if perr.Error() != serr.Error() {
				t.Errorf("%d parts, input %q: Scan error %q, Parse error %q", parts, data, serr, perr)
			}
			continue
		}
		if err := sum.Find(wanted); err != nil {
			t.Fatalf("%d parts, input %q: Find: %v", parts, data, err)
		}
		if sum.Len() != tab.Len() {
			t.Errorf("%d parts, input %q: Scan Len = %d, Parse Len = %d", parts, data, sum.Len(), tab.Len())
		}
		if !slices.Equal(sum.Warnings, tab.Warnings) {
			t.Errorf("%d parts, input %q: Scan Warnings =\n%v\nParse Warnings =\n%v", parts, data, sum.Warnings, tab.Warnings)
		}
		var entries []Entry
		for _, e := range tab.Entries {
			e.DupOf = 0
			entries = append(entries, e)
		}
		if !slices.Equal(sum.Marked, entries) || sum.Marks != len(entries) || int(marks.Load()) != len(entries) {
			t.Errorf("%d parts, input %q: Scan marked %d (mark called %d times) =\n%+v\nParse Entries =\n%+v", parts, data, sum.Marks, marks.Load(), sum.Marked, entries)
		}
		for _, k := range wanted {
			se, sok := sum.Lookup(k)
			pe, pok := tab.Lookup(k)
			if se != pe || sok != pok {
				t.Errorf("%d parts, input %q: Scan Lookup(%q) = %v, %v; Parse Lookup = %v, %v", parts, data, k, se, sok, pe, pok)
			}
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
			checkScan(t, data, limits{MaxBytes, MaxLines, MaxLineBytes})
		})
	}
}

// manyShort returns a table of 600 short keys, every third a duplicate of
// one before, far more keys than Scan sizes its key set for at first.
func manyShort() string {
	var b strings.Builder
	for i := range 600 {
		k := i
		if i%3 == 2 {
			k = i / 2
		}
		fmt.Fprintf(&b, "k%d v%d\n", k, i)
	}
	return b.String()
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
		{"many short keys: the key set grows", manyShort()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkScan(t, []byte(tt.in), limits{MaxBytes, MaxLines, MaxLineBytes})
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
		{"file too large", strings.Repeat("a 1\n", 17), "t: 68 bytes is over the limit of 64 bytes"},
		{"at the limits", "a 1\n" + strings.Repeat("b", 15) + "\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := scan("t", []byte(tt.in), nil, 0, small, 2, 2, false, false)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)) {
				t.Errorf("scan(%q) error = %v, want prefix %q", tt.in, err, tt.want)
			}
			checkScan(t, []byte(tt.in), small)
		})
	}
}

// TestScanHashCollision forces every key into one hash: keys that differ
// must not become duplicates, and real duplicates are still found by their
// bytes, read back from the file.
func TestScanHashCollision(t *testing.T) {
	t.Parallel()
	data := []byte("AA:01 x\nAA:02 y\naa:01 z\n\"q\n r\" 1\n\"Q\n R\" 2\n")
	sum, err := scan("t", data, nil, 0, limits{MaxBytes, MaxLines, MaxLineBytes}, 1, 1, false, false)
	if err != nil {
		t.Fatal(err)
	}
	// Round 2 again, with one hash for all keys.
	s := sum.sc
	for i := range s.parts[0].recs {
		s.parts[0].recs[i].h = 42 << 56
	}
	s.slots, s.next, s.n, s.entries, s.lines, s.dups = make([]uint32, 8), 0, 0, 0, 0, nil
	s.dedup(&s.parts[0])
	s.next++
	var got []string
	for _, d := range s.dups {
		got = append(got, s.dupWarning(d).String())
	}
	want := []string{
		`t:3: duplicate entry: "aa:01" (postmap keeps the first, line 1)`,
		`t:6: duplicate entry: "\"Q R\"" (postmap keeps the first, line 4)`,
	}
	if !slices.Equal(got, want) || s.n != 3 {
		t.Errorf("duplicates of %q with one hash for all keys:\ngot  %q, %d keys\nwant %q, 3 keys", data, got, s.n, want)
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
	var n atomic.Int64
	sum, err := Scan(path, func(string) bool { n.Add(1); return false }, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := sum.Find([]string{"ef:01", "00:00"}); err != nil {
		t.Fatal(err)
	}
	if err := sum.Close(); err != nil {
		t.Fatal(err)
	}
	if e, ok := sum.Lookup("EF:01"); !ok || e.Line != 4 || e.Value != "relay2" {
		t.Errorf("Scan(%q).Lookup(EF:01) = %v, %v; want line 4, relay2", data, e, ok)
	}
	if sum.Len() != 2 || n.Load() != 3 || len(sum.Warnings) != 1 {
		t.Errorf("Scan(%q): Len %d, %d entries, warnings %v; want 2, 3, one duplicate", data, sum.Len(), n.Load(), sum.Warnings)
	}
	for _, bad := range []string{dir, filepath.Join(dir, "missing")} {
		if _, err := Scan(bad, nil, 0); err == nil {
			t.Errorf("Scan(%q) succeeded, want an error", bad)
		}
	}
}

// FuzzScan checks Scan against Parse on random input.
func FuzzScan(f *testing.F) {
	for _, in := range fixtures(f) {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a 1\nA 2\n\"x\n y\" 3\n\"X\n Y\" 4"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScan(t, data, limits{MaxBytes, MaxLines, 64})
	})
}

func BenchmarkScan(b *testing.B) {
	for _, c := range []struct{ n, parts int }{{1, 1}, {10_000, 1}, {100_000, 1}, {100_000, 2}} {
		n, parts, data := c.n, c.parts, benchTable(c.n)
		b.Run(fmt.Sprintf("entries=%d/parts=%d", n, parts), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				sum, err := scan("bench", data, func(string) bool { return false }, 10, limits{MaxBytes, MaxLines, MaxLineBytes}, parts, parts, false, false)
				if err != nil || sum.Len() != n {
					b.Fatalf("scan: %v, %d keys", err, sum.Len())
				}
				if err := sum.Find([]string{"AB:CD"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestScanTruncated truncates a scanned file before Find reads it back:
// Find must fail with an error, not kill the process with SIGBUS (it
// would, without the guard, on Linux where Scan maps the file).
func TestScanTruncated(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relay_clientcerts")
	data := benchTable(1000)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := Scan(path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sum.Close()
	tab, err := Parse("t", data)
	if err != nil {
		t.Fatal(err)
	}
	last := tab.Entries[len(tab.Entries)-1].Key
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	err = sum.Find([]string{last})
	if err == nil || !strings.Contains(err.Error(), "changed while it was read") {
		t.Errorf("Find(%q) after truncating the file = %v, want the error that it changed", last, err)
	}
	if runtime.GOOS != "linux" {
		return // elsewhere Scan reads the file into memory
	}
	// Without the check of its size, as when the truncation comes after
	// it: reading the lost pages faults.
	f := sum.file
	defer f.Close()
	sum.file = nil
	err = sum.Find([]string{last})
	if err == nil || !strings.Contains(err.Error(), "shrank while it was read") {
		t.Errorf("Find(%q) reading the truncated file = %v, want the error that it shrank", last, err)
	}
	if _, ok := sum.Lookup(last); ok {
		t.Errorf("Lookup(%q) after the failed Find reports the key found", last)
	}
}

// TestScanRewritten rewrites a scanned file in place, with other keys of
// the same length, before Find reads it back: Find must notice.
func TestScanRewritten(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relay_clientcerts")
	if err := os.WriteFile(path, []byte("AB:CD relay1\nEF:01 relay2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An hour back, so that the rewrite below surely moves the time on.
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, past, past); err != nil {
		t.Fatal(err)
	}
	sum, err := Scan(path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sum.Close()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("12:34 relay3\n"), 13); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = sum.Find([]string{"EF:01"})
	if err == nil || !strings.Contains(err.Error(), "the file changed while it was read") {
		t.Errorf("Find after an in-place rewrite = %v, want the error that the file changed", err)
	}
}

// TestScanFileBig scans a file of several windows, with non-ASCII and
// duplicate lines here and there, from a mapping whose windows are
// released as the parts go: Scan must agree with Parse, and Find must
// read the released pages back.
func TestScanFileBig(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	b.Write(benchTable(20_000))
	b.WriteString("k\xc3\xa9 non-ASCII but UTF-8\nbad\xff not UTF-8\n")
	b.Write(benchTable(20_000)) // every key again
	b.WriteString("last\n  continued value\n")
	data := b.Bytes()
	path := filepath.Join(t.TempDir(), "relay_clientcerts")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tab, err := Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Scan(path, func(string) bool { return true }, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer sum.Close()
	wanted := []string{tab.Entries[0].Key, tab.Entries[len(tab.Entries)/2].Key, "last", "kÉ", "absent"}
	if err := sum.Find(wanted); err != nil {
		t.Fatal(err)
	}
	if sum.Len() != tab.Len() || sum.Marks != len(tab.Entries) || len(sum.Marked) != 3 {
		t.Errorf("Scan: Len %d, %d marked (%d kept); Parse: Len %d, %d entries", sum.Len(), sum.Marks, len(sum.Marked), tab.Len(), len(tab.Entries))
	}
	if !slices.Equal(sum.Warnings, tab.Warnings) {
		t.Errorf("Scan: %d warnings, Parse: %d; first differing of Scan's %v", len(sum.Warnings), len(tab.Warnings), firstDiff(sum.Warnings, tab.Warnings))
	}
	for _, k := range wanted {
		se, sok := sum.Lookup(k)
		pe, pok := tab.Lookup(k)
		if se != pe || sok != pok {
			t.Errorf("Scan Lookup(%q) = %v, %v; Parse Lookup = %v, %v", k, se, sok, pe, pok)
		}
	}
}

func firstDiff(a, b []Warning) any {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return []Warning{a[i], b[i]}
		}
	}
	return nil
}

// TestScanMergeTruncated truncates a scanned file with duplicates just
// before Scan words their warnings, which reads the keys back from the
// mapping: Scan must return an error, not die of SIGBUS. Not parallel: it
// sets a hook of the package's.
func TestScanMergeTruncated(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Scan maps the file only on Linux")
	}
	path := filepath.Join(t.TempDir(), "relay_clientcerts")
	table := benchTable(2000)
	if err := os.WriteFile(path, append(table, table...), 0o644); err != nil {
		t.Fatal(err)
	}
	testHookBeforeMerge = func(p string) {
		if p == path {
			if err := os.Truncate(p, 0); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { testHookBeforeMerge = nil }()
	sum, err := Scan(path, nil, 0)
	if err == nil {
		sum.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "shrank while it was read") {
		t.Errorf("Scan of a table truncated before its duplicate warnings: %v, want the error that it shrank", err)
	}
}

// TestScanRewrittenMtimeKept rewrites a scanned file in place with the
// same size and sets its modification time back, as touch -r or rsync -t
// would: the status-change time still tells (Linux).
func TestScanRewrittenMtimeKept(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the status-change time is read on Linux")
	}
	path := filepath.Join(t.TempDir(), "relay_clientcerts")
	if err := os.WriteFile(path, []byte("AB:CD relay1\nEF:01 relay2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Scan(path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sum.Close()
	time.Sleep(20 * time.Millisecond) // past the file system's timestamp granularity
	if err := os.WriteFile(path, []byte("AB:CD relay1\n12:34 relay3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	err = sum.Find([]string{"EF:01"})
	if err == nil || !strings.Contains(err.Error(), "the file changed while it was read") {
		t.Errorf("Find after an in-place rewrite with the modification time set back = %v, want the error that the file changed", err)
	}
}
