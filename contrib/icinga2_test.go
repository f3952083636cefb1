package contrib

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// icinga2Validate runs "icinga2 daemon -C" on the configuration conf,
// with the cache (icinga2.vars, icinga2.debug) in a temporary directory and
// as the current user, so nothing under /var is written.
func icinga2Validate(t *testing.T, icinga2, conf string) result {
	t.Helper()
	u, g := runAs(t)
	return run(t, icinga2, "daemon", "-C", "-c", conf,
		"-DCacheDir="+t.TempDir(), "-DRunAsUser="+u, "-DRunAsGroup="+g)
}

// TestIcinga2Validates has the real Icinga 2 validate the contrib file in
// a minimal configuration (the ITL, two receivers, one with an agent), and
// reject broken copies of it, each for the reason given.
func TestIcinga2Validates(t *testing.T) {
	icinga2 := need(t, "icinga2", "icinga2-bin")
	contrib := readFile(t, icingaFile)
	around := readFile(t, filepath.Join(fixtures, "icinga2/validate.conf"))

	cases := []struct {
		name    string
		contrib func(t *testing.T, s string) string // breaks the contrib file
		around  func(t *testing.T, s string) string // breaks the configuration around it
		wantErr string                              // in the output of a failing validation
	}{
		{name: "as shipped"},
		{
			name: "typo in an argument attribute",
			contrib: func(t *testing.T, s string) string {
				return replaceOnce(t, s, `set_if = "$relay_fingerprint_diff$"`, `set_iff = "$relay_fingerprint_diff$"`)
			},
			wantErr: "Invalid attribute: set_iff",
		},
		{
			name: "typo in a service attribute",
			contrib: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "check_interval = 1h\n\tretry_interval = 5m\n\tmax_check_attempts = 3\n\n\t/* The table lives", "check_intervall = 1h\n\tretry_interval = 5m\n\tmax_check_attempts = 3\n\n\t/* The table lives")
			},
			wantErr: "Attribute 'check_intervall' does not exist",
		},
		{
			name: "unclosed macro",
			contrib: func(t *testing.T, s string) string {
				return replaceOnce(t, s, `value = "$service.state_type$"`, `value = "$service.state_type"`)
			},
			wantErr: "Closing $ not found",
		},
		{
			name: "unknown event command",
			contrib: func(t *testing.T, s string) string {
				return replaceOnce(t, s, `event_command = "relay_fingerprint_fix"`, `event_command = "relay_fingerprint_fx"`)
			},
			wantErr: "Object 'relay_fingerprint_fx' of type 'EventCommand' does not exist",
		},
		{
			name:    "syntax error",
			contrib: func(t *testing.T, s string) string { return replaceOnce(t, s, "timeout = 30s\n}\n", "timeout = 30s\n") },
			wantErr: "syntax error",
		},
		{
			name: "agent endpoint that does not exist",
			around: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "vars.agent_endpoint = name\n  vars.relay_fingerprint_hosts", "vars.agent_endpoint = \"nosuch.example.org\"\n  vars.relay_fingerprint_hosts")
			},
			wantErr: "Object 'nosuch.example.org' of type 'Endpoint' does not exist",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			c, a := contrib, around
			if tc.contrib != nil {
				c = tc.contrib(t, c)
			}
			if tc.around != nil {
				a = tc.around(t, a)
			}
			contribPath := filepath.Join(dir, "check_relay_fingerprint.conf")
			writeFile(t, contribPath, c, 0o644)
			conf := filepath.Join(dir, "icinga2.conf")
			writeFile(t, conf, strings.ReplaceAll(a, "@CONTRIB@", contribPath), 0o644)

			r := icinga2Validate(t, icinga2, conf)
			if tc.wantErr == "" {
				if r.code != 0 || !strings.Contains(r.stdout, "Finished validating the configuration") {
					t.Fatalf("icinga2 daemon -C: want exit 0, got %s", r)
				}
				for _, want := range []string{"Instantiated 3 Services", "Instantiated 1 EventCommand"} {
					if !strings.Contains(r.stdout, want) {
						t.Errorf("icinga2 daemon -C: want %q in the output (the receivers' two services, the relay's one, the event command), got %s", want, r)
					}
				}
				return
			}
			if r.code == 0 || !strings.Contains(r.stdout+r.stderr, tc.wantErr) {
				t.Fatalf("icinga2 daemon -C on a broken copy: want a non-zero exit and %q, got %s", tc.wantErr, r)
			}
		})
	}
}

