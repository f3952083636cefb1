package main

import (
	"net"
	"strings"
	"testing"
)

// Issue 13 item 9: -H 127.0.0.1:PORT -H [::ffff:127.0.0.1]:PORT name one
// endpoint: it is probed once, counted once, and labelled once.
func TestRunSameEndpointTwice(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "cliff.example.org", 60)
	_, port, _ := net.SplitHostPort(rtServe(t, cert, false))
	tbl := "texthash:" + rtWrite(t, t.TempDir(), "relay_clientcerts", rtPubkey(t, cert)+" cliff.example.org\n")
	args := []string{"-H", "127.0.0.1:" + port, "-H", "[::ffff:127.0.0.1]:" + port, "--table", tbl}
	code, out, _ := rtRun(t, args...)
	if code != 0 || !strings.Contains(out, " relays=1;") {
		t.Errorf("run(%q) = %d, want 0 with relays=1:\n%s", args, code, out)
	}
	if n := strings.Count(out, "handshake_"); n != 1 {
		t.Errorf("run(%q): %d handshake perfdata items, want 1:\n%s", args, n, out)
	}
}
