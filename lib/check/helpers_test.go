package check_test

import (
	"crypto"
	"crypto/x509"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testcert"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// now is the fixed clock of every test.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// certSpec says what newCert makes; zero fields take defaults.
type certSpec struct {
	key       crypto.Signer // nil: a fresh ECDSA P-256 key
	cn        string        // "cliff.example.org" when empty and dns is nil
	dns       []string      // nil: []string{cn}
	notBefore time.Time     // zero: now - 30 days
	notAfter  time.Time     // zero: now + 60 days
	serial    int64         // zero: 1
}

// newKey returns a fresh ECDSA P-256 key.
func newKey(t testing.TB) crypto.Signer { return testcert.Key(t) }

// newCert makes a self-signed certificate as s says.
func newCert(t testing.TB, s certSpec) *x509.Certificate {
	t.Helper()
	if s.key == nil {
		s.key = newKey(t)
	}
	if s.cn == "" && s.dns == nil {
		s.cn = "cliff.example.org"
	}
	if s.dns == nil && s.cn != "" {
		s.dns = []string{s.cn}
	}
	if s.notBefore.IsZero() {
		s.notBefore = now.Add(-30 * day)
	}
	if s.notAfter.IsZero() {
		s.notAfter = now.Add(60 * day)
	}
	if s.serial == 0 {
		s.serial = 1
	}
	return testcert.New(t, testcert.Spec{Key: s.key, CN: s.cn, DNS: s.dns, Serial: big.NewInt(s.serial),
		NotBefore: s.notBefore, NotAfter: s.notAfter, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}).Leaf
}

// relay is an observation of certificate c at addr ("ip:port") of the
// relay given as name (-H name, or -H name:port).
func relay(name, addr string, c *x509.Certificate) check.Observation {
	host := name
	if h, _, err := net.SplitHostPort(name); err == nil {
		host = h
	}
	return check.Observation{Name: name, Host: host, Addr: addr, Chain: []*x509.Certificate{c}, Handshake: 1500 * time.Microsecond}
}

// unreachable is a relay address that could not be probed.
func unreachable(name, addr string, err error) check.Observation {
	o := relay(name, addr, nil)
	o.Chain, o.Err, o.Handshake = nil, err, 0
	return o
}

// certFile is an observation of certificate c read from path.
func certFile(path string, c *x509.Certificate) check.Observation {
	return check.Observation{Name: path, Chain: []*x509.Certificate{c}}
}

// receiver parses text as the source of the table spec ("texthash:/path").
func receiver(t testing.TB, spec, text string) check.Receiver {
	t.Helper()
	s, err := table.ParseSpec(spec)
	if err != nil {
		t.Fatalf("table.ParseSpec(%q): %v", spec, err)
	}
	tb, err := table.Parse(s.Path, []byte(text))
	if err != nil {
		t.Fatalf("table.Parse(%q, %q): %v", s.Path, text, err)
	}
	return check.Receiver{Spec: s, Table: tb}
}

// lines joins table lines, each ending in "\n".
func lines(l ...string) string {
	return strings.Join(l, "\n") + "\n"
}

func mustRange(t testing.TB, s string) *nagios.Range {
	t.Helper()
	r, err := nagios.ParseRange(s)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

// baseConfig is the plugin's default policy: sha256, any, -w 14 -c 7.
func baseConfig(t testing.TB) check.Config {
	return check.Config{
		Digest:      fingerprint.SHA256,
		Match:       check.MatchAny,
		Days:        nagios.Thresholds{Warning: mustRange(t, "14:"), Critical: mustRange(t, "7:")},
		Unreachable: nagios.Unknown,
		Now:         now,
	}
}

// render returns the plugin output of r.
func render(t testing.TB, r nagios.Result) string {
	t.Helper()
	var b strings.Builder
	if err := r.Render(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// checkPerf fails for performance data the guidelines forbid.
func checkPerf(t testing.TB, perf []nagios.Perf) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range perf {
		if err := p.Validate(); err != nil {
			t.Errorf("perfdata %s: Validate: %v", p, err)
		}
		if seen[p.Label] {
			t.Errorf("perfdata label %q appears twice", p.Label)
		}
		seen[p.Label] = true
	}
}