// fakeRecorder is a shell script that records its arguments, one per line,
// in a new file dir/prefix.XXXXXX, prints line and exits with code.
func fakeRecorder(dir, prefix, line string, code int) string {
	return "#!/bin/sh\n" +
		"f=$(mktemp '" + dir + "/" + prefix + ".XXXXXX') || exit 3\n" +
		"printf '%s\\n' \"$@\" > \"$f\"\n" +
		"echo '" + line + "'\n" +
		"exit " + strconv.Itoa(code) + "\n"
}

// recorded returns the argument lists recorded in dir by fakeRecorder
// under prefix.
func recorded(t *testing.T, dir, prefix string) [][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, prefix+".*"))
	if err != nil {
		t.Fatal(err)
	}
	var all [][]string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if !strings.HasSuffix(s, "\n") {
			continue // still being written
		}
		all = append(all, strings.Split(strings.TrimSuffix(s, "\n"), "\n"))
	}
	return all
}

// daemon is a daemon started by a test in its own process group, its
// output going to a file.
type daemon struct {
	cmd      *exec.Cmd
	log      string
	done     chan struct{} // closed when the daemon has ended
	stopOnce sync.Once
}

func startDaemon(t *testing.T, logPath, name string, args ...string) *daemon {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	d := &daemon{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(d.stop)
	return d
}

// stop asks the daemon to end (SIGTERM), waits for it, then kills whatever
// is left of its process group (worker processes, plugins).
func (d *daemon) stop() {
	d.stopOnce.Do(func() {
		pgid := d.cmd.Process.Pid
		if !d.exited() {
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.done:
			case <-time.After(hangGuard / 2):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-d.done
			}
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		// The group's last processes (a plugin writing its record) die
		// asynchronously: wait until none is left, or the test's temp
		// directory is removed while one still writes into it.
		for deadline := time.Now().Add(hangGuard / 2); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
				break
			}
		}
	})
}

// exited reports whether the daemon has ended.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func (d *daemon) output(t *testing.T) string {
	t.Helper()
	b, _ := os.ReadFile(d.log)
	return string(b)
}

