// Package docs holds no code: its tests keep RELIABILITY.md's inventories
// true to the tree, so the file cannot drift from the tests it cites.
//
// The rules, checked against the tree at the repository root:
//
//   - every `TestX`, `FuzzX` or `BenchmarkX` in backticks names a test
//     function of a package: the package named last before it on the same
//     line (lib/remedy, internal/golden, cmd, faults, contrib, bench; a path
//     in that package counts too, "./lib/table" or "lib/remedy/update.go"),
//     else the one in the heading of its section; "TestX/sub_name" also
//     needs each subtest name spelt in that package's tests;
//   - "## Fuzz targets" names exactly the fuzz targets of the tree;
//   - "## The fault matrix" names exactly the tests of faults/ (not
//     TestMain);
//   - "## The write protocol" has one row per numbered step of the comment
//     at the top of lib/remedy/update.go, each naming a test;
//   - "## The adversarial review" has one row per item of issue 13 (1 to
//     19), each naming a test.
package docs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const root = "../.."

// issue13Items is the number of items of issue 13's adversarial review.
const issue13Items = 19

// tree is what the docs are checked against: per package directory
// (slash-separated, relative to the root), its test functions and the
// text of its test files; and the protocol steps of lib/remedy/update.go.
type tree struct {
	funcs   map[string]map[string]bool
	sources map[string]string
	steps   []int
}

var funcRE = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark|Example)\w*)\(`)

// readTree reads every _test.go file under root, skipping hidden
// directories and testdata.
func readTree(t *testing.T) tree {
	t.Helper()
	tr := tree{funcs: map[string]map[string]bool{}, sources: map[string]string{}}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		if tr.funcs[pkg] == nil {
			tr.funcs[pkg] = map[string]bool{}
		}
		for _, m := range funcRE.FindAllStringSubmatch(string(data), -1) {
			tr.funcs[pkg][m[1]] = true
		}
		tr.sources[pkg] += string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.funcs) == 0 {
		t.Fatalf("no test files found under %s", root)
	}
	src, err := os.ReadFile(filepath.Join(root, "lib", "remedy", "update.go"))
	if err != nil {
		t.Fatal(err)
	}
	tr.steps, err = protocolSteps(string(src))
	if err != nil {
		t.Fatalf("lib/remedy/update.go: %v", err)
	}
	return tr
}

var stepRE = regexp.MustCompile(`^//\s{1,3}(\d+)\.\s`)

// protocolSteps returns the numbers of the steps written in the comment
// before the import block of update.go.
func protocolSteps(src string) ([]int, error) {
	var steps []int
	for line := range strings.SplitSeq(src, "\n") {
		if strings.HasPrefix(line, "import") {
			break
		}
		if m := stepRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			steps = append(steps, n)
		}
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("no numbered protocol steps before the imports")
	}
	return steps, nil
}

// ref is a test named in the docs.
type ref struct {
	line     int    // 1-based line number in the document
	pkg      string // package directory, "" when none could be told
	name     string // TestX
	subtests []string
}

func (r ref) String() string {
	s := r.name
	if len(r.subtests) > 0 {
		s += "/" + strings.Join(r.subtests, "/")
	}
	return r.pkg + "." + s
}

// section is a "## " or "### " part of the document.
type section struct {
	heading string
	pkg     string // package named in the heading
	refs    []ref
	rows    map[int][]ref // table rows whose first cell is a number
	start   int
}

var (
	pkgRE = regexp.MustCompile("(?:^|[\\s(|;,*`])(?:\\./)?((?:lib|internal)/[a-z0-9]+|cmd|faults|contrib|bench)(?:/[\\w.-]*)*(?:$|[^\\w])")
	refRE = regexp.MustCompile("`((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]*)((?:/[^`]+)?)`")
	rowRE = regexp.MustCompile(`^\|\s*(\d+)\s*\|`)
)

// normPkg turns a package as written in the docs into its directory.
func normPkg(p string) string {
	if p == "cmd" {
		return "cmd/check_relay_fingerprint"
	}
	return p
}

