package check_test

import (
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfix"
)

// TestJudgeClientCertificates: when the relay's client certificates are
// known they are what is judged; what its smtpd serves is only compared
// with them (issue 14: a probe of the smtpd gave a false OK).
func TestJudgeClientCertificates(t *testing.T) {
	t.Parallel()
	srv := newCert(t, certSpec{cn: "cliff.example.org"})
	cli := newCert(t, certSpec{cn: "cliff.example.org", serial: 2})
	cliObs := check.Observation{Name: "main.cf (smtp)", Role: check.RoleClient, Source: "/etc/postfix/relay.pem:1", KeyType: "ECDSA", Chain: []*x509.Certificate{cli}}
	sha := fingerprint.SHA256
	listsServer := receiver(t, "texthash:/t", lines(sha.PublicKey(srv)+" cliff.example.org"))
	listsClient := receiver(t, "texthash:/t", lines(sha.PublicKey(cli)+" cliff.example.org"))

	tests := []struct {
		name    string
		obs     []check.Observation
		recv    check.Receiver
		state   nagios.State
		summary string
		long    []string
	}{
		{"server listed, client not: CRITICAL", []check.Observation{relay("cliff.example.org", "192.0.2.1:25", srv), cliObs}, listsServer, nagios.Critical,
			"main.cf (smtp) client certificate /etc/postfix/relay.pem:1 ECDSA presents sha256 public-key fingerprint " + sha.PublicKey(cli) + ", not listed in texthash:/t",
			[]string{"a probe of its smtpd tells nothing about relaying (not judged)"}},
		{"client listed, server not: OK", []check.Observation{relay("cliff.example.org", "192.0.2.1:25", srv), cliObs}, listsClient, nagios.OK,
			"main.cf (smtp) client certificate /etc/postfix/relay.pem:1 ECDSA listed in 1 table", nil},
		{"the server alone: judged as before", []check.Observation{relay("cliff.example.org", "192.0.2.1:25", srv)}, listsServer, nagios.OK,
			"cliff.example.org 192.0.2.1:25 listed in 1 table", nil},
		{"no client certificate at all: CRITICAL", []check.Observation{{Name: "main.cf (smtp)", Role: check.RoleClient, Fatal: true, Err: errors.New("presents no client certificate")}}, listsServer, nagios.Critical,
			"main.cf (smtp): presents no client certificate", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := check.Judge(baseConfig(t), tt.obs, []check.Receiver{tt.recv})
			if v.Result.State != tt.state || !strings.HasPrefix(v.Result.Summary, tt.summary) {
				t.Errorf("state %v, summary %q\nwant %v, %q", v.Result.State, v.Result.Summary, tt.state, tt.summary)
			}
			long := strings.Join(v.Result.Long, "\n")
			for _, l := range tt.long {
				if !strings.Contains(long, l) {
					t.Errorf("long output lacks %q:\n%s", l, long)
				}
			}
		})
	}
}

