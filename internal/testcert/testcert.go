// Package testcert makes X.509 certificates for the tests of this module:
// self-signed or signed by a test CA, with the names, key, validity and
// usages a test asks for, made per test with crypto/x509.
//
// It makes no files (internal/postfixtest writes the ones Postfix reads)
// and is for tests only: a failure ends the test with tb.Fatal.
package testcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// Spec says what certificate to make. Zero fields take the defaults
// their comments give.
type Spec struct {
	CN  string   // subject common name
	Org []string // subject organisation
	DNS []string // DNS SANs; none when nil (say DNS: []string{cn} for one)
	IPs []net.IP // IP SANs

	// Key is the certificate's key; nil: a fresh ECDSA P-256 key.
	Key crypto.Signer
	// Serial: nil, a random 62-bit serial.
	Serial *big.Int
	// NotBefore: zero, an hour ago. NotAfter: zero, 24 hours from now.
	NotBefore, NotAfter time.Time

	// CA makes a CA certificate (KeyUsageCertSign, basic constraints);
	// PathLenZero lets it sign leaves only.
	CA, PathLenZero bool
	// KeyUsage: zero, digital signature (plus key encipherment for RSA
	// keys), or cert sign for a CA.
	KeyUsage x509.KeyUsage
	// EKU: nil, serverAuth and clientAuth (none for a CA); NoEKU for none.
	EKU   []x509.ExtKeyUsage
	NoEKU bool
	// Extensions are added as they are.
	Extensions []pkix.Extension

	// Parent signs the certificate (its Leaf and PrivateKey), and its
	// chain follows the new leaf in the result. Nil: self-signed.
	Parent *tls.Certificate
}

// New makes the certificate s describes. The result has Leaf and
// PrivateKey set, and Certificate holds the leaf then the parent's chain.
func New(tb testing.TB, s Spec) tls.Certificate {
	tb.Helper()
	if s.Key == nil {
		s.Key = Key(tb)
	}
	now := time.Now()
	if s.NotBefore.IsZero() {
		s.NotBefore = now.Add(-time.Hour)
	}
	if s.NotAfter.IsZero() {
		s.NotAfter = now.Add(24 * time.Hour)
	}
	if s.Serial == nil {
		serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
		if err != nil {
			tb.Fatalf("testcert: %v", err)
		}
		s.Serial = serial
	}
	if s.KeyUsage == 0 {
		switch _, isRSA := s.Key.(*rsa.PrivateKey); {
		case s.CA:
			s.KeyUsage = x509.KeyUsageCertSign
		case isRSA:
			s.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		default:
			s.KeyUsage = x509.KeyUsageDigitalSignature
		}
	}
	if s.EKU == nil && !s.NoEKU && !s.CA {
		s.EKU = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          s.Serial,
		Subject:               pkix.Name{CommonName: s.CN, Organization: s.Org},
		DNSNames:              s.DNS,
		IPAddresses:           s.IPs,
		NotBefore:             s.NotBefore,
		NotAfter:              s.NotAfter,
		KeyUsage:              s.KeyUsage,
		ExtKeyUsage:           s.EKU,
		ExtraExtensions:       s.Extensions,
		IsCA:                  s.CA,
		MaxPathLenZero:        s.PathLenZero,
		BasicConstraintsValid: true,
	}
	parent, signer := tmpl, s.Key
	if s.Parent != nil {
		parent, signer = s.Parent.Leaf, s.Parent.PrivateKey.(crypto.Signer)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, s.Key.Public(), signer)
	if err != nil {
		tb.Fatalf("testcert: certificate for %q: %v", s.CN, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("testcert: %v", err)
	}
	c := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: s.Key, Leaf: leaf}
	if s.Parent != nil {
		c.Certificate = append(c.Certificate, s.Parent.Certificate...)
	}
	return c
}

// Key makes a fresh ECDSA P-256 key.
func Key(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("testcert: %v", err)
	}
	return k
}
