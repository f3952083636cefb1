package main

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
)

// TestRunUnprovenCertificateIsNotTheRelays: a server that presents the
// relay's certificate without holding its key (a replay of an old
// certificate by whoever sits in the middle) fails the handshake. The
// check must not take that certificate as the relay's: not OK, and --fix
// must not write anything.
func TestRunUnprovenCertificateIsNotTheRelays(t *testing.T) {
	t.Parallel()
	relay := rtCert(t, "cliff.example.org", 90)
	other := rtCert(t, "cliff.example.org", 90)
	replay := tls.Certificate{Certificate: relay.Certificate, PrivateKey: other.PrivateKey, Leaf: relay.Leaf}
	addr := rtServe(t, replay, false)
	dir := t.TempDir()
	listed := fingerprint.SHA256.PublicKey(relay.Leaf) + " cliff.example.org\n"
	tbl := rtWrite(t, dir, "relay_clientcerts", listed)

	code, out, _ := rtRun(t, "-H", addr, "--table", "texthash:"+tbl)
	if code != exitUnknown || !strings.Contains(out, "TLS handshake") {
		t.Errorf("replayed certificate: exit %d, want %d naming the TLS handshake\n%s", code, exitUnknown, out)
	}
	empty := rtWrite(t, dir, "empty", "# none\n")
	code, out, _ = rtRun(t, "-H", addr, "--table", "texthash:"+empty, "--fix", "--fix-trust", "any")
	if code == exitOK || strings.Contains(out, "fix: 0 replaced, 1 added") {
		t.Errorf("--fix wrote a replayed certificate: exit %d\n%s", code, out)
	}
}
