package faults

// The harness: TestMain builds the plugin once; plugin runs it as a child
// process with an outer kill timeout and returns how it ended; outcome.check
// asserts what every run must satisfy.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testfs"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// bin is the plugin built by TestMain.
var bin string

const (
	pkgPath = "github.com/check-relay-fingerprint/check_relay_fingerprint/cmd/check_relay_fingerprint"
	// graceKill is added to the plugin's own -t to make the outer kill
	// timeout: a run still alive then has hung.
	graceKill = 5 * time.Second
	// defaultDeadline is the plugin's default -t, in seconds.
	defaultDeadline = 10
	// maxRSS bounds the peak resident memory of a run, unless a case says
	// otherwise. A run of the plugin takes about 10 MB.
	maxRSS = 64 << 20
	// parallel is how many subtests run at once unless -test.parallel is
	// given: most of them wait on a child process that waits on a stalled
	// server, so the default (GOMAXPROCS) would leave the machine idle.
	parallel = "16"
)

// wrapperEnv turns the test binary into the wrapper that runs the plugin
// (see wrap).
const wrapperEnv = "FAULTS_RSS_WRAPPER"

func TestMain(m *testing.M) {
	if os.Getenv(wrapperEnv) != "" {
		os.Exit(wrap())
	}
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", parallel)
	}
	dir, err := os.MkdirTemp("", "faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Readable by all: some cases run the plugin as nobody.
	os.Chmod(dir, 0o755)
	bin = filepath.Join(dir, "check_relay_fingerprint")
	build := exec.Command("go", "build", "-o", bin, pkgPath)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkgPath, err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// wrap is the body of the wrapper process: it runs the plugin (os.Args[1:])
// with the wrapper's stdio, writes the plugin's peak RSS to file
// descriptor 3, and exits with the plugin's exit code.
//
// Why a wrapper: Go starts children with vfork, and Linux carries the
// parent's peak RSS over to a vforked child that execs (the child briefly
// shares the parent's memory), so the plugin's Maxrss measured from the
// test process would be the test process's own, tens of MB. The wrapper is
// small, so what it passes on is negligible.
func wrap() int {
	report := os.NewFile(3, "rss")
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, wrapperEnv+"=") && !strings.HasPrefix(kv, uidEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if uid, err := strconv.Atoi(os.Getenv(uidEnv)); err == nil && uid > 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintf(os.Stderr, "faults wrapper: %v\n", err)
		return 125
	}
	ps := cmd.ProcessState
	var rss int64
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss * 1024 // kilobytes on Linux
	}
	fmt.Fprintf(report, "%d %q\n", rss, ps.String())
	report.Close()
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// uidEnv passes invocation.uid to the wrapper.
const uidEnv = "FAULTS_RUN_AS"

// invocation is one run of the plugin.
type invocation struct {
	args     []string
	deadline float64  // the plugin's -t, appended when > 0; sets the outer kill timeout
	env      []string // added to the test's environment ("PATH=..." replaces PATH)
	uid      int      // run as this user and group id when > 0
}

// outcome is how a run ended.
type outcome struct {
	args           []string
	code           int
	stdout, stderr string
	rss            int64 // peak resident set size, bytes
	wall           time.Duration
	hung           bool // killed at the outer timeout
}

// plugin runs the plugin and waits for it, killing its whole process group
// at the outer timeout.
func plugin(t testing.TB, inv invocation) outcome {
	t.Helper()
	args := inv.args
	d := float64(defaultDeadline)
	if inv.deadline > 0 {
		d = inv.deadline
		args = append(args[:len(args):len(args)], "-t", strconv.FormatFloat(inv.deadline, 'f', -1, 64))
	}
	outer := time.Duration(d*float64(time.Second)) + graceKill
	ctx, cancel := context.WithTimeout(context.Background(), outer)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, self, append([]string{bin}, args...)...)
	cmd.Env = append(os.Environ(), inv.env...)
	cmd.Env = append(cmd.Env, wrapperEnv+"=1", uidEnv+"="+strconv.Itoa(inv.uid))
	// The plugin and anything it starts (postmap) share the wrapper's
	// process group, killed as a whole at the outer timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	rssR, rssW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rssR.Close()
	cmd.ExtraFiles = []*os.File{rssW}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Start()
	rssW.Close()
	if err != nil {
		t.Fatalf("start %s: %v", quoteArgs(args), err)
	}
	report := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(rssR)
		report <- string(b)
	}()
	err = cmd.Wait()
	// Anything the plugin left running (a postmap it gave up on) goes too.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	o := outcome{args: args, stdout: stdout.String(), stderr: stderr.String(), wall: time.Since(start), code: -1}
	if ctx.Err() != nil {
		o.hung = true
		return o
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run %s: %v", quoteArgs(args), err)
	}
	o.code = cmd.ProcessState.ExitCode()
	var state string
	if _, err := fmt.Sscanf(<-report, "%d %q", &o.rss, &state); err != nil {
		t.Fatalf("run %s: no report from the wrapper (%v); exit %d, stderr: %s", quoteArgs(args), err, o.code, clip(o.stderr))
	}
	if o.code > 128 {
		t.Errorf("run %s: the plugin died: %s", quoteArgs(args), state)
	}
	return o
}

