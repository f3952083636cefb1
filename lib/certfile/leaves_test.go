package certfile

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testcert"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pemKit makes keys and certificates for one test and writes PEM files.
type pemKit struct {
	t                 testing.TB
	dir               string
	caKey             crypto.Signer
	ca                *x509.Certificate
	rsaKey, ecKey     crypto.Signer
	rsaCert, ecCert   []byte // PEM
	caCert            []byte // PEM
	rsaKeyPEM, ecKPEM []byte
	rsa1KeyPEM        []byte // PKCS#1 form of rsaKey
}

func newKit(t testing.TB) *pemKit {
	t.Helper()
	k := &pemKit{t: t, dir: t.TempDir()}
	var err error
	ca := testcert.New(t, testcert.Spec{CN: "test CA", CA: true, Serial: big.NewInt(1), NotAfter: time.Now().Add(time.Hour)})
	k.ca, k.caKey = ca.Leaf, ca.PrivateKey.(crypto.Signer)
	k.caCert = pemOf("CERTIFICATE", ca.Leaf.Raw)
	if k.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	k.rsaCert = k.leaf("relay rsa", k.rsaKey)
	k.ecCert = k.leaf("relay ecdsa", k.ecKey)
	k.rsaKeyPEM = pkcs8(t, k.rsaKey)
	k.ecKPEM = pkcs8(t, k.ecKey)
	k.rsa1KeyPEM = pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsaKey.(*rsa.PrivateKey)))
	return k
}

func (k *pemKit) leaf(cn string, key crypto.Signer) []byte {
	k.t.Helper()
	ca := tls.Certificate{Leaf: k.ca, PrivateKey: k.caKey}
	c := testcert.New(k.t, testcert.Spec{CN: cn, Key: key, Serial: big.NewInt(time.Now().UnixNano()), NotAfter: time.Now().Add(time.Hour),
		EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}, Parent: &ca})
	return pemOf("CERTIFICATE", c.Leaf.Raw)
}

func (k *pemKit) write(name string, parts ...[]byte) string {
	k.t.Helper()
	return writeIn(k.t, k.dir, name, parts...)
}

