package remedy

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/golden"
)

const goldenDir = "../../fixtures/remedy/diff"

// numbered returns lines "line 1\n" ... "line n\n", with the lines in
// change replaced by "changed N\n".
func numbered(n int, change ...int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if containsInt(change, i) {
			fmt.Fprintf(&b, "changed %d\n", i)
		} else {
			fmt.Fprintf(&b, "line %d\n", i)
		}
	}
	return b.String()
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

const relayTable = `# relay_clientcerts: client certificate fingerprints of our relays
# FINGERPRINT label
AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01 relay1.example.org
12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78 relay2.example.org
FE:DC:BA:98:76:54:32:10:FE:DC:BA:98:76:54:32:10:FE:DC:BA:98
    relay3.example.org
`

var diffCases = []struct{ name, old, new string }{
	{"replace-one-line", numbered(10), numbered(10, 5)},
	{"replace-first-line", numbered(10), numbered(10, 1)},
	{"replace-last-line", numbered(10), numbered(10, 10)},
	{"append-line", "a\nb\nc\n", "a\nb\nc\nd\n"},
	{"append-line-no-final-newline", "a\nb\nc", "a\nb\nc\nd"},
	{"append-line-after-no-final-newline", "a\nb\nc", "a\nb\nc\nd\n"},
	{"add-final-newline", "a\nb", "a\nb\n"},
	{"remove-final-newline", "a\nb\n", "a\nb"},
	{"crlf-to-lf-one-line", "AA x\r\nBB y\r\nCC z\r\n", "AA x\r\nBB y\nCC z\r\n"},
	{"crlf-to-lf-all", "a\r\nb\r\n", "a\nb\n"},
	{"lone-cr-is-not-a-line-end", "a\rb\n", "a\rc\n"},
	{"empty-to-content", "", "a\nb\n"},
	{"content-to-empty", "a\nb\n", ""},
	{"empty-to-no-newline", "", "a"},
	{"two-hunks", numbered(20), numbered(20, 2, 18)},
	{"changes-6-apart-share-a-hunk", numbered(20), numbered(20, 5, 12)},
	{"changes-7-apart-make-two-hunks", numbered(20), numbered(20, 5, 13)},
	{"insert-at-top", numbered(8), "new first\n" + numbered(8)},
	{"delete-lines", numbered(12), strings.Replace(numbered(12), "line 6\nline 7\nline 8\n", "", 1)},
	{"relay-table-add-entry", relayTable, relayTable + "0F:1E:2D:3C:4B:5A:69:78:87:96:A5:B4:C3:D2:E1:F0:0F:1E:2D:3C relay4.example.org\n"},
	{"relay-table-replace-fingerprint", relayTable, strings.Replace(relayTable, "12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78", "99:88:77:66:55:44:33:22:11:00:99:88:77:66:55:44:33:22:11:00", 1)},
}

func TestDiffGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range diffCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Diff("a/relay_clientcerts", "b/relay_clientcerts", []byte(tt.old), []byte(tt.new))
			golden.Compare(t, filepath.Join(goldenDir, tt.name+".diff"), []byte(got))
			if applied, err := applyDiff([]byte(tt.old), got); err != nil || string(applied) != tt.new {
				t.Errorf("applying the diff to %q gives %q, %v; want %q", tt.old, applied, err, tt.new)
			}
		})
	}
}

// The golden cases have one shortest diff each, so GNU diff -u must print
// the same hunks.
func TestDiffMatchesGNUDiff(t *testing.T) {
	t.Parallel()
	gnu, err := exec.LookPath("diff")
	if err != nil {
		if isCI() {
			t.Fatal("diff(1) not found (install diffutils)")
		}
		t.Skip("diff(1) not found")
	}
	for _, tt := range diffCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			oldPath, newPath := filepath.Join(dir, "old"), filepath.Join(dir, "new")
			if err := os.WriteFile(oldPath, []byte(tt.old), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(newPath, []byte(tt.new), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(gnu, "-u", "--label", "old", "--label", "new", oldPath, newPath).Output()
			var exitErr *exec.ExitError
			if err != nil && !(errors.As(err, &exitErr) && exitErr.ExitCode() == 1) {
				t.Fatalf("diff -u: %v", err)
			}
			if got := Diff("old", "new", []byte(tt.old), []byte(tt.new)); got != string(out) {
				t.Errorf("Diff(%q, %q):\n%s\ndiff -u:\n%s", tt.old, tt.new, got, out)
			}
		})
	}
}

