package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
)

// TestE2EClientCertificate is issue 14's truth table: a real relay Postfix
// relaying to a real receiver with its own client certificate, one message
// handed to the relay per scenario, and the plugin's verdict in each mode
// set beside what the receiver did to that message (status=sent, or
// deferred with 454 4.7.1 Relay access denied):
//   - on the relay, --relay-postconf with the receiver's table: the client
//     certificates the relay presents, judged against the table;
//   - on the relay, --relay-postconf --receiver: the receiver asked;
//   - from outside, -H against the relay's smtpd with the receiver's
//     --postconf: right when the smtpd serves the client's certificates,
//     and blind (the README says so) when the client presents another.
func TestE2EClientCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	same := postfixtest.NewCert(t, dir, "same.relay.test", postfixtest.ECDSA)
	server := postfixtest.NewCert(t, dir, "server.relay.test", postfixtest.ECDSA)
	client := postfixtest.NewCert(t, dir, "client.relay.test", postfixtest.ECDSA)
	dualRSA := postfixtest.NewCert(t, dir, "dual.relay.test", postfixtest.RSA)
	dualEC := postfixtest.NewCert(t, dir, "dual.relay.test", postfixtest.ECDSA)

	rcv := postfixtest.StartReceiver(t, postfixtest.Options{})
	one := func(c *postfixtest.ClientCert) postfixtest.CertConfig {
		return postfixtest.CertConfig{Style: postfixtest.CertKeyFiles, Certs: []*postfixtest.ClientCert{c}}
	}
	dual := postfixtest.CertConfig{Style: postfixtest.OneChainFile, Certs: []*postfixtest.ClientCert{dualRSA, dualEC}}
	r := postfixtest.StartRelay(t, postfixtest.RelayOptions{Receiver: rcv.SMTPAddr, Client: one(same), Server: one(same)})

	// The harness's certificates are valid for a day: -w 0 -c 0 keeps
	// their expiry out of the verdicts.
	// want: the exit status of each mode; probe is that of -H, which
	// cannot see a client certificate its smtpd does not serve.
	tests := []struct {
		name           string
		client, server postfixtest.CertConfig
		listed         []*postfixtest.ClientCert
		sent           bool // what Postfix does (checked, not assumed)
		relay, probe   int
		out            []string // in the --relay-postconf output
	}{
		{"same certificate in both roles, listed", one(same), one(same), []*postfixtest.ClientCert{same}, true, 0, 0,
			// The table lists the certificate fingerprint: no ACME client
			// manages the test's certificate, so the renewal is not
			// predicted, but the note says a renewal breaks it.
			[]string{"its smtpd serves the key that main.cf (smtp) client certificate",
				"next renewal not predicted", "listed by certificate fingerprint only, which breaks at any renewal: add " + same.PubkeyFingerprint("sha256")}},
		{"client differs from server, server's listed", one(client), one(server), []*postfixtest.ClientCert{server}, false, 2, 0,
			[]string{"client certificate", "not listed in hash:", "a probe of its smtpd tells nothing about relaying"}},
		{"client differs from server, client's listed", one(client), one(server), []*postfixtest.ClientCert{client}, true, 0, 2, nil},
		{"no client certificate, server's listed", postfixtest.CertConfig{}, one(server), []*postfixtest.ClientCert{server}, false, 2, 0,
			[]string{"presents no client certificate", "permit_tls_clientcerts can never match this relay"}},
		// OpenSSL's client presents the ECDSA one (measured in
		// internal/postfixtest): listing RSA alone defers mail, and the probe
		// now sees both certificates the smtpd serves.
		{"RSA and ECDSA in both roles, RSA listed", dual, dual, []*postfixtest.ClientCert{dualRSA}, false, 2, 2,
			[]string{"ECDSA", "not listed"}},
		// Listing ECDSA alone relays today, but which one the client
		// presents is negotiated: an unlisted one is CRITICAL, by design.
		{"RSA and ECDSA in both roles, ECDSA listed", dual, dual, []*postfixtest.ClientCert{dualEC}, true, 2, 2,
			[]string{"RSA", "not listed"}},
		{"RSA and ECDSA in both roles, both listed", dual, dual, []*postfixtest.ClientCert{dualRSA, dualEC}, true, 0, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(r.Client, tc.client) {
				r.SetClient(t, tc.client)
			}
			if !reflect.DeepEqual(r.Server, tc.server) {
				r.SetServer(t, tc.server)
			}
			var table strings.Builder
			for _, c := range tc.listed {
				fmt.Fprintf(&table, "%s %s\n", c.Fingerprint("sha256"), c.Cert.Subject.CommonName)
			}
			rcv.SetTable(t, []byte(table.String()))

			o := r.SendAndWait(t, postfixtest.Sender, postfixtest.Recipient)
			if o.Sent() != tc.sent {
				t.Fatalf("Postfix: %s (%s), want sent=%v: the scenario is not what it says\n%s", o.Status, o.Reply, tc.sent, o.Line)
			}
			if !o.Sent() && !strings.Contains(o.Reply, "Relay access denied") {
				t.Fatalf("Postfix deferred for another reason: %s\n%s", o.Reply, o.Line)
			}

			args := []string{"--relay-postconf", r.ConfigDir, "-H", r.SMTPAddr, "--table", rcv.TableSpec(), "-t", "20", "-w", "0", "-c", "0"}
			code, out, _ := rtRun(t, args...)
			if code != tc.relay {
				t.Errorf("relay-side check: exit %d, want %d; Postfix %s (%s)\n%s", code, tc.relay, o.Status, o.Reply, out)
			}
			for _, s := range tc.out {
				if !strings.Contains(out, s) {
					t.Errorf("relay-side check lacks %q:\n%s", s, out)
				}
			}

			args = []string{"--relay-postconf", r.ConfigDir, "--receiver", rcv.SMTPAddr, "--rcpt", postfixtest.Recipient, "-t", "20", "-w", "0", "-c", "0"}
			code, out, _ = rtRun(t, args...)
			if code != tc.relay {
				t.Errorf("--receiver: exit %d, want %d; Postfix %s (%s)\n%s", code, tc.relay, o.Status, o.Reply, out)
			}
			if !tc.sent && len(tc.client.Certs) > 0 && !strings.Contains(out, "Relay access denied") {
				t.Errorf("--receiver does not quote the receiver's refusal:\n%s", out)
			}

			args = []string{"-H", r.SMTPAddr, "--postconf", rcv.ConfigDir, "-t", "20", "-w", "0", "-c", "0"}
			code, out, _ = rtRun(t, args...)
			if code != tc.probe {
				t.Errorf("receiver-side probe: exit %d, want %d\n%s", code, tc.probe, out)
			}
			if strings.Contains(out, "postconf: ") {
				t.Errorf("the test receiver's own configuration is judged wrong:\n%s", out)
			}
		})
	}
}
