package main

// Issue 16's end-to-end test: a relay renewing its client certificate with
// a new key while mail flows through it to a receiver that lists the
// relay's public key. Naively, messages are deferred with 454; through
// rollover, none is.

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
)

// roOutcome is one run of the plugin's rollover command.
type roOutcome struct {
	args           []string
	code           int
	stdout, stderr string
}

func roRun(t *testing.T, args ...string) roOutcome {
	t.Helper()
	var stdout, stderr bytes.Buffer
	o := roOutcome{args: args}
	o.code = run(args, &stdout, &stderr)
	o.stdout, o.stderr = stdout.String(), stderr.String()
	t.Logf("check_relay_fingerprint %s\nexit %d\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), o.code, o.stdout, o.stderr)
	return o
}

func (o roOutcome) want(t *testing.T, code int, substrings ...string) {
	t.Helper()
	if o.code != code {
		t.Errorf("rollover exited %d, want %d:\n%s", o.code, code, o.stdout)
	}
	if !strings.HasPrefix(o.stdout, rolloverName+" "+e2eStateName(code)+" - ") {
		t.Errorf("status line does not start with %s %s:\n%s", rolloverName, e2eStateName(code), o.stdout)
	}
	for _, s := range substrings {
		if !strings.Contains(o.stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, o.stdout)
		}
	}
}

// roFlow hands the relay a message every 200 ms while during runs, and
// returns the outcome of every message: at least two are handed over
// before during starts and two after it ends.
func roFlow(t *testing.T, r *postfixtest.Relay, during func()) []postfixtest.Outcome {
	t.Helper()
	traffic := r.StartTraffic(t, postfixtest.Sender, postfixtest.Recipient, 200*time.Millisecond)
	waitFor := func(n int) {
		for len(traffic.Sent()) < n {
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(2)
	during()
	waitFor(len(traffic.Sent()) + 2)
	return traffic.Stop(t)
}

func roLine(c *postfixtest.ClientCert, digest string) string {
	return c.PubkeyFingerprint(digest) + " " + c.Cert.Subject.CommonName + "\n"
}

func TestRolloverE2E(t *testing.T) {
	dir := t.TempDir()
	old := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	rcv := postfixtest.StartReceiver(t, postfixtest.Options{})
	rcv.SetTable(t, []byte(roLine(old, rcv.Digest))) // listed by public key, as the README advises
	// The chain file only rollover writes, as the README sets it up.
	chain := filepath.Join(t.TempDir(), "smtp-client.pem")
	r := postfixtest.StartRelay(t, postfixtest.RelayOptions{Receiver: rcv.SMTPAddr,
		Client: postfixtest.CertConfig{Style: postfixtest.OneChainFile, Certs: []*postfixtest.ClientCert{old}, Path: chain}})

	t.Run("naive renewal with a new key: deferred", func(t *testing.T) {
		naive := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
		outcomes := roFlow(t, r, func() {
			r.SetClient(t, postfixtest.CertConfig{Style: postfixtest.OneChainFile, Certs: []*postfixtest.ClientCert{naive}, Path: chain})
		})
		if n := postfixtest.CountDeferred(outcomes); n == 0 {
			t.Errorf("%d messages, none deferred after the naive renewal; want deferrals (the incident)", len(outcomes))
		} else {
			t.Logf("naive renewal: %d of %d messages deferred", n, len(outcomes))
		}
		r.SetClient(t, postfixtest.CertConfig{Style: postfixtest.OneChainFile, Certs: []*postfixtest.ClientCert{old}, Path: chain})
		r.DeleteQueue(t)
	})
	if t.Failed() {
		return
	}

	renewed := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	lineage := filepath.Join(dir, "live", "relay.example.org")
	if err := os.MkdirAll(lineage, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lineage, "fullchain.pem"), renewed.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lineage, "privkey.pem"), renewed.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"rollover", "--relay-postconf", r.ConfigDir, "--receiver", rcv.SMTPAddr, "--rcpt", postfixtest.Recipient, "-d", rcv.Digest}
	liveBefore, err := os.ReadFile(chain)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("rollover while the receiver does not list the new key: staged, nothing deferred", func(t *testing.T) {
		var o roOutcome
		outcomes := roFlow(t, r, func() { o = roRun(t, append(args, "--lineage", lineage)...) })
		o.want(t, exitWarning, "waiting", chain+".staged", strings.TrimSpace(roLine(renewed, rcv.Digest)))
		if n := postfixtest.CountDeferred(outcomes); n != 0 {
			t.Errorf("%d of %d messages deferred, want none", n, len(outcomes))
		}
		if got, _ := os.ReadFile(chain); !bytes.Equal(got, liveBefore) {
			t.Error("the live chain file changed")
		}
		if fi, err := os.Stat(chain + ".staged"); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("staged file: %v, %v; want mode 0600", fi, err)
		}
	})

	t.Run("the receiver lists it: rollover switches, nothing deferred", func(t *testing.T) {
		rcv.SetTable(t, []byte(roLine(old, rcv.Digest)+roLine(renewed, rcv.Digest)))
		var o roOutcome
		outcomes := roFlow(t, r, func() { o = roRun(t, args...) })
		o.want(t, exitOK, "installed the new certificate relay.example.org", "postfix reload done")
		if n := postfixtest.CountDeferred(outcomes); n != 0 {
			t.Errorf("%d of %d messages deferred, want none", n, len(outcomes))
		}
		got, err := os.ReadFile(chain)
		if err != nil || !bytes.Contains(got, bytes.TrimSpace(renewed.CertPEM)) {
			t.Fatalf("the live chain file does not hold the new certificate (%v)", err)
		}
		// Postfix presents the new certificate: with the old key unlisted,
		// mail still flows.
		rcv.SetTable(t, []byte(roLine(renewed, rcv.Digest)))
		if oc := r.SendAndWait(t, postfixtest.Sender, postfixtest.Recipient); !oc.Sent() {
			t.Errorf("after the switch, with only the new key listed: %s, want sent\n%s", oc.Status, oc.Line)
		}
		roRun(t, args...).want(t, exitOK, "nothing staged")
	})

	t.Run("RSA and ECDSA in one chain file: the new ECDSA certificate replaces its own kind only", func(t *testing.T) {
		rsa := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.RSA)
		r.SetClient(t, postfixtest.CertConfig{Style: postfixtest.OneChainFile, Certs: []*postfixtest.ClientCert{rsa, renewed}, Path: chain})
		next := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
		newChain := filepath.Join(dir, "next-chain.pem")
		postfixtest.WriteChainFile(t, newChain, next)
		rcv.SetTable(t, []byte(roLine(rsa, rcv.Digest)+roLine(renewed, rcv.Digest)+roLine(next, rcv.Digest)))
		var o roOutcome
		outcomes := roFlow(t, r, func() { o = roRun(t, append(args, "--new-chain", newChain)...) })
		o.want(t, exitOK, "installed")
		if n := postfixtest.CountDeferred(outcomes); n != 0 {
			t.Errorf("%d of %d messages deferred, want none", n, len(outcomes))
		}
		got, _ := os.ReadFile(chain)
		if !bytes.Contains(got, bytes.TrimSpace(rsa.CertPEM)) || !bytes.Contains(got, bytes.TrimSpace(next.CertPEM)) || bytes.Contains(got, bytes.TrimSpace(renewed.CertPEM)) {
			t.Errorf("chain file after the switch: want the RSA certificate kept and the ECDSA one replaced\n%s", got)
		}
		// Postfix loads the rewritten file (the RSA key re-encoded): the
		// relay's client presents the new ECDSA certificate.
		rcv.SetTable(t, []byte(roLine(rsa, rcv.Digest)+roLine(next, rcv.Digest)))
		if oc := r.SendAndWait(t, postfixtest.Sender, postfixtest.Recipient); !oc.Sent() || oc.ClientKeyType != postfixtest.ECDSA {
			t.Errorf("after the switch: %s presenting %q, want sent presenting ECDSA\n%s", oc.Status, oc.ClientKeyType, oc.Line)
		}
	})
}

