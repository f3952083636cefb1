package postfixtest

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tableOf renders a relay_clientcerts table listing each certificate by its
// sha256 certificate fingerprint.
func tableOf(certs ...*ClientCert) string {
	var b strings.Builder
	for _, c := range certs {
		b.WriteString(line(c.Fingerprint("sha256"), c.Cert.Subject.CommonName))
	}
	return b.String()
}

const relayDenied = "454 4.7.1 <" + Recipient + ">: Relay access denied"

// TestRelay asserts what real Postfix does when a relay presents its client
// certificate to a receiver that trusts listed certificates only: the truth
// table of issue 14, one receiver and one relay reconfigured between cases.
func TestRelay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	same := NewCert(t, dir, "same.relay.test", ECDSA)
	server := NewCert(t, dir, "server.relay.test", ECDSA)
	client := NewCert(t, dir, "client.relay.test", ECDSA)
	dualRSA := NewCert(t, dir, "dual-rsa.relay.test", RSA)
	dualEC := NewCert(t, dir, "dual-ec.relay.test", ECDSA)
	legacyRSA := NewCert(t, dir, "legacy-rsa.relay.test", RSA)
	legacyEC := NewCert(t, dir, "legacy-ec.relay.test", ECDSA)

	start := time.Now()
	rcv := StartReceiver(t, Options{})
	one := func(c *ClientCert) CertConfig { return CertConfig{Style: CertKeyFiles, Certs: []*ClientCert{c}} }
	r := StartRelay(t, RelayOptions{Receiver: rcv.SMTPAddr, Client: one(same), Server: one(same)})
	t.Logf("receiver and relay started in %v", time.Since(start).Round(time.Millisecond))
	if got := r.postconfValue(t, "relayhost"); got != "[127.0.0.1]:"+strings.TrimPrefix(rcv.SMTPAddr, "127.0.0.1:") {
		t.Fatalf("relayhost = %q, want the receiver %s", got, rcv.SMTPAddr)
	}

	dual := []*ClientCert{dualRSA, dualEC}
	tests := []struct {
		name           string
		client, server CertConfig
		listed         []*ClientCert
		// want is "sent" or "deferred"; "" when it depends on which of
		// several certificates OpenSSL makes the client present: sent
		// exactly when that one is listed.
		want string
		// presents is the key type the relay's client presents, "" none;
		// with several client certificates, any one of theirs.
		presents KeyType
	}{
		{"same certificate in both roles, listed", one(same), one(same), []*ClientCert{same}, "sent", ECDSA},
		{"same certificate in both roles, not listed", one(same), one(same), []*ClientCert{server}, "deferred", ECDSA},
		{"client differs from server, server's listed", one(client), one(server), []*ClientCert{server}, "deferred", ECDSA},
		{"client differs from server, client's listed", one(client), one(server), []*ClientCert{client}, "sent", ECDSA},
		{"no client certificate, server's listed", CertConfig{}, one(server), []*ClientCert{server}, "deferred", ""},
		{"RSA client certificate alone, listed", one(dualRSA), one(server), []*ClientCert{dualRSA}, "sent", RSA},
		{"RSA and ECDSA chain file in both roles, RSA listed", CertConfig{Style: OneChainFile, Certs: dual}, CertConfig{Style: OneChainFile, Certs: dual}, []*ClientCert{dualRSA}, "", ""},
		{"RSA and ECDSA chain file in both roles, ECDSA listed", CertConfig{Style: OneChainFile, Certs: dual}, CertConfig{Style: OneChainFile, Certs: dual}, []*ClientCert{dualEC}, "", ""},
		{"RSA and ECDSA chain file in both roles, both listed", CertConfig{Style: OneChainFile, Certs: dual}, CertConfig{Style: OneChainFile, Certs: dual}, dual, "sent", ""},
		{"RSA and ECDSA in a chain file each, RSA listed", CertConfig{Style: ChainFilePerCert, Certs: dual}, one(server), []*ClientCert{dualRSA}, "", ""},
		{"RSA cert_file and ECDSA eccert_file, RSA listed", CertConfig{Style: CertKeyFiles, Certs: []*ClientCert{legacyRSA, legacyEC}}, one(server), []*ClientCert{legacyRSA}, "", ""},
		{"RSA cert_file and ECDSA eccert_file, both listed", CertConfig{Style: CertKeyFiles, Certs: []*ClientCert{legacyRSA, legacyEC}}, one(server), []*ClientCert{legacyRSA, legacyEC}, "sent", ""},
	}
	var sent, deferred int
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			if !reflect.DeepEqual(r.Client, tc.client) {
				r.SetClient(t, tc.client)
			}
			if !reflect.DeepEqual(r.Server, tc.server) {
				r.SetServer(t, tc.server)
			}
			rcv.SetTable(t, []byte(tableOf(tc.listed...)))
			setup := time.Since(start)
			start = time.Now()
			o := r.SendAndWait(t, Sender, Recipient)
			t.Logf("set-up %v, send and wait %v; client presented %q: %s", setup.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), o.ClientKeyType, o.Status)

			want := tc.want
			if len(tc.client.Certs) > 1 {
				// OpenSSL picks one: measure which, then judge by it.
				presented := certOfType(tc.client.Certs, o.ClientKeyType)
				if presented == nil {
					t.Fatalf("client presented %q, not one of its certificates %v; TLS: %s", o.ClientKeyType, keyTypes(tc.client.Certs), o.TLS)
				}
				t.Logf("measured: with %v (%v) the relay's client presents %s", keyTypes(tc.client.Certs), tc.client.Style, o.ClientKeyType)
				if want == "" {
					want = "deferred"
					for _, c := range tc.listed {
						if c == presented {
							want = "sent"
						}
					}
				}
			} else if o.ClientKeyType != tc.presents {
				t.Errorf("client presented %q, want %q; TLS: %s", o.ClientKeyType, tc.presents, o.TLS)
			}
			if o.Relay != "127.0.0.1["+strings.Replace(rcv.SMTPAddr, ":", "]:", 1) {
				t.Errorf("relay=%s, want the receiver %s", o.Relay, rcv.SMTPAddr)
			}
			switch want {
			case "sent":
				sent++
				if !o.Sent() || !strings.HasPrefix(o.Reply, "250 2.0.0 Ok: queued as ") {
					t.Fatalf("table lists %s: %s (%s), want sent with 250\n%s", tableOf(tc.listed...), o.Status, o.Detail, o.Line)
				}
				// The receiver took it and discarded it, on loopback.
				id := strings.TrimPrefix(o.Reply, "250 2.0.0 Ok: queued as ")
				got := waitDelivery(t, rcv, id)
				if got.Status != "sent" || got.Relay != "none" || got.To != Recipient {
					t.Errorf("receiver's delivery of %s: %+v, want sent to %s by discard (relay=none)", id, got, Recipient)
				}
			case "deferred":
				deferred++
				if !o.Deferred() || o.Reply != relayDenied || o.DSN != "4.7.1" {
					t.Fatalf("table lists %s: %s, reply %q, dsn %s; want deferred with %q\n%s", tableOf(tc.listed...), o.Status, o.Reply, o.DSN, relayDenied, o.Line)
				}
			}
			r.DeleteQueue(t)
		})
	}

	t.Run("one chain file for both roles", func(t *testing.T) {
		both := CertConfig{Style: OneChainFile, Certs: []*ClientCert{dualRSA, same}, Path: filepath.Join(r.CertDir, "both.pem")}
		r.SetClient(t, both)
		r.SetServer(t, both)
		if c, s := r.postconfValue(t, "smtp_tls_chain_files"), r.postconfValue(t, "smtpd_tls_chain_files"); c != both.Path || s != both.Path {
			t.Fatalf("smtp_tls_chain_files = %q, smtpd_tls_chain_files = %q; want both %q", c, s, both.Path)
		}
		rcv.SetTable(t, []byte(tableOf(same)))
		if o := r.SendAndWait(t, Sender, Recipient); !o.Sent() || o.ClientKeyType != ECDSA {
			t.Fatalf("ECDSA listed: %s, client presented %q; want sent, ECDSA\n%s", o.Status, o.ClientKeyType, o.Line)
		}
		sent++
	})

	t.Run("renewal in place with a new key while mail flows", func(t *testing.T) {
		path := filepath.Join(r.CertDir, "renewed-in-place.pem")
		old := CertConfig{Style: OneChainFile, Certs: []*ClientCert{client}, Path: path}
		renewed := CertConfig{Style: OneChainFile, Certs: []*ClientCert{NewCert(t, dir, "client.relay.test", ECDSA)}, Path: path}
		r.SetClient(t, old)
		rcv.SetTable(t, []byte(tableOf(client)))
		before := r.DeferredCount()
		traffic := r.StartTraffic(t, Sender, Recipient, 50*time.Millisecond)
		for len(traffic.Sent()) < 2 {
			time.Sleep(10 * time.Millisecond)
		}
		if o := r.Wait(t, traffic.Sent()[1]); !o.Sent() {
			t.Fatalf("before the renewal: %s, want sent\n%s", o.Status, o.Line)
		}
		r.SetClient(t, renewed) // overwrites path, then reloads
		switched := len(traffic.Sent())
		for len(traffic.Sent()) < switched+2 {
			time.Sleep(10 * time.Millisecond)
		}
		outcomes := traffic.Stop(t)
		for i, o := range outcomes {
			if i < 2 && !o.Sent() || i >= switched && !o.Deferred() {
				t.Errorf("message %d of %d (renewed after %d): %s, want %s\n%s", i+1, len(outcomes), switched, o.Status, map[bool]string{true: "sent", false: "deferred"}[i < 2], o.Line)
			}
			if o.Sent() {
				sent++
			} else {
				deferred++
			}
		}
		if got, want := r.DeferredCount()-before, CountDeferred(outcomes); got != want {
			t.Errorf("DeferredCount() grew by %d, want %d (the traffic's deferred outcomes)", got, want)
		}
		t.Logf("%d messages, %d deferred, the renewal after message %d", len(outcomes), CountDeferred(outcomes), switched)
		r.DeleteQueue(t)
	})

	t.Run("a dialogue that stops after RCPT queues nothing on the receiver", func(t *testing.T) {
		r.SetClient(t, one(same))
		rcv.SetTable(t, []byte(tableOf(same)))
		before := rcv.Queued()
		if code, tr := rcv.Swaks(t, same, false); code != 250 {
			t.Fatalf("swaks with the listed certificate: RCPT reply %d, want 250\n%s", code, tr)
		}
		o := r.SendAndWait(t, Sender, Recipient) // a whole message after it
		if !o.Sent() {
			t.Fatalf("relay: %s, want sent\n%s", o.Status, o.Line)
		}
		sent++
		after := rcv.Queued()
		want := append(before, strings.TrimPrefix(o.Reply, "250 2.0.0 Ok: queued as "))
		if !reflect.DeepEqual(after, want) {
			t.Errorf("receiver's Queued() = %v, want %v (only the relayed message)", after, want)
		}
	})

	t.Run("deferred then listed: Flush retries and it is sent", func(t *testing.T) {
		r.SetClient(t, one(client))
		rcv.SetTable(t, []byte(tableOf(server)))
		id := r.Send(t, Sender, Recipient)
		if o := r.Wait(t, id); !o.Deferred() {
			t.Fatalf("first attempt %s, want deferred\n%s", o.Status, o.Line)
		}
		deferred++
		rcv.SetTable(t, []byte(tableOf(client)))
		r.Flush(t)
		if o := r.WaitAttempt(t, id, 2); !o.Sent() {
			t.Fatalf("after listing and Flush: second attempt %s, want sent\n%s", o.Status, o.Line)
		}
		sent++
	})

	t.Run("receiver rejecting instead of deferring", func(t *testing.T) {
		rcv.Postconf(t, "smtpd_relay_restrictions="+RejectUnauth, "soft_bounce=no")
		rcv.Reload(t)
		defer func() {
			rcv.Postconf(t, "smtpd_relay_restrictions="+DeferUnauth, "soft_bounce=yes")
			rcv.Reload(t)
		}()
		rcv.SetTable(t, []byte(tableOf(server)))
		o := r.SendAndWait(t, Sender, Recipient)
		// The relay runs with soft_bounce = yes: a 5xx leaves the message
		// queued (SOFTBOUNCE), no bounce is ever mailed.
		if want := "554 5.7.1 <" + Recipient + ">: Relay access denied"; o.Reply != want || o.Status != "SOFTBOUNCE" || !o.Deferred() {
			t.Fatalf("reply %q, status %s; want %q, SOFTBOUNCE\n%s", o.Reply, o.Status, want, o.Line)
		}
		deferred++
		r.DeleteQueue(t)
	})

	t.Run("counts", func(t *testing.T) {
		if got := r.SentCount(); got != sent {
			t.Errorf("SentCount() = %d, want %d", got, sent)
		}
		if got := r.DeferredCount(); got != deferred {
			t.Errorf("DeferredCount() = %d, want %d", got, deferred)
		}
	})
}

