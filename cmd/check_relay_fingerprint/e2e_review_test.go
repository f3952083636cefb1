package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
)

// TestE2EReviewFalseOK: relay set-ups where the check said OK while a real
// relay Postfix had its message deferred by a real receiver with 454 4.7.1
// Relay access denied; each verdict is set beside Postfix's.
//   - the relay's smtp client never starts TLS (smtp_tls_security_level =
//     none, or empty with smtp_use_tls = no, Postfix's default), so it
//     never presents the listed certificate it names;
//   - --rcpt in a domain the receiver relays to for anyone (relay_domains):
//     the receiver accepts any certificate, and no certificate, so its
//     acceptance says nothing about the certificate.
func TestE2EReviewFalseOK(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listed := postfixtest.NewCert(t, dir, "listed.relay.test", postfixtest.ECDSA)
	unlisted := postfixtest.NewCert(t, dir, "unlisted.relay.test", postfixtest.ECDSA)
	rcv := postfixtest.StartReceiver(t, postfixtest.Options{Settings: []string{"relay_domains = relayed.test"}})
	rcv.SetTable(t, []byte(listed.PubkeyFingerprint("sha256")+" listed.relay.test\n"))
	one := func(c *postfixtest.ClientCert) postfixtest.CertConfig {
		return postfixtest.CertConfig{Style: postfixtest.CertKeyFiles, Certs: []*postfixtest.ClientCert{c}}
	}

	tests := []struct {
		name     string
		client   *postfixtest.ClientCert
		settings []string
		rcpt     string
		table    bool   // also judge with --table
		want     int    // exit status of every mode
		out      string // in every mode's output
	}{
		{"smtp_tls_security_level = none", listed, []string{"smtp_tls_security_level = none"}, postfixtest.Recipient, true, 2, "never starts TLS"},
		{"smtp_tls_security_level empty, smtp_use_tls = no", listed, []string{"smtp_tls_security_level =", "smtp_use_tls = no"}, postfixtest.Recipient, true, 2, "never starts TLS"},
		{"--rcpt relayed for anyone, certificate unlisted", unlisted, nil, "check@relayed.test", false, 3, "relays for this host without any certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := postfixtest.StartRelay(t, postfixtest.RelayOptions{Receiver: rcv.SMTPAddr, Client: one(tc.client),
				Options: postfixtest.Options{Settings: tc.settings}})
			o := r.SendAndWait(t, postfixtest.Sender, postfixtest.Recipient)
			if o.Sent() || !strings.Contains(o.Reply, "Relay access denied") {
				t.Fatalf("Postfix: %s (%s), want a deferral for relay access: the scenario is not what it says\n%s", o.Status, o.Reply, o.Line)
			}
			modes := [][]string{{"--receiver", rcv.SMTPAddr, "--rcpt", tc.rcpt}}
			if tc.table {
				modes = append(modes, []string{"--table", rcv.TableSpec()})
			}
			for _, m := range modes {
				args := append([]string{"--relay-postconf", r.ConfigDir, "-t", "20", "-w", "0", "-c", "0"}, m...)
				code, out, _ := rtRun(t, args...)
				if code != tc.want || !strings.Contains(out, tc.out) {
					t.Errorf("%q: exit %d, want %d with %q; Postfix %s (%s)\n%s", m, code, tc.want, tc.out, o.Status, o.Reply, out)
				}
			}
		})
	}
}

// TestE2EReviewRestrictionClass: a receiver whose permit_tls_clientcerts
// stands in a restriction class relays a listed relay; the receiver-side
// check said CRITICAL ("permit_tls_clientcerts is not in this list").
func TestE2EReviewRestrictionClass(t *testing.T) {
	t.Parallel()
	c := postfixtest.NewCert(t, t.TempDir(), "relay.test", postfixtest.ECDSA)
	one := postfixtest.CertConfig{Style: postfixtest.CertKeyFiles, Certs: []*postfixtest.ClientCert{c}}
	rcv := postfixtest.StartReceiver(t, postfixtest.Options{Settings: []string{
		"smtpd_restriction_classes = trusted", "trusted = permit_tls_clientcerts",
		"smtpd_relay_restrictions = trusted, defer_unauth_destination"}})
	rcv.SetTable(t, []byte(c.PubkeyFingerprint("sha256")+" relay.test\n"))
	r := postfixtest.StartRelay(t, postfixtest.RelayOptions{Receiver: rcv.SMTPAddr, Client: one, Server: one})
	o := r.SendAndWait(t, postfixtest.Sender, postfixtest.Recipient)
	if !o.Sent() {
		t.Fatalf("Postfix: %s (%s), want sent\n%s", o.Status, o.Reply, o.Line)
	}
	code, out, _ := rtRun(t, "-H", r.SMTPAddr, "--postconf", rcv.ConfigDir, "-t", "20", "-w", "0", "-c", "0")
	if code != 0 {
		t.Errorf("exit %d, want 0 as Postfix relayed\n%s", code, out)
	}
}

// TestE2EReviewTransport: a relay whose main.cf smtp client presents no
// certificate while a master.cf transport "certs" presents a listed one:
// with default_transport = smtp every relayed message is deferred, and the
// check said OK; with default_transport = certs the message is sent.
func TestE2EReviewTransport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := postfixtest.NewCert(t, dir, "relay.test", postfixtest.ECDSA)
	rcv := postfixtest.StartReceiver(t, postfixtest.Options{})
	rcv.SetTable(t, []byte(c.PubkeyFingerprint("sha256")+" relay.test\n"))
	r := postfixtest.StartRelay(t, postfixtest.RelayOptions{Receiver: rcv.SMTPAddr})
	for _, args := range [][]string{
		{"-M", "certs/unix=certs unix - - n - - smtp"},
		{"-P", "certs/unix/smtp_tls_cert_file=" + c.CertFile},
		{"-P", "certs/unix/smtp_tls_key_file=" + c.KeyFile},
	} {
		if out, err := exec.Command("postconf", append([]string{"-c", r.ConfigDir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("postconf %q: %v\n%s", args, err, out)
		}
	}
	for _, tc := range []struct {
		transport string
		sent      bool
		want      int
	}{{"smtp", false, 2}, {"certs", true, 0}} {
		r.Postconf(t, "default_transport = "+tc.transport, "relay_transport = "+tc.transport)
		r.Reload(t)
		o := r.SendAndWait(t, postfixtest.Sender, postfixtest.Recipient)
		if o.Sent() != tc.sent {
			t.Fatalf("default_transport = %s: Postfix %s (%s), want sent=%v\n%s", tc.transport, o.Status, o.Reply, tc.sent, o.Line)
		}
		for _, m := range [][]string{{"--table", rcv.TableSpec()}, {"--receiver", rcv.SMTPAddr, "--rcpt", postfixtest.Recipient}} {
			args := append([]string{"--relay-postconf", r.ConfigDir, "-t", "20", "-w", "0", "-c", "0"}, m...)
			code, out, _ := rtRun(t, args...)
			if code != tc.want {
				t.Errorf("default_transport = %s, %q: exit %d, want %d; Postfix %s (%s)\n%s", tc.transport, m, code, tc.want, o.Status, o.Reply, out)
			}
		}
	}
}
