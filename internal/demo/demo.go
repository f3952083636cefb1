// Package demo is a stand-in relay for the plugin's demo command: a tiny
// SMTP server on loopback that offers STARTTLS with a certificate that can
// be renewed while it runs, and the certificates to go with it.
//
// It is not a mail server: it answers EHLO, STARTTLS, NOOP, RSET and QUIT,
// refuses everything else, and accepts no mail. It is not for tests
// either: those use a real SMTP server (go-smtp) and a real Postfix.
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
	"strings"
	"sync"
	"sync/atomic"
	"time"
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

// Relay is a running stand-in relay.
type Relay struct {
	ln   net.Listener
	cert atomic.Pointer[tls.Certificate]
	wg   sync.WaitGroup
}

// Listen starts a relay on 127.0.0.1 at a free port, presenting cert.
func Listen(cert tls.Certificate) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{ln: ln}
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
	if !say("220 relay.demo ESMTP check_relay_fingerprint demo") {
		return
	}
	secure := false
	for {
		line, err := rd.ReadString('\n')
		if err != nil || len(line) > 512 {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch verb {
		case "EHLO":
			if secure {
				say("250-relay.demo\r\n250 8BITMIME")
			} else {
				say("250-relay.demo\r\n250 STARTTLS")
			}
		case "STARTTLS":
			if secure {
				say("503 5.5.1 already in TLS")
				continue
			}
			say("220 2.0.0 ready to start TLS")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*cert}})
			if tc.Handshake() != nil {
				return
			}
			c, secure = tc, true
			rd, w = bufio.NewReaderSize(tc, 1024), tc
		case "NOOP", "RSET":
			say("250 2.0.0 ok")
		case "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("502 5.5.2 not a mail server: a demo relay")
		}
	}
}
