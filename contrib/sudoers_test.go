package contrib

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	sudoersFile = "sudoers.d/check_relay_fingerprint"
	nagiosFile  = "nagios/check_relay_fingerprint.cfg"
	nrpeFile    = "nagios/nrpe.cfg"
	// sudoPrefix starts every event-handler command line that runs the fix.
	sudoPrefix = "/usr/bin/sudo -n "
	// user1 is $USER1$ of Debian's resource.cfg, the plugin directory.
	user1 = "/usr/lib/nagios/plugins"
)

// sudoersRule returns the command the sudoers rule allows and the regular
// expression its arguments must match, compiled as POSIX ERE as sudo does.
func sudoersRule(t *testing.T) (string, *regexp.Regexp) {
	t.Helper()
	const head = "Cmnd_Alias RELAY_FINGERPRINT_FIX = "
	for _, line := range strings.Split(readFile(t, sudoersFile), "\n") {
		rest, ok := strings.CutPrefix(line, head)
		if !ok {
			continue
		}
		path, args, _ := strings.Cut(rest, " ")
		if !strings.HasPrefix(args, "^") || !strings.HasSuffix(args, "$") {
			t.Fatalf("%s: the arguments %q are not a regular expression anchored with ^ and $", sudoersFile, args)
		}
		re, err := regexp.CompilePOSIX(args)
		if err != nil {
			t.Fatalf("%s: arguments %q: %v", sudoersFile, args, err)
		}
		return path, re
	}
	t.Fatalf("%s: no line starts with %q", sudoersFile, head)
	return "", nil
}

// nagiosDefines returns the directives of every "define kind { ... }" in a
// Nagios object file.
func nagiosDefines(cfg, kind string) []map[string]string {
	var defs []map[string]string
	var cur map[string]string
	for _, line := range strings.Split(cfg, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case line == "define "+kind+" {":
			cur = map[string]string{}
		case line == "}":
			if cur != nil {
				defs = append(defs, cur)
			}
			cur = nil
		case cur != nil:
			k, v, _ := strings.Cut(line, " ")
			cur[k] = strings.TrimSpace(v)
		}
	}
	return defs
}

var nagiosMacro = regexp.MustCompile(`\$[A-Z0-9_]+\$`)

// expand replaces Nagios macros; one it does not know fails t.
func expand(t *testing.T, line string, macros map[string]string) string {
	t.Helper()
	return nagiosMacro.ReplaceAllStringFunc(line, func(m string) string {
		v, ok := macros[strings.Trim(m, "$")]
		if !ok {
			t.Fatalf("unknown macro %s in %q", m, line)
		}
		return v
	})
}

// fixLines returns, by where they come from, the command lines (after
// "sudo -n") that the Nagios event handlers and the NRPE fix command run
// for an event in state, of type typ, at attempt.
func fixLines(t *testing.T, state, typ, attempt string) map[string]string {
	t.Helper()
	lines := map[string]string{}
	cfg := readFile(t, nagiosFile)
	commands := map[string]string{}
	for _, c := range nagiosDefines(cfg, "command") {
		commands[c["command_name"]] = c["command_line"]
	}
	for _, s := range nagiosDefines(cfg, "service") {
		handler := s["event_handler"]
		if handler == "" {
			continue
		}
		name, args, _ := strings.Cut(handler, "!")
		line, ok := commands[name]
		if !ok {
			t.Fatalf("%s: event_handler %s: no such command", nagiosFile, name)
		}
		macros := map[string]string{"USER1": user1, "HOSTADDRESS": "192.0.2.25",
			"SERVICESTATE": state, "SERVICESTATETYPE": typ, "SERVICEATTEMPT": attempt}
		for i, a := range strings.Split(args, "!") {
			macros[fmt.Sprintf("ARG%d", i+1)] = a
		}
		if l, ok := strings.CutPrefix(expand(t, line, macros), sudoPrefix); ok {
			lines[nagiosFile+" "+name] = l
		}
	}
	for _, line := range strings.Split(readFile(t, nrpeFile), "\n") {
		if !strings.HasPrefix(line, "command[") {
			continue
		}
		name, cmd, _ := strings.Cut(line, "=")
		macros := map[string]string{"ARG1": state, "ARG2": typ, "ARG3": attempt}
		if l, ok := strings.CutPrefix(expand(t, cmd, macros), sudoPrefix); ok {
			lines[nrpeFile+" "+name] = l
		}
	}
	for _, from := range []string{nagiosFile, nrpeFile} {
		found := false
		for k := range lines {
			found = found || strings.HasPrefix(k, from+" ")
		}
		if !found {
			t.Fatalf("%s: no command runs %q", from, sudoPrefix)
		}
	}
	return lines
}

