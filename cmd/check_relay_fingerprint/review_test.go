package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRunReceiverKeyless: a --client-chain file without a private key
// cannot be presented to a --receiver; the check said OK with an empty
// summary, having asked nothing (review finding 3).
func TestRunReceiverKeyless(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "relay.example.org", 60)
	path := rtWrite(t, t.TempDir(), "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})))
	code, out, _ := rtRun(t, "--client-chain", path, "--receiver", rtClosedPort(t), "-t", "5")
	if code != 3 || !strings.Contains(out, "no private key goes with this certificate") {
		t.Errorf("exit %d, want 3 (UNKNOWN) saying the certificate has no key:\n%s", code, out)
	}
}

// TestRunKeyTypeFailed: a relay serving RSA and ECDSA whose handshake
// asking for ECDSA fails (here it refuses it; a connection limit or a
// timeout does the same) must not be OK on its RSA certificate alone:
// the unseen ECDSA one is what Postfix's client presents (review
// finding 5). It is UNKNOWN, as an address that cannot be probed.
func TestRunKeyTypeFailed(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "relay.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(60 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	rsaCert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	ecCert := rtCert(t, "relay.test", 60)
	cfg := &tls.Config{Certificates: []tls.Certificate{rsaCert, ecCert},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			if !slices.Contains(h.SupportedVersions, tls.VersionTLS13) && !slices.ContainsFunc(h.CipherSuites, func(id uint16) bool {
				return strings.Contains(tls.CipherSuiteName(id), "_RSA_")
			}) {
				return nil, errors.New("no ECDSA for you")
			}
			return nil, nil
		}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := rtServeTLS(t, ln, cfg, false)
	table := rtWrite(t, t.TempDir(), "relay_clientcerts", rtPubkey(t, rsaCert)+" relay.test\n")
	code, out, _ := rtRun(t, "-H", addr, "--table", "texthash:"+table, "-t", "10")
	if code != 3 || !strings.Contains(out, "ECDSA") {
		t.Errorf("exit %d, want 3 (UNKNOWN) naming the ECDSA handshake that failed:\n%s", code, out)
	}
	code, out, _ = rtRun(t, "-H", addr, "--table", "texthash:"+table, "-t", "10", "--unreachable", "critical")
	if code != 2 {
		t.Errorf("--unreachable critical: exit %d, want 2:\n%s", code, out)
	}
}