// TestJudgeAnswers: what receivers answered when asked with a client
// certificate decides without a table.
func TestJudgeAnswers(t *testing.T) {
	t.Parallel()
	cli := newCert(t, certSpec{cn: "cliff.example.org"})
	obs := []check.Observation{{Name: "main.cf (smtp)", Role: check.RoleClient, Source: "/etc/postfix/relay.pem:1", Chain: []*x509.Certificate{cli}}}
	key := fingerprint.SHA256.PublicKey(cli)
	tests := []struct {
		name    string
		answers []check.Answer
		state   nagios.State
		summary string
		long    string
	}{
		{"accepted", []check.Answer{{Receiver: "mx1", Addr: "192.0.2.25:25", Obs: 0, Verdict: check.Accepted, Reply: "250 2.1.5 Ok"}}, nagios.OK,
			"main.cf (smtp) client certificate /etc/postfix/relay.pem:1 may relay through 1 receiver", "may relay (250 2.1.5 Ok)"},
		{"refused: CRITICAL with the line to add", []check.Answer{{Receiver: "mx1", Addr: "192.0.2.25:25", Obs: 0, Verdict: check.Refused, Reply: "454 4.7.1 <x@example.com>: Relay access denied"}}, nagios.Critical,
			"receiver mx1 (192.0.2.25:25) refuses main.cf (smtp) client certificate /etc/postfix/relay.pem:1: 454 4.7.1 <x@example.com>: Relay access denied",
			"the receiver's relay_clientcerts needs: " + key + " cliff.example.org"},
		{"other reply: UNKNOWN with the hint", []check.Answer{{Receiver: "mx1", Addr: "192.0.2.25:25", Obs: 0, Verdict: check.Other, Reply: "550 5.1.1 <x@example.com>: Recipient address rejected: User unknown", Hints: []string{"give --rcpt ..."}}}, nagios.Unknown,
			"receiver mx1 (192.0.2.25:25) answered main.cf (smtp) client certificate /etc/postfix/relay.pem:1 with 550 5.1.1", "hint: give --rcpt ..."},
		{"no answer: UNKNOWN", []check.Answer{{Receiver: "mx1", Addr: "192.0.2.25:25", Obs: 0, Err: errors.New("timeout during RCPT TO with 192.0.2.25:25")}}, nagios.Unknown,
			"receiver mx1 (192.0.2.25:25), asked with main.cf (smtp) client certificate /etc/postfix/relay.pem:1: timeout during RCPT TO", ""},
		// The control relays too (mynetworks, or --rcpt in a domain it
		// relays to for anyone): the acceptance proves nothing, never OK.
		{"the control relays anyway: UNKNOWN", []check.Answer{
			{Receiver: "mx1", Addr: "192.0.2.25:25", Obs: -1, Verdict: check.Accepted, Reply: "250 2.1.5 Ok"},
			{Receiver: "mx1", Addr: "192.0.2.25:25", Obs: 0, Verdict: check.Accepted, Reply: "250 2.1.5 Ok"}}, nagios.Unknown,
			"receiver mx1 (192.0.2.25:25) relays for this host without any certificate: its acceptance of main.cf (smtp) client certificate /etc/postfix/relay.pem:1 says nothing", "hint: give --rcpt an address in a domain it relays to only for trusted clients"},
		{"the control relays at another address only: OK", []check.Answer{
			{Receiver: "mx1", Addr: "192.0.2.26:25", Obs: -1, Verdict: check.Accepted, Reply: "250 2.1.5 Ok"},
			{Receiver: "mx1", Addr: "192.0.2.25:25", Obs: -1, Verdict: check.Refused, Reply: "454 4.7.1 <x@example.com>: Relay access denied"},
			{Receiver: "mx1", Addr: "192.0.2.25:25", Obs: 0, Verdict: check.Accepted, Reply: "250 2.1.5 Ok"}}, nagios.OK,
			"main.cf (smtp) client certificate /etc/postfix/relay.pem:1 may relay through 1 receiver", "may relay (250 2.1.5 Ok)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := check.Judge(baseConfig(t), obs, nil, tt.answers...)
			if v.Result.State != tt.state || !strings.HasPrefix(v.Result.Summary, tt.summary) {
				t.Errorf("state %v, summary %q\nwant %v, %q", v.Result.State, v.Result.Summary, tt.state, tt.summary)
			}
			if long := strings.Join(v.Result.Long, "\n"); !strings.Contains(long, tt.long) {
				t.Errorf("long output lacks %q:\n%s", tt.long, long)
			}
		})
	}
}

