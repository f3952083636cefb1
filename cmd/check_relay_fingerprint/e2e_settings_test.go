package main

import (
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
)

// TestE2EReceiverSettings is issue 15's wrong verdicts, each against a real
// Postfix receiver whose own answer (swaks presenting the relay's listed
// certificate, up to RCPT) is asserted beside the plugin's:
//   - -d that disagrees with postconf's digest: a usage error, never a fix
//     in the wrong digest;
//   - main.cf naming btree: over a hash-format .db: Postfix answers 451
//     4.3.0, the check is CRITICAL with postmap's message;
//   - smtpd_tls_ask_ccert = no: Postfix never asks, refuses the relay, and
//     the check is CRITICAL naming the setting.
func TestE2EReceiverSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	relayCert := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	relay := postfixtest.Start(t, postfixtest.Options{ServerCert: relayCert})
	rcv := postfixtest.Start(t, postfixtest.Options{})
	rcv.SetTable(t, []byte(relayCert.PubkeyFingerprint("sha256")+" relay.example.org\n"))
	base := []string{"-H", relay.SMTPAddr, "--postconf", rcv.ConfigDir, "-w", "0", "-c", "0", "-t", "20"}

	if code, tr := rcv.Swaks(t, relayCert, false); code != 250 {
		t.Fatalf("set-up: the receiver refuses the listed relay (%d):\n%s", code, tr)
	}
	if code, out, _ := rtRun(t, base...); code != exitOK {
		t.Fatalf("set-up: exit %d, want 0\n%s", code, out)
	}

	t.Run("-d md5 against a sha256 receiver", func(t *testing.T) {
		code, out, _ := rtRun(t, append(base, "-d", "md5", "--fix", "--fix-trust", "any")...)
		if code != exitUnknown || !strings.Contains(out, "usage: -d md5 disagrees with postconf: smtpd_tls_fingerprint_digest = sha256") {
			t.Errorf("exit %d, want 3 and a usage error naming both digests\n%s", code, out)
		}
		if code, tr := rcv.Swaks(t, relayCert, false); code != 250 {
			t.Errorf("the receiver now refuses the relay (%d): the refused fix wrote anyway\n%s", code, tr)
		}
	})

	t.Run("btree: over a hash .db", func(t *testing.T) {
		rcv.Postconf(t, "relay_clientcerts=btree:"+rcv.TablePath)
		rcv.Reload(t)
		defer func() {
			rcv.Postconf(t, "relay_clientcerts="+rcv.TableSpec())
			rcv.Reload(t)
		}()
		code, tr := rcv.Swaks(t, relayCert, false)
		if code != 451 {
			t.Fatalf("Postfix answered %d, want 451 (lookup failure): the scenario is not what it says\n%s", code, tr)
		}
		code, out, _ := rtRun(t, base...)
		if code != exitCritical || !strings.Contains(out, "postmap") {
			t.Errorf("exit %d, want 2 with postmap's message, as Postfix answers 451\n%s", code, out)
		}
	})

	t.Run("smtpd_tls_ask_ccert = no", func(t *testing.T) {
		rcv.Postconf(t, "smtpd_tls_ask_ccert=no")
		rcv.Reload(t)
		defer func() {
			rcv.Postconf(t, "smtpd_tls_ask_ccert=yes")
			rcv.Reload(t)
		}()
		code, tr := rcv.Swaks(t, relayCert, false)
		if code == 250 {
			t.Fatalf("Postfix relayed without asking for the certificate: the scenario is not what it says\n%s", tr)
		}
		code, out, _ := rtRun(t, base...)
		if code != exitCritical || !strings.Contains(out, "smtpd_tls_ask_ccert = no") || !strings.Contains(out, "set smtpd_tls_ask_ccert = yes") {
			t.Errorf("exit %d, want 2 naming smtpd_tls_ask_ccert, as Postfix answers %d\n%s", code, code, out)
		}
	})
}
