package contrib

// Shared helpers, and the tests that keep the man page and the Icinga 2
// CheckCommand in step with --help. The daemons' own verdicts are in
// icinga2_test.go, nagios_test.go and sudoers_test.go.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goldenfile "github.com/check-relay-fingerprint/check_relay_fingerprint/internal/golden"
)

// fixtures is where this package's fixtures live, relative to the package.
const fixtures = "../fixtures/contrib"

// hangGuard bounds every external program and every wait for a daemon. It
// guards against hangs; it is not a measure of speed.
const hangGuard = 60 * time.Second

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// plugin builds check_relay_fingerprint once per test binary and returns
// the path of the executable.
func plugin(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "contrib-plugin-")
		if build.err != nil {
			return
		}
		// Traversable by daemons that drop root (Nagios, Icinga 2).
		if build.err = os.Chmod(build.dir, 0o755); build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "check_relay_fingerprint")
		ctx, cancel := context.WithTimeout(context.Background(), 5*hangGuard)
		defer cancel()
		out, err := exec.CommandContext(ctx, goTool(), "build", "-o", build.path, "../cmd/check_relay_fingerprint").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build ../cmd/check_relay_fingerprint: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go" // where this project's machines have it
}

// need returns the path of program, looked up in PATH and then in the
// sbin directories (a root-less PATH may lack them). When it is missing the
// test fails under CI and is skipped otherwise; pkg names the Debian
// package that has it.
func need(t *testing.T, program, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		p := filepath.Join(dir, program)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found (apt-get install %s)", program, pkg)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// result is what an external program did.
type result struct {
	code   int // exit status; -1 when it did not exit normally
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs a program with the hang guard and returns what it did; it fails
// t only when the program cannot be started at all.
func run(t *testing.T, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{code: 0, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	// No fork while the file is open for writing: a child holding the fd
	// until its exec would make running a script fail with ETXTBSY.
	syscall.ForkLock.RLock()
	err := os.WriteFile(path, []byte(content), mode)
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
}

// replaceOnce replaces the single occurrence of old in s, and fails t when
// old does not occur exactly once: a mutation that silently did nothing
// would make a "broken copy" test pass for the wrong reason.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("expected %q once in the file, found it %d times", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// runAs returns the current user and group names: daemons started by the
// tests run as whoever runs the tests, not as nagios.
func runAs(t *testing.T) (string, string) {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	return u.Username, g.Name
}

// helpFlag is a flag as --help lists it.
type helpFlag struct {
	long  string // without the dashes: "cert-file"
	short string // the letter, or ""
}

func (f helpFlag) String() string {
	if f.short == "" {
		return "--" + f.long
	}
	return "-" + f.short + "/--" + f.long
}

// helpFlagLine matches the line that introduces a flag in kong's help:
// indented by 2 to 6 spaces (descriptions and their continuation lines
// are indented further), an optional "-X, ", then "--name" ended by "=",
// a blank or the end of the line.
var helpFlagLine = regexp.MustCompile(`^ {2,6}(?:-([A-Za-z0-9]), )?--([a-z0-9][a-z0-9-]*)(?:[= ]|$)`)

// helpFlags runs the plugin with args (ending in --help) and returns the
// flags listed before "Examples:", in order.
func helpFlags(t *testing.T, args ...string) []helpFlag {
	t.Helper()
	r := run(t, plugin(t), args...)
	if r.code != 3 {
		t.Fatalf("check_relay_fingerprint %s: want exit 3 (UNKNOWN, as the guidelines want for --help), got %s", strings.Join(args, " "), r)
	}
	var flags []helpFlag
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "Examples:") {
			break
		}
		if m := helpFlagLine.FindStringSubmatch(line); m != nil {
			flags = append(flags, helpFlag{long: m[2], short: m[1]})
		}
	}
	if len(flags) < 2 {
		t.Fatalf("check_relay_fingerprint %s: found %d flags in:\n%s", strings.Join(args, " "), len(flags), r.stdout)
	}
	return flags
}

// helpCommands are the argument lists whose help, together, lists every
// flag of the plugin.
var helpCommands = [][]string{
	{"--help"},
	{"fingerprint", "--help"},
	{"demo", "--help"},
	{"rollover", "--help"},
}

// allHelpFlags is the union of every command's flags, by long name.
func allHelpFlags(t *testing.T) map[string]helpFlag {
	t.Helper()
	all := map[string]helpFlag{}
	for _, args := range helpCommands {
		for _, f := range helpFlags(t, args...) {
			if prev, ok := all[f.long]; ok && prev != f {
				t.Fatalf("--%s: short flag -%s in one help, -%s in another", f.long, prev.short, f.short)
			}
			all[f.long] = f
		}
	}
	return all
}

// manPage is the man page under test.
const manPage = "check_relay_fingerprint.1"

// section returns the lines of the man page section named name (after
// ".SH name", up to the next ".SH").
func section(page, name string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, ".SH ") {
			in = strings.Trim(strings.TrimPrefix(line, ".SH "), `"`) == name
			continue
		}
		if in {
			out = append(out, line)
		}
	}
	return out
}

