package bench

import (
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// newCert makes a self-signed certificate for cn, valid for a year.
func newCert(tb testing.TB, cn string) *x509.Certificate {
	tb.Helper()
	key := newKey(tb, elliptic.P256())
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
	}
	return sign(tb, tmpl, tmpl, key, key)
}

// BenchmarkJudge times what the plugin does with a table once the probes
// are back: check.Judge of one relay against a table of 1, 10 000 or
// 100 000 entries whose last entry lists the relay ("judge"), and the same
// with table.Read of the source file first ("read+judge"), as
// cmd/check_relay_fingerprint does. It belongs in lib/check; it is here so
// that the bench stays in its own directory.
func BenchmarkJudge(b *testing.B) {
	leaf := newCert(b, "relay.example.org")
	obs := []check.Observation{{Name: "relay.example.org", Host: "relay.example.org", Addr: "192.0.2.1:25",
		Chain: []*x509.Certificate{leaf}}}
	cfg := check.Config{Digest: fingerprint.SHA256, Match: check.MatchAny, Now: time.Now()}
	w, err := nagios.ParseRange("14:")
	if err != nil {
		b.Fatal(err)
	}
	c, err := nagios.ParseRange("7:")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Days.Warning, cfg.Days.Critical = &w, &c
	dir := b.TempDir()
	for _, n := range []int{1, 10_000, 100_000} {
		path := writeTable(b, filepath.Join(dir, fmt.Sprintf("relay_clientcerts.%d", n)), n, fingerprint.SHA256.PublicKey(leaf)+" relay.example.org")
		spec, err := table.ParseSpec("texthash:" + path)
		if err != nil {
			b.Fatal(err)
		}
		t, err := table.Read(path)
		if err != nil {
			b.Fatal(err)
		}
		judge := func(t *table.Table) {
			v := check.Judge(cfg, obs, []check.Receiver{{Spec: spec, Table: t}})
			if v.Result.State != nagios.OK || v.Unlisted != 0 {
				b.Fatalf("Judge with %d entries: state %v, %d unlisted, want OK: %s", n, v.Result.State, v.Unlisted, v.Result.Summary)
			}
		}
		b.Run(fmt.Sprintf("entries=%d/judge", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				judge(t)
			}
		})
		b.Run(fmt.Sprintf("entries=%d/read+judge", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				t, err := table.Read(path)
				if err != nil {
					b.Fatal(err)
				}
				judge(t)
			}
		})
	}
}
