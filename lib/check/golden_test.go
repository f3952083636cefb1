package check_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/golden"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/certfile"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/probe"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

const fixtures = "../../fixtures/check"

// goldenCerts are the fixed certificates of the golden scenarios, stored
// as PEM under fixtures/check so that fingerprints in the golden files
// never change. With -update, a missing one is made from a fixed Ed25519
// seed.
var goldenCerts = []struct {
	file                string
	cn                  string
	notBefore, notAfter time.Time
}{
	{"cliff.pem", "cliff.example.org", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
	{"cliff-renewed.pem", "cliff.example.org", time.Date(2026, 2, 25, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 26, 0, 0, 0, 0, time.UTC)},
	{"relay2.pem", "relay2.example.org", time.Date(2025, 12, 11, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 11, 12, 0, 0, 0, time.UTC)},
}

func loadGoldenCerts(t *testing.T) map[string]*x509.Certificate {
	t.Helper()
	m := map[string]*x509.Certificate{}
	for _, g := range goldenCerts {
		path := filepath.Join(fixtures, g.file)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && golden.Updating() {
			writeGoldenCert(t, path, g.file, g.cn, g.notBefore, g.notAfter)
		}
		certs, err := certfile.Read(path)
		if err != nil {
			t.Fatalf("%v (run go test ./lib/check -run Golden -update to make it)", err)
		}
		m[g.file] = certs[0]
	}
	return m
}

func writeGoldenCert(t *testing.T, path, seed, cn string, notBefore, notAfter time.Time) {
	t.Helper()
	s := sha256.Sum256([]byte(seed))
	key := ed25519.NewKeyFromSeed(s[:])
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(s[0])<<8 | int64(s[1])),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{cn},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestJudgeGolden compares full renders of representative scenarios with
// fixtures/check/<name>.golden. Run with -update to rewrite them, then
// review the diff.
func TestJudgeGolden(t *testing.T) {
	t.Parallel()
	c := loadGoldenCerts(t)
	sha := fingerprint.SHA256
	cliff, renewed, relay2 := c["cliff.pem"], c["cliff-renewed.pem"], c["relay2.pem"]

	tests := []struct {
		name string
		cfg  func(*check.Config)
		obs  []check.Observation
		recv []check.Receiver
	}{
		{
			name: "ok",
			obs: []check.Observation{
				relay("cliff.example.org", "192.0.2.1:25", cliff),
				relay("cliff.example.org", "[2001:db8::1]:25", cliff),
				relay("192.0.2.2", "192.0.2.2:25", renewed),
			},
			recv: []check.Receiver{
				receiver(t, "hash:/etc/postfix/relay_clientcerts", lines(
					"# relays allowed by certificate",
					sha.PublicKey(cliff)+" cliff.example.org",
					sha.PublicKey(renewed)+" cliff.example.org renewed")),
				receiver(t, "texthash:/srv/mx2/relay_clientcerts", lines(
					sha.PublicKey(renewed)+" cliff-renewed",
					sha.PublicKey(cliff)+" cliff")),
			},
		},
		{
			name: "critical_renewed",
			obs: []check.Observation{
				relay("cliff.example.org", "192.0.2.1:25", renewed),
				relay("relay2.example.org:587", "192.0.2.2:587", relay2),
				unreachable("relay3.example.org", "192.0.2.3:25", &probe.Error{Stage: probe.StageConnect, Addr: "192.0.2.3:25", Err: syscall.ECONNREFUSED}),
			},
			recv: []check.Receiver{
				receiver(t, "hash:/etc/postfix/relay_clientcerts", lines(
					sha.Cert(cliff)+" cliff.example.org",
					sha.Cert(relay2)+" relay2.example.org")),
			},
		},
		{
			name: "warning_mixed",
			cfg:  func(c *check.Config) { c.Match = check.MatchPubkey },
			obs: []check.Observation{
				relay("cliff.example.org", "192.0.2.1:25", cliff),
				relay("relay2.example.org", "192.0.2.2:25", relay2),
			},
			recv: []check.Receiver{func() check.Receiver {
				r := receiver(t, "hash:/etc/postfix/relay_clientcerts", lines(
					sha.PublicKey(cliff)+" cliff.example.org",
					fingerprint.MD5.PublicKey(cliff)+" cliff.example.org (old md5 line)",
					sha.PublicKey(relay2)+" relay2.example.org",
					"relay3.example.org",
					sha.PublicKey(relay2)+" relay2 again"))
				r.Compiled, r.Age = "/etc/postfix/relay_clientcerts.db", check.AgeOlder
				return r
			}()},
		},
		{
			name: "unknown",
			cfg:  func(c *check.Config) { c.Unreachable = nagios.Critical },
			obs: []check.Observation{
				unreachable("cliff.example.org", "192.0.2.1:25", &probe.Error{Stage: probe.StageTLS, Addr: "192.0.2.1:25", Err: context.DeadlineExceeded}),
				certFile("/etc/letsencrypt/live/cliff.example.org/cert.pem", cliff),
				unreachable("relay2.example.org", "relay2.example.org:25", &probe.Error{Stage: probe.StageResolve, Addr: "relay2.example.org", Err: context.DeadlineExceeded}),
			},
			recv: []check.Receiver{
				receiver(t, "texthash:/etc/postfix/relay_clientcerts", lines(sha.PublicKey(cliff)+" cliff.example.org")),
				{Spec: table.Spec{Type: "lmdb", Path: "/srv/mx2/relay_clientcerts"},
					Err: &os.PathError{Op: "open", Path: "/srv/mx2/relay_clientcerts", Err: syscall.EACCES}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig(t)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			r := check.Judge(cfg, tt.obs, tt.recv).Result
			checkPerf(t, r.Perf)
			golden.Compare(t, filepath.Join(fixtures, tt.name+".golden"), []byte(render(t, r)))
		})
	}
}