// TestClients: no smtp client presenting any certificate is CRITICAL; an
// lmtp client without one is passed over.
func TestClients(t *testing.T) {
	t.Parallel()
	obs, notes := check.Clients([]postfix.ClientTLS{{Command: "smtp"}, {Command: "lmtp"}})
	if len(obs) != 1 || !obs[0].Fatal || obs[0].Role != check.RoleClient || !strings.Contains(obs[0].Err.Error(), "permit_tls_clientcerts can never match this relay") {
		t.Errorf("no certificate: %+v, notes %q; want one fatal client observation", obs, notes)
	}
	v := check.Judge(baseConfig(t), obs, nil)
	if v.Result.State != nagios.Critical {
		t.Errorf("no certificate judged %v, want CRITICAL", v.Result.State)
	}
}

// TestJudgeDifferingPerAddress: two addresses serving the same RSA and
// ECDSA pair do not differ; one serving a third certificate does.
func TestJudgeDifferingPerAddress(t *testing.T) {
	t.Parallel()
	a := newCert(t, certSpec{serial: 1})
	b := newCert(t, certSpec{serial: 2})
	c := newCert(t, certSpec{serial: 3})
	at := func(addr string, x *x509.Certificate, kt string) check.Observation {
		o := relay("cliff.example.org", addr, x)
		o.KeyType = kt
		return o
	}
	table := receiver(t, "texthash:/t", lines(fingerprint.SHA256.PublicKey(a)+" x", fingerprint.SHA256.PublicKey(b)+" x", fingerprint.SHA256.PublicKey(c)+" x"))
	same := []check.Observation{at("192.0.2.1:25", a, "RSA"), at("192.0.2.1:25", b, "ECDSA"), at("192.0.2.2:25", b, "ECDSA"), at("192.0.2.2:25", a, "RSA")}
	if v := check.Judge(baseConfig(t), same, []check.Receiver{table}); v.Result.State != nagios.OK {
		t.Errorf("same pair at both addresses: %v %q, want OK", v.Result.State, v.Result.Summary)
	}
	other := []check.Observation{at("192.0.2.1:25", a, "RSA"), at("192.0.2.1:25", b, "ECDSA"), at("192.0.2.2:25", a, "RSA"), at("192.0.2.2:25", c, "ECDSA")}
	if v := check.Judge(baseConfig(t), other, []check.Receiver{table}); v.Result.State != nagios.Warning || !strings.Contains(v.Result.Summary, "addresses present different certificates (192.0.2.2:25 differs from 192.0.2.1:25)") {
		t.Errorf("a third certificate: %v %q, want WARNING naming 192.0.2.2:25", v.Result.State, v.Result.Summary)
	}
	// relays counts addresses, not certificates.
	v := check.Judge(baseConfig(t), same, []check.Receiver{table})
	if got := v.Result.Perf[0]; got.Label != "relays" || got.Value != 2 {
		t.Errorf("perfdata %v, want relays=2", got)
	}
}

