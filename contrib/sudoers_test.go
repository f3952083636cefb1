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
	exampleFile = "nagios/check_relay_fingerprint-example.cfg"
	nrpeFile    = "nagios/nrpe.cfg"
	// sudoPrefix starts every event-handler command line that runs the fix.
	sudoPrefix = "/usr/bin/sudo -n "
	// user1 is $USER1$ of Debian's resource.cfg, the plugin directory.
	user1 = "/usr/lib/nagios/plugins"
)

// fixVariant is a ready-made event handler that runs the fix through sudo,
// and the sudoers file that allows exactly its command line.
type fixVariant struct {
	command string   // the Nagios command_name
	args    []string // $ARG1$, ... as the comments of the contrib files give them
	sudoers string   // the file under contrib/
}

// fixVariants are every Nagios command that runs "sudo -n":
// TestFixVariantsAreAllListed keeps this list complete.
var fixVariants = []fixVariant{
	{"fix_relay_fingerprint", []string{"cliff.example.org"}, sudoersFile},
	{"fix_relay_fingerprint_config_dir", []string{"cliff.example.org", "/etc/postfix-out"}, "sudoers.d/check_relay_fingerprint-config-dir"},
	{"fix_relay_fingerprint_trust_any", []string{"cliff.example.org"}, "sudoers.d/check_relay_fingerprint-trust-any"},
}

// sudoersRule returns the command the sudoers file allows and the regular
// expression its arguments must match, compiled as POSIX ERE as sudo does.
// The file must define one Cmnd_Alias and grant it to nagios.
func sudoersRule(t *testing.T, file string) (string, *regexp.Regexp) {
	t.Helper()
	const head = "Cmnd_Alias "
	var path, args, alias string
	for _, line := range strings.Split(readFile(t, file), "\n") {
		rest, ok := strings.CutPrefix(line, head)
		if !ok {
			continue
		}
		if alias != "" {
			t.Fatalf("%s: more than one Cmnd_Alias", file)
		}
		var def string
		alias, def, _ = strings.Cut(rest, " = ")
		path, args, _ = strings.Cut(def, " ")
	}
	if alias == "" {
		t.Fatalf("%s: no line starts with %q", file, head)
	}
	if grant := "\nnagios ALL = (root) NOPASSWD: " + alias + "\n"; !strings.Contains(readFile(t, file), grant) {
		t.Fatalf("%s: no line %q", file, strings.TrimSpace(grant))
	}
	if !strings.HasPrefix(args, "^") || !strings.HasSuffix(args, "$") {
		t.Fatalf("%s: the arguments %q are not a regular expression anchored with ^ and $", file, args)
	}
	re, err := regexp.CompilePOSIX(args)
	if err != nil {
		t.Fatalf("%s: arguments %q: %v", file, args, err)
	}
	return path, re
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
			k, v, _ := strings.Cut(uncomment(line), " ")
			cur[k] = strings.TrimSpace(v)
		}
	}
	return defs
}

// uncomment does to a line of a Nagios object file what Nagios does: a
// ";" starts a comment, "\\;" is a literal ";".
func uncomment(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] == ';' && (i == 0 || line[i-1] != '\\') {
			line = strings.TrimRight(line[:i], " \t")
			break
		}
	}
	return strings.ReplaceAll(line, `\;`, ";")
}

// nagiosMacro matches what Nagios and NRPE replace: "$$" (a literal "$")
// and $NAME$.
var nagiosMacro = regexp.MustCompile(`\$\$|\$[A-Z0-9_]+\$`)

// expand replaces Nagios macros; one it does not know fails t.
func expand(t *testing.T, line string, macros map[string]string) string {
	t.Helper()
	return nagiosMacro.ReplaceAllStringFunc(line, func(m string) string {
		if m == "$$" {
			return "$"
		}
		v, ok := macros[strings.Trim(m, "$")]
		if !ok {
			t.Fatalf("unknown macro %s in %q", m, line)
		}
		return v
	})
}

// fallback is what follows the sudo command in a fix command line: on
// failure, one line on standard output, and the failing exit status kept
// (Nagios logs an event handler's output only when it exits non-zero).
var fallback = regexp.MustCompile(`^ \|\| \{ rc=\$\?; echo "([^"$\x60\\]*)"; exit \$rc; \}$`)

