package contrib

// The renewal files: the certbot deploy hook and the acme.sh reload command
// must hand the plugin the argument list rollover expects (checked with a
// recording stand-in, then parsed by the real plugin), and systemd must
// accept the retry units.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
)

// recorder writes a stand-in plugin that records its arguments, one a
// line, in DIR/args and exits with the code in DIR/code.
func recorder(t *testing.T, dir string, code string) (plugin, args string) {
	t.Helper()
	plugin, args = filepath.Join(dir, "plugin"), filepath.Join(dir, "args")
	writeFile(t, filepath.Join(dir, "code"), code, 0o644)
	writeFile(t, plugin, "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '"+args+"'\nexit $(cat '"+filepath.Join(dir, "code")+"')\n", 0o755)
	return plugin, args
}

func TestRenewalHooks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script string
		env    []string
		code   string // the stand-in's exit code
		want   []string
		exit   int
	}{
		{"certbot, the relay's lineage", "certbot/deploy-hook.sh",
			[]string{"RENEWED_LINEAGE=/etc/letsencrypt/live/relay.example.org", "RELAY_LINEAGE=relay.example.org", "RECEIVERS=mx1.example.net mx2.example.net:587"}, "0",
			[]string{"rollover", "--lineage", "/etc/letsencrypt/live/relay.example.org", "--relay-postconf", "--receiver", "mx1.example.net", "--receiver", "mx2.example.net:587"}, 0},
		{"certbot, another Postfix instance; waiting is no failure", "certbot/deploy-hook.sh",
			[]string{"RENEWED_LINEAGE=/etc/letsencrypt/live/relay.example.org/", "RELAY_LINEAGE=relay.example.org", "RECEIVERS=mx1.example.net", "POSTFIX_CONFIG=/etc/postfix-out"}, "1",
			[]string{"rollover", "--lineage", "/etc/letsencrypt/live/relay.example.org/", "--relay-postconf=/etc/postfix-out", "--receiver", "mx1.example.net"}, 0},
		{"certbot, an error is one", "certbot/deploy-hook.sh",
			[]string{"RENEWED_LINEAGE=/etc/letsencrypt/live/relay.example.org", "RELAY_LINEAGE=relay.example.org"}, "3",
			[]string{"rollover", "--lineage", "/etc/letsencrypt/live/relay.example.org", "--relay-postconf", "--receiver", "mx1.example.net"}, 3},
		{"certbot, another lineage: nothing run", "certbot/deploy-hook.sh",
			[]string{"RENEWED_LINEAGE=/etc/letsencrypt/live/www.example.org", "RELAY_LINEAGE=relay.example.org"}, "0", nil, 0},
		{"certbot, not run by certbot", "certbot/deploy-hook.sh", nil, "0", nil, 3},
		{"acme.sh", "acme.sh/reloadcmd.sh",
			[]string{"CERT_FULLCHAIN_PATH=/root/.acme.sh/relay.example.org_ecc/fullchain.cer", "CERT_KEY_PATH=/root/.acme.sh/relay.example.org_ecc/relay.example.org.key", "RECEIVERS=mx1.example.net"}, "1",
			[]string{"rollover", "--new-cert", "/root/.acme.sh/relay.example.org_ecc/fullchain.cer", "--new-key", "/root/.acme.sh/relay.example.org_ecc/relay.example.org.key", "--relay-postconf", "--receiver", "mx1.example.net"}, 0},
		{"acme.sh, not run by acme.sh", "acme.sh/reloadcmd.sh", nil, "0", nil, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			plugin, args := recorder(t, dir, tc.code)
			env := append([]string{"-i", "PATH=/usr/bin:/bin", "PLUGIN=" + plugin}, tc.env...)
			r := run(t, "env", append(env, "sh", tc.script)...)
			if r.code != tc.exit {
				t.Errorf("%s exited %d, want %d\n%s", tc.script, r.code, tc.exit, r)
			}
			got, err := os.ReadFile(args)
			switch {
			case tc.want == nil && err == nil:
				t.Errorf("%s ran the plugin with %q, want it not run", tc.script, got)
			case tc.want != nil && err != nil:
				t.Fatalf("%s did not run the plugin: %v\n%s", tc.script, err, r)
			case tc.want != nil && string(got) != strings.Join(tc.want, "\n")+"\n":
				t.Errorf("%s ran the plugin with\n%s\nwant\n%s", tc.script, got, strings.Join(tc.want, "\n"))
			}
		})
	}
}

// The real plugin parses what the hooks give it: it gets as far as asking
// Postfix (a configuration directory that does not exist), not a usage
// error.
func TestRenewalHooksParse(t *testing.T) {
	t.Parallel()
	p := plugin(t)
	for _, script := range []string{"certbot/deploy-hook.sh", "acme.sh/reloadcmd.sh"} {
		r := run(t, "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "PLUGIN="+p, "POSTFIX_CONFIG=/nonexistent/postfix",
			"RENEWED_LINEAGE=/nonexistent/live/relay.example.org", "RELAY_LINEAGE=relay.example.org",
			"CERT_FULLCHAIN_PATH=/nonexistent/fullchain.cer", "CERT_KEY_PATH=/nonexistent/key", "sh", script)
		if r.code != 3 || !strings.HasPrefix(r.stdout, "RELAY_FINGERPRINT_ROLLOVER UNKNOWN - ") || strings.Contains(r.stdout, "usage") {
			t.Errorf("%s with the real plugin: want UNKNOWN from reading the missing material, not a usage error\n%s", script, r)
		}
	}
}

