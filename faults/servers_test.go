package faults

// Misbehaving SMTP servers and the certificates they present. Every server
// listens on a loopback address only (127.0.0.1 or ::1) and lives until the
// test that started it ends.
//
// A relay plays this dialogue, as the probe expects it:
//
//	STARTTLS:  [connect] banner  [ehlo] 250  [starttls] 220  [handshake] TLS
//	           [ehloTLS] 250  [quit] 221
//	implicit:  [connect] TLS  [bannerTLS] banner  [ehloTLS] 250  [quit] 221
//
// At the stage named by relay.at (in brackets: just after the client's
// command was read, before the server's part), relay.fault takes over the
// connection instead; when it returns, the connection is closed.

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/loopback"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testcert"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// stage is a point of the dialogue where a fault can take over.
type stage int

const (
	atNone      stage = iota // no fault
	atConnect                // accepted, nothing sent (implicit TLS: before the handshake)
	atEHLO                   // EHLO read, in plain text
	atSTARTTLS               // STARTTLS read
	atHandshake              // 220 to STARTTLS sent, before the TLS handshake
	atBannerTLS              // implicit TLS: handshake done, before the banner
	atEHLOTLS                // EHLO read over TLS
	atQUIT                   // QUIT read
)

// relay describes a fake SMTP server. Empty strings take the defaults of
// a well-behaved relay.
type relay struct {
	cert     *tls.Certificate // presented over TLS; nil for the test's default
	implicit bool             // TLS from the first byte (SMTPS)
	banner   string           // raw banner; default "220 relay.test ESMTP\r\n"
	ehlo     string           // raw reply to the plain-text EHLO; default offers STARTTLS
	starttls string           // raw reply to STARTTLS; default "220 2.0.0 ready\r\n"
	at       stage
	fault    func(c net.Conn)
}

const (
	defaultBanner   = "220 relay.test ESMTP\r\n"
	defaultEHLO     = "250-relay.test\r\n250-SIZE 10240000\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
	defaultSTARTTLS = "220 2.0.0 ready\r\n"
	ehloOverTLS     = "250-relay.test\r\n250 SIZE 10240000\r\n"
)

// listen starts a listener on host ("127.0.0.1" or "::1") and serves every
// connection with handle until the test ends (internal/loopback). It
// returns "ip:port" as the plugin's -H takes it.
func listen(t testing.TB, host string, handle func(net.Conn)) string {
	t.Helper()
	return loopback.Serve(t, loopback.Listen(t, host), handle)
}

// serve starts r on host with cert as its default certificate.
func (r relay) serve(t testing.TB, host string, cert tls.Certificate) string {
	if r.cert == nil {
		r.cert = &cert
	}
	return listen(t, host, r.handle)
}

// handle plays the dialogue of the package comment on c.
func (r relay) handle(c net.Conn) {
	cfg := &tls.Config{Certificates: []tls.Certificate{*r.cert}, MinVersion: tls.VersionTLS12}
	br := bufio.NewReader(c)
	// step runs the fault if it is due at s, and says whether to go on.
	step := func(s stage) bool {
		if r.at == s && r.fault != nil {
			r.fault(c)
			return false
		}
		return true
	}
	// expect reads a command line that must start with verb.
	expect := func(verb string) bool {
		line, err := br.ReadString('\n')
		return err == nil && strings.HasPrefix(strings.ToUpper(line), verb)
	}
	send := func(s string) bool {
		_, err := io.WriteString(c, s)
		return err == nil
	}
	startTLS := func() bool {
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return false
		}
		c, br = tc, bufio.NewReader(tc)
		return true
	}

	if !step(atConnect) {
		return
	}
	if r.implicit {
		if !startTLS() || !step(atBannerTLS) {
			return
		}
	}
	if !send(or(r.banner, defaultBanner)) {
		return
	}
	if !r.implicit {
		if !expect("EHLO") || !step(atEHLO) || !send(or(r.ehlo, defaultEHLO)) {
			return
		}
		if !expect("STARTTLS") || !step(atSTARTTLS) || !send(or(r.starttls, defaultSTARTTLS)) {
			return
		}
		if !step(atHandshake) || !startTLS() {
			return
		}
	}
	if !expect("EHLO") || !step(atEHLOTLS) || !send(ehloOverTLS) {
		return
	}
	if !expect("QUIT") || !step(atQUIT) {
		return
	}
	send("221 2.0.0 bye\r\n")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Faults, for relay.fault.

