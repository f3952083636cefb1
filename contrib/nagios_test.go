package contrib

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
)

// nagiosConfig writes a Nagios main configuration under dir around the
// object file contrib, every path in dir, with extra lines appended, and
// returns its path.
func nagiosConfig(t *testing.T, dir, contrib string, extra ...string) string {
	t.Helper()
	u, g := runAs(t)
	if err := os.MkdirAll(filepath.Join(dir, "checkresults"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "objects.cfg"), readFile(t, filepath.Join(fixtures, "nagios/objects.cfg")), 0o644)
	writeFile(t, filepath.Join(dir, "resource.cfg"), "$USER1$="+user1+"\n", 0o644)
	main := strings.NewReplacer("@DIR@", dir, "@CONTRIB@", contrib, "@USER@", u, "@GROUP@", g).
		Replace(readFile(t, filepath.Join(fixtures, "nagios/nagios.cfg")))
	for _, e := range extra {
		main += e + "\n"
	}
	path := filepath.Join(dir, "nagios.cfg")
	writeFile(t, path, main, 0o644)
	return path
}

// debianNagios copies Debian's Nagios 4 configuration (/etc/nagios4 and
// the /etc/nagios-plugins/config its nagios.cfg reads) into a new
// directory, as nagios4-core and monitoring-plugins install it, and
// rewrites only the absolute /etc and /var paths of nagios.cfg to point
// into the copy, so that nagios4 -v reads the copy and nothing else. It
// returns the root of the copy; the files are under root+"/etc/nagios4".
// The copy is traversable by the nagios user Nagios drops to.
func debianNagios(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/etc/nagios4/nagios.cfg"); err != nil {
		msg := "no /etc/nagios4/nagios.cfg (apt-get install nagios4-core)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	root, err := os.MkdirTemp("", "contrib-nagios-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"/etc/nagios4", "/etc/nagios-plugins"} {
		if _, err := os.Stat(src); err != nil {
			continue // monitoring-plugins not installed: nagios.cfg's cfg_dir is then missing too
		}
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if r := run(t, "cp", "-a", src, filepath.Join(root, "etc")); r.code != 0 {
			t.Fatalf("cp -a %s: %s", src, r)
		}
	}
	cfgPath := filepath.Join(root, "etc/nagios4/nagios.cfg")
	var out []string
	for _, line := range strings.Split(readFile(t, cfgPath), "\n") {
		key, val, ok := strings.Cut(line, "=")
		if ok && !strings.HasPrefix(key, "#") && (strings.HasPrefix(val, "/etc/") || strings.HasPrefix(val, "/var/")) {
			if strings.HasPrefix(val, "/var/") {
				dir := filepath.Join(root, filepath.Dir(val))
				if strings.HasSuffix(key, "_path") {
					dir = filepath.Join(root, val)
				}
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				// Owned as the package makes the real one (the spool
				// directory is the nagios user's).
				if fi, err := os.Stat(strings.TrimPrefix(dir, root)); err == nil {
					if st, ok := fi.Sys().(*syscall.Stat_t); ok {
						if err := os.Chown(dir, int(st.Uid), int(st.Gid)); err != nil && os.Geteuid() == 0 {
							t.Fatal(err)
						}
					}
				}
			}
			line = key + "=" + filepath.Join(root, val)
		}
		out = append(out, line)
	}
	writeFile(t, cfgPath, strings.Join(out, "\n"), 0o644)
	return root
}

// nagiosVerdict is what nagios4 -v said.
type nagiosVerdict struct {
	services int // "Checked N services."
	r        result
}

var checkedServices = regexp.MustCompile(`(?m)^\s*Checked (\d+) services\.$`)

// nagiosVerify runs nagios4 -v on the Debian copy at root and requires a
// clean verdict: exit 0, "Total Warnings: 0", "Total Errors:   0" and no
// line with "Warning" or "Error" at all (Nagios prints some warnings, such
// as a duplicate service, without counting them).
func nagiosVerify(t *testing.T, nagios4, root string) nagiosVerdict {
	t.Helper()
	r := run(t, nagios4, "-v", filepath.Join(root, "etc/nagios4/nagios.cfg"))
	v := nagiosVerdict{r: r}
	if m := checkedServices.FindStringSubmatch(r.stdout); m != nil {
		v.services, _ = strconv.Atoi(m[1])
	}
	if r.code != 0 || !strings.Contains(r.stdout, "Total Warnings: 0\n") || !strings.Contains(r.stdout, "Total Errors:   0\n") || v.services == 0 {
		t.Fatalf("nagios4 -v: want exit 0, no warning and no error, got %s", r)
	}
	for _, line := range strings.Split(r.stdout+r.stderr, "\n") {
		if (strings.Contains(line, "Warning") || strings.Contains(line, "Error")) && !strings.HasPrefix(line, "Total ") {
			t.Fatalf("nagios4 -v: %q\n%s", line, r)
		}
	}
	return v
}

