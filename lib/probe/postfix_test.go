package probe

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"maps"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
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

// TestProbeAllPostfix: a real Postfix smtpd holding certificates of several
// key types, configured the ways Postfix allows; ProbeAll must find each,
// named by key type, each the one OpenSSL clients are served when they ask
// for that key type, and posttls-finger's among them. A key type the relay
// has no certificate for is "none": OpenSSL's refusal is no error.
func TestProbeAllPostfix(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rsaCert := postfixtest.NewClientCert(t, dir, "rsa.relay-test.localdomain", rsaKey, time.Time{})
	ecCert := postfixtest.NewClientCert(t, dir, "ecdsa.relay-test.localdomain", nil, time.Time{})
	edCert := postfixtest.NewClientCert(t, dir, "ed25519.relay-test.localdomain", edKey, time.Time{})
	pair := func(c *postfixtest.ClientCert) string { return c.KeyFile + " " + c.CertFile }
	for _, tc := range []struct {
		name     string
		settings []string
		want     map[KeyType]*postfixtest.ClientCert
		status   []string
	}{
		{"RSA and ECDSA chain files", []string{"smtpd_tls_chain_files = " + pair(ecCert) + " " + pair(rsaCert)},
			map[KeyType]*postfixtest.ClientCert{KeyRSA: rsaCert, KeyECDSA: ecCert},
			[]string{"RSA found", "ECDSA found", notAskedEd25519}},
		{"RSA cert and ECDSA eccert files", []string{
			"smtpd_tls_cert_file = " + rsaCert.CertFile, "smtpd_tls_key_file = " + rsaCert.KeyFile,
			"smtpd_tls_eccert_file = " + ecCert.CertFile, "smtpd_tls_eckey_file = " + ecCert.KeyFile},
			map[KeyType]*postfixtest.ClientCert{KeyRSA: rsaCert, KeyECDSA: ecCert},
			[]string{"RSA found", "ECDSA found", notAskedEd25519}},
		{"RSA and Ed25519 chain files", []string{"smtpd_tls_chain_files = " + pair(rsaCert) + " " + pair(edCert)},
			map[KeyType]*postfixtest.ClientCert{KeyRSA: rsaCert, KeyEd25519: edCert},
			[]string{"RSA found", "ECDSA none", "Ed25519 found"}},
		{"ECDSA only", []string{"smtpd_tls_chain_files = " + pair(ecCert)},
			map[KeyType]*postfixtest.ClientCert{KeyECDSA: ecCert},
			[]string{"RSA none", "ECDSA found", notAskedEd25519}},
		{"RSA only", []string{"smtpd_tls_chain_files = " + pair(rsaCert)},
			map[KeyType]*postfixtest.ClientCert{KeyRSA: rsaCert},
			[]string{"RSA found", "ECDSA none", "Ed25519 none"}},
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
				ok := len(s.Results) == len(tc.want) && len(byType) == len(tc.want)
				for kt, c := range tc.want {
					ok = ok && c.Cert.Equal(byType[kt])
				}
				if !ok {
					t.Errorf("ProbeAll(%s, %v): %d Results, key types %v; want the relay's %v", l.addr, l.proto, len(s.Results), slices.Sorted(maps.Keys(byType)), slices.Sorted(maps.Keys(tc.want)))
				}
				var status []string
				for _, k := range s.KeyTypes {
					status = append(status, k.String())
				}
				if !slices.Equal(status, tc.status) {
					t.Errorf("ProbeAll(%s, %v) KeyTypes = %q, want %q", l.addr, l.proto, status, tc.status)
				}
				implicit := l.proto == SMTPS
				for _, o := range []struct {
					kt   KeyType
					args []string
				}{
					{KeyRSA, []string{"-sigalgs", "rsa_pss_rsae_sha256:RSA+SHA256"}},
					{KeyECDSA, []string{"-sigalgs", "ECDSA+SHA256"}},
					{KeyECDSA, []string{"-tls1_2", "-cipher", "aECDSA"}},
					{KeyEd25519, []string{"-sigalgs", "ed25519"}},
				} {
					if want, ok := byType[o.kt]; ok {
						if c := opensslLeaf(t, l.addr, implicit, o.args...); !c.Equal(want) {
							t.Errorf("openssl s_client %q got %q, ProbeAll's %s leaf differs", o.args, c.Subject.CommonName, o.kt)
						}
					}
				}
			}
			fp, _ := postfixtest.PosttlsFinger(t, in.ConfigDir, in.SMTPAddr, "sha256")
			seen := false
			for _, c := range tc.want {
				seen = seen || fp == c.Fingerprint("sha256")
			}
			if !seen {
				t.Errorf("posttls-finger saw %s, none of the relay's certificates", fp)
			}
		})
	}
}