// waitFor polls cond every 100 ms until it holds, the daemon ends, or the
// hang guard expires; the last two fail t with the daemon's output and
// what explain adds (nil for nothing).
func waitFor(t *testing.T, d *daemon, what string, cond func() bool, explain func() string) {
	t.Helper()
	more := func() string {
		if explain == nil {
			return ""
		}
		return "\n" + explain()
	}
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if d.exited() {
			t.Fatalf("daemon ended while waiting for %s; its output:\n%s%s", what, d.output(t), more())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v; daemon output:\n%s%s", what, hangGuard, d.output(t), more())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestIcinga2RendersCommandLines runs a real Icinga 2 with the contrib file
// and a fake plugin that records its arguments, so the command lines Icinga
// builds from the custom variables (repeat_key, set_if, the --postconf and
// --relay-postconf lambdas, --verbose=N) are checked, not only the syntax
// (golden file: one line per service). The event command (through a fake
// sudo), in each of its variants, must produce a command line that exactly
// one sudoers file of contrib/sudoers.d allows, and every file must be hit.
func TestIcinga2RendersCommandLines(t *testing.T) {
	icinga2 := need(t, "icinga2", "icinga2-bin")

	dir := t.TempDir()
	plugins, out := filepath.Join(dir, "plugins"), filepath.Join(dir, "out")
	for _, d := range []string{plugins, out, "data", "log", "cache", "spool", "run"} {
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(plugins, "check_relay_fingerprint"),
		fakeRecorder(out, "check", "RELAY_FINGERPRINT CRITICAL - fake", 2), 0o755)
	fakeSudo := filepath.Join(plugins, "sudo")
	writeFile(t, fakeSudo, fakeRecorder(out, "sudo", "RELAY_FINGERPRINT OK - fake fix", 0), 0o755)

	// The contrib file, with the fake sudo and the apply rule's intervals
	// cut from an hour to a second.
	c := readFile(t, icingaFile)
	c = replaceOnce(t, c, `"/usr/bin/sudo"`, `"`+fakeSudo+`"`)
	for _, apply := range []string{"relay-fingerprint", "relay-fingerprint-client"} {
		head := "apply Service \"" + apply + "\" {\n"
		c = replaceOnce(t, c, head, head+"\tcheck_interval = 1s\n\tretry_interval = 1s\n")
	}
	contribPath := filepath.Join(dir, "check_relay_fingerprint.conf")
	writeFile(t, contribPath, c, 0o644)
	conf := filepath.Join(dir, "icinga2.conf")
	writeFile(t, conf, strings.NewReplacer("@PLUGINDIR@", plugins, "@CONTRIB@", contribPath).
		Replace(readFile(t, filepath.Join(fixtures, "icinga2/runtime.conf"))), 0o644)

	u, g := runAs(t)
	d := startDaemon(t, filepath.Join(dir, "icinga2.log"), icinga2, "daemon", "-c", conf,
		"-DDataDir="+filepath.Join(dir, "data"), "-DLogDir="+filepath.Join(dir, "log"),
		"-DCacheDir="+filepath.Join(dir, "cache"), "-DSpoolDir="+filepath.Join(dir, "spool"),
		"-DInitRunDir="+filepath.Join(dir, "run"), "-DRunAsUser="+u, "-DRunAsGroup="+g)

	// Every service renders its own argument list (runtime.conf).
	const services = 8
	checks := func() []string {
		seen := map[string]bool{}
		for _, args := range recorded(t, out, "check") {
			seen[normalizeArgv(args)] = true
		}
		lines := slices.Collect(maps.Keys(seen))
		sort.Strings(lines)
		return lines
	}
	// Which sudoers files allow the event commands run so far, and the
	// lines none or several allow.
	fixes := func() (map[string]bool, []string) {
		hit, bad := map[string]bool{}, []string(nil)
		for _, args := range recorded(t, out, "sudo") {
			if len(args) < 3 || args[0] != "-n" || args[1] != filepath.Join(plugins, "check_relay_fingerprint") {
				bad = append(bad, fmt.Sprintf("sudo %q: want sudo -n %s/check_relay_fingerprint ...", args, plugins))
				continue
			}
			line := strings.Join(args[2:], " ")
			var by []string
			for _, f := range sudoersFiles() {
				if _, allowed := sudoersRule(t, f); allowed.MatchString(line) {
					by = append(by, f)
				}
			}
			if len(by) != 1 {
				bad = append(bad, fmt.Sprintf("%s: allowed by %q, want exactly one sudoers file", line, by))
				continue
			}
			hit[by[0]] = true
		}
		return hit, bad
	}
	waitFor(t, d, "check of every service and every variant of the event command", func() bool {
		hit, bad := fixes()
		return len(checks()) >= services && (len(hit) == len(sudoersFiles()) || len(bad) > 0)
	}, nil)
	d.stop()

	golden(t, "icinga2/check-argv.golden", strings.Join(checks(), "\n")+"\n")
	if _, bad := fixes(); len(bad) > 0 {
		t.Errorf("event command lines the sudoers files do not allow:\n  %s", strings.Join(bad, "\n  "))
	}
}
