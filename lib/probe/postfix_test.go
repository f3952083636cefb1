package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"maps"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfixtest"
)

// opensslLeaf returns the leaf certificate `openssl s_client` gets from a
// STARTTLS (or, with implicit, an implicit-TLS) server at addr with the
// extra arguments args (-sigalgs, -cipher, ...).
func opensslLeaf(t *testing.T, addr string, implicit bool, args ...string) *x509.Certificate {
	t.Helper()
	postfixtest.Require(t, "openssl")
	argv := []string{"s_client", "-connect", addr, "-verify_quiet"}
	if !implicit {
		argv = append(argv, "-starttls", "smtp")
	}
	argv = append(argv, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a hang guard
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", argv...)
	cmd.Stdin = bytes.NewReader([]byte("QUIT\r\n"))
	out, err := cmd.CombinedOutput()
	block, _ := pem.Decode(out[max(0, bytes.Index(out, []byte("-----BEGIN CERTIFICATE-----"))):])
	if block == nil {
		t.Fatalf("openssl %q: no certificate (%v):\n%s", argv, err, out)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("openssl %q: %v", argv, err)
	}
	return c
}

// TestProbeAllPostfix: a real Postfix smtpd holding an RSA and an ECDSA
// certificate, configured both ways Postfix allows; ProbeAll must find both,
// named by key type, and they must be the ones OpenSSL clients are served
// when they ask for each key type, and posttls-finger's among them.
func TestProbeAllPostfix(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rsaCert := postfixtest.NewClientCert(t, dir, "rsa.relay-test.localdomain", rsaKey, time.Time{})
	ecCert := postfixtest.NewClientCert(t, dir, "ecdsa.relay-test.localdomain", nil, time.Time{})
	for _, tc := range []struct {
		name     string
		settings []string
	}{
		{"chain files", []string{"smtpd_tls_chain_files = " + ecCert.KeyFile + " " + ecCert.CertFile + " " + rsaCert.KeyFile + " " + rsaCert.CertFile}},
		{"cert and eccert files", []string{
			"smtpd_tls_cert_file = " + rsaCert.CertFile, "smtpd_tls_key_file = " + rsaCert.KeyFile,
			"smtpd_tls_eccert_file = " + ecCert.CertFile, "smtpd_tls_eckey_file = " + ecCert.KeyFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := postfixtest.Start(t, postfixtest.Options{Settings: tc.settings})
			for _, l := range []struct {
				addr  string
				proto Protocol
			}{{in.SMTPAddr, SMTP}, {in.SMTPSAddr, SMTPS}} {
				ctx, cancel := context.WithTimeout(context.Background(), okTimeout)
				s, err := ProbeAll(ctx, l.addr, Options{Protocol: l.proto})
				cancel()
				if err != nil {
					t.Fatalf("ProbeAll(%s, %v): %v\nmaillog:\n%s", l.addr, l.proto, err, in.Maillog())
				}
				byType := map[KeyType]*x509.Certificate{}
				for _, r := range s.Results {
					if r.Proven() {
						byType[KeyTypeOf(r.Certs[0])] = r.Certs[0]
					}
				}
				if len(s.Results) != 2 || !rsaCert.Cert.Equal(byType[KeyRSA]) || !ecCert.Cert.Equal(byType[KeyECDSA]) {
					t.Errorf("ProbeAll(%s, %v): %d Results, key types %v; want the relay's RSA and ECDSA certificates", l.addr, l.proto, len(s.Results), slices.Collect(maps.Keys(byType)))
				}
				var status []string
				for _, k := range s.KeyTypes {
					status = append(status, k.String())
				}
				if want := []string{"RSA found", "ECDSA found", notAskedEd25519}; !slices.Equal(status, want) {
					t.Errorf("ProbeAll(%s, %v) KeyTypes = %q, want %q", l.addr, l.proto, status, want)
				}
				implicit := l.proto == SMTPS
				if c := opensslLeaf(t, l.addr, implicit, "-sigalgs", "rsa_pss_rsae_sha256:RSA+SHA256"); !c.Equal(byType[KeyRSA]) {
					t.Errorf("openssl s_client -sigalgs RSA got %q, ProbeAll's RSA leaf differs", c.Subject.CommonName)
				}
				if c := opensslLeaf(t, l.addr, implicit, "-sigalgs", "ECDSA+SHA256"); !c.Equal(byType[KeyECDSA]) {
					t.Errorf("openssl s_client -sigalgs ECDSA got %q, ProbeAll's ECDSA leaf differs", c.Subject.CommonName)
				}
				if c := opensslLeaf(t, l.addr, implicit, "-tls1_2", "-cipher", "aECDSA"); !c.Equal(byType[KeyECDSA]) {
					t.Errorf("openssl s_client -tls1_2 -cipher aECDSA got %q, ProbeAll's ECDSA leaf differs", c.Subject.CommonName)
				}
			}
			fp, _ := postfixtest.PosttlsFinger(t, in.ConfigDir, in.SMTPAddr, "sha256")
			if fp != rsaCert.Fingerprint("sha256") && fp != ecCert.Fingerprint("sha256") {
				t.Errorf("posttls-finger saw %s, neither of the relay's certificates", fp)
			}
		})
	}
}
