package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
)

// rnRelayDir makes a relay's Postfix configuration directory, read with
// postconf only: main.cf names one chain file holding a live ECDSA client
// certificate (also returned), master.cf one smtp service.
func rnRelayDir(t *testing.T) (dir, chain string, live *postfixtest.ClientCert) {
	t.Helper()
	postfixtest.Require(t, "postconf")
	dir = t.TempDir()
	live = postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	chain = filepath.Join(dir, "relay.pem")
	postfixtest.WriteChainFile(t, chain, live)
	mainCF := rtWrite(t, dir, "main.cf", "compatibility_level = 3.6\nsmtp_tls_security_level = may\nsmtp_tls_chain_files = "+chain+"\n")
	rtWrite(t, dir, "master.cf", "smtp unix - - y - - smtp\n")
	// postconf waits out a main.cf modified in the current second.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(mainCF, old, old); err != nil {
		t.Fatal(err)
	}
	return dir, chain, live
}

// TestRunRelayPostconfStaged: with --relay-postconf, material rollover
// staged beside the live chain file and not yet installed is a WARNING
// (issue 16), and a relay without any is judged as before. Only postconf
// is needed: the configuration directory is a plain one.
func TestRunRelayPostconfStaged(t *testing.T) {
	t.Parallel()
	dir, chain, live := rnRelayDir(t)
	next := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	table := rtWrite(t, dir, "rc", live.PubkeyFingerprint("sha256")+" relay.example.org\n")
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
	// The live certificate (valid for a day) inside -c 7 while its
	// successor waits: CRITICAL, saying so (issue 16).
	code, out, _ = rtRun(t, "--relay-postconf", dir, "--table", "texthash:"+table, "-w", "14", "-c", "7")
	if code != exitCritical || !strings.Contains(out, "while its successor is still staged") {
		t.Errorf("staged, live inside -c: exit %d, want 2 saying the successor is still staged\n%s", code, out)
	}
}

// TestRunRelayPostconfPredicts: the prediction of issue 16, wired: a
// client certificate certbot renews with a new key, listed by public key,
// is a WARNING naming the setting that keeps the key; listed by
// certificate fingerprint only, a WARNING with the public-key line.
func TestRunRelayPostconfPredicts(t *testing.T) {
	t.Parallel()
	dir, _, live := rnRelayDir(t)
	// certbot's lineage: its cert.pem holds the same key as the file
	// Postfix reads (rollover installs copies, not links).
	certbot := filepath.Join(dir, "letsencrypt")
	liveDir := filepath.Join(certbot, "live", "relay.example.org")
	if err := os.MkdirAll(liveDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(certbot, "renewal"), 0o755); err != nil {
		t.Fatal(err)
	}
	rtWrite(t, liveDir, "cert.pem", string(live.CertPEM))
	rtWrite(t, filepath.Join(certbot, "renewal"), "relay.example.org.conf",
		"version = 2.11.0\ncert = "+filepath.Join(liveDir, "cert.pem")+"\n[renewalparams]\nreuse_key = False\n")

	byKey := rtWrite(t, dir, "bykey", live.PubkeyFingerprint("sha256")+" relay.example.org\n")
	byCert := rtWrite(t, dir, "bycert", live.Fingerprint("sha256")+" relay.example.org\n")
	for _, tc := range []struct {
		table string
		want  []string
	}{
		{byKey, []string{"listed by public key, but certbot makes a new key at the next renewal", "set reuse_key = True in " + filepath.Join(certbot, "renewal", "relay.example.org.conf")}},
		{byCert, []string{"listed by certificate fingerprint only: breaks at the next renewal", "add " + live.PubkeyFingerprint("sha256") + " relay.example.org (public key)"}},
	} {
		code, out, _ := rtRun(t, "--relay-postconf", dir, "--certbot-dir", certbot, "--table", "texthash:"+tc.table, "-w", "0", "-c", "0")
		if code != exitWarning {
			t.Errorf("%s: exit %d, want 1\n%s", tc.table, code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q\n%s", tc.table, w, out)
			}
		}
	}
}

// A staged file the check cannot read (mode 0600 as rollover writes it,
// and the check run as another user; or not a regular file) still means
// a switch waits: a WARNING, not an [OK] note. Run as nobody, the check
// said OK while rollover waited.
func TestRunRelayPostconfStagedUnread(t *testing.T) {
	t.Parallel()
	dir, chain, live := rnRelayDir(t)
	next := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	table := rtWrite(t, dir, "rc", live.PubkeyFingerprint("sha256")+" relay.example.org\n")
	// Unreadable as root too: a symlink, which rollover never writes.
	elsewhere := filepath.Join(t.TempDir(), "next.pem")
	postfixtest.WriteChainFile(t, elsewhere, next)
	if err := os.Symlink(elsewhere, chain+".staged"); err != nil {
		t.Fatal(err)
	}
	code, out, _ := rtRun(t, "--relay-postconf", dir, "--table", "texthash:"+table, "-w", "0", "-c", "0")
	if code != exitWarning || !strings.Contains(out, "new material staged as "+chain+".staged, not read") {
		t.Errorf("unread staged file: exit %d, want 1 saying it waits\n%s", code, out)
	}
	code, out, _ = rtRun(t, "--relay-postconf", dir, "--table", "texthash:"+table, "-w", "14", "-c", "7")
	if code != exitCritical || !strings.Contains(out, "while its successor is still staged") {
		t.Errorf("unread staged file, live inside -c: exit %d, want 2\n%s", code, out)
	}
}