// Usage errors are UNKNOWN before anything is read or dialled.
func TestRolloverUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no --relay-postconf", []string{"rollover", "--receiver", "127.0.0.1:1"}, "needs --relay-postconf"},
		{"no --receiver", []string{"rollover", "--relay-postconf"}, "at least one --receiver"},
		{"cert without key", []string{"rollover", "--relay-postconf", "--receiver", "127.0.0.1:1", "--new-cert", "/x.crt"}, "--new-cert and --new-key go together"},
		{"two kinds of material", []string{"rollover", "--relay-postconf", "/etc/postfix", "--receiver", "127.0.0.1:1", "--new-chain", "/x.pem", "--lineage", "/l"}, "one way"},
		{"bad digest", []string{"rollover", "--relay-postconf", "--receiver", "127.0.0.1:1", "-d", "crc32"}, "unknown digest"},
		{"bad recipient", []string{"rollover", "--relay-postconf", "--receiver", "127.0.0.1:1", "--rcpt", "a b@c"}, "recipient"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != exitUnknown || !strings.Contains(stdout.String(), tc.want) || !strings.Contains(stdout.String(), "usage") {
				t.Errorf("run(%q) = %d\n%s%s\nwant UNKNOWN, a usage error containing %q", tc.args, code, stdout.String(), stderr.String(), tc.want)
			}
		})
	}
}

// A bare --relay-postconf takes no value: the next flag stays a flag.
func TestPreprocessRelayPostconf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want []string }{
		{[]string{"rollover", "--relay-postconf", "--receiver", "mx"}, []string{"rollover", "--relay-postconf=", "--receiver", "mx"}},
		{[]string{"rollover", "--receiver", "mx", "--relay-postconf"}, []string{"rollover", "--receiver", "mx", "--relay-postconf="}},
		{[]string{"rollover", "--relay-postconf", "/etc/postfix-out", "--receiver", "mx"}, []string{"rollover", "--relay-postconf", "/etc/postfix-out", "--receiver", "mx"}},
	} {
		if got := preprocess(tc.in); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("preprocess(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