// TestRelaySMTPOverride asserts that a master.cf -o override of the smtp
// service decides the client certificate, not main.cf.
func TestRelaySMTPOverride(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mainCert := NewCert(t, dir, "main-cf.relay.test", ECDSA)
	override := NewCert(t, dir, "master-cf.relay.test", ECDSA)
	WriteChainFile(t, dir+"/override.pem", override)
	rcv := StartReceiver(t, Options{})
	r := StartRelay(t, RelayOptions{
		Receiver: rcv.SMTPAddr,
		Client:   CertConfig{Style: OneChainFile, Certs: []*ClientCert{mainCert}},
		Options:  Options{SMTPOverrides: []string{"smtp_tls_chain_files=" + dir + "/override.pem"}},
	})
	for _, tc := range []struct {
		name   string
		listed *ClientCert
		want   string
	}{
		{"main.cf certificate listed", mainCert, "deferred"},
		{"master.cf override listed", override, "sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv.SetTable(t, []byte(tableOf(tc.listed)))
			if o := r.SendAndWait(t, Sender, Recipient); o.Status != tc.want {
				t.Fatalf("%s, want %s\n%s", o.Status, tc.want, o.Line)
			}
		})
	}
}

// waitDelivery returns the receiver's delivery of queueID.
func waitDelivery(t *testing.T, in *Instance, queueID string) Outcome {
	t.Helper()
	deadline := time.Now().Add(outcomeTimeout)
	for {
		for _, o := range ParseDeliveries(in.Maillog(), in.SyslogName) {
			if o.QueueID == queueID {
				return o
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver never delivered %s\nmaillog:\n%s", queueID, in.Maillog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func certOfType(certs []*ClientCert, kt KeyType) *ClientCert {
	for _, c := range certs {
		if c.KeyType() == kt {
			return c
		}
	}
	return nil
}

func keyTypes(certs []*ClientCert) []KeyType {
	var kts []KeyType
	for _, c := range certs {
		kts = append(kts, c.KeyType())
	}
	return kts
}

func TestParseDeliveries(t *testing.T) {
	t.Parallel()
	const (
		tlsEC   = "Dec 04 20:54:28 relay pt-1/smtp[20799]: Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:36175: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ECDSA (prime256v1) server-digest SHA256 client-signature ECDSA (prime256v1) client-digest SHA256"
		tlsRSA  = "Dec 04 20:54:28 relay pt-1/smtp[20837]: Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:36175: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ECDSA (prime256v1) server-digest SHA256 client-signature RSA-PSS (2048 bits) client-digest SHA256"
		tlsNone = "Dec 04 20:54:28 relay pt-1/smtp[20837]: Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:36175: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ECDSA (prime256v1) server-digest SHA256"
		sentL   = "Dec 04 20:54:28 relay pt-1/smtp[20799]: 2915198502F: to=<b@example.net>, relay=127.0.0.1[127.0.0.1]:36175, delay=0.04, delays=0/0/0.03/0.01, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 3262E985047)"
		defL    = "Dec 04 20:54:28 relay pt-1/smtp[20837]: 494C3985058: to=<b@example.net>, relay=127.0.0.1[127.0.0.1]:36175, delay=0.03, delays=0.01/0.01/0/0.01, dsn=4.7.1, status=deferred (host 127.0.0.1[127.0.0.1] said: 454 4.7.1 <b@example.net>: Relay access denied (in reply to RCPT TO command))"
		softL   = "Dec 04 20:54:28 relay pt-1/smtp[20837]: 5A: to=<b@example.net>, relay=127.0.0.1[127.0.0.1]:36175, delay=0.03, delays=0.01/0.01/0/0.01, dsn=5.7.1, status=SOFTBOUNCE (host 127.0.0.1[127.0.0.1] said: 554 5.7.1 <b@example.net>: Relay access denied (in reply to RCPT TO command))"
		tlsReqL = "Dec 04 20:54:28 relay pt-1/smtp[20837]: 6B: to=<b@example.net>, relay=127.0.0.1[127.0.0.1]:36175, delay=0.03, delays=0.01/0.01/0/0.01, dsn=4.7.4, status=deferred (TLS is required, but was not offered by host 127.0.0.1[127.0.0.1])"
		discL   = "Dec 04 20:54:28 relay-test pt-2/discard[20819]: 3262E985047: to=<b@example.net>, relay=none, delay=0.01, delays=0.01/0/0/0, dsn=2.0.0, status=sent (example.net)"
	)
	tests := []struct {
		name   string
		log    []string
		syslog string
		want   []Outcome
	}{
		{"sent after an ECDSA session", []string{tlsEC, sentL}, "pt-1", []Outcome{{
			QueueID: "2915198502F", To: "b@example.net", Relay: "127.0.0.1[127.0.0.1]:36175", DSN: "2.0.0", Status: "sent",
			Reply: "250 2.0.0 Ok: queued as 3262E985047", Detail: "250 2.0.0 Ok: queued as 3262E985047",
			TLS:           strings.SplitN(tlsEC, "]:36175: ", 2)[1],
			ClientKeyType: ECDSA, Line: sentL,
		}}},
		{"deferred after an RSA-PSS session", []string{tlsRSA, defL}, "pt-1", []Outcome{{
			QueueID: "494C3985058", To: "b@example.net", Relay: "127.0.0.1[127.0.0.1]:36175", DSN: "4.7.1", Status: "deferred",
			Reply:  relayDenied,
			Detail: "host 127.0.0.1[127.0.0.1] said: 454 4.7.1 <b@example.net>: Relay access denied (in reply to RCPT TO command)",
			TLS:    strings.SplitN(tlsRSA, "]:36175: ", 2)[1], ClientKeyType: RSA, Line: defL,
		}}},
		{"no client certificate, then a session-less attempt", []string{tlsNone, softL, tlsReqL}, "pt-1", []Outcome{
			{QueueID: "5A", To: "b@example.net", Relay: "127.0.0.1[127.0.0.1]:36175", DSN: "5.7.1", Status: "SOFTBOUNCE",
				Reply:  "554 5.7.1 <b@example.net>: Relay access denied",
				Detail: "host 127.0.0.1[127.0.0.1] said: 554 5.7.1 <b@example.net>: Relay access denied (in reply to RCPT TO command)",
				TLS:    strings.SplitN(tlsNone, "]:36175: ", 2)[1], Line: softL},
			{QueueID: "6B", To: "b@example.net", Relay: "127.0.0.1[127.0.0.1]:36175", DSN: "4.7.4", Status: "deferred",
				Detail: "TLS is required, but was not offered by host 127.0.0.1[127.0.0.1]", Line: tlsReqL},
		}},
		{"discard on the receiver", []string{discL}, "pt-2", []Outcome{{
			QueueID: "3262E985047", To: "b@example.net", Relay: "none", DSN: "2.0.0", Status: "sent",
			Reply: "example.net", Detail: "example.net", Line: discL,
		}}},
		{"another instance's lines", []string{tlsEC, sentL, discL}, "pt-3", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ParseDeliveries(strings.Join(tc.log, "\n")+"\n", tc.syslog)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseDeliveries:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestChainPEM checks the chain file layout: key, certificate, key,
// certificate, in the order given, each key matching its certificate.
func TestChainPEM(t *testing.T) {
	t.Parallel()
	rsaCert := NewCert(t, "", "rsa.relay.test", RSA)
	ecCert := NewCert(t, "", "ec.relay.test", ECDSA)
	edCert := NewCert(t, "", "ed.relay.test", Ed25519)
	want := []*ClientCert{rsaCert, ecCert, edCert}
	for i, kt := range []KeyType{RSA, ECDSA, Ed25519} {
		if got := want[i].KeyType(); got != kt {
			t.Errorf("NewCert(%s).KeyType() = %q", kt, got)
		}
	}
	rest := ChainPEM(want...)
	for i := 0; len(rest) > 0; i++ {
		var kb, cb *pem.Block
		kb, rest = pem.Decode(rest)
		cb, rest = pem.Decode(rest)
		if kb == nil || cb == nil || kb.Type != "PRIVATE KEY" || cb.Type != "CERTIFICATE" {
			t.Fatalf("group %d: want a PRIVATE KEY then a CERTIFICATE block", i)
		}
		if i >= len(want) {
			t.Fatalf("more than %d groups", len(want))
		}
		key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err != nil {
			t.Fatalf("group %d key: %v", i, err)
		}
		cert, err := x509.ParseCertificate(cb.Bytes)
		if err != nil {
			t.Fatalf("group %d certificate: %v", i, err)
		}
		if !cert.Equal(want[i].Cert) {
			t.Errorf("group %d: certificate %s, want %s", i, cert.Subject.CommonName, want[i].Cert.Subject.CommonName)
		}
		signer, ok := key.(crypto.Signer)
		if !ok || !signer.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(cert.PublicKey) {
			t.Errorf("group %d: key does not match its certificate", i)
		}
	}
}
