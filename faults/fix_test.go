package faults

// Remediation under faults: --fix against bad tables, a failing, hanging or
// missing postmap, a full disk, SIGKILL at random moments, and concurrent
// fixers. The relays are certificate files (--cert-file with --fix-trust
// any): what is under test is the writing, not the probing.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
)

// fixArgs are the flags of a fix run for the certificate file cert.
func fixArgs(cert, spec string, more ...string) []string {
	return append([]string{"--cert-file", cert, "--table", spec, "--fix", "--fix-trust", "any"}, more...)
}

// TestFixRefusesBadTables: a table postmap would not read as written is
// never rewritten, not even its mtime; the relay stays reported.
func TestFixRefusesBadTables(t *testing.T) {
	t.Parallel()
	_, fpA := relayCert(t, "relay.test")
	certB, fpB := relayCert(t, "relay-b.test")
	tests := []struct {
		file string // fixture, or "" for the generated long line
		want want
	}{
		{"nul.table", want{code: 3, status: []string{"TABLE:2: NUL byte"}}},
		{"", want{code: 3, status: []string{"TABLE:2: line of 1048577 bytes is over the limit"}}},
		{"invalid-utf8.table", want{code: 2, status: []string{"not rewritten", "TABLE:2: non-UTF-8 input"}}},
		{"duplicate.table", want{code: 2, status: []string{"not rewritten", "TABLE:2: duplicate entry"}}},
		{"missing-value.table", want{code: 2, status: []string{"not rewritten", "TABLE:2: expected format"}}},
		{"unbalanced-quote.table", want{code: 2, status: []string{"not rewritten", "TABLE:2: unbalanced"}}},
		{"leading-space.table", want{code: 2, status: []string{"not rewritten", "TABLE:1: logical line must not start with whitespace"}}},
	}
	for _, tc := range tests {
		name := tc.file
		if name == "" {
			name = "1 MiB + 1 line"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var table string
			if tc.file == "" {
				table = writeTable(t, t.TempDir(), fpA+" relay.test", "#"+strings.Repeat("x", 1<<20-1))
			} else {
				table = loadTable(t, tc.file, fpA)
			}
			before := snap(t, table)
			o := plugin(t, invocation{args: fixArgs(certB, "texthash:"+table)})
			o.check(t, withTable(tc.want, table))
			before.unchanged(t, true)
			if strings.Contains(string(before.data), fpB) {
				t.Fatal("test broken: the table lists the certificate to add")
			}
		})
	}
}

// fakeCommand writes an executable shell script named name into a fresh
// directory and returns the directory, to put first in PATH.
func fakeCommand(t *testing.T, name, script string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, name), "#!/bin/sh\n"+script, 0o755)
	return dir
}

// fixedTable is what a fix that appends "fp label" to old must write.
func fixedTable(old, fp, label string) string {
	return old + fp + " " + label + "\n"
}

// realPostmap returns the path of postmap(1), or "" when it is missing
// (a failure under CI, where .ci/run installs Postfix).
func realPostmap(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/postmap", "/usr/local/sbin/postmap", "/sbin/postmap"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			// The plugin runs it without -c: it reads the default main.cf.
			postfixtest.RequireDefaultConfig(t)
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("postmap not found in /usr/sbin, /usr/local/sbin or /sbin: install postfix (needed under CI)")
	}
	return ""
}

// TestFixPostmapFails: postmap failing after the source was rewritten is
// CRITICAL with postmap's stderr; the source is already correct and
// complete, and running the fix again (postmap working) completes it.
func TestFixPostmapFails(t *testing.T) {
	t.Parallel()
	cert, fp := relayCert(t, "relay-b.test")
	dir := t.TempDir()
	old := "# relays\n" + otherFP + " other.test\n"
	table := filepath.Join(dir, "relay_clientcerts")
	writeFile(t, table, old, 0o644)
	fake := fakeCommand(t, "postmap", `echo "postmap: fatal: open database $1.db: Permission denied (fake postmap)" >&2; exit 1`+"\n")

	o := plugin(t, invocation{args: fixArgs(cert, "hash:"+table), env: []string{"PATH=" + fake + ":/usr/bin:/bin"}})
	o.check(t, want{code: 2, status: []string{"postmap FAILED", "Permission denied (fake postmap)", "hint: fix the cause and run postmap hash:" + table}})
	assertContent(t, table, fixedTable(old, fp, "relay-b.test"))

	postmap := realPostmap(t)
	if postmap == "" {
		t.Skip("postmap not installed: the second run, which completes the fix, needs it")
	}
	// The status reports what was found (the compiled table missing:
	// CRITICAL, Postfix answers 451 4.3.0), then what was done.
	o = plugin(t, invocation{args: fixArgs(cert, "hash:"+table)})
	o.check(t, want{code: 2, status: []string{".db does not exist", "fix: no change in hash:" + table + ", postmap done"}})
	assertContent(t, table, fixedTable(old, fp, "relay-b.test"))
	o = plugin(t, invocation{args: []string{"--cert-file", cert, "--table", "hash:" + table}})
	o.check(t, want{code: 0, status: []string{"listed in 1 table"}})
	if out, err := exec.Command(postmap, "-q", fp, "hash:"+table).CombinedOutput(); err != nil || string(out) != "relay-b.test\n" {
		t.Errorf("postmap -q %s hash:%s = %q, %v; want %q", fp, table, out, err, "relay-b.test\n")
	}
}