func TestDiffEqualIsEmpty(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a\n", "a", "a\r\nb\r\n", numbered(100)} {
		if got := Diff("a", "b", []byte(s), []byte(s)); got != "" {
			t.Errorf("Diff(%q, %q) = %q, want \"\"", s, s, got)
		}
	}
}

var hunkHeader = regexp.MustCompile(`^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@\n$`)

// applyDiff applies a unified diff made by Diff to old, checking every
// context and removed line and every hunk header.
func applyDiff(old []byte, diff string) ([]byte, error) {
	if diff == "" {
		return old, nil
	}
	a := splitLines(old)
	d := splitLines([]byte(diff))
	if len(d) < 3 || !strings.HasPrefix(string(d[0]), "--- ") || !strings.HasPrefix(string(d[1]), "+++ ") {
		return nil, errors.New("missing ---/+++ headers")
	}
	var out []byte
	outLines, pos := 0, 0
	for i := 2; i < len(d); {
		m := hunkHeader.FindStringSubmatch(string(d[i]))
		if m == nil {
			return nil, fmt.Errorf("diff line %d: %q is not a hunk header", i+1, d[i])
		}
		num := func(s string) int {
			if s == "" {
				return 1
			}
			n, _ := strconv.Atoi(s)
			return n
		}
		oldStart, oldCount, newStart, newCount := num(m[1]), num(m[2]), num(m[3]), num(m[4])
		first, newFirst := oldStart-1, newStart-1
		if oldCount == 0 {
			first = oldStart
		}
		if newCount == 0 {
			newFirst = newStart
		}
		if first < pos || first > len(a) {
			return nil, fmt.Errorf("hunk %q starts at old line %d, already at %d", d[i], first+1, pos+1)
		}
		for ; pos < first; pos++ {
			out = append(out, a[pos]...)
			outLines++
		}
		if outLines != newFirst {
			return nil, fmt.Errorf("hunk %q: new side at line %d, header says %d", d[i], outLines+1, newFirst+1)
		}
		i++
		var olds, news int
		for i < len(d) && !bytes.HasPrefix(d[i], []byte("@@")) {
			op, text := d[i][0], d[i][1:]
			i++
			if i < len(d) && d[i][0] == '\\' {
				if string(d[i]) != "\\ No newline at end of file\n" {
					return nil, fmt.Errorf("bad marker %q", d[i])
				}
				text = bytes.TrimSuffix(text, []byte("\n"))
				i++
			}
			switch op {
			case ' ', '-':
				if pos >= len(a) || !bytes.Equal(a[pos], text) {
					return nil, fmt.Errorf("old line %d: diff says %q", pos+1, text)
				}
				pos++
				olds++
				if op == ' ' {
					out = append(out, text...)
					outLines++
					news++
				}
			case '+':
				out = append(out, text...)
				outLines++
				news++
			default:
				return nil, fmt.Errorf("bad diff line %q", d[i-1])
			}
		}
		if olds != oldCount || news != newCount {
			return nil, fmt.Errorf("hunk %q has %d old and %d new lines", m[0], olds, news)
		}
	}
	for ; pos < len(a); pos++ {
		out = append(out, a[pos]...)
	}
	return out, nil
}

