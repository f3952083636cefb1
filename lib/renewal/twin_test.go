package renewal

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/certfile"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/receiver"
)

// pinner is a go-smtp receiver on 127.0.0.1 relaying for one certificate,
// pinned by its certificate or by its public key.
type pinner struct {
	byKey bool
	pin   [32]byte
}

type pinSession struct {
	p    *pinner
	conn *smtp.Conn
}

func (s *pinSession) Reset()                               {}
func (s *pinSession) Logout() error                        { return nil }
func (s *pinSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *pinSession) Data(io.Reader) error                 { return io.EOF }
func (s *pinSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if st, ok := s.conn.TLSConnectionState(); ok && len(st.PeerCertificates) > 0 {
		c := st.PeerCertificates[0]
		der := c.Raw
		if s.p.byKey {
			der = c.RawSubjectPublicKeyInfo
		}
		if sha256.Sum256(der) == s.p.pin {
			return nil
		}
	}
	return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "<" + to + ">: Relay access denied"}
}

func startPinner(t *testing.T, l certfile.Leaf, byKey bool) string {
	t.Helper()
	p := &pinner{byKey: byKey, pin: sha256.Sum256(l.Cert().Raw)}
	if byKey {
		p.pin = sha256.Sum256(l.Cert().RawSubjectPublicKeyInfo)
	}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &pinSession{p: p, conn: c}, nil }))
	s.Domain = "receiver.test"
	k := newKey(t)
	srv := newCert(t, k, "receiver.test", time.Now().Add(-time.Hour), day)
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srv.Raw}, PrivateKey: k}}, ClientAuth: tls.RequestClientCert}
	s.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

// A receiver's listing is told apart by asking with the certificate and its
// twin, as the check does for a receiver run by someone else.
func TestTwinListing(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	l := certfile.Leaf{Chain: []*x509.Certificate{newCert(t, k, "relay.example.org", time.Now().Add(-time.Hour), 90*day)}, Key: k, Source: "relay.pem:1"}
	other := certfile.Leaf{Chain: []*x509.Certificate{newCert(t, newKey(t), "relay.example.org", time.Now().Add(-time.Hour), 90*day)}, Key: k}
	twin, err := Twin(l, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if string(twin.Leaf.RawSubjectPublicKeyInfo) != string(l.Cert().RawSubjectPublicKeyInfo) || string(twin.Leaf.Raw) == string(l.Cert().Raw) {
		t.Fatal("the twin must have the same public key in another certificate")
	}
	for _, tc := range []struct {
		name   string
		pinned certfile.Leaf
		byKey  bool
		want   Listing
	}{
		{"pinned by public key", l, true, ByPublicKey},
		{"pinned by certificate", l, false, ByCert},
		{"another certificate pinned", other, false, Unlisted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startPinner(t, tc.pinned, tc.byKey)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ans, err := receiver.AskAll(ctx, []string{addr}, []tls.Certificate{l.TLS(), twin}, receiver.AllOptions{})
			if err != nil || len(ans) != 2 || ans[0].Err != nil || ans[1].Err != nil {
				t.Fatalf("AskAll: %v %v", ans, err)
			}
			got := ListingOf(ans[0].Result.Verdict == receiver.Accepted, ans[1].Result.Verdict == receiver.Accepted)
			if got != tc.want {
				t.Errorf("listing %v, want %v", got, tc.want)
			}
		})
	}
}

// Against a real Postfix receiver: permit_tls_clientcerts relays for the
// twin exactly when relay_clientcerts lists the public key.
func TestTwinPostfix(t *testing.T) {
	dir := t.TempDir()
	c := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	l := certfile.Leaf{Chain: []*x509.Certificate{c.Cert}, Key: c.Key, Source: c.CertFile}
	twin, err := Twin(l, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rcv := postfixtest.StartReceiver(t, postfixtest.Options{})
	for _, tc := range []struct {
		name string
		line string
		want Listing
	}{
		{"public key listed", c.PubkeyFingerprint(rcv.Digest), ByPublicKey},
		{"certificate listed", c.Fingerprint(rcv.Digest), ByCert},
		{"neither", postfixtest.Fingerprint(rcv.Digest, []byte("another relay")), Unlisted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv.SetTable(t, []byte(tc.line+" relay.example.org\n"))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ans, err := receiver.AskAll(ctx, []string{rcv.SMTPAddr}, []tls.Certificate{l.TLS(), twin}, receiver.AllOptions{})
			if err != nil || len(ans) != 2 || ans[0].Err != nil || ans[1].Err != nil {
				t.Fatalf("AskAll: %v %v", ans, err)
			}
			if got := ListingOf(ans[0].Result.Verdict == receiver.Accepted, ans[1].Result.Verdict == receiver.Accepted); got != tc.want {
				t.Errorf("listing %v, want %v (RCPT replies %s, %s)", got, tc.want, ans[0].Result.Rcpt, ans[1].Result.Rcpt)
			}
		})
	}
}