// TestFixPostmapHangs: a postmap that never ends is ended at the -t
// deadline, with its children; the run reports it and ends.
func TestFixPostmapHangs(t *testing.T) {
	t.Parallel()
	cert, fp := relayCert(t, "relay-b.test")
	dir := t.TempDir()
	old := otherFP + " other.test\n"
	table := filepath.Join(dir, "relay_clientcerts")
	writeFile(t, table, old, 0o644)
	// sleep runs as a child of sh and keeps stderr open after sh is killed.
	fake := fakeCommand(t, "postmap", "echo 'postmap: stuck on a lock' >&2\nsleep 600\n")
	o := plugin(t, invocation{args: fixArgs(cert, "hash:"+table), env: []string{"PATH=" + fake + ":/usr/bin:/bin"}, deadline: 3})
	o.check(t, want{code: 2, status: []string{"postmap FAILED", "postmap: stuck on a lock"}})
	assertContent(t, table, fixedTable(old, fp, "relay-b.test"))
}

// TestFixPostmapNotInPATH: with no postmap in PATH the plugin looks in
// /usr/sbin, /usr/local/sbin and /sbin; when none has it either, the fix is
// CRITICAL, says so, and the source is already correct.
func TestFixPostmapNotInPATH(t *testing.T) {
	t.Parallel()
	cert, fp := relayCert(t, "relay-b.test")
	dir := t.TempDir()
	old := otherFP + " other.test\n"
	table := filepath.Join(dir, "relay_clientcerts")
	writeFile(t, table, old, 0o644)
	o := plugin(t, invocation{args: fixArgs(cert, "hash:"+table), env: []string{"PATH=" + t.TempDir()}})
	if realPostmap(t) != "" {
		// The fallback finds it.
		o.check(t, want{code: 2, status: []string{"fix: 0 replaced, 1 added in hash:" + table + ", postmap done"}})
	} else {
		o.check(t, want{code: 2, status: []string{"postmap FAILED", "command not found"}})
	}
	assertContent(t, table, fixedTable(old, fp, "relay-b.test"))
}

func assertContent(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s:\n got %q\nwant %q", path, got, want)
	}
}