var (
	manLong  = regexp.MustCompile(`\\-\\-((?:[a-z0-9]|\\-)+)`)
	manShort = regexp.MustCompile(`(?:^|[ "])\\-([A-Za-z0-9])(?:[ ",]|$)`)
)

// manFlags returns the flags the OPTIONS section describes: the tag line
// after each .TP names one flag, long and optionally short.
func manFlags(t *testing.T, page string) map[string]helpFlag {
	t.Helper()
	lines := section(page, "OPTIONS")
	flags := map[string]helpFlag{}
	for i, line := range lines {
		if line != ".TP" || i+1 == len(lines) {
			continue
		}
		tag := lines[i+1]
		longs := manLong.FindAllStringSubmatch(tag, -1)
		if len(longs) != 1 {
			t.Errorf("%s: tag %q: want exactly one --flag, found %d", manPage, tag, len(longs))
			continue
		}
		f := helpFlag{long: strings.ReplaceAll(longs[0][1], `\-`, "-")}
		if m := manShort.FindStringSubmatch(tag); m != nil {
			f.short = m[1]
		}
		if _, dup := flags[f.long]; dup {
			t.Errorf("%s: --%s described twice", manPage, f.long)
		}
		flags[f.long] = f
	}
	return flags
}

func TestManPageDescribesEveryFlag(t *testing.T) {
	page := readFile(t, manPage)
	inMan := manFlags(t, page)
	for _, args := range helpCommands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			for _, f := range helpFlags(t, args...) {
				m, ok := inMan[f.long]
				switch {
				case !ok:
					t.Errorf("%s is in `check_relay_fingerprint %s` but not under OPTIONS in %s", f, strings.Join(args, " "), manPage)
				case m.short != f.short:
					t.Errorf("--%s: short flag in --help %q, in %s %q", f.long, f.short, manPage, m.short)
				}
			}
		})
	}
	t.Run("nothing else", func(t *testing.T) {
		help := allHelpFlags(t)
		for long := range inMan {
			if _, ok := help[long]; !ok {
				t.Errorf("%s describes --%s, which no --help lists", manPage, long)
			}
		}
	})
}