// systemd-analyze verify accepts the units (with ExecStart pointing at a
// built plugin, as it checks that the program exists), and refuses a
// broken timer.
func TestSystemdUnitsVerify(t *testing.T) {
	t.Parallel()
	analyze := need(t, "systemd-analyze", "systemd")
	p := plugin(t)
	dir := t.TempDir()
	service := readFile(t, "systemd/check_relay_fingerprint-rollover.service")
	timer := readFile(t, "systemd/check_relay_fingerprint-rollover.timer")
	service = replaceOnce(t, service, "ExecStart=/usr/lib/nagios/plugins/check_relay_fingerprint ", "ExecStart="+p+" ")
	write := func(timer string) (string, string) {
		s, tm := filepath.Join(dir, "check_relay_fingerprint-rollover.service"), filepath.Join(dir, "check_relay_fingerprint-rollover.timer")
		writeFile(t, s, service, 0o644)
		writeFile(t, tm, timer, 0o644)
		return s, tm
	}
	s, tm := write(timer)
	if r := run(t, analyze, "verify", "--man=no", s, tm); r.code != 0 || r.stderr != "" {
		t.Errorf("systemd-analyze verify: %s", r)
	}
	s, tm = write(replaceOnce(t, timer, "OnCalendar=*:0/15", "OnCalendar=*:0/fifteen"))
	if r := run(t, analyze, "verify", "--man=no", s, tm); r.code == 0 {
		t.Errorf("systemd-analyze verify accepts a broken timer: %s", r)
	}
}

var rolloverLine = regexp.MustCompile(`add to its relay_clientcerts: ([0-9A-F:]+ \S+)`)

// The README's walk-through, followed literally on a real relay and
// receiver: a fake certbot lineage made with openssl, the deploy hook
// (waiting: the line printed), the line added on the receiver, the retry
// (installed), and the relay's mail then relayed with only the new key
// listed.
func TestCertbotHookWalkthrough(t *testing.T) {
	openssl := need(t, "openssl", "openssl")
	bin := plugin(t)
	const cn = "relay.example.org"
	old := postfixtest.NewCert(t, "", cn, postfixtest.ECDSA)
	rcv := postfixtest.StartReceiver(t, postfixtest.Options{})
	oldLine := old.PubkeyFingerprint(rcv.Digest) + " " + cn + "\n"
	rcv.SetTable(t, []byte(oldLine))
	chain := filepath.Join(t.TempDir(), "smtp-client.pem")
	relay := postfixtest.StartRelay(t, postfixtest.RelayOptions{Receiver: rcv.SMTPAddr,
		Client: postfixtest.CertConfig{Style: postfixtest.OneChainFile, Certs: []*postfixtest.ClientCert{old}, Path: chain}})

	lineage := filepath.Join(t.TempDir(), "fake-lineage")
	if err := os.Mkdir(lineage, 0o700); err != nil {
		t.Fatal(err)
	}
	r := run(t, openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", filepath.Join(lineage, "privkey.pem"), "-out", filepath.Join(lineage, "fullchain.pem"), "-days", "90",
		"-subj", "/CN="+cn, "-addext", "subjectAltName=DNS:"+cn)
	if r.code != 0 {
		t.Fatalf("openssl req: %s", r)
	}
	before := readFile(t, chain)

	r = run(t, "env", "PLUGIN="+bin, "POSTFIX_CONFIG="+relay.ConfigDir, "RECEIVERS="+rcv.SMTPAddr,
		"RENEWED_LINEAGE="+lineage, "RELAY_LINEAGE=fake-lineage", "sh", "certbot/deploy-hook.sh")
	m := rolloverLine.FindStringSubmatch(r.stdout)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "RELAY_FINGERPRINT_ROLLOVER WARNING - waiting") || m == nil {
		t.Fatalf("deploy hook with a receiver that does not list the new key: want exit 0, WARNING waiting and the line\n%s", r)
	}
	if readFile(t, chain) != before {
		t.Fatal("the hook changed the live chain file while the receiver refuses the new key")
	}

	rcv.SetTable(t, []byte(oldLine+m[1]+"\n"))
	r = run(t, bin, "rollover", "--relay-postconf="+relay.ConfigDir, "--receiver", rcv.SMTPAddr)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "RELAY_FINGERPRINT_ROLLOVER OK - installed") {
		t.Fatalf("the retry once the receiver lists the line: want OK installed\n%s", r)
	}
	rcv.SetTable(t, []byte(m[1]+"\n"))
	if o := relay.SendAndWait(t, postfixtest.Sender, postfixtest.Recipient); !o.Sent() {
		t.Errorf("after the switch, with only the printed line listed: %s, want sent\n%s", o.Status, o.Line)
	}
}