// TestFixDiskFull: a fix that does not fit on the file system fails
// clearly, and the old table stays as it was; one that fits works.
func TestFixDiskFull(t *testing.T) {
	t.Parallel()
	cert, fp := relayCert(t, "relay-b.test")
	tests := []struct {
		name   string
		size   int // bytes of the old table
		backup bool
		want   want
		fixed  bool
	}{
		// The new table is written beside the old one: 2 x 40 kB > 64 kB.
		{"table does not fit twice", 40 << 10, false, want{code: 2, status: []string{"fix: replace ", "no space left on device"}}, false},
		// The backup is written first: 2 x 34 kB > 64 kB.
		{"backup does not fit", 34 << 10, true, want{code: 2, status: []string{"fix: back up ", "no space left on device"}}, false},
		// The backup fits, the new table then does not: 3 x 24 kB > 64 kB.
		{"table does not fit after the backup", 24 << 10, true, want{code: 2, status: []string{"fix: replace ", "no space left on device"}}, false},
		{"table fits", 16 << 10, false, want{code: 2, status: []string{"fix: 0 replaced, 1 added"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := mountTmpfs(t, "64k")
			table := filepath.Join(dir, "relay_clientcerts")
			old := entries(tc.size/112, -1, "")
			writeFile(t, table, old, 0o644)
			before := snap(t, table)
			args := fixArgs(cert, "texthash:"+table)
			if tc.backup {
				args = append(args, "--backup")
			}
			o := plugin(t, invocation{args: args})
			o.check(t, tc.want)
			if tc.fixed {
				assertContent(t, table, fixedTable(old, fp, "relay-b.test"))
				return
			}
			// A backup that was written holds the old table; it is then
			// the one new file allowed besides the lock.
			bak := table + ".bak"
			if data, err := os.ReadFile(bak); err == nil {
				if string(data) != old {
					t.Errorf("%s: %d bytes, want the old table's %d", bak, len(data), len(old))
				}
				os.Remove(bak)
			}
			before.unchanged(t, true)
			if got := dirNames(t, dir); slices.ContainsFunc(got, func(n string) bool { return strings.HasPrefix(n, ".") }) {
				t.Errorf("temp files left on the full file system: %v", got)
			}
		})
	}
}

// entries returns n distinct table lines of about 112 bytes, with extra
// inserted as line at (none when at < 0).
func entries(n, at int, extra string) string {
	var b strings.Builder
	var sum [32]byte
	for i := range n {
		if i == at {
			b.WriteString(extra + "\n")
		}
		sum[0], sum[1] = byte(i>>8), byte(i)
		fmt.Fprintf(&b, "%s other-%04d.test\n", colonHex(sum), i)
	}
	return b.String()
}

// mountTmpfs mounts a tmpfs of size on a fresh directory, or skips the
// test when this system does not allow it (not root, no CAP_SYS_ADMIN, a
// container): that is an environment limit, not a failure of the plugin.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): disk-full case not run", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// start starts the plugin directly (no wrapper: the kill must hit the
// plugin itself) in its own process group.
func start(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestFixSurvivesSIGKILL runs --fix over and over, killing it with SIGKILL
// after a random delay; after every kill the table must be exactly the old
// or exactly the new content, and a final fix must still work (no lock
// left held).
func TestFixSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	const (
		maxKills = 1000             // runs, killed or not
		budget   = 30 * time.Second // the loop stops after this even if short of maxKills
		minKills = 100
	)
	cert, fp := relayCert(t, "relay.test")
	dir := t.TempDir()
	table := filepath.Join(dir, "relay_clientcerts")
	// About 200 kB, the stale entry of relay.test in the middle: the fix
	// replaces its key, which rewrites the whole file.
	oldContent := []byte(entries(2000, 1000, otherFP+" relay.test"))
	newContent := bytes.Replace(oldContent, []byte(otherFP+" relay.test"), []byte(fp+" relay.test"), 1)
	args := fixArgs(cert, "texthash:"+table, "-t", "20")

	// The scale of the random delays is a fix run, start to end; it is
	// measured again and again, as the load of the machine changes.
	var natural []time.Duration // recent runs that ended before their kill
	for range 5 {
		writeFile(t, table, string(oldContent), 0o644)
		t0 := time.Now()
		start(t, args...).Wait()
		natural = append(natural, time.Since(t0))
		assertContent(t, table, string(newContent))
	}
	span := func() time.Duration {
		last := slices.Clone(natural[max(0, len(natural)-21):])
		slices.Sort(last)
		return last[len(last)/2] * 5 / 4
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("a fix run takes about %v at first; seed %d", span()*4/5, seed)

	var kills, old, fixed, exited, temps int
	t0 := time.Now()
	for kills+exited < maxKills && time.Since(t0) < budget {
		writeFile(t, table, string(oldContent), 0o644)
		started := time.Now()
		cmd := start(t, args...)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
			natural = append(natural, time.Since(started))
			exited++
		case <-time.After(time.Duration(rng.Int64N(int64(span())))):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			kills++
		}
		got, err := os.ReadFile(table)
		if err != nil {
			t.Fatalf("run %d: %v", kills+exited, err)
		}
		switch {
		case bytes.Equal(got, oldContent):
			old++
		case bytes.Equal(got, newContent):
			fixed++
		default:
			t.Fatalf("run %d (%v): the table is neither the old nor the new content (%d bytes; old %d, new %d)",
				kills+exited, cmd.ProcessState, len(got), len(oldContent), len(newContent))
		}
		for _, n := range dirNames(t, dir) {
			if strings.HasPrefix(n, ".relay_clientcerts") {
				temps++
				os.Remove(filepath.Join(dir, n))
			}
		}
	}
	t.Logf("%d runs in %v, %d killed with SIGKILL, %d ended first; table old %d times, new %d times; %d kills left a temp file (killed mid-write); a run took about %v at the end",
		kills+exited, time.Since(t0).Round(time.Millisecond), kills, exited, old, fixed, temps, span()*4/5)
	if kills < minKills {
		t.Errorf("only %d kills in %v, want at least %d: the machine is too slow for this test to mean much", kills, budget, minKills)
	}
	if old == 0 || fixed-exited <= 0 {
		t.Errorf("table old %d times, new %d times, %d runs not killed: the kills did not spread over the run; the test proved nothing", old, fixed, exited)
	}

	// No lock is left held: a last fix completes.
	writeFile(t, table, string(oldContent), 0o644)
	o := plugin(t, invocation{args: fixArgs(cert, "texthash:"+table)})
	o.check(t, want{code: 2, status: []string{"fix: 1 replaced, 0 added"}})
	assertContent(t, table, string(newContent))
}

// TestConcurrentFixers: ten processes fix the same table at once, each for
// its own relay; every entry must end up in it exactly once. With a hashed
// table each also runs postmap, and the compiled table must hold every
// entry too.
func TestConcurrentFixers(t *testing.T) {
	t.Parallel()
	const fixers, rounds = 10, 5
	type relayFile struct{ cert, fp, label string }
	var relays []relayFile
	for i := range fixers {
		key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		label := fmt.Sprintf("relay-%d.test", i)
		c := newCert(t, certSpec{name: label, key: key})
		path := filepath.Join(t.TempDir(), label+".pem")
		writePEM(t, path, c)
		relays = append(relays, relayFile{path, pubkeyFP(c), label})
	}
	variants := []struct {
		name, typ string
		db        bool // postmap the table first
	}{{"texthash", "texthash", false}}
	postmap := realPostmap(t)
	if postmap != "" {
		variants = append(variants, struct {
			name, typ string
			db        bool
		}{"hash with .db", "hash", true}, struct {
			name, typ string
			db        bool
		}{"hash without .db yet", "hash", false})
	}
	for _, v := range variants {
		typ := v.typ
		for round := range rounds {
			t.Run(fmt.Sprintf("%s round %d", v.name, round), func(t *testing.T) {
				dir := t.TempDir()
				old := "# relays\n" + otherFP + " other.test\n"
				table := filepath.Join(dir, "relay_clientcerts")
				writeFile(t, table, old, 0o644)
				if v.db {
					if out, err := exec.Command(postmap, "hash:"+table).CombinedOutput(); err != nil {
						t.Fatalf("postmap hash:%s: %v: %s", table, err, out)
					}
				}
				var cmds []*exec.Cmd
				outs := make([]*bytes.Buffer, fixers)
				for i, r := range relays {
					outs[i] = new(bytes.Buffer)
					cmd := exec.Command(bin, fixArgs(r.cert, typ+":"+table, "-t", "30")...)
					cmd.Stdout, cmd.Stderr = outs[i], outs[i]
					cmds = append(cmds, cmd)
				}
				for _, cmd := range cmds {
					if err := cmd.Start(); err != nil {
						t.Fatal(err)
					}
				}
				for i, cmd := range cmds {
					cmd.Wait()
					if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(outs[i].String(), "fix: 0 replaced, 1 added") ||
						typ == "hash" && !strings.Contains(outs[i].String(), "postmap done") {
						t.Errorf("fixer %d: exit %d, want 2 with one entry added:\n%s", i, code, clip(outs[i].String()))
					}
				}
				got, err := os.ReadFile(table)
				if err != nil {
					t.Fatal(err)
				}
				lines := strings.SplitAfter(strings.TrimPrefix(string(got), old), "\n")
				lines = slices.DeleteFunc(lines, func(s string) bool { return s == "" })
				var want []string
				for _, r := range relays {
					want = append(want, r.fp+" "+r.label+"\n")
				}
				sort.Strings(lines)
				sort.Strings(want)
				if !strings.HasPrefix(string(got), old) || !slices.Equal(lines, want) {
					t.Fatalf("after %d concurrent fixes the table is\n%s\nwant the old lines, then each relay's line exactly once (in any order)", fixers, got)
				}
				if typ != "hash" {
					return
				}
				// Every fixer said "postmap done": the compiled table is what
				// Postfix reads, and must hold every relay too.
				for _, r := range relays {
					out, err := exec.Command(postmap, "-q", r.fp, "hash:"+table).CombinedOutput()
					if err != nil || string(out) != r.label+"\n" {
						t.Errorf("the compiled table lacks a relay that the source lists: postmap -q %s hash:%s = %q, %v; want %q", r.fp, table, out, err, r.label+"\n")
					}
				}
			})
		}
	}
}