// splitFix splits an expanded fix command line into the command sudo runs
// (after "sudo -n") and the hint its fallback prints; from names it.
func splitFix(t *testing.T, from, line string) (cmd, hint string) {
	t.Helper()
	rest, ok := strings.CutPrefix(line, sudoPrefix)
	if !ok {
		t.Fatalf("%s: %q does not start with %q", from, line, sudoPrefix)
	}
	i := strings.Index(rest, " || ")
	if i < 0 {
		t.Fatalf("%s: %q has no fallback after \" || \"", from, line)
	}
	m := fallback.FindStringSubmatch(rest[i:])
	if m == nil {
		t.Fatalf("%s: fallback %q is not %s", from, rest[i:], fallback)
	}
	return rest[:i], m[1]
}

// fixLine is an expanded fix command line and the sudoers file that must
// allow it.
type fixLine struct {
	line    string // as Nagios or NRPE hands it to /bin/sh -c
	cmd     string // what sudo runs
	hint    string
	sudoers string
}

// fixLines returns, by where they come from, the command lines of every
// fix variant of the Nagios file and of the NRPE fix command for an event
// in state, of type typ, at attempt.
func fixLines(t *testing.T, state, typ, attempt string) map[string]fixLine {
	t.Helper()
	lines := map[string]fixLine{}
	commands := map[string]string{}
	for _, c := range nagiosDefines(readFile(t, nagiosFile), "command") {
		commands[c["command_name"]] = c["command_line"]
	}
	for _, v := range fixVariants {
		line, ok := commands[v.command]
		if !ok {
			t.Fatalf("%s: no command %s", nagiosFile, v.command)
		}
		macros := map[string]string{"USER1": user1, "HOSTADDRESS": "192.0.2.25",
			"HOSTNAME": "mx1", "SERVICEDESC": "relay certificate cliff",
			"SERVICESTATE": state, "SERVICESTATETYPE": typ, "SERVICEATTEMPT": attempt}
		for i, a := range v.args {
			macros[fmt.Sprintf("ARG%d", i+1)] = a
		}
		from := nagiosFile + " " + v.command
		l := expand(t, line, macros)
		cmd, hint := splitFix(t, from, l)
		lines[from] = fixLine{line: l, cmd: cmd, hint: hint, sudoers: v.sudoers}
	}
	found := false
	for _, line := range strings.Split(readFile(t, nrpeFile), "\n") {
		if !strings.HasPrefix(line, "command[") || !strings.Contains(line, sudoPrefix) {
			continue
		}
		name, c, _ := strings.Cut(line, "=")
		macros := map[string]string{"ARG1": state, "ARG2": typ, "ARG3": attempt}
		l := expand(t, c, macros)
		cmd, hint := splitFix(t, nrpeFile+" "+name, l)
		lines[nrpeFile+" "+name] = fixLine{line: l, cmd: cmd, hint: hint, sudoers: sudoersFile}
		found = true
	}
	if !found {
		t.Fatalf("%s: no command runs %q", nrpeFile, sudoPrefix)
	}
	return lines
}

// TestFixVariantsAreAllListed: every Nagios command that runs sudo is a
// fix variant (so the tests below see it), and every event handler of the
// example services is one of the commands.
func TestFixVariantsAreAllListed(t *testing.T) {
	t.Parallel()
	listed := map[string]bool{}
	for _, v := range fixVariants {
		listed[v.command] = true
	}
	commands := map[string]bool{}
	for _, c := range nagiosDefines(readFile(t, nagiosFile), "command") {
		commands[c["command_name"]] = true
		if strings.Contains(c["command_line"], "sudo") && !listed[c["command_name"]] {
			t.Errorf("%s: %s runs sudo but is not in fixVariants", nagiosFile, c["command_name"])
		}
	}
	for _, s := range nagiosDefines(readFile(t, exampleFile), "service") {
		if h := s["event_handler"]; h != "" {
			if name, _, _ := strings.Cut(h, "!"); !commands[name] {
				t.Errorf("%s: event_handler %s: no such command in %s", exampleFile, name, nagiosFile)
			}
		}
	}
}

