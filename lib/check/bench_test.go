package check_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// BenchmarkJudge times what the plugin does with a table for one relay,
// against tables of 1, 10 000 and 100 000 generated sha256 entries, the
// relay's last:
//
//   - judge: check.Judge of a table already read;
//   - read+judge: table.Read first, as the plugin does.
func BenchmarkJudge(b *testing.B) {
	leaf := newCert(b, certSpec{cn: "relay.example.org"})
	obs := []check.Observation{relay("relay.example.org", "192.0.2.1:25", leaf)}
	cfg := baseConfig(b)
	key := fingerprint.SHA256.PublicKey(leaf)
	dir := b.TempDir()
	for _, n := range []int{1, 10_000, 100_000} {
		path := filepath.Join(dir, fmt.Sprintf("relay_clientcerts.%d", n))
		writeBenchTable(b, path, n, key+" relay.example.org")
		spec, err := table.ParseSpec("texthash:" + path)
		if err != nil {
			b.Fatal(err)
		}
		judge := func(rc check.Receiver) {
			rc.Spec = spec
			v := check.Judge(cfg, obs, []check.Receiver{rc})
			if v.Result.State != nagios.OK || v.Unlisted != 0 {
				b.Fatalf("Judge with %d entries: state %v, %d unlisted, want OK: %s", n, v.Result.State, v.Unlisted, v.Result.Summary)
			}
		}
		t, err := table.Read(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("entries=%d/judge", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				judge(check.Receiver{Table: t})
			}
		})
		b.Run(fmt.Sprintf("entries=%d/read+judge", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				t, err := table.Read(path)
				if err != nil {
					b.Fatal(err)
				}
				judge(check.Receiver{Table: t})
			}
		})
	}
}

// writeBenchTable writes a table of n-1 random sha256 fingerprints with
// labels, then last.
func writeBenchTable(b *testing.B, path string, n int, last string) {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("# relay_clientcerts, generated for BenchmarkJudge\n")
	sum := make([]byte, 32)
	for i := range n - 1 {
		rand.Read(sum)
		fmt.Fprintf(&sb, "%s relay-%06d.example.net\n", fingerprint.Format(sum), i)
	}
	sb.WriteString(last + "\n")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}