// parse splits doc into sections and resolves the tests each one names.
func parse(doc string) []*section {
	var secs []*section
	cur := &section{rows: map[int][]ref{}}
	secs = append(secs, cur)
	for i, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "### ") {
			cur = &section{heading: line, rows: map[int][]ref{}, start: i + 1}
			if m := pkgRE.FindStringSubmatch(line); m != nil {
				cur.pkg = normPkg(m[1])
			}
			secs = append(secs, cur)
			continue
		}
		pkgs := pkgRE.FindAllStringSubmatchIndex(line, -1)
		var rowRefs []ref
		for _, m := range refRE.FindAllStringSubmatchIndex(line, -1) {
			r := ref{line: i + 1, pkg: cur.pkg, name: line[m[2]:m[3]]}
			if sub := line[m[4]:m[5]]; sub != "" {
				r.subtests = strings.Split(sub[1:], "/")
			}
			for _, p := range pkgs {
				if p[2] < m[0] {
					r.pkg = normPkg(line[p[2]:p[3]])
				}
			}
			cur.refs = append(cur.refs, r)
			rowRefs = append(rowRefs, r)
		}
		if m := rowRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			cur.rows[n] = append(cur.rows[n], rowRefs...)
		}
	}
	return secs
}

// find returns the section whose heading starts with prefix.
func find(secs []*section, prefix string) *section {
	for _, s := range secs {
		if strings.HasPrefix(s.heading, prefix) {
			return s
		}
	}
	return nil
}

// check returns every way doc (named file) disagrees with tr.
func check(file, doc string, tr tree) []string {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(file+": "+format, args...))
	}
	secs := parse(doc)

	// Every test named exists, where it is said to be.
	for _, s := range secs {
		for _, r := range s.refs {
			switch {
			case r.pkg == "":
				bad("%d: `%s`: no package named on its line or in its section's heading", r.line, r.name)
			case tr.funcs[r.pkg] == nil:
				bad("%d: `%s`: no tests in package %s", r.line, r.name, r.pkg)
			case !tr.funcs[r.pkg][r.name]:
				bad("%d: `%s`: no such test in %s", r.line, r.name, r.pkg)
			default:
				for _, sub := range r.subtests {
					if !strings.Contains(tr.sources[r.pkg], strings.ReplaceAll(sub, "_", " ")) && !strings.Contains(tr.sources[r.pkg], sub) {
						bad("%d: `%s`: no subtest %q spelt in the tests of %s", r.line, r, sub, r.pkg)
					}
				}
			}
		}
	}

	// The fuzz targets, exactly.
	var want, got []string
	for pkg, funcs := range tr.funcs {
		for name := range funcs {
			if strings.HasPrefix(name, "Fuzz") {
				want = append(want, pkg+"."+name)
			}
		}
	}
	if s := find(secs, "## Fuzz targets"); s == nil {
		bad("no section \"## Fuzz targets\"")
	} else {
		for _, r := range s.refs {
			if strings.HasPrefix(r.name, "Fuzz") {
				got = append(got, r.pkg+"."+r.name)
			}
		}
		problems = append(problems, same(file, "fuzz target", want, got)...)
	}

	// The tests of faults/, exactly.
	want, got = nil, nil
	for name := range tr.funcs["faults"] {
		if strings.HasPrefix(name, "Test") && name != "TestMain" {
			want = append(want, "faults."+name)
		}
	}
	if s := find(secs, "## The fault matrix"); s == nil {
		bad("no section \"## The fault matrix\"")
	} else {
		for _, r := range s.refs {
			if r.pkg == "faults" {
				got = append(got, "faults."+r.name)
			}
		}
		problems = append(problems, same(file, "test of faults/", want, got)...)
	}

	// The write protocol: one row per step, each with a test.
	if s := find(secs, "## The write protocol"); s == nil {
		bad("no section \"## The write protocol\"")
	} else {
		problems = append(problems, rows(file, "write protocol step", s, tr.steps)...)
	}

	// Issue 13: one row per item, each with a test.
	items := make([]int, issue13Items)
	for i := range items {
		items[i] = i + 1
	}
	if s := find(secs, "## The adversarial review"); s == nil {
		bad("no section \"## The adversarial review\"")
	} else {
		problems = append(problems, rows(file, "issue 13 item", s, items)...)
	}
	return problems
}

// same reports the difference between two lists taken as sets.
func same(file, what string, want, got []string) []string {
	var problems []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			problems = append(problems, fmt.Sprintf("%s: %s %s is not listed", file, what, w))
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			problems = append(problems, fmt.Sprintf("%s: %s %s is listed but not in the tree", file, what, g))
		}
	}
	return problems
}

// rows reports a numbered table in s that does not have exactly the rows
// numbers, or a row that names no test.
func rows(file, what string, s *section, numbers []int) []string {
	var problems []string
	for _, n := range numbers {
		refs, ok := s.rows[n]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: %s %d has no row under %q", file, what, n, s.heading))
		case len(refs) == 0:
			problems = append(problems, fmt.Sprintf("%s: %s %d names no test", file, what, n))
		}
	}
	for n := range s.rows {
		if !slices.Contains(numbers, n) {
			problems = append(problems, fmt.Sprintf("%s: %s %d is listed but does not exist", file, what, n))
		}
	}
	return problems
}