// forgedLines are command lines the sudoers rule must refuse: what someone
// who can run commands as nagios, or forge NRPE arguments, might try.
func forgedLines(t *testing.T) map[string]string {
	t.Helper()
	var good string
	for _, l := range fixLines(t, "CRITICAL", "HARD", "3") {
		good = l
		break
	}
	with := func(old, new string) string { return replaceOnce(t, good, old, new) }
	smuggled := func(state, typ, attempt string) string {
		for _, l := range fixLines(t, state, typ, attempt) {
			return l
		}
		return ""
	}
	return map[string]string{
		"a flag appended":              good + " --fix-to /etc/passwd",
		"a flag in the state":          smuggled("CRITICAL --fix-to /etc/passwd", "HARD", "3"),
		"a flag in the state type":     smuggled("CRITICAL", "HARD --table /etc/shadow", "3"),
		"a flag in the attempt":        smuggled("CRITICAL", "HARD", "3 --fix-trust any"),
		"trust anything":               with(" --event-state ", " --fix-trust any --event-state "),
		"another relay":                with("-H cliff.example.org", "-H evil.example.net"),
		"a dot that is not a dot":      with("-H cliff.example.org", "-H cliffXexample.org"),
		"a second relay":               with("-H cliff.example.org", "-H cliff.example.org -H evil.example.net"),
		"another postconf directory":   with("--postconf ", "--postconf /tmp/evil "),
		"an unknown state":             smuggled("PENDING", "HARD", "3"),
		"an attempt that is no number": smuggled("CRITICAL", "HARD", "three"),
		"another program":              "/bin/sh -c id",
	}
}

var (
	eventStates = []string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}
	eventTypes  = []string{"SOFT", "HARD"}
	attempts    = []string{"1", "3", "10"}
)

// TestSudoersRuleMatchesEventHandlers checks the rule's regular expression
// (with Go's POSIX ERE, as sudo uses POSIX ERE) against the event handlers'
// command lines for every state, and against forged ones.
func TestSudoersRuleMatchesEventHandlers(t *testing.T) {
	t.Parallel()
	path, allowed := sudoersRule(t)
	check := func(line string) bool {
		p, args, _ := strings.Cut(line, " ")
		return p == path && allowed.MatchString(args)
	}
	for _, state := range eventStates {
		for _, typ := range eventTypes {
			for _, attempt := range attempts {
				for from, line := range fixLines(t, state, typ, attempt) {
					if !check(line) {
						t.Errorf("%s (%s %s, attempt %s) runs a command the sudoers rule refuses:\n  %s\n  allowed: %s %s", from, state, typ, attempt, line, path, allowed)
					}
				}
			}
		}
	}
	for name, line := range forgedLines(t) {
		if check(line) {
			t.Errorf("%s: the sudoers rule allows %q", name, line)
		}
	}
}

