package main

// Receivers configured otherwise than with one hash: table: the plugin's
// --postconf reads the receiver's relay_clientcerts as Postfix does, so its
// verdict must stay Postfix's.

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A relay_clientcerts of several tables is one list to Postfix: smtpd
// relays when any of them lists the certificate.
func (w *e2eWorld) testTwoTables(t *testing.T) {
	w.present(t, w.base)
	second := filepath.Join(w.recv.ConfigDir, "relay_clientcerts2")
	list := w.recv.TableSpec() + ", texthash:" + second
	w.recv.Postconf(t, "relay_clientcerts="+list)
	t.Cleanup(func() {
		w.recv.Postconf(t, "relay_clientcerts="+w.recv.TableSpec())
		w.recv.Reload(t)
	})
	fp := e2eEntry(w.base.Fingerprint("sha256"), e2eRelayName)
	for _, tc := range []struct {
		name          string
		first, second string
		smtp, code    int
		bug           string
	}{
		{"listed in the first table only", fp, "", 250, exitOK, ""},
		{"listed in the second table only", "", fp, 250, exitOK, ""},
		{"listed in both", fp, fp, 250, exitOK, ""},
		{"listed in neither", "", e2eEntry(e2eOther, "other"), 454, exitCritical, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.recv.WriteTable(t, []byte(tc.first))
			w.recv.Postmap(t)
			if err := os.WriteFile(second, []byte(tc.second), 0o644); err != nil {
				t.Fatal(err)
			}
			// smtpd does not load a texthash file younger than a second.
			old := time.Now().Add(-3 * time.Second)
			if err := os.Chtimes(second, old, old); err != nil {
				t.Fatal(err)
			}
			w.recv.Reload(t)
			smtp, transcript := w.recv.Swaks(t, w.base, false)
			o := e2ePlugin(t, "-H", w.relay.SMTPAddr, "--postconf", w.recv.ConfigDir)
			e2eWantSMTP(t, smtp, tc.smtp, "hash: "+tc.first+"texthash: "+tc.second, transcript)
			e2eWantCode(t, o, tc.code)
			e2eAgree(t, smtp, transcript, o, tc.bug)
			// The same list given with --table, as main.cf writes it.
			o = e2ePlugin(t, "-H", w.relay.SMTPAddr, "--table", list)
			e2eWantCode(t, o, tc.code)
			e2eAgree(t, smtp, transcript, o, tc.bug)
		})
	}
}
