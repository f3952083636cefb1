package main

import (
	"encoding/pem"
	"strings"
	"testing"
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
