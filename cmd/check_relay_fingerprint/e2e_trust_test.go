package main

// A relay whose certificate is issued by a CA and presented with its chain:
// Postfix fingerprints the leaf, so must the plugin; and --fix, without
// --fix-trust any, writes only what verifies with --ca-file.

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testcert"
)

// e2eCA is a certificate authority made for one test.
type e2eCA struct {
	tls.Certificate
	file string // the CA certificate, PEM
}

func newE2ECA(t *testing.T, dir string) *e2eCA {
	t.Helper()
	ca := &e2eCA{file: filepath.Join(dir, "ca.pem"), Certificate: testcert.New(t, testcert.Spec{
		CN: "e2e test CA", CA: true, Serial: big.NewInt(1), NotAfter: time.Now().Add(e2eValidity)})}
	if err := os.WriteFile(ca.file, e2ePEM(ca.Leaf.Raw), 0o644); err != nil {
		t.Fatal(err)
	}
	return ca
}

func e2ePEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// issue makes a certificate for cn (and the addresses ips) signed by ca;
// its CertFile holds the leaf then the CA certificate, the chain smtpd and
// swaks present.
func (ca *e2eCA) issue(t *testing.T, dir, cn string, ips ...net.IP) *postfixtest.ClientCert {
	t.Helper()
	tc := testcert.New(t, testcert.Spec{CN: cn, DNS: []string{cn}, IPs: ips, NotAfter: time.Now().Add(e2eValidity), Parent: &ca.Certificate})
	key, cert, der := tc.PrivateKey.(crypto.Signer), tc.Leaf, tc.Leaf.Raw
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(dir, cn+"-*.crt")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	c := &postfixtest.ClientCert{
		Cert:     cert,
		Key:      key,
		CertPEM:  append(e2ePEM(der), e2ePEM(ca.Leaf.Raw)...),
		KeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		CertFile: f.Name(),
	}
	c.KeyFile = c.CertFile[:len(c.CertFile)-len(".crt")] + ".key"
	if err := os.WriteFile(c.CertFile, c.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.KeyFile, c.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *e2eWorld) testChain(t *testing.T) {
	ca := newE2ECA(t, w.dir)
	// The relay is probed as 127.0.0.1, the name --fix verifies it for.
	leaf := ca.issue(t, w.dir, e2eRelayName, net.IPv4(127, 0, 0, 1))

	t.Run("the leaf is fingerprinted, not the CA", func(t *testing.T) {
		w.present(t, leaf)
		for _, tc := range []struct {
			name  string
			table string
			smtp  int
			code  int
		}{
			{"leaf listed", e2eEntry(leaf.Fingerprint("sha256"), e2eRelayName), 250, exitOK},
			{"leaf public key listed", e2eEntry(leaf.PubkeyFingerprint("sha256"), e2eRelayName), 250, exitOK},
			{"CA listed", e2eEntry(postfixtest.Fingerprint("sha256", ca.Leaf.Raw), e2eRelayName) +
				e2eEntry(postfixtest.Fingerprint("sha256", ca.Leaf.RawSubjectPublicKeyInfo), e2eRelayName), 454, exitCritical},
		} {
			t.Run(tc.name, func(t *testing.T) {
				w.recv.SetTable(t, []byte(tc.table))
				smtp, transcript := w.recv.Swaks(t, leaf, false)
				o := w.check(t)
				e2eWantSMTP(t, smtp, tc.smtp, tc.table, transcript)
				e2eWantCode(t, o, tc.code)
				e2eAgree(t, smtp, transcript, o, "")
			})
		}
		certFP, pkeyFP := postfixtest.PosttlsFinger(t, w.relay.ConfigDir, w.relay.SMTPAddr, "sha256")
		if certFP != leaf.Fingerprint("sha256") || pkeyFP != leaf.PubkeyFingerprint("sha256") {
			t.Errorf("posttls-finger fingerprint=%s pkey_fingerprint=%s, not the leaf's", certFP, pkeyFP)
		}
	})

	t.Run("--fix verifies with --ca-file", func(t *testing.T) {
		w.present(t, leaf)
		table := "# relays\n" + e2eEntry(w.base.Fingerprint("sha256"), e2eRelayName) + e2eEntry(e2eOther, "other.e2e.test")
		w.recv.SetTable(t, []byte(table))
		smtp, transcript := w.recv.Swaks(t, leaf, false)
		e2eWantSMTP(t, smtp, 454, table, transcript)

		before := e2eStat(t, w.recv.TablePath)
		o := w.check(t, "--fix")
		e2eWantOutput(t, o, "fix refused", "unknown authority")
		if after := e2eStat(t, w.recv.TablePath); !bytes.Equal(after.data, before.data) || !after.mtime.Equal(before.mtime) {
			t.Errorf("table written although the fix was refused:\n%q", after.data)
		}

		o = w.check(t, "--fix", "--ca-file", ca.file)
		e2eWantOutput(t, o, "fix: 1 replaced, 0 added in "+w.recv.TableSpec()+", postmap done")
		after := e2eStat(t, w.recv.TablePath)
		e2eWantOneLineChanged(t, before.data, after.data,
			[]byte(e2eEntry(w.base.Fingerprint("sha256"), e2eRelayName)),
			[]byte(e2eEntry(leaf.PubkeyFingerprint("sha256"), e2eRelayName)))
		w.recv.Reload(t)
		smtp, transcript = w.recv.Swaks(t, leaf, false)
		o = w.check(t)
		e2eWantSMTP(t, smtp, 250, string(after.data), transcript)
		e2eWantCode(t, o, exitOK)
		e2eAgree(t, smtp, transcript, o, "")
	})

	// The name a certificate must be valid for is the relay's as given with
	// -H, never one read from the certificate: a certificate the same CA
	// issued for another name must not get into the table.
	t.Run("--fix refuses a certificate for another name", func(t *testing.T) {
		mallory := ca.issue(t, w.dir, "mallory.e2e.test")
		w.present(t, mallory)
		table := e2eEntry(w.base.Fingerprint("sha256"), e2eRelayName)
		w.recv.SetTable(t, []byte(table))
		before := e2eStat(t, w.recv.TablePath)
		o := w.check(t, "--fix", "--ca-file", ca.file)
		e2eWantOutput(t, o, "fix refused", "127.0.0.1")
		if after := e2eStat(t, w.recv.TablePath); !bytes.Equal(after.data, before.data) || !after.mtime.Equal(before.mtime) {
			t.Errorf("mallory's certificate written into the table:\n%q", after.data)
		}
		smtp, transcript := w.recv.Swaks(t, mallory, false)
		e2eWantSMTP(t, smtp, 454, table, transcript)
		e2eAgree(t, smtp, transcript, o, "")
	})
}