// TestSudoersParses has visudo check the file, and broken copies of it.
func TestSudoersParses(t *testing.T) {
	visudo := need(t, "visudo", "sudo")
	good := readFile(t, sudoersFile)
	cases := []struct {
		name  string
		old   string
		new   string
		valid bool
	}{
		{name: "as shipped", valid: true},
		{name: "missing colon after the tag", old: "NOPASSWD: RELAY", new: "NOPASSWD RELAY"},
		{name: "lower-case alias name", old: "Cmnd_Alias RELAY_FINGERPRINT_FIX =", new: "Cmnd_Alias relay_fingerprint_fix ="},
		{name: "doubled equals sign", old: "nagios ALL =", new: "nagios ALL = ="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := good
			if tc.old != "" {
				s = replaceOnce(t, s, tc.old, tc.new)
			}
			path := filepath.Join(t.TempDir(), "check_relay_fingerprint")
			writeFile(t, path, s, 0o440)
			r := run(t, visudo, "-cf", path)
			if tc.valid && (r.code != 0 || !strings.Contains(r.stdout, "parsed OK")) {
				t.Errorf("visudo -cf: want exit 0 and \"parsed OK\", got %s", r)
			}
			if !tc.valid && r.code == 0 {
				t.Errorf("visudo -cf on a broken copy (%q for %q): want a non-zero exit, got %s", tc.new, tc.old, r)
			}
		})
	}
}

// TestSudoAllowsOnlyTheFix asks sudo itself (sudo -l -U nagios COMMAND)
// which command lines the rule allows. sudo reads only /etc/sudoers, so
// the test runs it in a private mount namespace (unshare -m) where the
// contrib file is bind-mounted over /etc/sudoers and a tmpfs over the
// plugin directory holds a stand-in plugin: nothing outside the namespace
// changes. It needs root, unshare and the nagios user; without them it is
// skipped (the rule's regular expression is still checked by
// TestSudoersRuleMatchesEventHandlers).
func TestSudoAllowsOnlyTheFix(t *testing.T) {
	sudo := need(t, "sudo", "sudo")
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private mount namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare not found (util-linux)")
	}
	if _, err := user.Lookup("nagios"); err != nil {
		t.Skip("no nagios user (nagios4-core or icinga2-common creates it)")
	}
	path, _ := sudoersRule(t)
	pluginDir := filepath.Dir(path)
	if fi, err := os.Stat(pluginDir); err != nil || !fi.IsDir() {
		t.Skipf("%s does not exist: nothing to mount the stand-in plugin on", pluginDir)
	}

	rules := filepath.Join(t.TempDir(), "sudoers")
	writeFile(t, rules, readFile(t, sudoersFile), 0o440)
	// $1 the rules, $2 the plugin directory, $3 the plugin, then the command.
	const script = `set -e
mount --bind "$1" /etc/sudoers
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$2"
cp /bin/true "$3"
shift 3
exec "$SUDO" -l -U nagios "$@"`
	allows := func(t *testing.T, line string) (bool, result) {
		t.Helper()
		args := append([]string{"-m", "sh", "-c", script, "sh", rules, pluginDir, path}, strings.Fields(line)...)
		r := run(t, "env", append([]string{"SUDO=" + sudo, unshare}, args...)...)
		return r.code == 0, r
	}

	// The namespace must work at all: sudo must allow the rule's own example.
	var sample string
	for _, l := range fixLines(t, "CRITICAL", "HARD", "3") {
		sample = l
		break
	}
	if ok, r := allows(t, sample); !ok {
		if strings.Contains(r.stderr, "mount") || strings.Contains(r.stderr, "unshare") {
			t.Skipf("cannot make a private mount namespace here: %s", r)
		}
		t.Fatalf("sudo -l -U nagios %s: want allowed (exit 0), got %s", sample, r)
	}

	t.Run("event handlers", func(t *testing.T) {
		for _, state := range eventStates {
			for _, typ := range eventTypes {
				for from, line := range fixLines(t, state, typ, "2") {
					if ok, r := allows(t, line); !ok {
						t.Errorf("%s (%s %s): sudo refuses %q: %s", from, state, typ, line, r)
					}
				}
			}
		}
	})
	t.Run("forged", func(t *testing.T) {
		for name, line := range forgedLines(t) {
			if ok, r := allows(t, line); ok {
				t.Errorf("%s: sudo allows %q: %s", name, line, r)
			}
		}
	})
}