// forgedLines are command lines (after "sudo -n") the sudoers rule of
// good's variant must refuse: what someone who can run commands as
// nagios, or forge NRPE arguments, might try.
func forgedLines(t *testing.T, from string) map[string]string {
	t.Helper()
	good := fixLines(t, "CRITICAL", "HARD", "3")[from].cmd
	smuggled := func(state, typ, attempt string) string {
		return fixLines(t, state, typ, attempt)[from].cmd
	}
	forged := map[string]string{
		"a flag appended":              good + " --fix-to /etc/passwd",
		"a flag in the state":          smuggled("CRITICAL --fix-to /etc/passwd", "HARD", "3"),
		"a flag in the state type":     smuggled("CRITICAL", "HARD --table /etc/shadow", "3"),
		"a flag in the attempt":        smuggled("CRITICAL", "HARD", "3 --fix-trust any"),
		"trust anything (again)":       strings.Replace(good, " --event-state ", " --fix-trust any --event-state ", 1),
		"another relay":                strings.Replace(good, "-H cliff.example.org", "-H evil.example.net", 1),
		"a dot that is not a dot":      strings.Replace(good, "-H cliff.example.org", "-H cliffXexample.org", 1),
		"a second relay":               strings.Replace(good, "-H cliff.example.org", "-H cliff.example.org -H evil.example.net", 1),
		"another postconf directory":   strings.Replace(good, " --fix ", " /tmp/evil --fix ", 1),
		"an unknown state":             smuggled("PENDING", "HARD", "3"),
		"an attempt that is no number": smuggled("CRITICAL", "HARD", "three"),
		"another program":              "/bin/sh -c id",
	}
	if strings.Contains(good, "/etc/postfix-out") {
		forged["a lookalike postconf directory"] = strings.Replace(good, "/etc/postfix-out", "/etc/postfix-outX", 1)
		forged["a postconf directory below"] = strings.Replace(good, "/etc/postfix-out", "/etc/postfix-out/../../tmp", 1)
	}
	for name, l := range forged {
		if l == good {
			t.Fatalf("forgery %q changed nothing in %q", name, good)
		}
	}
	return forged
}

var (
	eventStates = []string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}
	eventTypes  = []string{"SOFT", "HARD"}
	attempts    = []string{"1", "3", "10"}
)

// sudoersFiles are the sudoers files of the fix variants.
func sudoersFiles() []string {
	var files []string
	for _, v := range fixVariants {
		files = append(files, v.sudoers)
	}
	return files
}

// TestSudoersRuleMatchesEventHandlers checks each file's regular
// expression (with Go's POSIX ERE, as sudo uses POSIX ERE) against the
// command lines of its event handlers for every state, against those of
// the other variants (installing one file allows one variant), and against
// forged ones.
func TestSudoersRuleMatchesEventHandlers(t *testing.T) {
	t.Parallel()
	allows := func(file, line string) bool {
		path, allowed := sudoersRule(t, file)
		p, args, _ := strings.Cut(line, " ")
		return p == path && allowed.MatchString(args)
	}
	for _, state := range eventStates {
		for _, typ := range eventTypes {
			for _, attempt := range attempts {
				for from, l := range fixLines(t, state, typ, attempt) {
					for _, file := range sudoersFiles() {
						if got, want := allows(file, l.cmd), file == l.sudoers; got != want {
							t.Errorf("%s (%s %s, attempt %s) runs\n  %s\n%s allows it: %v, want %v", from, state, typ, attempt, l.cmd, file, got, want)
						}
					}
				}
			}
		}
	}
	for from, l := range fixLines(t, "CRITICAL", "HARD", "3") {
		for name, line := range forgedLines(t, from) {
			if allows(l.sudoers, line) {
				t.Errorf("%s, %s: %s allows %q", from, name, l.sudoers, line)
			}
		}
	}
}

// TestFixFailureSaysWhatToDo runs each fix command line as Nagios and NRPE
// do (/bin/sh -c, as the nagios user) where sudo has no rule for it: the
// plugin never runs, sudo says "a password is required" on standard
// error, and the fallback must print one line naming the sudoers file to
// install and keep sudo's failing exit status, which is what makes Nagios
// log the output (TestNagios4LogsFixFailure shows it in a real Nagios).
// The plugin path is an empty directory, so nothing can run as root even
// where a rule exists.
func TestFixFailureSaysWhatToDo(t *testing.T) {
	need(t, "sudo", "sudo")
	runuser := need(t, "runuser", "util-linux")
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a command as nagios")
	}
	if _, err := user.Lookup("nagios"); err != nil {
		t.Skip("no nagios user (nagios4-core or icinga2-common creates it)")
	}
	empty := t.TempDir()
	for from, l := range fixLines(t, "CRITICAL", "HARD", "3") {
		line := strings.ReplaceAll(l.line, user1+"/", empty+"/")
		r := run(t, runuser, "-u", "nagios", "--", "/bin/sh", "-c", line)
		if r.code != 1 || !strings.Contains(r.stderr, "sudo: a password is required") {
			t.Errorf("%s: want sudo to refuse (exit 1, \"a password is required\"), got %s", from, r)
			continue
		}
		if r.stdout != l.hint+"\n" {
			t.Errorf("%s: want the hint alone on standard output, got %q", from, r.stdout)
		}
		if file := "contrib/" + l.sudoers; !strings.Contains(l.hint, "install "+file) {
			t.Errorf("%s: the hint %q does not say to install %s", from, l.hint, file)
		}
	}
}

