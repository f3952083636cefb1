package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfixtest"
)

// TestRunRelayPostconfStaged: with --relay-postconf, material rollover
// staged beside the live chain file and not yet installed is a WARNING
// (issue 16), and a relay without any is judged as before. Only postconf
// is needed: the configuration directory is a plain one.
func TestRunRelayPostconfStaged(t *testing.T) {
	t.Parallel()
	postfixtest.Require(t, "postconf")
	dir := t.TempDir()
	live := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	next := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	chain := filepath.Join(dir, "relay.pem")
	postfixtest.WriteChainFile(t, chain, live)
	table := rtWrite(t, dir, "rc", live.PubkeyFingerprint("sha256")+" relay.example.org\n")
	mainCF := rtWrite(t, dir, "main.cf", "compatibility_level = 3.6\nsmtp_tls_security_level = may\nsmtp_tls_chain_files = "+chain+"\n")
	rtWrite(t, dir, "master.cf", "smtp unix - - y - - smtp\n")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(mainCF, old, old); err != nil {
		t.Fatal(err)
	}
	args := []string{"--relay-postconf", dir, "--table", "texthash:" + table, "-w", "0", "-c", "0"}

	code, out, _ := rtRun(t, args...)
	if code != exitOK || !strings.Contains(out, "client certificate "+chain+":") {
		t.Fatalf("nothing staged: exit %d, want 0 naming the chain file\n%s", code, out)
	}
	postfixtest.WriteChainFile(t, chain+".staged", next)
	code, out, _ = rtRun(t, args...)
	if code != exitWarning || !strings.Contains(out, "new certificate staged as "+chain+".staged") || !strings.Contains(out, "waiting for rollover") {
		t.Errorf("staged: exit %d, want 1 with the staged file\n%s", code, out)
	}
}