func TestManPageSections(t *testing.T) {
	t.Parallel()
	page := readFile(t, manPage)
	for _, name := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "STATES", "EXIT STATUS", "EXAMPLES", "FILES", "SEE ALSO"} {
		if len(section(page, name)) == 0 {
			t.Errorf("%s: no .SH %s section (or an empty one)", manPage, name)
		}
	}
	if !strings.HasPrefix(strings.Join(section(page, "NAME"), " "), `check_relay_fingerprint \- `) {
		t.Errorf("%s: NAME must read `check_relay_fingerprint \\- summary` for whatis/apropos, got %q", manPage, section(page, "NAME"))
	}
	see := strings.Join(section(page, "SEE ALSO"), "\n")
	for _, ref := range []string{".BR postconf (5)", ".BR postmap (1)", ".BR check_smtp"} {
		if !strings.Contains(see, ref) {
			t.Errorf("%s: SEE ALSO lacks %q:\n%s", manPage, ref, see)
		}
	}
	exit := strings.Join(section(page, "EXIT STATUS"), "\n")
	for code, state := range []string{"OK", "WARNING", "CRITICAL", "UNKNOWN"} {
		if !strings.Contains(exit, fmt.Sprintf(".B %d\n%s", code, state)) {
			t.Errorf("%s: EXIT STATUS does not give %d as %s:\n%s", manPage, code, state, exit)
		}
	}
}

// unroff undoes the escapes the man page uses in literal examples.
func unroff(s string) string {
	return strings.NewReplacer(`\-`, "-", `\e`, `\`, `\&`, "").Replace(s)
}

// joinCommands joins continuation lines (ending in a backslash) and
// collapses blanks, so that the same command wrapped differently compares
// equal.
func joinCommands(lines []string) []string {
	var cmds []string
	var cur strings.Builder
	for _, l := range lines {
		l = strings.TrimSpace(l)
		cont := strings.HasSuffix(l, `\`)
		cur.WriteString(strings.TrimSuffix(l, `\`))
		cur.WriteString(" ")
		if !cont {
			if c := strings.Join(strings.Fields(cur.String()), " "); strings.HasPrefix(c, "check_relay_fingerprint") {
				cmds = append(cmds, c)
			}
			cur.Reset()
		}
	}
	return cmds
}

func TestManPageHasHelpExamples(t *testing.T) {
	page := readFile(t, manPage)
	var manLines []string
	for _, l := range section(page, "EXAMPLES") {
		if !strings.HasPrefix(l, ".") {
			manLines = append(manLines, unroff(l))
		}
	}
	inMan := joinCommands(manLines)

	r := run(t, plugin(t), "--help")
	_, examples, ok := strings.Cut(r.stdout, "\nExamples:\n")
	if !ok {
		t.Fatalf("--help has no Examples:\n%s", r.stdout)
	}
	inHelp := joinCommands(strings.Split(examples, "\n"))
	if len(inHelp) == 0 {
		t.Fatalf("no example commands found in --help:\n%s", examples)
	}
	for _, c := range inHelp {
		if !slices.Contains(inMan, c) {
			t.Errorf("example of --help missing from EXAMPLES in %s:\n  %s\nman page examples:\n  %s", manPage, c, strings.Join(inMan, "\n  "))
		}
	}
}

// TestManPageRenders has groff format the page with all warnings on. groff
// is not required (groff-base comes with man-db); without it the test is
// skipped even under CI.
func TestManPageRenders(t *testing.T) {
	t.Parallel()
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff not found (apt-get install groff-base)")
	}
	r := run(t, groff, "-man", "-Tutf8", "-ww", "-z", manPage)
	if r.code != 0 || r.stderr != "" {
		t.Errorf("groff -man -Tutf8 -ww -z %s: want exit 0 and no warnings, got %s", manPage, r)
	}
}

// icingaArg is one entry of a command's arguments dictionary.
type icingaArg struct {
	name string // the dictionary key: "-H", "--postconf-dir"
	flag string // what is passed: key, or the key attribute
	body string
}

var (
	icingaArgBlock = regexp.MustCompile(`(?m)^\t\t"(-[^"]*)" = \{\n((?:.*\n)*?)\t\t\}`)
	icingaKey      = regexp.MustCompile(`(?m)^\t\t\tkey = "([^"]*)"`)
)

