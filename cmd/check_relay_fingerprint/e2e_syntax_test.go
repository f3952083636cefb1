package main

// The table syntax, proven against a real Postfix: for every way of
// writing (or miswriting) relay_clientcerts that postmap(1) reads, the
// receiver's verdict (swaks: 250 or 454) and the plugin's (CRITICAL or not)
// must agree. Two receivers read the same texts: one as hash: (postmap
// compiles the file into a .db) and one as texthash: (smtpd reads the text
// itself, at process start), since Postfix documents the same input
// format for both.

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
)

// e2eSyntaxCase is one table text and what Postfix and the plugin say of it.
type e2eSyntaxCase struct {
	name   string
	table  string
	listed bool // Postfix relays (250) for the relay's certificate
	code   int  // the plugin's exit code (CRITICAL iff not listed is asserted anyway)
}

// e2eTexthashDiffers lists, by case name, the cases where a texthash: receiver
// answers otherwise than a hash: one: its RCPT reply and the plugin's exit.
// postmap keeps the first of duplicate keys and warns, but texthash
// (dict_thash) declares the whole table unavailable, so smtpd defers every
// relay with "451 4.3.0 ... Temporary lookup failure"; the plugin says
// CRITICAL for a texthash table with duplicates.
var e2eTexthashDiffers = map[string]struct{ smtp, code int }{
	"duplicate key":             {451, exitCritical},
	"duplicate key, other case": {451, exitCritical},
	"duplicate of another key":  {451, exitCritical},
}

// e2eSyntaxCases are written for the relay certificate c.
func e2eSyntaxCases(c *postfixtest.ClientCert) []e2eSyntaxCase {
	fp := c.Fingerprint("sha256")
	pk := c.PubkeyFingerprint("sha256")
	half := len(fp) / 2 // a cut inside the key
	return []e2eSyntaxCase{
		{"plain", e2eEntry(fp, e2eRelayName), true, exitOK},
		{"comments around", "# relays allowed to relay\n\n" + e2eEntry(e2eOther, "other") + "  # indented comment\n" + e2eEntry(fp, e2eRelayName) + "#\n", true, exitOK},
		{"commented out", "#" + e2eEntry(fp, e2eRelayName), false, exitCritical},
		{"indented comment marker", " \t#" + e2eEntry(fp, e2eRelayName), false, exitCritical},
		{"hash inside the value", fp + " " + e2eRelayName + " # renewed 2024-05\n", true, exitOK},
		{"value on a continuation line", fp + "\n    " + e2eRelayName + "\n", true, exitOK},
		{"comment and blank line inside a continued entry", fp + "\n# note\n\n\t" + e2eRelayName + "\n", true, exitOK},
		{"key split across a continuation line", fp[:half] + "\n " + fp[half:] + " " + e2eRelayName + "\n", false, exitCritical},
		{"continuation swallows the next key", e2eEntry(e2eOther, "other") + " " + e2eEntry(fp, e2eRelayName), false, exitCritical},
		{"CRLF line endings", strings.ReplaceAll(e2eEntry(e2eOther, "other")+e2eEntry(fp, e2eRelayName), "\n", "\r\n"), true, exitOK},
		{"CRLF key without value", fp + "\r\n", false, exitCritical},
		{"tab separator", fp + "\t" + e2eRelayName + "\n", true, exitOK},
		{"tabs and trailing blanks", fp + " \t \t" + e2eRelayName + " \t\n", true, exitOK},
		{"key without value", fp + "\n", false, exitCritical},
		{"key without value, blanks after", fp + " \t \n", false, exitCritical},
		{"lower-case key", e2eEntry(strings.ToLower(fp), e2eRelayName), true, exitOK},
		{"lower-case public key", e2eEntry(strings.ToLower(pk), e2eRelayName), true, exitOK},
		{"mixed-case key", e2eEntry(strings.ToLower(fp[:half])+fp[half:], e2eRelayName), true, exitOK},
		{"colon-less key", e2eEntry(strings.ReplaceAll(fp, ":", ""), e2eRelayName), false, exitCritical},
		{"alias-style key", fp + ": " + e2eRelayName + "\n", false, exitCritical},
		{"quoted key", `"` + fp + `" ` + e2eRelayName + "\n", false, exitCritical},
		{"unbalanced quote", `"` + fp + " " + e2eRelayName + "\n", false, exitCritical},
		{"leading whitespace on the first line", " " + e2eEntry(fp, e2eRelayName), false, exitCritical},
		{"leading whitespace first, then the entry", " " + e2eEntry(e2eOther, "other") + "# c\n" + e2eEntry(fp, e2eRelayName), true, exitWarning},
		{"duplicate key", e2eEntry(fp, e2eRelayName) + e2eEntry(fp, "again"), true, exitWarning},
		{"duplicate key, other case", e2eEntry(fp, e2eRelayName) + e2eEntry(strings.ToLower(fp), "again"), true, exitWarning},
		{"duplicate of another key", e2eEntry(e2eOther, "other") + e2eEntry(fp, e2eRelayName) + e2eEntry(e2eOther, "again"), true, exitWarning},
		{"no trailing newline", strings.TrimSuffix(e2eEntry(fp, e2eRelayName), "\n"), true, exitOK},
		{"no trailing newline, continuation", fp + "\n " + e2eRelayName, true, exitOK},
		{"non-UTF-8 line before", "\xff\xfe bad\n" + e2eEntry(fp, e2eRelayName), true, exitWarning},
		{"md5 fingerprint of the relay", e2eEntry(c.Fingerprint("md5"), e2eRelayName), false, exitCritical},
		{"sha1 public key of the relay", e2eEntry(c.PubkeyFingerprint("sha1"), e2eRelayName), false, exitCritical},
		{"empty table", "", false, exitCritical},
		{"only comments", "# nothing yet\n#" + e2eEntry(fp, e2eRelayName), false, exitCritical},
	}
}