// joinHostgroups adds the host localhost of Debian's sample configuration
// to groups, as an admin adds a receiver to the example's host groups.
func joinHostgroups(t *testing.T, root string, groups ...string) {
	t.Helper()
	path := filepath.Join(root, "etc/nagios4/objects/localhost.cfg")
	const host = "    host_name               localhost\n"
	s := readFile(t, path)
	i := strings.Index(s, host)
	if i < 0 {
		t.Fatalf("%s: no %q", path, host)
	}
	i += len(host)
	writeFile(t, path, s[:i]+"    hostgroups              "+strings.Join(groups, ",")+"\n"+s[i:], 0o644)
}

var exampleHostgroups = []string{"relay-fingerprint-receivers", "relay-fingerprint-nrpe-receivers", "relay-fingerprint-nrpe-relays"}

// TestNagios4Validates installs the contrib files as the README says
// (copied into the conf.d of Debian's own Nagios 4 configuration, unedited)
// and has nagios4 -v judge them: no error and no warning, with the commands
// file alone, with the example file too, and once localhost is added to the
// example's host groups (then its three services exist). Broken copies must
// fail, each for the reason given; among them the example services on a
// host that does not exist, the mistake of the file shipped before.
func TestNagios4Validates(t *testing.T) {
	nagios4 := need(t, "nagios4", "nagios4-core")
	base := nagiosVerify(t, nagios4, debianNagios(t)).services

	install := func(t *testing.T, files map[string]string) string {
		t.Helper()
		root := debianNagios(t)
		for name, content := range files {
			writeFile(t, filepath.Join(root, "etc/nagios4/conf.d", filepath.Base(name)), content, 0o644)
		}
		return root
	}
	main, example := readFile(t, nagiosFile), readFile(t, exampleFile)

	t.Run("commands file alone", func(t *testing.T) {
		t.Parallel()
		if v := nagiosVerify(t, nagios4, install(t, map[string]string{nagiosFile: main})); v.services != base {
			t.Errorf("want the %d services of Debian's sample configuration, got %d", base, v.services)
		}
	})
	t.Run("with the example file", func(t *testing.T) {
		t.Parallel()
		if v := nagiosVerify(t, nagios4, install(t, map[string]string{nagiosFile: main, exampleFile: example})); v.services != base {
			t.Errorf("the example's host groups are empty: want %d services, got %d", base, v.services)
		}
	})
	t.Run("with hosts in the example's host groups", func(t *testing.T) {
		t.Parallel()
		root := install(t, map[string]string{nagiosFile: main, exampleFile: example})
		joinHostgroups(t, root, exampleHostgroups...)
		if v := nagiosVerify(t, nagios4, root); v.services != base+3 {
			t.Errorf("want %d services (Debian's and the example's three), got %d", base+3, v.services)
		}
	})

	cases := []struct {
		name    string
		file    string // the file broken
		old     string
		new     string
		wantErr string
	}{
		{
			name:    "example services on hosts that do not exist",
			file:    exampleFile,
			old:     "    hostgroup_name          relay-fingerprint-nrpe-receivers\n",
			new:     "    host_name               mx2\n",
			wantErr: "Could not find any host matching 'mx2'",
		},
		{
			name:    "typo in a service directive",
			file:    nagiosFile,
			old:     "event_handler_enabled   1",
			new:     "event_handler_enable    1",
			wantErr: "Invalid service object directive 'event_handler_enable'",
		},
		{
			name:    "typo in a command directive",
			file:    nagiosFile,
			old:     "command_name    fix_relay_fingerprint\n",
			new:     "command_nam     fix_relay_fingerprint\n",
			wantErr: "Invalid command object directive 'command_nam'",
		},
		{
			name:    "unknown event handler",
			file:    exampleFile,
			old:     "event_handler           fix_relay_fingerprint!",
			new:     "event_handler           fix_relay_fingerprnt!",
			wantErr: "Event handler command 'fix_relay_fingerprnt!cliff.example.org' specified in service 'relay certificate cliff' for host 'localhost' not defined anywhere",
		},
		{
			name:    "unknown check command",
			file:    exampleFile,
			old:     "check_command           check_nrpe_relay_fingerprint_client\n",
			new:     "check_command           check_nrpe_relay_fingerprint_clien\n",
			wantErr: "Service check command 'check_nrpe_relay_fingerprint_clien' specified in service 'relay client certificates' for host 'localhost' not defined anywhere",
		},
		{
			name:    "not a number",
			file:    nagiosFile,
			old:     "max_check_attempts      3",
			new:     "max_check_attempts      three",
			wantErr: "Invalid max_attempts",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{nagiosFile: main, exampleFile: example}
			files[tc.file] = replaceOnce(t, files[tc.file], tc.old, tc.new)
			root := install(t, files)
			joinHostgroups(t, root, exampleHostgroups...)
			r := run(t, nagios4, "-v", filepath.Join(root, "etc/nagios4/nagios.cfg"))
			if r.code == 0 || !strings.Contains(r.stdout+r.stderr, tc.wantErr) {
				t.Fatalf("nagios4 -v on a broken copy: want a non-zero exit and %q, got %s", tc.wantErr, r)
			}
		})
	}
}

