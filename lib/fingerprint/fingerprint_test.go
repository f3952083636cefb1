package fingerprint

import (
	"bufio"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenSSL compares every digest, for the certificate and its public
// key, with what openssl computed for the same fixture (fixtures/fingerprint/gen.sh).
func TestOpenSSL(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"rsa", "ec"} {
		dir := filepath.Join("..", "..", "fixtures", "fingerprint")
		pemBytes, err := os.ReadFile(filepath.Join(dir, alg+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(pemBytes)
		if block == nil {
			t.Fatalf("%s.pem: no PEM block", alg)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(dir, alg+".fingerprints"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		seen := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) != 3 {
				t.Fatalf("%s.fingerprints: bad line %q", alg, sc.Text())
			}
			d, err := ParseDigest(fields[0])
			if err != nil {
				t.Fatal(err)
			}
			var got string
			switch fields[1] {
			case "cert":
				got = d.Cert(cert)
			case "pubkey":
				got = d.PublicKey(cert)
			}
			if got != fields[2] {
				t.Errorf("%s %s %s: got %s, openssl says %s", alg, d, fields[1], got, fields[2])
			}
			if g, ok := Guess(got); !ok || g != d {
				t.Errorf("Guess(%s) = %q, %v; want %q, true", got, g, ok, d)
			}
			seen++
		}
		if seen != 2*len(Digests) {
			t.Errorf("%s: checked %d fingerprints, want %d", alg, seen, 2*len(Digests))
		}
	}
}

func TestParseDigest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Digest
		err  bool
	}{
		{"sha256", SHA256, false},
		{"SHA256", SHA256, false},
		{" md5 ", MD5, false},
		{"sha3", "", true},
		{"", "", true},
		// OpenSSL's other names, which Postfix accepts too.
		{"SHA2-256", SHA256, false},
		{"sha-256", SHA256, false},
		{"SSL3-MD5", MD5, false},
		{"sha-1", SHA1, false},
		{"sha2-512", SHA512, false},
		{"RSA-SHA256", SHA256, false},
		{"sha384WithRSAEncryption", SHA384, false},
		{"2.16.840.1.101.3.4.2.1", SHA256, false},
		{"RSA-SHA1-2", SHA1, false},
		{"sha512-224", "", true},  // another digest
		{"sha1WithRSA", "", true}, // OpenSSL refuses it too
		// Postfix accepts these; this package lacks them.
		{"sha3-256", "", true},
		{"sha512-256", "", true},
		{"blake2b512", "", true},
	} {
		got, err := ParseDigest(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseDigest(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestGuess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Digest
		ok   bool
	}{
		{"D7:04:2F:00:11:22:33:44:55:66:77:88:99:AA:BB:80", MD5, true},
		{"d7:04:2f:00:11:22:33:44:55:66:77:88:99:aa:bb:80", MD5, true},
		{"D7:04", "", true},
		{"D7:04:2G", "", false},
		{"D7-04-2F", "", false},
		{"cliff.example.org", "", false},
		{"D704", "", false},
		{"", "", false},
	} {
		got, ok := Guess(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Guess(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func BenchmarkPublicKeySHA256(b *testing.B) {
	pemBytes, err := os.ReadFile("../../fixtures/fingerprint/rsa.pem")
	if err != nil {
		b.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = SHA256.PublicKey(cert)
	}
}

func BenchmarkGuessSHA256(b *testing.B) {
	key := SHA256.Sum([]byte("relay"))
	for b.Loop() {
		if d, ok := Guess(key); !ok || d != SHA256 {
			b.Fatal(d, ok)
		}
	}
}
