package table

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The differential test: for many sources, what this package reads must be
// what the real postmap(1) stores (postmap -s dumps it) and warns about.

// postmapBinary returns the path of postmap(1). Without it the test fails
// under CI (env CI set) and is skipped elsewhere.
func postmapBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("postmap"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/postmap"); err == nil {
		return "/usr/sbin/postmap"
	}
	if os.Getenv("CI") != "" {
		t.Fatal("postmap(1) not found (install Postfix); CI needs it for the differential test")
	}
	t.Skip("postmap(1) not found; install Postfix to run the differential test")
	return ""
}

// postmapRig runs postmap with its own configuration directory.
type postmapRig struct {
	bin, cfg, typ string
}

func newPostmapRig(t *testing.T) *postmapRig {
	bin := postmapBinary(t)
	cfg := t.TempDir()
	// compatibility_level >= 1 turns smtputf8_enable on, as in any current
	// installation; the package assumes it.
	if err := os.WriteFile(filepath.Join(cfg, "main.cf"), []byte("compatibility_level = 3.6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &postmapRig{bin: bin, cfg: cfg}
	probe := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(probe, []byte("K v\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var tried []string
	for _, typ := range []string{"hash", "lmdb", "btree", "cdb"} {
		r.typ = typ
		if _, err := r.run("", typ+":"+probe); err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", typ, err))
			continue
		}
		if out, err := r.run("-s", typ+":"+probe); err == nil && out == "k\tv\n" {
			return r
		}
		tried = append(tried, typ+": postmap -s does not dump the table")
	}
	t.Fatalf("no table type usable with %s:\n%s", bin, strings.Join(tried, "\n"))
	return nil
}

// run runs postmap with the rig's configuration and returns its stdout; its
// stderr goes into the error.
func (r *postmapRig) run(flag string, args ...string) (string, error) {
	argv := []string{"-c", r.cfg}
	if flag != "" {
		argv = append(argv, flag)
	}
	cmd := exec.Command(r.bin, append(argv, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("postmap %s: %v: %s", strings.Join(cmd.Args[1:], " "), err, stderr.String())
	}
	if flag == "" {
		return stderr.String(), nil // a build reports only warnings
	}
	return stdout.String(), nil
}

// observed is what postmap or this package says about one source.
type observed struct {
	stored   []string // "foldedkey\tvalue"
	lined    []string // "LINE kind" of the warnings that postmap numbers
	leading  int      // leading-whitespace warnings
	dupKeys  []string // folded keys of duplicates, control bytes as '?'
	warnings []string // postmap's raw warnings, for failure messages
}

func (o *observed) sort() {
	slices.Sort(o.stored)
	slices.Sort(o.lined)
	slices.Sort(o.dupKeys)
}

func ours(t *Table) observed {
	o := observed{stored: []string{}, lined: []string{}, dupKeys: []string{}}
	for _, e := range t.Entries {
		if e.DupOf == 0 {
			o.stored = append(o.stored, Fold(e.Key)+"\t"+e.Value)
		}
	}
	for _, w := range t.Warnings {
		switch w.Kind {
		case WarnLeadingSpace:
			o.leading++
		case WarnDuplicate:
			// filled from Entries below, with the folded key postmap prints
		default:
			o.lined = append(o.lined, fmt.Sprintf("%d %s", w.Line, w.Kind))
		}
	}
	for _, e := range t.Entries {
		if e.DupOf != 0 {
			o.dupKeys = append(o.dupKeys, printable(Fold(e.Key)))
		}
	}
	o.sort()
	return o
}

// printable replaces ASCII control bytes with '?', as Postfix's logging does.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

var (
	reLined   = regexp.MustCompile(`^postmap: warning: ([^:,]+), line (\d+): (.*)$`)
	reLeading = regexp.MustCompile(`^postmap: warning: ([^:,]+): logical line must not start with whitespace`)
	reDup     = regexp.MustCompile(`^postmap: warning: ([^:,]+): duplicate entry: "(.*)"$`)
)

// lineKinds maps the start of postmap's numbered warnings to our kinds.
var lineKinds = []struct {
	prefix string
	kind   WarningKind
}{
	{"expected format: key whitespace value", WarnMissingValue},
	{"record is in \"key: value\" format", WarnAliasFormat},
	{"unbalanced '\"'", WarnUnbalancedQuote},
	{"non-UTF-8 input", WarnNotUTF8},
}

// theirs parses the warnings of a postmap build into per-source observations.
func theirs(t *testing.T, stderr string, sources map[string]*observed) {
	t.Helper()
	source := func(p string) *observed {
		if o := sources[p]; o != nil {
			return o
		}
		return sources[strings.TrimSuffix(p, filepath.Ext(p))] // PATH.db and the like
	}
	for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if line == "" {
			continue
		}
		var o *observed
		switch {
		case reLined.MatchString(line):
			m := reLined.FindStringSubmatch(line)
			if o = source(m[1]); o == nil {
				break
			}
			kind := WarningKind(0)
			for _, k := range lineKinds {
				if strings.HasPrefix(m[3], k.prefix) {
					kind = k.kind
				}
			}
			if kind == 0 {
				t.Errorf("unknown postmap warning %q", line)
			}
			n, _ := strconv.Atoi(m[2])
			o.lined = append(o.lined, fmt.Sprintf("%d %s", n, kind))
		case reLeading.MatchString(line):
			if o = source(reLeading.FindStringSubmatch(line)[1]); o != nil {
				o.leading++
			}
		case reDup.MatchString(line):
			m := reDup.FindStringSubmatch(line)
			if o = source(m[1]); o != nil {
				o.dupKeys = append(o.dupKeys, m[2])
			}
		}
		if o == nil {
			t.Errorf("unexpected postmap output %q", line)
			continue
		}
		o.warnings = append(o.warnings, line)
	}
}

func TestPostmapDifferential(t *testing.T) {
	t.Parallel()
	rig := newPostmapRig(t)

	type source struct {
		name string
		data []byte
	}
	var srcs []source
	for _, in := range fixtures(t) {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, source{"fixture " + filepath.Base(in), data})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		srcs = append(srcs, source{fmt.Sprintf("random bytes #%d", i), randomBytes(rng)})
	}
	for i := range 150 {
		srcs = append(srcs, source{fmt.Sprintf("random lines #%d", i), randomLines(rng)})
	}

	dir := t.TempDir()
	paths := make([]string, len(srcs))
	got := make([]observed, len(srcs))
	want := make(map[string]*observed, len(srcs))
	for i, s := range srcs {
		paths[i] = filepath.Join(dir, fmt.Sprintf("src%d", i))
		if err := os.WriteFile(paths[i], s.data, 0o644); err != nil {
			t.Fatal(err)
		}
		tab, err := Parse(paths[i], s.data)
		if err != nil {
			t.Fatalf("%s: Parse(%q): %v", s.name, s.data, err)
		}
		got[i] = ours(tab)
		want[paths[i]] = &observed{stored: []string{}, lined: []string{}, dupKeys: []string{}}
	}

	// Build in batches: one postmap run compiles many tables.
	for lo := 0; lo < len(paths); lo += 100 {
		var args []string
		for _, p := range paths[lo:min(lo+100, len(paths))] {
			args = append(args, rig.typ+":"+p)
		}
		stderr, err := rig.run("", args...)
		if err != nil {
			t.Fatal(err)
		}
		theirs(t, stderr, want)
	}

	for i, s := range srcs {
		out, err := rig.run("-s", rig.typ+":"+paths[i])
		if err != nil {
			t.Fatal(err)
		}
		w := want[paths[i]]
		for _, l := range strings.Split(out, "\n") {
			if l != "" {
				w.stored = append(w.stored, l)
			}
		}
		w.sort()
		g := got[i]
		if !slices.Equal(g.stored, w.stored) || !slices.Equal(g.lined, w.lined) ||
			g.leading != w.leading || !slices.Equal(g.dupKeys, w.dupKeys) {
			t.Errorf("%s: input %q\ngot  entries %q\nwant entries %q (postmap -s)\ngot  warnings %q, %d leading-space, duplicates %q\nwant warnings %q, %d leading-space, duplicates %q\npostmap said:\n%s",
				s.name, s.data, g.stored, w.stored,
				g.lined, g.leading, g.dupKeys, w.lined, w.leading, w.dupKeys,
				strings.Join(w.warnings, "\n"))
		}
	}
}

// randomBytes returns a short source made of the bytes that matter to the
// grammar, a few letters, and UTF-8 that folds or is invalid.
func randomBytes(rng *rand.Rand) []byte {
	alphabet := []string{" ", "\t", "\r", "\n", "\n", "\n", "#", "A", ":", "a", "a", "b", "\"", "\\", "\v", "\f", "Ä", "ä", "\xff"}
	var b []byte
	for range rng.IntN(80) {
		b = append(b, alphabet[rng.IntN(len(alphabet))]...)
	}
	return b
}

// randomLines returns a source of plausible lines: entries with colliding
// keys, comments, blanks, continuations, CRLF and a missing final newline.
func randomLines(rng *rand.Rand) []byte {
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	var b strings.Builder
	n := rng.IntN(12)
	for i := range n {
		switch rng.IntN(6) {
		case 0:
			b.WriteString(pick("", " ", "\t") + "#" + pick("", " c", "# x", " a b"))
		case 1:
			b.WriteString(pick("", " ", "\t", " \r", "\f"))
		case 2:
			b.WriteString(pick(" ", "\t", "  ") + pick("more", "x y", "#x", "v:", "\"q\"", "\\"))
		case 3:
			b.WriteString(pick("a", "A", "b", "B:", "ab", "AB:CD", "\"x y\"", "k\\ z", "\"u", "a\\"))
		default:
			b.WriteString(pick("a", "A", "b", "B:", "ab", "AB:CD", "ab:cd", "\"x y\"", "k\\ z", "Ä", "ä") +
				pick(" ", "\t", "  ", " \t", "\v") + pick("v", "val ue", "v ", "\"q", "1\r2", "#h"))
		}
		if i < n-1 || rng.IntN(2) == 0 {
			b.WriteString(pick("\n", "\n", "\r\n"))
		}
	}
	return []byte(b.String())
}