func writeIn(t testing.TB, dir, name string, parts ...[]byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	var all []byte
	for _, b := range parts {
		all = append(all, b...)
	}
	if err := os.WriteFile(p, all, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t testing.TB, key crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("PRIVATE KEY", der)
}

// describe renders leaves as "CN/chain length/key?@line" for comparison.
func describe(leaves []Leaf) string {
	var parts []string
	for _, l := range leaves {
		key := "nokey"
		if l.Key != nil {
			key = "key"
		}
		_, line, _ := strings.Cut(l.Source[strings.LastIndexByte(l.Source, '/')+1:], ":")
		parts = append(parts, l.Cert().Subject.CommonName+"/"+itoa(len(l.Chain))+"/"+key+"@"+line)
	}
	return strings.Join(parts, ", ")
}

func itoa(n int) string { return fmtInt(n) }

// TestLeaves: a file laid out like smtp_tls_chain_files yields every leaf
// with its key (issue 14 item 4: the ECDSA one used to be ignored).
func TestLeaves(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	lines := func(b ...[]byte) string { // line where the next block starts
		n := 1
		for _, x := range b {
			n += strings.Count(string(x), "\n")
		}
		return itoa(n)
	}
	ecParams := []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")
	for _, tc := range []struct {
		name  string
		parts [][]byte
		want  string
		err   string
	}{
		{"RSA key+cert+CA, ECDSA key+cert", [][]byte{k.rsaKeyPEM, k.rsaCert, k.caCert, k.ecKPEM, k.ecCert},
			"relay rsa/2/key@" + lines(k.rsaKeyPEM) + ", relay ecdsa/1/key@" + lines(k.rsaKeyPEM, k.rsaCert, k.caCert, k.ecKPEM), ""},
		{"PKCS#1 key and EC PARAMETERS passed over", [][]byte{ecParams, k.rsa1KeyPEM, k.rsaCert, k.ecKPEM, k.ecCert},
			"relay rsa/1/key@" + lines(ecParams, k.rsa1KeyPEM) + ", relay ecdsa/1/key@" + lines(ecParams, k.rsa1KeyPEM, k.rsaCert, k.ecKPEM), ""},
		{"fullchain without key", [][]byte{k.ecCert, k.caCert}, "relay ecdsa/2/nokey@1", ""},
		{"cert, CA, then its key", [][]byte{k.ecCert, k.caCert, k.ecKPEM}, "relay ecdsa/2/key@1", ""},
		{"two leaves without keys are one chain", [][]byte{k.rsaCert, k.ecCert}, "relay rsa/2/nokey@1", ""},
		{"key does not match", [][]byte{k.ecKPEM, k.rsaCert}, "", "x.pem:1: private key does not match the certificate at "},
		{"second pair's key does not match", [][]byte{k.rsaKeyPEM, k.rsaCert, k.rsaKeyPEM, k.ecCert}, "", "private key does not match"},
		{"two keys in a row", [][]byte{k.rsaKeyPEM, k.ecKPEM, k.ecCert}, "", "x.pem:1: private key not followed by a certificate"},
		{"key at the end", [][]byte{k.ecKPEM, k.ecCert, k.rsaKeyPEM}, "", "private key not followed by a certificate"},
		{"two keys after a certificate", [][]byte{k.rsaCert, k.rsaKeyPEM, k.ecKPEM, k.ecCert}, "", "2 private keys after a certificate"},
		{"damaged key", [][]byte{[]byte("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n"), k.ecCert}, "", "x.pem:1: damaged PEM private key block"},
		{"bad key DER", [][]byte{[]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), k.ecCert}, "", "x.pem:1: private key:"},
		{"encrypted key", [][]byte{[]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), k.ecCert}, "", "encrypted private key"},
		{"key only", [][]byte{k.ecKPEM}, "", "private key not followed by a certificate"},
		{"nothing", [][]byte{[]byte("junk\n")}, "", "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeIn(t, t.TempDir(), "x.pem", tc.parts...)
			got, err := Leaves(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Leaves = %s, %v; want an error containing %q", describe(got), err, tc.err)
				}
				return
			}
			if err != nil || describe(got) != tc.want {
				t.Fatalf("Leaves = %q, %v; want %q", describe(got), err, tc.want)
			}
		})
	}
}

// TestChainFilesAndPair reads keys and certificates spread over files as
// smtp_tls_chain_files and the legacy cert/key parameters name them.
func TestChainFilesAndPair(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	rsaKey := k.write("rsa.key", k.rsaKeyPEM)
	rsaChain := k.write("rsa.crt", k.rsaCert, k.caCert)
	ecAll := k.write("ec.pem", k.ecKPEM, k.ecCert)
	combined := k.write("combined.pem", k.rsaCert, k.caCert, k.rsa1KeyPEM)
	ecCert := k.write("ec.crt", k.ecCert)

	got, err := ChainFiles([]string{rsaKey, rsaChain, ecAll})
	if want := "relay rsa/2/key@1, relay ecdsa/1/key@" + itoa(1+strings.Count(string(k.ecKPEM), "\n")); err != nil || describe(got) != want {
		t.Errorf("ChainFiles(key, chain, ec) = %q, %v; want %q", describe(got), err, want)
	}
	if err == nil && (!strings.HasPrefix(got[0].KeySource, rsaKey+":") || !strings.HasPrefix(got[0].Source, rsaChain+":")) {
		t.Errorf("sources = %s, %s; want the key in %s, the certificate in %s", got[0].KeySource, got[0].Source, rsaKey, rsaChain)
	}
	if _, err := ChainFiles([]string{rsaChain, rsaKey}); err == nil || !strings.Contains(err.Error(), rsaChain+":1: certificate before any private key") {
		t.Errorf("ChainFiles(chain, key) error = %v, want the certificate before any key named", err)
	}
	if _, err := ChainFiles([]string{rsaKey, filepath.Join(k.dir, "missing")}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("ChainFiles with a missing file: error = %v", err)
	}

	for _, tc := range []struct{ name, cert, key, want, err string }{
		{"separate files", rsaChain, rsaKey, "relay rsa/2/key@1", ""},
		{"one file, key last", combined, combined, "relay rsa/2/key@1", ""},
		{"one file, key first", ecAll, ecAll, "relay ecdsa/1/key@" + itoa(1+strings.Count(string(k.ecKPEM), "\n")), ""},
		{"key of another certificate", ecCert, rsaKey, "", "private key does not match"},
		{"no key in key file", rsaChain, ecCert, "", "ec.crt: no private key"},
		{"no key in the one file", ecCert, ecCert, "", "ec.crt: no private key"},
	} {
		l, err := Pair(tc.cert, tc.key)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: Pair error = %v, want one containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || describe([]Leaf{l}) != tc.want {
			t.Errorf("%s: Pair = %q, %v; want %q", tc.name, describe([]Leaf{l}), err, tc.want)
		}
	}
}