// serviceStatus returns the directives of the servicestatus block of
// service in a Nagios status.dat, or nil.
func serviceStatus(statusDat, service string) map[string]string {
	for _, block := range strings.Split(statusDat, "servicestatus {\n")[1:] {
		block, _, _ = strings.Cut(block, "\n\t}")
		fields := map[string]string{}
		for _, line := range strings.Split(block, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
			fields[k] = v
		}
		if fields["service_description"] == service {
			return fields
		}
	}
	return nil
}

// TestNagios4EventHandlerFixesRenewal runs the whole loop for real: a
// Postfix relay (its smtpd presents the certificate it relays with), a
// Postfix receiver that lists it, and a Nagios 4 that checks the relay with
// the contrib check command and service template every second, with an
// event handler that runs the plugin's --fix. The relay renews its
// certificate with a new key; the service must go CRITICAL (HARD), the
// event handler must fix the receiver's table, and the service must come
// back to OK, with the receiver relaying for the new certificate (swaks).
//
// The event handler is the contrib one but for --postconf DIR (the
// throwaway receiver's), --fix-trust any (the relay is self-signed) and no
// sudo (the test runs Nagios as root, as postfixtest needs). The contrib
// example services are left out: they would probe cliff.example.org and fix
// the system's Postfix.
func TestNagios4EventHandlerFixesRenewal(t *testing.T) {
	nagios4 := need(t, "nagios4", "nagios4-core")
	need(t, "swaks", "swaks")
	bin := plugin(t)
	const cn = "relay.example.test"
	expiry := time.Now().Add(90 * 24 * time.Hour) // well clear of -w and -c
	old := postfixtest.NewClientCert(t, "", cn, nil, expiry)
	relay := postfixtest.Start(t, postfixtest.Options{ServerCert: old})
	receiver := postfixtest.Start(t, postfixtest.Options{})
	receiver.SetTable(t, []byte("# relays\n"+old.PubkeyFingerprint(receiver.Digest)+" "+cn+"\n"))
	if code, tr := receiver.Swaks(t, old, false); code != 250 {
		t.Fatalf("before the renewal the receiver must relay for the relay's certificate, got %d:\n%s", code, tr)
	}

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The contrib commands and template (the example services would probe
	// cliff.example.org and fix the system's Postfix).
	contrib := filepath.Join(dir, "check_relay_fingerprint.cfg")
	writeFile(t, contrib, readFile(t, nagiosFile), 0o644)
	fixLog := filepath.Join(dir, "fix.log")
	loop := filepath.Join(dir, "loop.cfg")
	writeFile(t, loop, `define command {
    command_name    test_fix_relay_fingerprint
    command_line    $USER1$/check_relay_fingerprint -H $ARG1$ --postconf $ARG2$ --fix --fix-trust any --reload --event-state $SERVICESTATE$ --event-state-type $SERVICESTATETYPE$ --event-attempt $SERVICEATTEMPT$ >> `+fixLog+` 2>&1
}
define service {
    use                     relay-fingerprint-service
    host_name               mx1
    service_description     relay loop
    check_command           check_relay_fingerprint_postconf!`+relay.SMTPAddr+`!`+receiver.ConfigDir+`
    event_handler           test_fix_relay_fingerprint!`+relay.SMTPAddr+`!`+receiver.ConfigDir+`
    check_interval          1
    retry_interval          1
    max_check_attempts      2
}
`, 0o644)
	cfg := nagiosConfig(t, dir, contrib,
		"cfg_file="+loop,
		"query_socket="+filepath.Join(dir, "nagios.qh"),
		"debug_file="+filepath.Join(dir, "nagios.debug"),
		"log_archive_path="+dir,
		"interval_length=1",
		"status_update_interval=1",
		"check_result_reaper_frequency=1",
		"service_inter_check_delay_method=n",
		"host_inter_check_delay_method=n",
		"execute_host_checks=0",
		"enable_event_handlers=1",
		"log_event_handlers=1",
		"log_service_retries=1",
		"log_initial_states=1",
	)
	writeFile(t, filepath.Join(dir, "resource.cfg"), "$USER1$="+filepath.Dir(bin)+"\n", 0o644)
	if r := run(t, nagios4, "-v", cfg); r.code != 0 {
		t.Fatalf("nagios4 -v: %s", r)
	}

	nagiosLog := filepath.Join(dir, "nagios.log")
	d := startDaemon(t, filepath.Join(dir, "nagios.out"), nagios4, cfg)
	status := func() map[string]string {
		b, _ := os.ReadFile(filepath.Join(dir, "status.dat"))
		return serviceStatus(string(b), "relay loop")
	}
	explain := func() string {
		log, _ := os.ReadFile(nagiosLog)
		fix, _ := os.ReadFile(fixLog)
		return fmt.Sprintf("status: %v\nnagios.log:\n%s\nfix.log:\n%s", status(), log, fix)
	}
	waitFor(t, d, "first check", func() bool {
		s := status()
		return s != nil && s["has_been_checked"] == "1"
	}, explain)
	if s := status(); s["current_state"] != "0" {
		t.Fatalf("before the renewal: want the service OK, got state %s: %s\n%s", s["current_state"], s["plugin_output"], explain())
	}

	// The renewal: a new certificate with a new key on the relay's smtpd.
	renewed := postfixtest.NewClientCert(t, "", cn, nil, expiry)
	writeFile(t, filepath.Join(relay.ConfigDir, "smtpd.crt"), string(renewed.CertPEM), 0o644)
	writeFile(t, filepath.Join(relay.ConfigDir, "smtpd.key"), string(renewed.KeyPEM), 0o600)
	relay.Reload(t)
	if code, tr := receiver.Swaks(t, renewed, false); code != 454 {
		t.Fatalf("after the renewal the receiver must refuse the new certificate (454) until fixed, got %d:\n%s", code, tr)
	}

	// Nagios logs every state change; status.dat (removed when Nagios
	// stops) has the current state.
	alert := "SERVICE ALERT: mx1;relay loop;"
	waitFor(t, d, "CRITICAL, then OK again", func() bool {
		log, _ := os.ReadFile(nagiosLog)
		_, after, crit := strings.Cut(string(log), alert+"CRITICAL;HARD;")
		return crit && strings.Contains(after, alert+"OK;HARD;") && status()["current_state"] == "0"
	}, explain)
	d.stop()

	log := readFile(t, nagiosLog)
	for _, want := range []string{
		alert + "CRITICAL;SOFT;1;",
		alert + "CRITICAL;HARD;2;",
		"SERVICE EVENT HANDLER: mx1;relay loop;CRITICAL;HARD;2;test_fix_relay_fingerprint!",
		alert + "OK;HARD;",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("nagios.log lacks %q\n%s", want, explain())
		}
	}
	table := readFile(t, receiver.TablePath)
	if want := "# relays\n" + renewed.PubkeyFingerprint(receiver.Digest) + " " + cn + "\n"; table != want {
		t.Errorf("receiver's table after the fix:\n%s\nwant:\n%s\n%s", table, want, explain())
	}
	if code, tr := receiver.Swaks(t, renewed, false); code != 250 {
		t.Errorf("after the fix the receiver must relay for the renewed certificate, got %d:\n%s\n%s", code, tr, explain())
	}
}

