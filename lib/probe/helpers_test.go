package probe

import (
	"bufio"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/loopback"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/smtpfake"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testcert"
)

// testPKI is a per-test CA and a leaf it signed.
type testPKI struct {
	ca, leaf *x509.Certificate
	cert     tls.Certificate // chain leaf, CA
}

// newPKI makes a CA and a leaf for "relay.test" whose key is leafKey, or a
// fresh ECDSA P-256 key when leafKey is nil.
func newPKI(t testing.TB, leafKey crypto.Signer) *testPKI {
	t.Helper()
	ca := testcert.New(t, testcert.Spec{CN: "probe test CA", CA: true, Serial: big.NewInt(1), NotAfter: time.Now().Add(time.Hour)})
	leaf := testcert.New(t, testcert.Spec{CN: "relay.test", DNS: []string{"relay.test"}, Key: leafKey, Serial: big.NewInt(2), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, Parent: &ca})
	return &testPKI{ca: ca.Leaf, leaf: leaf.Leaf, cert: leaf}
}

func (p *testPKI) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.cert}}
}

// checkChain fails unless got is exactly the chain of p, leaf first.
func (p *testPKI) checkChain(t testing.TB, got []*x509.Certificate) {
	t.Helper()
	if len(got) != 2 || !got[0].Equal(p.leaf) || !got[1].Equal(p.ca) {
		var subjects []string
		for _, c := range got {
			subjects = append(subjects, c.Subject.CommonName)
		}
		t.Errorf("Certs = %q, want [relay.test, probe test CA] (the test PKI)", subjects)
	}
}

// listen returns a TCP listener on a free IPv4 loopback port.
func listen(t testing.TB) net.Listener { return smtpfake.Listen(t) }

// startSMTP runs a go-smtp server on loopback that presents p's chain, with
// STARTTLS (SMTP) or implicit TLS (SMTPS), and returns its address.
func startSMTP(t testing.TB, proto Protocol, p *testPKI) string {
	t.Helper()
	return serveSMTP(t, proto, p.serverConfig(), listen(t))
}

// serveSMTP runs a go-smtp server that accepts no mail (the probe never
// sends any) on l with cfg, with STARTTLS (SMTP) or implicit TLS (SMTPS),
// and returns its address.
func serveSMTP(t testing.TB, proto Protocol, cfg *tls.Config, l net.Listener) string {
	t.Helper()
	return smtpfake.StartOn(t, l, smtpfake.Server{TLS: cfg, Implicit: proto == SMTPS}).Addr
}

// A fake is a scripted SMTP server for one connection at a time. Its methods
// stop the script (by panicking with errStopScript) when the client has gone,
// so scripts read as straight-line dialogues.
type fake struct {
	net.Conn
	r *bufio.Reader
}

var errStopScript = errors.New("client went away")

// startFake serves script on loopback and returns the address.
func startFake(t testing.TB, script func(*fake)) string {
	t.Helper()
	return loopback.Serve(t, listen(t), func(c net.Conn) {
		defer func() {
			if r := recover(); r != nil && r != errStopScript {
				panic(r)
			}
		}()
		script(&fake{Conn: c, r: bufio.NewReader(c)})
	})
}

func (f *fake) send(s string) {
	if _, err := io.WriteString(f.Conn, s); err != nil {
		panic(errStopScript)
	}
}

// expect reads one command line and stops the script unless it starts with verb.
func (f *fake) expect(verb string) {
	line, err := f.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(strings.ToUpper(line), verb) {
		panic(errStopScript)
	}
}

// startTLS runs the server side of the TLS handshake.
func (f *fake) startTLS(cfg *tls.Config) {
	tc := tls.Server(f.Conn, cfg)
	if err := tc.Handshake(); err != nil {
		panic(errStopScript)
	}
	f.Conn, f.r = tc, bufio.NewReader(tc)
}

// readRecord reads one TLS record (the ClientHello), whole: closing with
// unread bytes would send the client a reset instead of the end of stream.
func (f *fake) readRecord() {
	var h [5]byte
	if _, err := io.ReadFull(f.r, h[:]); err != nil {
		panic(errStopScript)
	}
	if _, err := io.CopyN(io.Discard, f.r, int64(h[3])<<8|int64(h[4])); err != nil {
		panic(errStopScript)
	}
}

// drain reads until the client closes the connection.
func (f *fake) drain() {
	_, _ = io.Copy(io.Discard, f.r)
	panic(errStopScript)
}