// TestLeafTLS presents each leaf of a dual-certificate file as a client
// certificate in a real handshake: the server sees that certificate.
func TestLeafTLS(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	leaves, err := Leaves(k.write("dual.pem", k.rsaKeyPEM, k.rsaCert, k.caCert, k.ecKPEM, k.ecCert))
	if err != nil || len(leaves) != 2 {
		t.Fatalf("Leaves = %d, %v", len(leaves), err)
	}
	server := leaves[1].TLS() // any certificate will do for the server
	for _, l := range leaves {
		c1, c2 := net.Pipe()
		got := make(chan *x509.Certificate, 1)
		go func() {
			defer c2.Close()
			s := tls.Server(c2, &tls.Config{Certificates: []tls.Certificate{server}, ClientAuth: tls.RequireAnyClientCert})
			if s.HandshakeContext(t.Context()) == nil {
				got <- s.ConnectionState().PeerCertificates[0]
			}
			close(got)
		}()
		cert := l.TLS()
		c := tls.Client(c1, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}})
		err := c.HandshakeContext(t.Context())
		c.Close()
		peer := <-got
		if err != nil || peer == nil || !peer.Equal(l.Cert()) {
			t.Errorf("handshake presenting %s: %v; server saw %v", l.Cert().Subject.CommonName, err, peer)
		}
	}
}

// FuzzLeaves feeds leavesOf arbitrary bytes around real keys and
// certificates: it must not panic; it returns leaves, each with a
// certificate and a key that matches it (or no key), or an error naming
// the file.
func FuzzLeaves(f *testing.F) {
	k := newKit(f)
	// ECDSA only: RSA key checks are slow under the fuzzer's coverage
	// instrumentation; TestLeaves covers RSA.
	f.Add(bytes.Join([][]byte{k.ecKPEM, k.ecCert, k.caCert, k.ecKPEM, k.ecCert}, nil))
	f.Add(bytes.Join([][]byte{k.ecCert, k.caCert, k.ecKPEM}, nil))
	f.Add(bytes.Join([][]byte{k.ecKPEM, k.ecKPEM, k.ecCert}, nil))
	f.Add(bytes.Join([][]byte{[]byte("-----BEGIN PRIVATE KEY-----\n!!\n"), k.ecCert}, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		leaves, err := leavesOf("f.pem", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.pem") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(leaves) == 0 {
			t.Fatal("no leaves and no error")
		}
		for _, l := range leaves {
			if len(l.Chain) == 0 || l.Key != nil && matches(l) != nil {
				t.Fatalf("leaf %+v: no certificate, or a key that does not match", l)
			}
		}
	})
}