// TestSudoersParses has visudo check each file, all of them together
// (their aliases must differ), and broken copies of the first.
func TestSudoersParses(t *testing.T) {
	visudo := need(t, "visudo", "sudo")
	good := readFile(t, sudoersFile)
	var all strings.Builder
	for _, f := range sudoersFiles() {
		all.WriteString(readFile(t, f))
	}
	cases := []struct {
		name    string
		content string
		old     string
		new     string
		valid   bool
	}{
		{name: "as shipped", content: good, valid: true},
		{name: "config-dir as shipped", content: readFile(t, fixVariants[1].sudoers), valid: true},
		{name: "trust-any as shipped", content: readFile(t, fixVariants[2].sudoers), valid: true},
		{name: "all installed together", content: all.String(), valid: true},
		{name: "missing colon after the tag", content: good, old: "NOPASSWD: RELAY", new: "NOPASSWD RELAY"},
		{name: "lower-case alias name", content: good, old: "Cmnd_Alias RELAY_FINGERPRINT_FIX =", new: "Cmnd_Alias relay_fingerprint_fix ="},
		{name: "doubled equals sign", content: good, old: "nagios ALL =", new: "nagios ALL = ="},
		{name: "an alias defined twice", content: all.String() + good},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.content
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
// which command lines each file allows. sudo reads only /etc/sudoers, so
// the test runs it in a private mount namespace (unshare -m) where the
// contrib file is bind-mounted over /etc/sudoers and a tmpfs over the
// plugin directory holds a stand-in plugin: nothing outside the namespace
// changes. It needs root, unshare and the nagios user; without them it is
// skipped (the rules' regular expressions are still checked by
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
	path, _ := sudoersRule(t, sudoersFile)
	pluginDir := filepath.Dir(path)
	if fi, err := os.Stat(pluginDir); err != nil || !fi.IsDir() {
		t.Skipf("%s does not exist: nothing to mount the stand-in plugin on", pluginDir)
	}

	// $1 the rules, $2 the plugin directory, $3 the plugin, then the command.
	const script = `set -e
mount --bind "$1" /etc/sudoers
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$2"
cp /bin/true "$3"
shift 3
exec "$SUDO" -l -U nagios "$@"`
	rules := map[string]string{}
	for _, f := range sudoersFiles() {
		rules[f] = filepath.Join(t.TempDir(), "sudoers")
		writeFile(t, rules[f], readFile(t, f), 0o440)
	}
	allows := func(t *testing.T, file, line string) (bool, result) {
		t.Helper()
		args := append([]string{"-m", "sh", "-c", script, "sh", rules[file], pluginDir, path}, strings.Fields(line)...)
		r := run(t, "env", append([]string{"SUDO=" + sudo, unshare}, args...)...)
		return r.code == 0, r
	}

	// The namespace must work at all: sudo must allow the rule's own example.
	sample := fixLines(t, "CRITICAL", "HARD", "3")[nagiosFile+" fix_relay_fingerprint"].cmd
	if ok, r := allows(t, sudoersFile, sample); !ok {
		if strings.Contains(r.stderr, "mount") || strings.Contains(r.stderr, "unshare") {
			t.Skipf("cannot make a private mount namespace here: %s", r)
		}
		t.Fatalf("sudo -l -U nagios %s: want allowed (exit 0), got %s", sample, r)
	}

	t.Run("event handlers", func(t *testing.T) {
		for _, state := range eventStates {
			for _, typ := range eventTypes {
				for from, l := range fixLines(t, state, typ, "2") {
					if ok, r := allows(t, l.sudoers, l.cmd); !ok {
						t.Errorf("%s (%s %s): %s: sudo refuses %q: %s", from, state, typ, l.sudoers, l.cmd, r)
					}
				}
			}
		}
	})
	t.Run("other variants", func(t *testing.T) {
		for from, l := range fixLines(t, "CRITICAL", "HARD", "2") {
			for _, file := range sudoersFiles() {
				if file == l.sudoers {
					continue
				}
				if ok, r := allows(t, file, l.cmd); ok {
					t.Errorf("%s: %s allows %q, which only %s should: %s", from, file, l.cmd, l.sudoers, r)
				}
			}
		}
	})
	t.Run("forged", func(t *testing.T) {
		for from, l := range fixLines(t, "CRITICAL", "HARD", "3") {
			for name, line := range forgedLines(t, from) {
				if ok, r := allows(t, l.sudoers, line); ok {
					t.Errorf("%s, %s: %s: sudo allows %q: %s", from, name, l.sudoers, line, r)
				}
			}
		}
	})
}