// TestClientsNoTLS: an smtp client that never starts TLS presents none of
// the certificates it names (a relay with smtp_tls_security_level = none,
// or Postfix's default empty level with smtp_use_tls = no, had its listed
// certificate judged OK while the receiver deferred its mail with 454
// 4.7.1); a per-destination policy may raise the level, so then the
// certificates are judged, with a note.
func TestClientsNoTLS(t *testing.T) {
	t.Parallel()
	off := postfix.ClientTLS{Command: "smtp", SecurityLevel: "none", ChainFiles: []string{"/nonexistent/relay.pem"}}
	obs, _ := check.Clients([]postfix.ClientTLS{off})
	if len(obs) != 1 || !obs[0].Fatal || obs[0].Err == nil || !strings.Contains(obs[0].Err.Error(), "never starts TLS") {
		t.Fatalf("level none: %+v; want one fatal observation saying the client never starts TLS", obs)
	}
	if v := check.Judge(baseConfig(t), obs, nil); v.Result.State != nagios.Critical || !strings.Contains(v.Result.Summary, "smtp_tls_security_level = none") {
		t.Errorf("level none judged %v %q, want CRITICAL naming smtp_tls_security_level", v.Result.State, v.Result.Summary)
	}

	// A service that turns TLS off while main.cf's client presents a
	// certificate: a note, as for a service without certificate.
	on := postfix.ClientTLS{Command: "smtp", SecurityLevel: "may"}
	svc := off
	svc.Services, svc.Overrides = []string{"plain/unix"}, []postfix.Override{{Name: "smtp_tls_security_level", Value: "none"}}
	obs, notes := check.Clients([]postfix.ClientTLS{on, svc})
	if len(obs) != 1 || !obs[0].Fatal {
		t.Errorf("main.cf without certificate, service without TLS: %+v, want one fatal observation", obs)
	}
	_ = notes

	policy := off
	policy.PolicyMaps = "smtp_tls_policy_maps = hash:/etc/postfix/tls_policy"
	obs, notes = check.Clients([]postfix.ClientTLS{policy})
	if len(obs) != 1 || obs[0].Fatal || obs[0].Err == nil || !strings.Contains(obs[0].Err.Error(), "/nonexistent/relay.pem") {
		t.Errorf("level none with a policy map: %+v, want its chain file loaded (and failing here)", obs)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "smtp_tls_policy_maps = hash:/etc/postfix/tls_policy") {
		t.Errorf("level none with a policy map: notes %q, want one naming the map", notes)
	}
}

// TestClientsPolicyNote: a per-destination policy may turn TLS off for a
// receiver; it is not consulted, and the long output says so.
func TestClientsPolicyNote(t *testing.T) {
	t.Parallel()
	e := postfix.ClientTLS{Command: "smtp", SecurityLevel: "may", ChainFiles: []string{"/nonexistent/relay.pem"}, PolicyMaps: "smtp_tls_policy_maps = hash:/etc/postfix/tls_policy"}
	_, notes := check.Clients([]postfix.ClientTLS{e})
	if len(notes) != 1 || !strings.Contains(notes[0], "smtp_tls_policy_maps = hash:/etc/postfix/tls_policy is not consulted here") {
		t.Errorf("notes %q, want one saying the policy map is not consulted", notes)
	}
}

// TestClientsCarrier: a client without a certificate that default_transport
// delivers relayed mail through is CRITICAL even when another transport
// presents one (review finding 7: OK while every relayed message was
// deferred).
func TestClientsCarrier(t *testing.T) {
	t.Parallel()
	bare := postfix.ClientTLS{Command: "smtp", SecurityLevel: "may", Services: []string{"smtp/unix"}, Carries: []string{"default_transport = smtp"}}
	obs, _ := check.Clients([]postfix.ClientTLS{bare, {Command: "smtp", SecurityLevel: "may", ChainFiles: []string{"/nonexistent/relay.pem"}, Services: []string{"certs/unix"}, Overrides: []postfix.Override{{Name: "smtp_tls_chain_files", Value: "/nonexistent/relay.pem"}}}})
	if v := check.Judge(baseConfig(t), obs, nil); v.Result.State != nagios.Critical || !strings.Contains(v.Result.Summary, "presents no client certificate, and default_transport = smtp delivers relayed mail through it") {
		t.Errorf("judged %v %q, want CRITICAL naming default_transport", v.Result.State, v.Result.Summary)
	}
	bare.Carries = nil
	obs, notes := check.Clients([]postfix.ClientTLS{bare, {Command: "smtp", SecurityLevel: "may", ChainFiles: []string{"/nonexistent/relay.pem"}, Services: []string{"certs/unix"}, Overrides: []postfix.Override{{Name: "smtp_tls_chain_files", Value: "/nonexistent/relay.pem"}}}})
	if slices.ContainsFunc(obs, func(o check.Observation) bool { return o.Fatal }) || len(notes) != 1 {
		t.Errorf("not carrying: %+v, notes %q; want no fatal observation and one note", obs, notes)
	}
}