// hang keeps the connection open and says nothing until the client leaves.
func hang(c net.Conn) { io.Copy(io.Discard, c) }

// closeConn closes the connection (by returning).
func closeConn(net.Conn) {}

// reset closes the connection with a TCP RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
}

// sendThen sends raw, then runs next.
func sendThen(raw string, next func(net.Conn)) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := io.WriteString(c, raw); err == nil {
			next(c)
		}
	}
}

// readThen waits for the client's first bytes (a TLS ClientHello, say),
// then runs next.
func readThen(next func(net.Conn)) func(net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, 1)
		if _, err := c.Read(buf); err == nil {
			next(c)
		}
	}
}

// drip sends raw one byte per second, over and over, until the client
// leaves.
func drip(raw string) func(net.Conn) {
	return func(c net.Conn) {
		for {
			for i := 0; i < len(raw); i++ {
				if _, err := c.Write([]byte{raw[i]}); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}
	}
}

// Certificates.

// certSpec describes a certificate to make; zero fields take defaults.
type certSpec struct {
	name      string        // CN and DNS name; default "relay.test"
	key       crypto.Signer // default: a new ECDSA P-256 key
	notBefore time.Time     // default: an hour ago
	notAfter  time.Time     // default: in 90 days
	chain     int           // CA certificates sent after the leaf, the last one self-signed
	pad       int           // bytes of a private extension in each CA certificate
}

// Keys are made once per run: RSA 4096 takes seconds.
var (
	keyP256    = sync.OnceValue(func() crypto.Signer { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	keyP384    = sync.OnceValue(func() crypto.Signer { return must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)) })
	keyCA      = sync.OnceValue(func() crypto.Signer { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	keyRSA4096 = sync.OnceValue(func() crypto.Signer { return must(rsa.GenerateKey(rand.Reader, 4096)) })
	keyEd25519 = sync.OnceValue(func() crypto.Signer {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func must[K crypto.Signer](k K, err error) crypto.Signer {
	if err != nil {
		panic(err)
	}
	return k
}

// padOID is a private-arc OID for the padding extension.
var padOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1}

// newCert makes the certificate s describes, with its CA certificates.
func newCert(t testing.TB, s certSpec) tls.Certificate {
	t.Helper()
	now := time.Now()
	if s.name == "" {
		s.name = "relay.test"
	}
	if s.notBefore.IsZero() {
		s.notBefore = now.Add(-time.Hour)
	}
	if s.notAfter.IsZero() {
		s.notAfter = now.Add(90 * 24 * time.Hour)
	}
	// CA certificates, root first; each signs the next.
	var cas []tls.Certificate
	for i := range s.chain {
		spec := testcert.Spec{CN: fmt.Sprintf("fault CA %d", i), CA: true, Key: keyCA(), NotAfter: now.Add(365 * 24 * time.Hour)}
		if s.pad > 0 {
			spec.Extensions = []pkix.Extension{{Id: padOID, Value: make([]byte, s.pad)}}
		}
		if i > 0 {
			spec.Parent = &cas[i-1]
		}
		cas = append(cas, testcert.New(t, spec))
	}
	leaf := testcert.Spec{CN: s.name, DNS: []string{s.name}, Key: s.key, NotBefore: s.notBefore, NotAfter: s.notAfter}
	if len(cas) > 0 {
		leaf.Parent = &cas[len(cas)-1]
	}
	return testcert.New(t, leaf)
}

// writePEM writes the certificate chain of c to path.
func writePEM(t testing.TB, path string, c tls.Certificate) {
	t.Helper()
	var b strings.Builder
	for _, der := range c.Certificate {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pubkeyFP is the SHA-256 public-key fingerprint of c's leaf as Postfix
// writes it, computed here independently of the product's code.
func pubkeyFP(c tls.Certificate) string {
	return colonHex(sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo))
}

func colonHex(sum [32]byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// otherFP is a well-formed fingerprint no test certificate has.
const otherFP = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"