// icingaArguments returns the arguments of the object named head (such as
// `object CheckCommand "relay_fingerprint"`) in the Icinga 2 file conf.
func icingaArguments(t *testing.T, conf, head string) []icingaArg {
	t.Helper()
	start := strings.Index(conf, head+" {\n")
	if start < 0 {
		t.Fatalf("%s not found", head)
	}
	end := strings.Index(conf[start:], "\n}\n")
	if end < 0 {
		t.Fatalf("%s: no closing brace at the start of a line", head)
	}
	var args []icingaArg
	for _, m := range icingaArgBlock.FindAllStringSubmatch(conf[start:start+end], -1) {
		a := icingaArg{name: m[1], flag: m[1], body: m[2]}
		if k := icingaKey.FindStringSubmatch(m[2]); k != nil {
			a.flag = k[1]
		}
		args = append(args, a)
	}
	if len(args) == 0 {
		t.Fatalf("%s: no arguments found", head)
	}
	return args
}

// longName maps a flag as passed ("-H", "--table") to its long name.
func longName(flag string, help map[string]helpFlag) (string, bool) {
	if l, ok := strings.CutPrefix(flag, "--"); ok {
		_, known := help[l]
		return l, known
	}
	for _, f := range help {
		if f.short != "" && "-"+f.short == flag {
			return f.long, true
		}
	}
	return "", false
}

const icingaFile = "icinga2/check_relay_fingerprint.conf"

// TestIcinga2CommandsMatchHelp: the CheckCommand passes every flag of the
// check (but --help and --version) and nothing else; the EventCommand
// passes only real flags, --fix among them, and explicit orders (sudoers
// matches the arguments in order).
func TestIcinga2CommandsMatchHelp(t *testing.T) {
	conf := readFile(t, icingaFile)
	help := map[string]helpFlag{}
	for _, f := range helpFlags(t, "--help") {
		help[f.long] = f
	}

	t.Run("CheckCommand", func(t *testing.T) {
		passed := map[string]bool{}
		for _, a := range icingaArguments(t, conf, `object CheckCommand "relay_fingerprint"`) {
			long, ok := longName(a.flag, help)
			if !ok {
				t.Errorf("argument %q passes %q, which `check_relay_fingerprint --help` does not list", a.name, a.flag)
				continue
			}
			passed[long] = true
			if !strings.Contains(a.body, "description = ") {
				t.Errorf("argument %q has no description", a.name)
			}
		}
		for long, f := range help {
			if long == "help" || long == "version" {
				continue
			}
			if !passed[long] {
				t.Errorf("%s of --help has no argument in the CheckCommand", f)
			}
		}
	})

	t.Run("EventCommand", func(t *testing.T) {
		orders := map[string]bool{}
		hasFix := false
		for _, a := range icingaArguments(t, conf, `object EventCommand "relay_fingerprint_fix"`) {
			long, ok := longName(a.flag, help)
			if !ok {
				t.Errorf("argument %q passes %q, which `check_relay_fingerprint --help` does not list", a.name, a.flag)
			}
			hasFix = hasFix || long == "fix"
			m := regexp.MustCompile(`(?m)^\t\t\torder = (\d+)$`).FindStringSubmatch(a.body)
			if m == nil {
				t.Errorf("argument %q has no order: Icinga would pass the arguments in an unspecified order, which sudoers cannot match", a.name)
				continue
			}
			if orders[m[1]] && a.flag == a.name {
				t.Errorf("argument %q: order %s used twice", a.name, m[1])
			}
			orders[m[1]] = true
		}
		if !hasFix {
			t.Error("the EventCommand does not pass --fix")
		}
	})
}

// normalizeArgv groups an argument list into flags with their values and
// sorts the groups: Icinga 2 orders arguments without an explicit order as
// it likes.
func normalizeArgv(args []string) string {
	var groups []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") || len(groups) == 0 {
			groups = append(groups, a)
		} else {
			groups[len(groups)-1] += " " + a
		}
	}
	sort.Strings(groups)
	return strings.Join(groups, " ")
}

// golden compares got with the golden file name under fixtures, or
// rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Compare(t, filepath.Join(fixtures, name), []byte(got))
}
