package postfixtest

// Key types and chain files.
//
// A Postfix chain file (smtp_tls_chain_files, smtpd_tls_chain_files) is a
// sequence of PEM blocks: a private key, its certificate, that certificate's
// issuers (optional), then the next key, its certificate, and so on; one
// file may hold one such group per key type (RSA, ECDSA, Ed25519). The
// certificates made here are self-signed, so a group is a key and a leaf.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"
)

// KeyType names a public key algorithm as Postfix logs it in
// "client-signature RSA-PSS (2048 bits)" or "server-signature ECDSA (P-256)":
// RSA covers RSA-PSS and PKCS #1 signatures.
type KeyType string

// The key types NewKey makes.
const (
	RSA     KeyType = "RSA"
	ECDSA   KeyType = "ECDSA"
	Ed25519 KeyType = "Ed25519"
)

// NewKey makes a fresh private key: RSA 2048 bits, ECDSA P-256 or Ed25519.
func NewKey(tb testing.TB, kt KeyType) crypto.Signer {
	tb.Helper()
	var (
		key crypto.Signer
		err error
	)
	switch kt {
	case RSA:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case ECDSA:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		tb.Fatalf("postfixtest: unknown key type %q", kt)
	}
	if err != nil {
		tb.Fatalf("postfixtest: %s key: %v", kt, err)
	}
	return key
}

// NewCert is NewClientCert with a fresh key of type kt, valid for 24 hours.
func NewCert(tb testing.TB, dir, cn string, kt KeyType) *ClientCert {
	tb.Helper()
	return NewClientCert(tb, dir, cn, NewKey(tb, kt), time.Time{})
}

// KeyType returns the type of c's key ("" when unknown).
func (c *ClientCert) KeyType() KeyType {
	switch c.Key.(type) {
	case *rsa.PrivateKey:
		return RSA
	case *ecdsa.PrivateKey:
		return ECDSA
	case ed25519.PrivateKey:
		return Ed25519
	}
	return ""
}

// ChainPEM returns the chain file content for certs: each one's key then its
// certificate, in the order given.
func ChainPEM(certs ...*ClientCert) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		b.Write(c.KeyPEM)
		b.Write(c.CertPEM)
	}
	return b.Bytes()
}

// WriteChainFile writes ChainPEM(certs...) to path, mode 0600 (it holds
// private keys; Postfix reads it as root before dropping privileges).
func WriteChainFile(tb testing.TB, path string, certs ...*ClientCert) {
	tb.Helper()
	writeFile(tb, path, ChainPEM(certs...), 0o600)
}
