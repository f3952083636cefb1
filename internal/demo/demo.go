// Package demo is a stand-in relay and a stand-in receiver for the plugin's
// demo command: tiny SMTP servers on loopback that offer STARTTLS with a
// certificate that can be renewed while they run, and the certificates to
// go with them.
//
// The relay answers EHLO, STARTTLS, NOOP, RSET and QUIT. The receiver also
// asks for a client certificate during STARTTLS and answers MAIL FROM and
// RCPT TO as a Postfix receiver with permit_tls_clientcerts,
// defer_unauth_destination does: RCPT is 250 when the certificate the client
// presented is listed in its relay_clientcerts file (by its sha256 public-key
// or certificate fingerprint), else "454 4.7.1 <rcpt>: Relay access denied".
// Neither is a mail server: DATA and everything else are refused, no mail is
// ever accepted. It is not for tests either: those use a real SMTP server
// (go-smtp, internal/smtpfake) and a real Postfix; it is hand-written to keep
// go-smtp out of the plugin.
package demo

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
)

// NewCert makes a self-signed certificate for name, valid from now for
// days days, with key (a fresh ECDSA P-256 key when nil).
func NewCert(name string, key crypto.Signer, days int) (tls.Certificate, error) {
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return tls.Certificate{}, err
		}
		key = k
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(time.Duration(days) * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// Relay is a running stand-in relay, or receiver.
type Relay struct {
	ln   net.Listener
	cert atomic.Pointer[tls.Certificate]
	wg   sync.WaitGroup
	// table is the receiver's relay_clientcerts file; "" for a relay.
	table string
}

// Listen starts a relay on 127.0.0.1 at a free port, presenting cert.
func Listen(cert tls.Certificate) (*Relay, error) {
	return listen(cert, "")
}

// ListenReceiver starts a receiver on 127.0.0.1 at a free port, presenting
// cert and relaying for the clients whose certificate table lists. It reads
// table at each RCPT TO, so an edit takes effect at once (as after postmap
// on a real receiver).
func ListenReceiver(cert tls.Certificate, table string) (*Relay, error) {
	return listen(cert, table)
}

func listen(cert tls.Certificate, table string) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{ln: ln, table: table}
	r.cert.Store(&cert)
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr returns the relay's "127.0.0.1:port".
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Renew makes the relay present cert from the next connection on.
func (r *Relay) Renew(cert tls.Certificate) { r.cert.Store(&cert) }

// Close stops the relay and waits for its connections to end.
func (r *Relay) Close() error {
	err := r.ln.Close()
	r.wg.Wait()
	return err
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.serve(c)
		}()
	}
}

func (r *Relay) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	cert := r.cert.Load()
	rd, w := bufio.NewReaderSize(c, 1024), c
	say := func(s string) bool { _, err := w.Write([]byte(s + "\r\n")); return err == nil }
	name := "relay.demo"
	if r.table != "" {
		name = "mx.demo"
	}
	if !say("220 " + name + " ESMTP check_relay_fingerprint demo") {
		return
	}
	secure, mail := false, false
	var client *x509.Certificate // the client's certificate, over TLS
	for {
		line, err := rd.ReadString('\n')
		if err != nil || len(line) > 512 {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch verb {
		case "EHLO":
			if secure {
				say("250-" + name + "\r\n250 8BITMIME")
			} else {
				say("250-" + name + "\r\n250 STARTTLS")
			}
		case "STARTTLS":
			if secure {
				say("503 5.5.1 already in TLS")
				continue
			}
			say("220 2.0.0 ready to start TLS")
			cfg := &tls.Config{Certificates: []tls.Certificate{*cert}}
			if r.table != "" {
				cfg.ClientAuth = tls.RequestClientCert // as smtpd_tls_ask_ccert = yes
			}
			tc := tls.Server(c, cfg)
			if tc.Handshake() != nil {
				return
			}
			if p := tc.ConnectionState().PeerCertificates; len(p) > 0 {
				client = p[0]
			}
			c, secure, mail = tc, true, false
			rd, w = bufio.NewReaderSize(tc, 1024), tc
		case "MAIL":
			if r.table == "" {
				say("502 5.5.2 not a mail server: a demo relay")
				continue
			}
			mail = true
			say("250 2.1.0 Ok")
		case "RCPT":
			switch {
			case r.table == "":
				say("502 5.5.2 not a mail server: a demo relay")
			case !mail:
				say("503 5.5.1 Error: need MAIL command")
			case r.listed(client):
				say("250 2.1.5 Ok")
			default:
				say("454 4.7.1 " + rcptAddr(line) + ": Relay access denied")
			}
		case "RSET":
			mail = false
			say("250 2.0.0 ok")
		case "NOOP":
			say("250 2.0.0 ok")
		case "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("502 5.5.2 not a mail server: a demo relay")
		}
	}
}

// listed says whether the receiver's table lists c by its sha256 public-key
// or certificate fingerprint, as permit_tls_clientcerts matches it. The
// table is read as texthash: reads it: a key, white space, a value; # starts
// a comment.
func (r *Relay) listed(c *x509.Certificate) bool {
	if c == nil {
		return false
	}
	data, err := os.ReadFile(r.table)
	if err != nil {
		return false
	}
	pub, crt := fingerprint.SHA256.PublicKey(c), fingerprint.SHA256.Cert(c)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") && (strings.EqualFold(f[0], pub) || strings.EqualFold(f[0], crt)) {
			return true
		}
	}
	return false
}

// rcptAddr returns the <address> of a RCPT TO command line, as Postfix
// quotes it in its refusal.
func rcptAddr(line string) string {
	_, a, ok := strings.Cut(line, "<")
	a, _, ok2 := strings.Cut(a, ">")
	if !ok || !ok2 || strings.ContainsAny(a, "\r\n") {
		return "<>"
	}
	return "<" + a + ">"
}
