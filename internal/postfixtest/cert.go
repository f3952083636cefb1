package postfixtest

// Fingerprints, as Postfix prints and matches them: the digest of the DER
// certificate (x509.Certificate.Raw) or of the DER SubjectPublicKeyInfo
// (RawSubjectPublicKeyInfo), as uppercase hex pairs joined by ':'.

import (
	"crypto"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testcert"
)

// ClientCert is a self-signed certificate, its key, and both written to PEM
// files. Despite its name it serves both sides: a relaying client presents it
// to Swaks, and Options.ServerCert makes an Instance's smtpd present it.
type ClientCert struct {
	Cert              *x509.Certificate
	Key               crypto.Signer
	CertPEM, KeyPEM   []byte
	CertFile, KeyFile string
}

// NewClientCert makes a self-signed certificate for cn (subject CN and DNS
// SAN) with the serverAuth and clientAuth extended key usages, valid from an
// hour ago until notAfter (24 hours from now when zero), and writes it and
// its PKCS #8 key to new files in dir (tb.TempDir() when empty). key nil means
// a fresh ECDSA P-256 key; pass an old ClientCert's Key to renew the
// certificate while keeping its public key fingerprint.
func NewClientCert(tb testing.TB, dir, cn string, key crypto.Signer, notAfter time.Time) *ClientCert {
	tb.Helper()
	tc := testcert.New(tb, testcert.Spec{CN: cn, DNS: []string{cn}, Key: key, NotAfter: notAfter})
	key, cert, der := tc.PrivateKey.(crypto.Signer), tc.Leaf, tc.Leaf.Raw
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatalf("postfixtest: key for %q: %v", cn, err)
	}
	c := &ClientCert{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
	}
	if dir == "" {
		dir = tb.TempDir()
	}
	c.CertFile = createFile(tb, dir, fileBase(cn)+"-*.crt", c.CertPEM)
	c.KeyFile = strings.TrimSuffix(c.CertFile, ".crt") + ".key"
	writeFile(tb, c.KeyFile, c.KeyPEM, 0o600)
	return c
}

// Fingerprint returns the digest of the DER certificate, as Postfix prints
// it. See Fingerprint (the function) for digest names.
func (c *ClientCert) Fingerprint(digest string) string {
	return Fingerprint(digest, c.Cert.Raw)
}

// PubkeyFingerprint returns the digest of the DER SubjectPublicKeyInfo, as
// Postfix prints it (pkey_fingerprint).
func (c *ClientCert) PubkeyFingerprint(digest string) string {
	return Fingerprint(digest, c.Cert.RawSubjectPublicKeyInfo)
}

// Fingerprint returns the digest of data as uppercase hex pairs joined by
// ':'. digest is md5, sha1, sha224, sha256, sha384 or sha512; any other name
// panics, as it is a mistake in the calling test's code.
func Fingerprint(digest string, data []byte) string {
	var h hash.Hash
	switch digest {
	case "md5":
		h = md5.New()
	case "sha1":
		h = sha1.New()
	case "sha224":
		h = sha256.New224()
	case "sha256":
		h = sha256.New()
	case "sha384":
		h = sha512.New384()
	case "sha512":
		h = sha512.New()
	default:
		panic("postfixtest: unsupported digest " + digest)
	}
	h.Write(data)
	hexed := strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
	pairs := make([]string, 0, len(hexed)/2)
	for i := 0; i < len(hexed); i += 2 {
		pairs = append(pairs, hexed[i:i+2])
	}
	return strings.Join(pairs, ":")
}

// fileBase makes cn safe as a file name prefix.
func fileBase(cn string) string {
	b := []byte(cn)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '-' || ch == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "cert"
	}
	return string(b)
}

// createFile writes data to a new file named after pattern in dir and
// returns its path.
func createFile(tb testing.TB, dir, pattern string, data []byte) string {
	tb.Helper()
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		tb.Fatalf("postfixtest: %v", err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		tb.Fatalf("postfixtest: %v", err)
	}
	if err := f.Chmod(0o644); err != nil {
		tb.Fatalf("postfixtest: %v", err)
	}
	return filepath.Clean(f.Name())
}