// want is what a run must show.
type want struct {
	code   int      // exit code; the status line's state follows from it
	status []string // substrings of the status line
	out    []string // substrings of stdout (the long output, say)
	notOut []string // must not appear in stdout
	rss    int64    // bound on peak RSS; maxRSS when zero
	stderr bool     // stderr may be non-empty (the check writes nothing there)
}

var stateNames = map[int]string{0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}

// check asserts w and the rules every run must keep: it ended by itself
// before the outer timeout, with exit code w.code and a status line
// "RELAY_FINGERPRINT STATE - ..." of the matching state, no panic or
// goroutine dump, and peak RSS under the bound.
func (o outcome) check(t testing.TB, w want) {
	t.Helper()
	cmd := quoteArgs(o.args)
	if o.hung {
		t.Fatalf("%s: HUNG: still running at the outer kill timeout (-t + %v), killed after %v\nstdout: %s\nstderr: %s",
			cmd, graceKill, o.wall.Round(time.Millisecond), clip(o.stdout), clip(o.stderr))
	}
	all := o.stdout + o.stderr
	if strings.Contains(strings.ToLower(all), "panic") || strings.Contains(all, "goroutine ") {
		t.Errorf("%s: output shows a panic or a goroutine dump:\n%s", cmd, clip(all))
	}
	status, _, _ := strings.Cut(o.stdout, "\n")
	if !utf8.ValidString(status) || strings.ContainsFunc(status, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		t.Errorf("%s: status line %q has invalid UTF-8 or control characters", cmd, clip(status))
	}
	prefix := "RELAY_FINGERPRINT " + stateNames[w.code] + " - "
	if o.code != w.code || !strings.HasPrefix(status, prefix) {
		t.Errorf("%s:\n got exit %d, status line %q\nwant exit %d, status line starting %q\nstderr: %s",
			cmd, o.code, clip(status), w.code, prefix, clip(o.stderr))
	}
	for _, s := range w.status {
		if !strings.Contains(status, s) {
			t.Errorf("%s: status line %q\ndoes not contain %q", cmd, clip(status), s)
		}
	}
	for _, s := range w.out {
		if !strings.Contains(o.stdout, s) {
			t.Errorf("%s: output does not contain %q:\n%s", cmd, s, clip(o.stdout))
		}
	}
	for _, s := range w.notOut {
		if strings.Contains(o.stdout, s) {
			t.Errorf("%s: output contains %q:\n%s", cmd, s, clip(o.stdout))
		}
	}
	if !w.stderr && o.stderr != "" {
		t.Errorf("%s: stderr not empty: %s", cmd, clip(o.stderr))
	}
	bound := w.rss
	if bound == 0 {
		bound = maxRSS
	}
	if o.rss > bound {
		t.Errorf("%s: peak RSS %.1f MiB, want at most %.1f MiB", cmd, mib(o.rss), mib(bound))
	}
	t.Logf("exit %d in %v, peak RSS %.1f MiB", o.code, o.wall.Round(time.Millisecond), mib(o.rss))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// clip keeps a message readable when the output is huge.
func clip(s string) string {
	const n = 2000
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... (%d bytes in all)", len(s))
}

// quoteArgs shows a command line, shortened past a few hundred bytes.
func quoteArgs(args []string) string {
	q := []string{"check_relay_fingerprint"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$*?[]{}|&;<>()#~") || !isPrintable(a) {
			a = strconv.Quote(a)
		}
		q = append(q, a)
	}
	s := strings.Join(q, " ")
	if len(s) > 400 {
		s = s[:400] + fmt.Sprintf("... (%d arguments)", len(args))
	}
	return s
}

func isPrintable(s string) bool {
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// writeTable writes a relay_clientcerts source file with the given lines
// (each ended with "\n") into dir and returns its path.
func writeTable(t testing.TB, dir string, lines ...string) string {
	t.Helper()
	path := filepath.Join(dir, "relay_clientcerts")
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// snapshot is a file's content and modification time, to prove that a run
// wrote nothing.
type snapshot struct {
	path    string
	data    []byte
	mtime   time.Time
	entries []string // names in the file's directory
}

func snap(t testing.TB, path string) snapshot {
	t.Helper()
	st := testfs.Stat(t, path)
	return snapshot{path: path, data: st.Data, mtime: st.MTime, entries: dirNames(t, filepath.Dir(path))}
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// unchanged asserts that the file has the snapshot's bytes and mtime and
// that its directory gained no file but, when lockOK, the sidecar lock.
func (s snapshot) unchanged(t testing.TB, lockOK bool) {
	t.Helper()
	now := snap(t, s.path)
	if !bytes.Equal(now.data, s.data) {
		t.Errorf("%s was rewritten: %d bytes, was %d bytes", s.path, len(now.data), len(s.data))
	}
	if !now.mtime.Equal(s.mtime) {
		t.Errorf("%s: mtime changed from %v to %v", s.path, s.mtime, now.mtime)
	}
	before := map[string]bool{}
	for _, n := range s.entries {
		before[n] = true
	}
	for _, n := range now.entries {
		if !before[n] && !(lockOK && n == filepath.Base(s.path)+".lock") {
			t.Errorf("%s: new file %q in its directory", s.path, n)
		}
	}
}
