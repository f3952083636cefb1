package main

// The JSON document (-o json) is an interface for scripts: its fields are
// only ever added (README). The golden files fixtures/json/NAME.json lock
// its whole shape, one scenario per file: a renamed, removed or retyped
// field fails TestJSONGolden. Regenerate with
//
//	go test ./cmd/check_relay_fingerprint -run TestJSONGolden -update
//
// and review the diff. The relay's certificate is made from a fixed
// Ed25519 seed with fixed dates, so its fingerprints never change; what
// changes from run to run is replaced before comparing: the test's
// temporary directory ($TMPDIR), the loopback ports (PORT), days left
// (the document's "days_left" numbers 0, "valid DAYS days" in text,
// min_days_left=DAYS in perfdata) and handshake times (0).

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/golden"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
)

// jgCert is the golden relay's certificate: the same bytes in every run.
func jgCert(t *testing.T) tls.Certificate {
	t.Helper()
	seed := sha256.Sum256([]byte("check_relay_fingerprint json golden relay"))
	key := ed25519.NewKeyFromSeed(seed[:])
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4242),
		Subject:      pkix.Name{CommonName: "cliff.example.org", Organization: []string{"Golden Relay"}},
		DNSNames:     []string{"cliff.example.org"},
		NotBefore:    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// jgStale writes src as a hash: table whose compiled .db was made from
// old and is older than src by modification and status-change time, as
// after an edit without postmap.
func jgStale(t *testing.T, dir, old, src string) string {
	t.Helper()
	path := rtWrite(t, dir, "relay_clientcerts", old)
	cfg := t.TempDir()
	rtWrite(t, cfg, "main.cf", "")
	if out, err := exec.Command("postmap", "-c", cfg, "hash:"+path).CombinedOutput(); err != nil {
		t.Fatalf("postmap hash:%s: %v: %s", path, err, out)
	}
	db, err := os.Stat(path + ".db")
	if err != nil {
		t.Fatal(err)
	}
	dbCtime := db.Sys().(*syscall.Stat_t).Ctim
	// The file system's clock ticks every few milliseconds: write the
	// source until both its times are past the .db's.
	for range 1000 {
		rtWrite(t, dir, "relay_clientcerts", src)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if c := fi.Sys().(*syscall.Stat_t).Ctim; c.Nano() > dbCtime.Nano() && fi.ModTime().After(db.ModTime()) {
			return "hash:" + path
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s: its times do not pass its .db's", path)
	return ""
}

var (
	jgDaysLeft  = regexp.MustCompile(`"days_left": -?[0-9.]+`)
	jgHandshake = regexp.MustCompile(`"handshake_seconds": [0-9.]+`)
	jgValid     = regexp.MustCompile(`valid [0-9]+ days`)
	jgMinDays   = regexp.MustCompile(`min_days_left=[0-9.]+`)
	jgPerfHS    = regexp.MustCompile(`(handshake_[^=" ]*=)[0-9.]+s`)
)

// jgNormalize replaces what changes from run to run (see the top of this
// file). The number patterns match numbers only: a field that turned into
// a string would still differ from the golden file.
func jgNormalize(doc string, dirs []string, addrs []string) string {
	for _, d := range dirs {
		doc = strings.ReplaceAll(doc, d, "$TMPDIR")
	}
	for _, a := range addrs {
		host, _, _ := net.SplitHostPort(a)
		doc = strings.ReplaceAll(doc, a, host+":PORT")
	}
	doc = jgDaysLeft.ReplaceAllString(doc, `"days_left": 0`)
	doc = jgHandshake.ReplaceAllString(doc, `"handshake_seconds": 0`)
	doc = jgValid.ReplaceAllString(doc, "valid DAYS days")
	doc = jgMinDays.ReplaceAllString(doc, "min_days_left=DAYS")
	doc = jgPerfHS.ReplaceAllString(doc, "${1}0s")
	return doc
}

func TestJSONGolden(t *testing.T) {
	t.Parallel()
	cert := jgCert(t)
	fp := fingerprint.SHA256.PublicKey(cert.Leaf)
	addr := rtServe(t, cert, false)
	closed := rtClosedPort(t)
	dir := t.TempDir()
	listed := "texthash:" + rtWrite(t, dir, "listed", "# relays\n"+fp+" cliff.example.org\n")
	unlisted := "texthash:" + rtWrite(t, dir, "unlisted", "# relays\n"+fxKey(0xAB)+" cliff.example.org old key\n")
	stale := jgStale(t, t.TempDir(), "# relays\n", "# relays\n"+fp+" cliff.example.org\n")
	dirs := []string{dir, filepath.Dir(strings.TrimPrefix(stale, "hash:"))}

	tests := []struct {
		name string
		args []string
		code int
	}{
		{"listed", []string{"-H", addr, "--table", listed}, 0},
		{"unlisted", []string{"-H", addr, "--table", unlisted}, 2},
		{"unreachable", []string{"-H", closed, "--table", listed}, 3},
		{"stale_compiled", []string{"-H", addr, "--table", stale}, 2},
		{"diff", []string{"-H", addr, "--table", unlisted, "--diff", "--fix-trust", "any"}, 2},
		{"fingerprint", []string{"fingerprint", "-H", addr}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{}, tt.args...), "-o", "json")
			code, out, errOut := rtRun(t, args...)
			if !json.Valid([]byte(out)) {
				t.Fatalf("run(%q): stdout is not one JSON document:\n%s\nstderr:\n%s", args, out, errOut)
			}
			if code != tt.code && !golden.Updating() {
				t.Errorf("run(%q) = %d, want %d\n%s", args, code, tt.code, out)
			}
			got := jgNormalize(out, dirs, []string{addr, closed})
			golden.Compare(t, filepath.Join("..", "..", "fixtures", "json", tt.name+".json"), []byte(got))
		})
	}
}