// lcs returns the length of a longest common subsequence of the lines.
func lcs(a, b [][]byte) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			if bytes.Equal(a[i], b[j]) {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(cur[j], prev[j+1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// randomText makes a text of up to n lines from a small alphabet, with
// "\r\n" endings and a missing final newline now and then.
func randomText(rng *rand.Rand, n int) []byte {
	words := []string{"a", "b", "c", "d", "AA:BB x", ""}
	var b []byte
	for range rng.IntN(n + 1) {
		b = append(b, words[rng.IntN(len(words))]...)
		if rng.IntN(8) == 0 {
			b = append(b, '\r')
		}
		b = append(b, '\n')
	}
	if len(b) > 0 && rng.IntN(4) == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// mutate changes a few lines of old: deletions, insertions, replacements.
func mutate(rng *rand.Rand, old []byte) []byte {
	lines := splitLines(old)
	for range rng.IntN(5) {
		i := rng.IntN(len(lines) + 1)
		switch rng.IntN(3) {
		case 0:
			if i < len(lines) {
				lines = append(lines[:i:i], lines[i+1:]...)
			}
		case 1:
			lines = append(lines[:i:i], append([][]byte{randomText(rng, 1)}, lines[i:]...)...)
		case 2:
			if i < len(lines) {
				lines[i] = randomText(rng, 1)
			}
		}
	}
	return bytes.Join(lines, nil)
}

// fixEdit replaces a few lines of old in place and appends a few, as a fix
// does, and returns how many lines it replaced and appended.
func fixEdit(rng *rand.Rand, old []byte) (next []byte, replaced, appended int) {
	lines := splitLines(old)
	if n := len(lines); n > 0 && lines[n-1][len(lines[n-1])-1] != '\n' {
		lines[n-1] = append(bytes.Clone(lines[n-1]), '\n') // room to append
		replaced++
	}
	done := map[int]bool{}
	for range rng.IntN(4) {
		if len(lines) == 0 {
			break
		}
		i := rng.IntN(len(lines))
		lines[i] = fmt.Appendf(nil, "replaced %d\n", rng.IntN(1000))
		if !done[i] {
			done[i] = true
			replaced++
		}
	}
	for range rng.IntN(3) {
		lines = append(lines, fmt.Appendf(nil, "appended %d\n", rng.IntN(1000)))
		appended++
	}
	return bytes.Join(lines, nil), replaced, appended
}

// Applying the diff to old gives new, whatever the edit; for the edits a fix
// makes (lines replaced in place, lines appended) the diff removes at most
// the replaced lines and adds at most those and the appended ones, and, on
// the unique lines of a real table, exactly those (a shortest diff).
func TestDiffRandomApplyAndProportional(t *testing.T) {
	t.Parallel()
	seed := rand.Uint64()
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	count := func(d string) (minus, plus int) {
		ls := splitLines([]byte(d))
		for _, l := range ls[min(2, len(ls)):] {
			switch l[0] {
			case '-':
				minus++
			case '+':
				plus++
			}
		}
		return minus, plus
	}
	for i := range 3000 {
		old := randomText(rng, 30)
		next := mutate(rng, old)
		if i%3 == 0 {
			next = randomText(rng, 30)
		}
		d := Diff("old", "new", old, next)
		if applied, err := applyDiff(old, d); err != nil || !bytes.Equal(applied, next) {
			t.Fatalf("Diff(%q, %q) =\n%s\napplied: %q, %v; want %q", old, next, d, applied, err, next)
		}

		next, replaced, appended := fixEdit(rng, old)
		d = Diff("old", "new", old, next)
		if applied, err := applyDiff(old, d); err != nil || !bytes.Equal(applied, next) {
			t.Fatalf("Diff(%q, %q) =\n%s\napplied: %q, %v; want %q", old, next, d, applied, err, next)
		}
		if minus, plus := count(d); minus > replaced || plus > replaced+appended {
			t.Fatalf("Diff(%q, %q) removes %d and adds %d lines for %d replaced and %d appended:\n%s", old, next, minus, plus, replaced, appended, d)
		}
	}
	table := bigTable(300)
	for range 200 {
		next, _, _ := fixEdit(rng, table)
		a, b := splitLines(table), splitLines(next)
		common := lcs(a, b)
		if minus, plus := count(Diff("old", "new", table, next)); minus != len(a)-common || plus != len(b)-common {
			t.Fatalf("on a table of unique lines: removes %d and adds %d lines, a shortest diff %d and %d", minus, plus, len(a)-common, len(b)-common)
		}
	}
}

// Inputs far apart give a long diff, not the shortest, but it must still
// turn old into new.
func TestDiffVeryDifferentInputs(t *testing.T) {
	t.Parallel()
	const n = 6000
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("line %d\n", i)
	}
	old := []byte(strings.Join(lines, ""))
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		new  func() []byte
	}{
		{"reversed", func() []byte {
			r := make([]string, n)
			for i, l := range lines {
				r[n-1-i] = l
			}
			return []byte(strings.Join(r, ""))
		}},
		{"shuffled", func() []byte {
			r := append([]string(nil), lines...)
			rng.Shuffle(len(r), func(i, j int) { r[i], r[j] = r[j], r[i] })
			return []byte(strings.Join(r, ""))
		}},
	}
	for _, tt := range tests {
		next := tt.new()
		d := Diff("old", "new", old, next)
		if applied, err := applyDiff(old, d); err != nil || !bytes.Equal(applied, next) {
			t.Errorf("%s: applying the diff fails: %v", tt.name, err)
		}
	}
}

func FuzzDiff(f *testing.F) {
	for _, tt := range diffCases {
		f.Add([]byte(tt.old), []byte(tt.new))
	}
	f.Fuzz(func(t *testing.T, old, new []byte) {
		d := Diff("old", "new", old, new)
		if (d == "") != bytes.Equal(old, new) {
			t.Fatalf("Diff(%q, %q) = %q: empty iff equal broken", old, new, d)
		}
		if applied, err := applyDiff(old, d); err != nil || !bytes.Equal(applied, new) {
			t.Fatalf("Diff(%q, %q) =\n%s\napplied: %q, %v", old, new, d, applied, err)
		}
	})
}

// bigTable returns a relay_clientcerts-like table of n lines.
func bigTable(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "%02X:%02X:%02X:%02X:%02X:%02X:%02X:%02X:%02X:%02X:%02X:%02X:%02X:%02X:%02X:%02X:%02X:%02X:%02X:%02X relay%d.example.org\n",
			i>>24&255, i>>16&255, i>>8&255, i&255, i*3&255, i*5&255, i*7&255, i*11&255, i*13&255, i*17&255,
			i*19&255, i*23&255, i*29&255, i*31&255, i*37&255, i*41&255, i*43&255, i*47&255, i*53&255, i*59&255, i)
	}
	return b.Bytes()
}

func BenchmarkDiff100kLines3Changes(b *testing.B) {
	old := bigTable(100_000)
	lines := splitLines(bytes.Clone(old))
	for _, i := range []int{10, 50_000, 99_990} {
		lines[i] = []byte("00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33 replaced.example.org\n")
	}
	next := bytes.Join(lines, nil)
	b.SetBytes(int64(len(old)))
	for b.Loop() {
		if Diff("old", "new", old, next) == "" {
			b.Fatal("no diff")
		}
	}
}

func BenchmarkDiff100kLinesAllChanged(b *testing.B) {
	old := bigTable(100_000)
	next := bytes.ReplaceAll(old, []byte("example.org"), []byte("example.net"))
	b.SetBytes(int64(len(old)))
	for b.Loop() {
		Diff("old", "new", old, next)
	}
}

func BenchmarkDiff100kLinesReversed(b *testing.B) {
	old := bigTable(100_000)
	lines := splitLines(bytes.Clone(old))
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	next := bytes.Join(lines, nil)
	b.SetBytes(int64(len(old)))
	for b.Loop() {
		Diff("old", "new", old, next)
	}
}