// TestNagios4LogsFixFailure runs a real Nagios 4 as the nagios user, with
// the contrib fix_relay_fingerprint event handler unedited on a service
// that fails, where sudo has no rule for nagios (the sudoers file not
// installed). Nagios 4 logs an event handler's standard output and error
// only when it exits non-zero, and then whatever log_event_handlers says
// (it is off here): the log must carry sudo's refusal and the command's
// hint naming the sudoers file. $USER1$ is an empty directory, so nothing
// could run as root even where a rule exists.
func TestNagios4LogsFixFailure(t *testing.T) {
	nagios4 := need(t, "nagios4", "nagios4-core")
	need(t, "sudo", "sudo")
	if os.Geteuid() != 0 {
		t.Skip("needs root to start Nagios as the nagios user")
	}
	nagiosUser, err := user.Lookup("nagios")
	if err != nil {
		t.Skip("no nagios user (nagios4-core creates it)")
	}
	dir, err := os.MkdirTemp("", "contrib-nagios-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	uid, _ := strconv.Atoi(nagiosUser.Uid)
	gid, _ := strconv.Atoi(nagiosUser.Gid)
	empty := filepath.Join(dir, "plugins")
	for _, d := range []string{dir, filepath.Join(dir, "checkresults"), empty} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}

	contrib := filepath.Join(dir, "check_relay_fingerprint.cfg")
	writeFile(t, contrib, readFile(t, nagiosFile), 0o644)
	failing := filepath.Join(dir, "failing.cfg")
	writeFile(t, failing, `define command {
    command_name    always_failing
    command_line    /bin/false
}
define service {
    use                     relay-fingerprint-service
    host_name               mx1
    service_description     relay certificate cliff
    check_command           always_failing
    event_handler           fix_relay_fingerprint!cliff.example.org
    check_interval          1
    retry_interval          1
}
`, 0o644)
	cfg := nagiosConfig(t, dir, contrib,
		"cfg_file="+failing,
		"query_socket="+filepath.Join(dir, "nagios.qh"),
		"log_archive_path="+dir,
		"interval_length=1",
		"check_result_reaper_frequency=1",
		"service_inter_check_delay_method=n",
		"execute_host_checks=0",
		"enable_event_handlers=1",
		"log_event_handlers=0",
	)
	u, g := runAs(t)
	main := readFile(t, cfg)
	main = replaceOnce(t, main, "\nnagios_user="+u+"\n", "\nnagios_user=nagios\n")
	main = replaceOnce(t, main, "\nnagios_group="+g+"\n", "\nnagios_group="+groupName(t, nagiosUser.Gid)+"\n")
	writeFile(t, cfg, main, 0o644)
	writeFile(t, filepath.Join(dir, "resource.cfg"), "$USER1$="+empty+"\n", 0o644)
	if r := run(t, nagios4, "-v", cfg); r.code != 0 {
		t.Fatalf("nagios4 -v: %s", r)
	}

	var hint string
	for _, l := range fixLines(t, "CRITICAL", "HARD", "1") {
		if strings.HasPrefix(l.hint, "fix_relay_fingerprint failed for relay certificate cliff on mx1: ") {
			hint = l.hint
		}
	}
	if hint == "" {
		t.Fatal("fix_relay_fingerprint has no hint")
	}
	nagiosLog := filepath.Join(dir, "nagios.log")
	want := []string{
		"is a non-check helper but exited with return code 1",
		"wproc:   stderr line 01: sudo: a password is required",
		"wproc:   stdout line 01: " + hint,
	}
	d := startDaemon(t, filepath.Join(dir, "nagios.out"), nagios4, cfg)
	logged := func() string { b, _ := os.ReadFile(nagiosLog); return string(b) }
	waitFor(t, d, "the failing event handler in nagios.log", func() bool {
		return strings.Contains(logged(), want[len(want)-1])
	}, logged)
	d.stop()
	log := logged()
	for _, w := range want {
		if !strings.Contains(log, w) {
			t.Errorf("nagios.log lacks %q:\n%s", w, log)
		}
	}
	if strings.Contains(log, "SERVICE EVENT HANDLER:") {
		t.Errorf("log_event_handlers=0, yet nagios.log has SERVICE EVENT HANDLER lines:\n%s", log)
	}
}

// groupName returns the name of group gid.
func groupName(t *testing.T, gid string) string {
	t.Helper()
	g, err := user.LookupGroupId(gid)
	if err != nil {
		t.Fatal(err)
	}
	return g.Name
}