// TestReliabilityInventories checks RELIABILITY.md against the tree.
func TestReliabilityInventories(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(root, "RELIABILITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range check("RELIABILITY.md", string(doc), readTree(t)) {
		t.Error(p)
	}
}

// TestCheckFindsDrift: the checker itself notices each kind of drift on a
// small made-up tree and document.
func TestCheckFindsDrift(t *testing.T) {
	t.Parallel()
	tr := tree{
		funcs: map[string]map[string]bool{
			"lib/a":                       {"FuzzA": true, "TestA": true},
			"lib/b":                       {"FuzzB": true},
			"faults":                      {"TestMain": true, "TestF1": true, "TestF2": true},
			"cmd/check_relay_fingerprint": {"TestRun": true},
		},
		sources: map[string]string{"lib/a": `t.Run("one case", ...)`},
		steps:   []int{1, 2},
	}
	var review strings.Builder
	for i := 1; i <= issue13Items; i++ {
		fmt.Fprintf(&review, "| %d | x | lib/a: `TestA` |\n", i)
	}
	good := "# doc\n\n## The fault matrix (`faults/`)\n\n| `TestF1` | x |\n| `TestF2` | y |\n\n" +
		"## The write protocol (`lib/a`)\n\n| 1 | x | `TestA` |\n| 2 | y | cmd: `TestRun` |\n\n" +
		"## The adversarial review\n\n" + review.String() + "\n" +
		"Also lib/a `TestA/one_case` and `./lib/b` `FuzzB`.\n\n" +
		"## Fuzz targets\n\n| lib/a | `FuzzA` |\n| lib/b | `FuzzB` |\n"
	if p := check("doc", good, tr); len(p) != 0 {
		t.Fatalf("a document that matches its tree: %q", p)
	}
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"fuzz target missing", "| lib/b | `FuzzB` |\n", "", "fuzz target lib/b.FuzzB is not listed"},
		{"fuzz target in the wrong package", "| lib/b | `FuzzB` |\n", "| lib/a | `FuzzB` |\n", "no such test in lib/a"},
		{"fault test missing", "| `TestF2` | y |\n", "", "test of faults/ faults.TestF2 is not listed"},
		{"fault test gone from the tree", "| `TestF2` | y |\n", "| `TestF2` | y |\n| `TestF3` | z |\n", "`TestF3`: no such test in faults"},
		{"protocol step missing", "| 2 | y | cmd: `TestRun` |\n", "", "write protocol step 2 has no row"},
		{"protocol step without a test", "| 2 | y | cmd: `TestRun` |\n", "| 2 | y | none |\n", "write protocol step 2 names no test"},
		{"protocol step that does not exist", "| 2 | y | cmd: `TestRun` |\n", "| 2 | y | cmd: `TestRun` |\n| 3 | z | `TestA` |\n", "write protocol step 3 is listed but does not exist"},
		{"issue item without a test", "| 7 | x | lib/a: `TestA` |\n", "| 7 | x | none yet |\n", "issue 13 item 7 names no test"},
		{"subtest not spelt", "`TestA/one_case`", "`TestA/two_cases`", `no subtest "two_cases"`},
		{"no package", "## Fuzz targets", "## Fuzz targets\n\n`TestA` alone\n\n## Fuzz targets", "no package named"},
	} {
		doc := strings.Replace(good, tc.old, tc.new, 1)
		if doc == good {
			t.Fatalf("%s: the edit changed nothing", tc.name)
		}
		p := check("doc", doc, tr)
		if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
			t.Errorf("%s: problems %q, want one containing %q", tc.name, p, tc.want)
		}
	}
}

// TestProtocolSteps reads the numbered steps of a protocol comment.
func TestProtocolSteps(t *testing.T) {
	t.Parallel()
	src := "package x\n\n// The protocol:\n//\n//  1. one\n//     more of one\n//  2. two\n//  10. ten\n\nimport \"os\"\n\n//  3. after the imports\n"
	got, err := protocolSteps(src)
	if err != nil || !slices.Equal(got, []int{1, 2, 10}) {
		t.Errorf("protocolSteps = %v, %v; want [1 2 10]", got, err)
	}
	if _, err := protocolSteps("package x\n\nimport \"os\"\n"); err == nil {
		t.Error("no steps: no error")
	}
}