func TestE2ETableSyntax(t *testing.T) {
	t.Parallel()
	postfixtest.Require(t, "postfix", "postmap", "postconf", "swaks")
	start := time.Now()
	w := newE2EWorld(t)
	// $config_directory is the instance's ConfigDir: the same file as hash.
	text := postfixtest.Start(t, postfixtest.Options{Settings: []string{
		"relay_clientcerts = texthash:$config_directory/relay_clientcerts"}})
	t.Logf("three instances started in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { t.Logf("TestE2ETableSyntax took %v", time.Since(start).Round(time.Millisecond)) })

	cases := e2eSyntaxCases(w.base)
	for _, r := range []struct {
		typ  string
		recv *postfixtest.Instance
	}{{"hash", w.recv}, {"texthash", text}} {
		t.Run(r.typ, func(t *testing.T) {
			t.Parallel()
			spec := r.typ + ":" + r.recv.TablePath
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					e2eSetTable(t, r.recv, r.typ, tc.table)
					smtp, transcript := r.recv.Swaks(t, w.base, false)
					o := e2ePlugin(t, "-H", w.relay.SMTPAddr, "--table", spec)
					want, code := 454, tc.code
					if tc.listed {
						want = 250
					}
					if d, ok := e2eTexthashDiffers[tc.name]; ok && r.typ == "texthash" {
						want, code = d.smtp, d.code
					}
					e2eWantSMTP(t, smtp, want, fmt.Sprintf("%q", tc.table), transcript)
					e2eAgree(t, smtp, transcript, o, "")
					if o.code != code {
						t.Errorf("table %q: plugin exit %d (%s), want %d (%s)\n%s", tc.table, o.code, e2eStateName(o.code), code, e2eStateName(code), o)
					}
					// The receiver's own postconf names the same table (for
					// texthash through $config_directory): same verdict.
					pc := e2ePlugin(t, "-H", w.relay.SMTPAddr, "--postconf", r.recv.ConfigDir)
					if pc.code != o.code {
						t.Errorf("--postconf says %s, --table %s says %s\n%s\n%s", e2eStateName(pc.code), spec, e2eStateName(o.code), pc, o)
					}
				})
			}
		})
	}
}

// e2eSetTable makes recv use content as its table of type typ. For texthash,
// which smtpd reads itself at process start, it backdates the file before
// the reload: smtpd does not load a texthash file modified within the last
// second, it waits (about two seconds per case, measured).
func e2eSetTable(t *testing.T, recv *postfixtest.Instance, typ, content string) {
	t.Helper()
	if typ != "texthash" {
		recv.SetTable(t, []byte(content))
		return
	}
	recv.WriteTable(t, []byte(content))
	old := time.Now().Add(-3 * time.Second)
	if err := os.Chtimes(recv.TablePath, old, old); err != nil {
		t.Fatal(err)
	}
	recv.Reload(t)
}
