package receiver

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
)

// TestPostfix asks a real Postfix receiver, which relays for the client
// certificates listed in its relay_clientcerts, under each way Postfix
// refuses relaying, and checks from its maillog that nothing was queued.
func TestPostfix(t *testing.T) {
	t.Parallel()
	in := postfixtest.Start(t, postfixtest.Options{Settings: []string{
		"smtpd_relay_restrictions = permit_tls_clientcerts, defer_unauth_destination",
	}})
	listedPF := postfixtest.NewClientCert(t, "", "listed.relay.test", nil, time.Time{})
	unlistedPF := postfixtest.NewClientCert(t, "", "unlisted.relay.test", nil, time.Time{})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPF := postfixtest.NewClientCert(t, "", "rsa.relay.test", rsaKey, time.Time{})
	in.SetTable(t, []byte(listedPF.Fingerprint(in.Digest)+" listed.relay.test\n"+
		rsaPF.PubkeyFingerprint(in.Digest)+" rsa.relay.test, by public key\n"))
	certs := []tls.Certificate{}
	for _, c := range []*postfixtest.ClientCert{listedPF, unlistedPF, rsaPF} {
		certs = append(certs, tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key})
	}
	rcpt := "<" + DefaultRcpt + ">"
	deniedAll := "454 4.7.1 " + rcpt + ": Recipient address rejected: Access denied"

	steps := []struct {
		name     string
		postconf []string // applied, then reloaded, before asking
		// want per certificate: listed, unlisted, listed RSA
		verdicts  [3]Verdict
		rcpt      [3]string
		requested bool
	}{{
		name:      "defer_unauth_destination",
		verdicts:  [3]Verdict{Accepted, Refused, Accepted},
		rcpt:      [3]string{"250 2.1.5 Ok", "454 4.7.1 " + rcpt + ": Relay access denied", "250 2.1.5 Ok"},
		requested: true,
	}, {
		name:      "reject_unauth_destination",
		postconf:  []string{"smtpd_relay_restrictions=permit_tls_clientcerts, reject_unauth_destination", "soft_bounce=no"},
		verdicts:  [3]Verdict{Accepted, Refused, Accepted},
		rcpt:      [3]string{"250 2.1.5 Ok", "554 5.7.1 " + rcpt + ": Relay access denied", "250 2.1.5 Ok"},
		requested: true,
	}, {
		name:      "reject",
		postconf:  []string{"smtpd_relay_restrictions=permit_tls_clientcerts, reject", "soft_bounce=yes"},
		verdicts:  [3]Verdict{Accepted, Refused, Accepted},
		rcpt:      [3]string{"250 2.1.5 Ok", "454 4.7.1 " + rcpt + ": Recipient address rejected: Access denied", "250 2.1.5 Ok"},
		requested: true,
	}, {
		name:     "smtpd_tls_ask_ccert = no",
		postconf: []string{"smtpd_tls_ask_ccert=no"},
		verdicts: [3]Verdict{Refused, Refused, Refused},
		rcpt:     [3]string{deniedAll, deniedAll, deniedAll},
	}}
	asked := 0
	for _, st := range steps {
		if len(st.postconf) > 0 {
			in.Postconf(t, st.postconf...)
			in.Reload(t)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		answers, err := AskAll(ctx, []string{in.SMTPAddr}, certs, AllOptions{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range answers {
			asked++
			if a.Err != nil {
				t.Errorf("%s, certificate %d: %v", st.name, i, a.Err)
				continue
			}
			r := a.Result
			if r.Verdict != st.verdicts[i] || replyString(r.Rcpt) != st.rcpt[i] {
				t.Errorf("%s, certificate %d: %v %q, want %v %q", st.name, i, r.Verdict, replyString(r.Rcpt), st.verdicts[i], st.rcpt[i])
			}
			if r.CertRequested != st.requested || r.CertSent != st.requested {
				t.Errorf("%s, certificate %d: CertRequested %v, CertSent %v, want %v", st.name, i, r.CertRequested, r.CertSent, st.requested)
			}
			if r.QuitErr != nil {
				t.Errorf("%s, certificate %d: QuitErr %v", st.name, i, r.QuitErr)
			}
		}
	}

	// Nothing was queued: no message reached cleanup or qmgr, and every
	// session ended with RSET and QUIT, without DATA.
	// smtpd logs the disconnect after its reply to QUIT, and postlogd
	// writes asynchronously: wait (a hang guard, not a timing) for every
	// session's line.
	clean := regexp.MustCompile(`disconnect from \S+ ehlo=2 starttls=1 mail=1 rcpt=[01]/?1? rset=1 quit=1 commands=`)
	log := in.Maillog()
	for deadline := time.Now().Add(30 * time.Second); len(clean.FindAllString(log, -1)) < asked && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		log = in.Maillog()
	}
	for _, bad := range []string{"message-id=", "/qmgr[", "/cleanup[", " data="} {
		if strings.Contains(log, bad) {
			t.Errorf("maillog contains %q: a message was queued\n%s", bad, log)
		}
	}
	if got := len(clean.FindAllString(log, -1)); got != asked {
		t.Errorf("maillog has %d sessions ended with RSET and QUIT, want %d\n%s", got, asked, log)
	}
	for _, dir := range []string{"maildrop", "incoming", "active", "deferred", "hold", "corrupt"} {
		entries, err := os.ReadDir(filepath.Join(in.QueueDir, dir))
		if err != nil {
			t.Errorf("queue: %v", err)
		}
		for _, e := range entries {
			t.Errorf("queue file left: %s/%s", dir, e.Name())
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("maillog:\n%s", log)
	}
}
