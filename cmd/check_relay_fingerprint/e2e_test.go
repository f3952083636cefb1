package main

// End-to-end proof of the verdict against a real Postfix (the issue "Prove
// the verdict against a real Postfix"): the plugin must say CRITICAL exactly
// when Postfix would refuse to relay, and OK exactly when it relays.
//
// The world of these tests, all on 127.0.0.1 (see internal/postfixtest):
//
//	RELAY     a Postfix instance whose smtpd presents the relay's
//	          certificate (Options.ServerCert); the plugin probes it at
//	          SMTPAddr (STARTTLS) or SMTPSAddr (implicit TLS). A renewal is
//	          postconf smtpd_tls_cert_file/smtpd_tls_key_file + reload.
//	RECEIVER  a Postfix instance with relay_clientcerts = hash:TablePath,
//	          permit_tls_clientcerts, reject and soft_bounce: swaks,
//	          presenting the relay's certificate as a client, gets 250 when
//	          the receiver relays and "454 4.7.1" when it refuses.
//
// Every case runs both: the plugin in process (run) against the relay and
// the receiver's table, and swaks against the receiver with the same
// certificate, and asserts they agree. The instances are started once and
// reused; each subtest sets the table and the relay's certificate it needs,
// so any subtest can run alone (go test -run 'E2E/incident').
//
// Where they do not agree, the case says so, in one of two ways:
//
//   - by design: the plugin was asked for something else (a wrong -d by
//     hand, -w/-c thresholds) or judges the table source Postfix will load
//     after the next postmap; logged, not asserted;
//   - a known bug (e2eAgree's knownBug): a disagreement these tests found and
//     reported; logged while it lasts, and an error once it is gone, so its
//     marker goes with the fix.
//
// The other files: e2e_syntax_test.go (the table syntax, hash: and
// texthash:), e2e_receiver_test.go (a relay_clientcerts of two tables),
// e2e_trust_test.go (a CA-issued chain, --fix --ca-file).

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testfs"
)

// e2eRelayName is the relay's certificate name (CN and DNS SAN), kept across
// renewals as a real relay's would be; the table labels the relay with it.
const e2eRelayName = "relay.e2e.test"

// e2eValidity keeps test certificates far from the default -w 14 / -c 7 days,
// so that the only problem the plugin can see is the one each case makes.
const e2eValidity = 90 * 24 * time.Hour

// e2eWorld is a relay and a receiver, started once per test function.
type e2eWorld struct {
	relay, recv *postfixtest.Instance
	dir         string                  // certificates
	base        *postfixtest.ClientCert // the relay's certificate at start
	current     *postfixtest.ClientCert // what the relay's smtpd presents now
}

// newE2EWorld starts a relay presenting a fresh certificate and a sha256
// receiver with an empty table.
func newE2EWorld(t *testing.T) *e2eWorld {
	t.Helper()
	// Without --postconf the plugin runs postmap (and postmap -q) with no
	// -c, as an admin's shell would: that reads the default main.cf.
	postfixtest.RequireDefaultConfig(t)
	w := &e2eWorld{dir: t.TempDir()}
	w.base = w.newCert(t, nil)
	w.current = w.base
	w.relay = postfixtest.Start(t, postfixtest.Options{ServerCert: w.base})
	w.recv = postfixtest.Start(t, postfixtest.Options{})
	return w
}

// newCert makes a certificate for the relay, with key (a fresh key when nil).
func (w *e2eWorld) newCert(t *testing.T, key *postfixtest.ClientCert) *postfixtest.ClientCert {
	t.Helper()
	if key == nil {
		return postfixtest.NewClientCert(t, w.dir, e2eRelayName, nil, time.Now().Add(e2eValidity))
	}
	return postfixtest.NewClientCert(t, w.dir, e2eRelayName, key.Key, time.Now().Add(e2eValidity))
}

// present makes the relay's smtpd present c, as a renewal does: point
// main.cf at the new files and reload.
func (w *e2eWorld) present(t *testing.T, c *postfixtest.ClientCert) {
	t.Helper()
	if w.current == c {
		return
	}
	start := time.Now()
	w.relay.Postconf(t, "smtpd_tls_cert_file="+c.CertFile, "smtpd_tls_key_file="+c.KeyFile)
	w.relay.Reload(t)
	w.current = c
	t.Logf("relay now presents %s (%v)", c.Cert.Subject, time.Since(start).Round(time.Millisecond))
}

// e2eOutcome is one run of the plugin.
type e2eOutcome struct {
	args           []string
	code           int
	stdout, stderr string
}

func (o e2eOutcome) String() string {
	return fmt.Sprintf("check_relay_fingerprint %s\nexit %d (%s)\nstdout:\n%sstderr:\n%s",
		strings.Join(o.args, " "), o.code, e2eStateName(o.code), o.stdout, o.stderr)
}

func e2eStateName(code int) string {
	switch code {
	case exitOK:
		return "OK"
	case exitWarning:
		return "WARNING"
	case exitCritical:
		return "CRITICAL"
	case exitUnknown:
		return "UNKNOWN"
	}
	return "?"
}

// e2ePlugin runs the plugin in process and checks that its status line agrees
// with its exit code.
func e2ePlugin(t *testing.T, args ...string) e2eOutcome {
	t.Helper()
	var stdout, stderr bytes.Buffer
	o := e2eOutcome{args: args}
	o.code = run(args, &stdout, &stderr)
	o.stdout, o.stderr = stdout.String(), stderr.String()
	t.Logf("%s", o) // shown with -v and on failure: what the plugin said
	if !strings.HasPrefix(o.stdout, "RELAY_FINGERPRINT "+e2eStateName(o.code)) && !strings.HasPrefix(args[0], "fingerprint") {
		t.Errorf("status line does not start with the exit code's state %s:\n%s", e2eStateName(o.code), o)
	}
	return o
}

// check runs the check against the relay's STARTTLS smtpd and the
// receiver's table, with extra arguments.
func (w *e2eWorld) check(t *testing.T, extra ...string) e2eOutcome {
	t.Helper()
	return e2ePlugin(t, append([]string{"-H", w.relay.SMTPAddr, "--table", w.recv.TableSpec()}, extra...)...)
}

// e2eAgree asserts that the plugin and Postfix agree: the plugin says CRITICAL
// (exit 2) if and only if the receiver did not relay (any reply but 250).
//
// knownBug, when not empty, describes a disagreement found by these tests
// and reported: it is logged instead, and its disappearance is an error, so
// that whoever fixes the plugin also removes the marker.
func e2eAgree(t *testing.T, smtp int, transcript string, o e2eOutcome, knownBug string) {
	t.Helper()
	agreed := (o.code == exitCritical) == (smtp != 250)
	switch {
	case !agreed && knownBug == "":
		t.Errorf("DISAGREEMENT: Postfix answered RCPT with %d, the plugin says %s\n%s\nswaks transcript:\n%s",
			smtp, e2eStateName(o.code), o, transcript)
	case !agreed:
		t.Logf("KNOWN DISAGREEMENT: Postfix answered RCPT with %d, the plugin says %s: %s", smtp, e2eStateName(o.code), knownBug)
	case knownBug != "":
		t.Errorf("the known disagreement is gone (Postfix %d, plugin %s): remove the marker %q", smtp, e2eStateName(o.code), knownBug)
	}
}

// e2eWantSMTP asserts the receiver's reply, which each case predicts: a test
// whose premise is wrong proves nothing.
func e2eWantSMTP(t *testing.T, got, want int, table, transcript string) {
	t.Helper()
	if got != want {
		t.Fatalf("Postfix answered RCPT with %d, want %d; table:\n%s\nswaks transcript:\n%s", got, want, table, transcript)
	}
	if want == 454 && !strings.Contains(transcript, "454 4.7.1 ") {
		t.Errorf("refusal is not 454 4.7.1; transcript:\n%s", transcript)
	}
}

func e2eWantCode(t *testing.T, o e2eOutcome, want int) {
	t.Helper()
	if o.code != want {
		t.Errorf("plugin exit %d (%s), want %d (%s)\n%s", o.code, e2eStateName(o.code), want, e2eStateName(want), o)
	}
}

func e2eWantOutput(t *testing.T, o e2eOutcome, substrings ...string) {
	t.Helper()
	for _, s := range substrings {
		if !strings.Contains(o.stdout, s) {
			t.Errorf("output lacks %q\n%s", s, o)
		}
	}
}

// e2eEntry renders one relay_clientcerts line.
func e2eEntry(fp, label string) string { return fp + " " + label + "\n" }

// e2eOther is a fingerprint-shaped sha256 key of no certificate in these tests.
var e2eOther = postfixtest.Fingerprint("sha256", []byte("another relay"))

func TestE2E(t *testing.T) {
	t.Parallel()
	postfixtest.Require(t, "postfix", "postmap", "postconf", "swaks", "posttls-finger")
	start := time.Now()
	w := newE2EWorld(t)
	t.Logf("two instances started in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { t.Logf("TestE2E took %v", time.Since(start).Round(time.Millisecond)) })

	t.Run("listed", w.testListed)
	t.Run("incident", w.testIncident)
	t.Run("pubkey pinning", w.testPubkeyPinning)
	t.Run("postmap not run", w.testStale)
	t.Run("fingerprints", w.testFingerprints)
	t.Run("implicit TLS", w.testImplicitTLS)
	t.Run("validity", w.testValidity)
	t.Run("fix", w.testFix)
	t.Run("digest", w.testDigest)
	t.Run("digest alias", w.testDigestAlias)
	t.Run("two tables", w.testTwoTables)
	t.Run("certificate chain", w.testChain)
}

// 1. The relay's certificate is listed: Postfix relays, the plugin says OK.
func (w *e2eWorld) testListed(t *testing.T) {
	w.present(t, w.base)
	table := e2eEntry(e2eOther, "other.e2e.test") + e2eEntry(w.base.Fingerprint("sha256"), e2eRelayName)
	w.recv.SetTable(t, []byte(table))

	smtp, transcript := w.recv.Swaks(t, w.base, false)
	o := w.check(t)
	e2eWantSMTP(t, smtp, 250, table, transcript)
	e2eWantCode(t, o, exitOK)
	e2eAgree(t, smtp, transcript, o, "")
	e2eWantOutput(t, o, w.relay.SMTPAddr+" listed in 1 table", "listed by cert fingerprint at "+w.recv.TablePath+":2")
}

// 2. The incident: the relay renews with a new key; the receiver refuses
// with 454 4.7.1 and the plugin says CRITICAL, naming the relay, the new
// fingerprints and the table.
func (w *e2eWorld) testIncident(t *testing.T) {
	w.present(t, w.base)
	table := e2eEntry(w.base.Fingerprint("sha256"), e2eRelayName)
	w.recv.SetTable(t, []byte(table))

	renewed := w.newCert(t, nil)
	w.present(t, renewed)
	smtp, transcript := w.recv.Swaks(t, renewed, false)
	o := w.check(t)
	e2eWantSMTP(t, smtp, 454, table, transcript)
	e2eWantCode(t, o, exitCritical)
	e2eAgree(t, smtp, transcript, o, "")
	status, _, _ := strings.Cut(o.stdout, "\n")
	for _, s := range []string{w.relay.SMTPAddr, renewed.PubkeyFingerprint("sha256"), w.recv.TableSpec()} {
		if !strings.Contains(status, s) {
			t.Errorf("status line lacks %q:\n%s", s, o)
		}
	}
	e2eWantOutput(t, o, "cert "+renewed.Fingerprint("sha256"), "add: "+renewed.PubkeyFingerprint("sha256")+" "+e2eRelayName)
}

// 3. Public-key pinning: a renewal that keeps the key keeps the public-key
// fingerprint, which Postfix also looks up; a certificate fingerprint does
// not survive it.
func (w *e2eWorld) testPubkeyPinning(t *testing.T) {
	sameKey := w.newCert(t, w.base)
	for _, tc := range []struct {
		name     string
		table    string
		presents *postfixtest.ClientCert
		smtp     int
		code     int
	}{
		{"public key listed, before renewal", e2eEntry(w.base.PubkeyFingerprint("sha256"), e2eRelayName), w.base, 250, exitOK},
		{"public key listed, renewed with the same key", e2eEntry(w.base.PubkeyFingerprint("sha256"), e2eRelayName), sameKey, 250, exitOK},
		{"certificate listed, renewed with the same key", e2eEntry(w.base.Fingerprint("sha256"), e2eRelayName), sameKey, 454, exitCritical},
		{"both listed, renewed with the same key", e2eEntry(w.base.Fingerprint("sha256"), e2eRelayName) + e2eEntry(w.base.PubkeyFingerprint("sha256"), e2eRelayName), sameKey, 250, exitOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.present(t, tc.presents)
			w.recv.SetTable(t, []byte(tc.table))
			smtp, transcript := w.recv.Swaks(t, tc.presents, false)
			o := w.check(t)
			e2eWantSMTP(t, smtp, tc.smtp, tc.table, transcript)
			e2eWantCode(t, o, tc.code)
			e2eAgree(t, smtp, transcript, o, "")
			if tc.code == exitOK && strings.HasPrefix(tc.table, w.base.PubkeyFingerprint("sha256")) {
				e2eWantOutput(t, o, "listed by pubkey fingerprint")
			}
		})
	}
}

// 5. A table edited without postmap: Postfix keeps using the old .db, so
// the plugin must not say OK, and must say to run postmap.
func (w *e2eWorld) testStale(t *testing.T) {
	w.present(t, w.base)
	fp := w.base.Fingerprint("sha256")
	for _, tc := range []struct {
		name          string
		compiled, src string // the table as postmapped, then as edited
		removeDB      bool   // then remove the .db and reload
		smtp          int    // Postfix reads the compiled table
		code          int
		design        string // a disagreement by design: the plugin judges the source
		bug           string // a known disagreement, see agree
		output        string
	}{
		{
			name:     "unrelated line added",
			compiled: e2eEntry(fp, e2eRelayName),
			src:      e2eEntry(fp, e2eRelayName) + e2eEntry(e2eOther, "other"),
			smtp:     250, code: exitWarning,
			output: "is older than its source: Postfix still uses the old table; run postmap " + w.recv.TableSpec(),
		},
		{
			name:     "relay's entry removed",
			compiled: e2eEntry(fp, e2eRelayName) + e2eEntry(e2eOther, "other"),
			src:      e2eEntry(e2eOther, "other"),
			// The plugin reads the compiled table with postmap -q, as
			// Postfix does, and warns that the next postmap drops the relay.
			smtp: 250, code: exitWarning,
			output: "the next postmap drops it and Postfix will refuse this relay",
		},
		{
			name:     "relay's entry added",
			compiled: e2eEntry(e2eOther, "other"),
			src:      e2eEntry(e2eOther, "other") + e2eEntry(fp, e2eRelayName),
			smtp:     454, code: exitCritical,
			output: "but not in " + w.recv.TablePath + ".db, which Postfix reads: run postmap " + w.recv.TableSpec(),
		},
		{
			name:     "compiled table missing",
			compiled: e2eEntry(fp, e2eRelayName),
			src:      e2eEntry(fp, e2eRelayName),
			removeDB: true,
			smtp:     451, code: exitCritical,
			output: ".db does not exist: Postfix answers every relay 451 4.3.0 (lookup failure); run postmap " + w.recv.TableSpec() +
				"; or, to have Postfix read the source file as it is, without postmap, name it texthash:" + w.recv.TablePath,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.recv.SetTable(t, []byte(tc.compiled))
			// The edit must be newer than the .db; mtimes are compared in full.
			w.recv.WriteTable(t, []byte(tc.src))
			if tc.removeDB {
				if err := os.Remove(w.recv.TablePath + ".db"); err != nil {
					t.Fatal(err)
				}
				w.recv.Reload(t)
				// Whatever happens, the next case starts from SetTable.
			}
			smtp, transcript := w.recv.Swaks(t, w.base, false)
			o := w.check(t)
			e2eWantSMTP(t, smtp, tc.smtp, tc.compiled, transcript)
			e2eWantCode(t, o, tc.code)
			if o.code == exitOK {
				t.Errorf("plugin says OK for a table whose source and compiled file differ\n%s", o)
			}
			e2eWantOutput(t, o, tc.output)
			if tc.design == "" {
				e2eAgree(t, smtp, transcript, o, tc.bug)
			} else {
				t.Logf("disagreement by design: Postfix %d, plugin %s: %s", smtp, e2eStateName(o.code), tc.design)
			}
		})
	}
}

// e2eFingerprintLine is a table line printed by the fingerprint command.
var e2eFingerprintLine = regexp.MustCompile(`(?m)^([0-9A-F:]+) (\S+)$`)

// 7. The plugin's fingerprints are posttls-finger's fingerprint= and
// pkey_fingerprint=, for every digest, over STARTTLS and implicit TLS, for
// an ECDSA and an RSA certificate.
func (w *e2eWorld) testFingerprints(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaCert := postfixtest.NewClientCert(t, w.dir, e2eRelayName, rsaKey, time.Now().Add(e2eValidity))
	for _, c := range []struct {
		name string
		cert *postfixtest.ClientCert
	}{{"ECDSA", w.base}, {"RSA", rsaCert}} {
		t.Run(c.name, func(t *testing.T) {
			w.present(t, c.cert)
			for _, d := range []string{"md5", "sha1", "sha224", "sha256", "sha384", "sha512"} {
				for _, proto := range []string{"smtp", "smtps"} {
					t.Run(d+" "+proto, func(t *testing.T) {
						w.fingerprints(t, c.cert, d, proto)
					})
				}
			}
		})
	}
}

func (w *e2eWorld) fingerprints(t *testing.T, c *postfixtest.ClientCert, d, proto string) {
	t.Helper()
	addr, finger := w.relay.SMTPAddr, postfixtest.PosttlsFinger
	if proto == "smtps" {
		addr, finger = w.relay.SMTPSAddr, postfixtest.PosttlsFingerSMTPS
	}
	// The relay's main.cf, not a fresh one: posttls-finger waits until
	// main.cf is two seconds old.
	certFP, pkeyFP := finger(t, w.relay.ConfigDir, addr, d)
	if certFP != c.Fingerprint(d) || pkeyFP != c.PubkeyFingerprint(d) {
		t.Fatalf("posttls-finger -d %s: fingerprint=%s pkey_fingerprint=%s, not the relay's certificate", d, certFP, pkeyFP)
	}
	for _, m := range []struct{ match, want string }{{"cert", certFP}, {"pubkey", pkeyFP}} {
		o := e2ePlugin(t, "fingerprint", "-H", addr, "-P", proto, "-d", d, "--match", m.match)
		lines := e2eFingerprintLine.FindAllStringSubmatch(o.stdout, -1)
		if o.code != exitOK || len(lines) != 1 || lines[0][1] != m.want || lines[0][2] != e2eRelayName {
			t.Errorf("fingerprint --match %s: want the one line %q (posttls-finger)\n%s", m.match, m.want+" "+e2eRelayName, o)
		}
	}
	o := e2ePlugin(t, "-P", proto, "-H", addr, "-d", d, "-v", "--table", w.recv.TableSpec())
	e2eWantOutput(t, o,
		addr+": "+d+" cert fingerprint "+certFP,
		addr+": "+d+" pubkey fingerprint "+pkeyFP)
}

// 9. Implicit TLS: the relay's smtps listener gives the same verdicts.
func (w *e2eWorld) testImplicitTLS(t *testing.T) {
	renewed := w.newCert(t, nil)
	table := e2eEntry(w.base.Fingerprint("sha256"), e2eRelayName)
	for _, tc := range []struct {
		name     string
		presents *postfixtest.ClientCert
		smtp     int
		code     int
	}{
		{"listed", w.base, 250, exitOK},
		{"renewed with a new key", renewed, 454, exitCritical},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.present(t, tc.presents)
			w.recv.SetTable(t, []byte(table))
			smtp, transcript := w.recv.Swaks(t, tc.presents, true)
			o := e2ePlugin(t, "-P", "smtps", "-H", w.relay.SMTPSAddr, "--table", w.recv.TableSpec())
			e2eWantSMTP(t, smtp, tc.smtp, table, transcript)
			e2eWantCode(t, o, tc.code)
			e2eAgree(t, smtp, transcript, o, "")
			starttls := w.check(t)
			if starttls.code != o.code {
				t.Errorf("STARTTLS and implicit TLS disagree: %s vs %s\n%s\n%s", e2eStateName(starttls.code), e2eStateName(o.code), starttls, o)
			}
		})
	}
}

// Postfix matches fingerprints only: it relays for a listed certificate
// however close to expiry, even expired. The plugin's -w/-c thresholds warn
// ahead of the renewal that will change the fingerprint; with them off, its
// verdict is Postfix's again.
func (w *e2eWorld) testValidity(t *testing.T) {
	soon := postfixtest.NewClientCert(t, w.dir, e2eRelayName, nil, time.Now().Add(3*24*time.Hour))
	expired := postfixtest.NewClientCert(t, w.dir, e2eRelayName, nil, time.Now().Add(-time.Minute))
	for _, tc := range []struct {
		name   string
		cert   *postfixtest.ClientCert
		args   []string
		code   int
		design string
		output string
	}{
		{"expires in 3 days", soon, nil, exitCritical,
			"under -c 7 days: the renewal that will change the fingerprint is due", "certificate expires in 2 days"},
		{"expires in 3 days, thresholds off", soon, []string{"--warning=", "--critical="}, exitOK, "", ""},
		{"expired", expired, nil, exitCritical,
			"Postfix relays for an expired listed certificate; the plugin says it expired", "certificate expired"},
		{"expired, thresholds off", expired, []string{"--warning=", "--critical="}, exitOK, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.present(t, tc.cert)
			table := e2eEntry(tc.cert.PubkeyFingerprint("sha256"), e2eRelayName)
			w.recv.SetTable(t, []byte(table))
			smtp, transcript := w.recv.Swaks(t, tc.cert, false)
			o := w.check(t, tc.args...)
			e2eWantSMTP(t, smtp, 250, table, transcript)
			e2eWantCode(t, o, tc.code)
			if tc.output != "" {
				e2eWantOutput(t, o, tc.output)
			}
			if tc.design == "" {
				e2eAgree(t, smtp, transcript, o, "")
			} else {
				t.Logf("disagreement by design: Postfix %d, plugin %s: %s", smtp, e2eStateName(o.code), tc.design)
			}
		})
	}
}

// 4. Digest: md5 receivers, one set explicitly and one by compatibility
// level (below 3.6 the default is md5). The plugin agrees with -d md5 and
// with --postconf, which asks the receiver's own postconf.
func (w *e2eWorld) testDigest(t *testing.T) {
	w.present(t, w.base)
	for _, rc := range []struct {
		name string
		opts postfixtest.Options
	}{
		{"smtpd_tls_fingerprint_digest = md5", postfixtest.Options{Digest: "md5"}},
		{"compatibility_level = 3.5, digest by default", postfixtest.Options{DefaultDigest: true, CompatibilityLevel: "3.5"}},
	} {
		t.Run(rc.name, func(t *testing.T) {
			recv := postfixtest.Start(t, rc.opts)
			if recv.Digest != "md5" {
				t.Fatalf("receiver digest %q, want md5", recv.Digest)
			}
			md5 := e2eEntry(w.base.Fingerprint("md5"), e2eRelayName)
			sha256 := e2eEntry(w.base.Fingerprint("sha256"), e2eRelayName)
			for _, tc := range []struct {
				name         string
				table        string
				args         []string
				smtp, code   int
				disagreement string
			}{
				{"md5 listed, -d md5", md5, []string{"-d", "md5"}, 250, exitOK, ""},
				{"md5 listed, --postconf", md5, []string{"--postconf", recv.ConfigDir}, 250, exitOK, ""},
				{"sha256 listed, -d md5", sha256, []string{"-d", "md5"}, 454, exitCritical, ""},
				{"sha256 listed, --postconf", sha256, []string{"--postconf", recv.ConfigDir}, 454, exitCritical, ""},
				{"md5 listed, sha256 by default", md5, nil, 250, exitCritical,
					"the plugin was told the wrong digest (sha256 by default): it cannot find the relay's sha256 fingerprint"},
				{"sha256 listed, -d sha256", sha256, []string{"-d", "sha256"}, 454, exitOK,
					"the plugin was told the wrong digest (-d sha256): it finds the relay's sha256 fingerprint that this receiver never computes"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					recv.SetTable(t, []byte(tc.table))
					smtp, transcript := recv.Swaks(t, w.base, false)
					args := []string{"-H", w.relay.SMTPAddr}
					if !strings.HasPrefix(strings.Join(tc.args, " "), "--postconf") {
						args = append(args, "--table", recv.TableSpec())
					}
					o := e2ePlugin(t, append(args, tc.args...)...)
					e2eWantSMTP(t, smtp, tc.smtp, tc.table, transcript)
					e2eWantCode(t, o, tc.code)
					if tc.disagreement == "" {
						e2eAgree(t, smtp, transcript, o, "")
					} else {
						t.Logf("disagreement by design: Postfix %d, plugin %s: %s", smtp, e2eStateName(o.code), tc.disagreement)
					}
					if tc.code == exitCritical && tc.disagreement == "" {
						e2eWantOutput(t, o, "presents md5 public-key fingerprint "+w.base.PubkeyFingerprint("md5"))
					}
				})
			}
		})
	}
}

// testDigestAlias: a receiver whose smtpd_tls_fingerprint_digest is one
// of OpenSSL's other names of SHA-256 (Postfix looks it up with
// EVP_get_digestbyname). --postconf reads it and agrees with Postfix.
func (w *e2eWorld) testDigestAlias(t *testing.T) {
	w.present(t, w.base)
	recv := postfixtest.Start(t, postfixtest.Options{Digest: "SHA2-256"})
	for _, tc := range []struct {
		name       string
		table      string
		smtp, code int
	}{
		{"sha256 listed", e2eEntry(w.base.Fingerprint("sha256"), e2eRelayName), 250, exitOK},
		{"md5 listed", e2eEntry(w.base.Fingerprint("md5"), e2eRelayName), 454, exitCritical},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recv.SetTable(t, []byte(tc.table))
			smtp, transcript := recv.Swaks(t, w.base, false)
			o := e2ePlugin(t, "-H", w.relay.SMTPAddr, "--postconf", recv.ConfigDir)
			e2eWantSMTP(t, smtp, tc.smtp, tc.table, transcript)
			e2eWantCode(t, o, tc.code)
			e2eAgree(t, smtp, transcript, o, "")
		})
	}
}

// 8. Remediation, proven by Postfix: after a renewal, --fix rewrites only
// the stale line, postmaps, and the receiver relays again.
func (w *e2eWorld) testFix(t *testing.T) {
	renewed := w.newCert(t, nil)
	stale := w.base.Fingerprint("sha256")
	fixed := renewed.PubkeyFingerprint("sha256") // fix writes the public key
	// A table as people write them: comments, other relays, a CRLF line, a
	// continuation, a value with a note; only the stale key may change.
	table := "# relay_clientcerts of the e2e receiver\r\n" +
		"#\n" +
		e2eEntry(e2eOther, "other.e2e.test") +
		"\n" +
		"# " + e2eRelayName + ", renewed by hand\n" +
		stale + "\t" + e2eRelayName + "   # since 2024\n" +
		postfixtest.Fingerprint("sha256", []byte("third")) + "\n  third.e2e.test\n" +
		"AA:BB not.a.fingerprint\r\n" +
		"# end"
	// incident puts the receiver into the state every variant starts from.
	incident := func(t *testing.T) {
		t.Helper()
		w.present(t, renewed)
		w.recv.SetTable(t, []byte(table))
		smtp, transcript := w.recv.Swaks(t, renewed, false)
		e2eWantSMTP(t, smtp, 454, table, transcript)
	}
	untouched := func(t *testing.T, before e2eFileState) {
		t.Helper()
		after := e2eStat(t, w.recv.TablePath)
		if !bytes.Equal(after.data, before.data) || !after.mtime.Equal(before.mtime) {
			t.Errorf("table changed: mtime %v -> %v, content:\n%q\nwant:\n%q", before.mtime, after.mtime, after.data, before.data)
		}
		db := e2eStat(t, w.recv.TablePath+".db")
		if !bytes.Equal(db.data, before.db) {
			t.Errorf("%s.db changed", w.recv.TablePath)
		}
	}

	t.Run("refused without --fix-trust any", func(t *testing.T) {
		incident(t)
		before := e2eStat(t, w.recv.TablePath)
		o := w.check(t, "--fix")
		if o.code == exitOK {
			t.Errorf("plugin OK after a refused fix\n%s", o)
		}
		e2eWantOutput(t, o, "fix refused", "--fix-trust any")
		untouched(t, before)
		smtp, transcript := w.recv.Swaks(t, renewed, false)
		e2eWantSMTP(t, smtp, 454, table, transcript)
		e2eAgree(t, smtp, transcript, o, "")
	})

	t.Run("--diff writes nothing", func(t *testing.T) {
		incident(t)
		before := e2eStat(t, w.recv.TablePath)
		o := w.check(t, "--diff", "--fix-trust", "any")
		e2eWantCode(t, o, exitCritical)
		e2eWantOutput(t, o,
			"--- "+w.recv.TablePath+"\n+++ "+w.recv.TablePath+" (fixed)\n",
			"\n-"+stale+"\t"+e2eRelayName+"   # since 2024\n+"+fixed+"\t"+e2eRelayName+"   # since 2024\n",
			"diff: 1 replaced, 0 added in "+w.recv.TableSpec()+", nothing written")
		untouched(t, before)
	})

	for _, v := range []struct {
		name string
		args []string
		// pluginReloads: the plugin runs postfix -c CONFIG_DIR reload.
		pluginReloads bool
	}{
		{"--fix, postmap of the default configuration, reload by hand", []string{"--fix", "--fix-trust", "any"}, false},
		{"--fix --postconf --reload", []string{"--postconf", w.recv.ConfigDir, "--fix", "--fix-trust", "any", "--reload"}, true},
	} {
		t.Run(v.name, func(t *testing.T) {
			incident(t)
			before := e2eStat(t, w.recv.TablePath)
			reloads := w.reloads()
			args := []string{"-H", w.relay.SMTPAddr}
			if !v.pluginReloads {
				args = append(args, "--table", w.recv.TableSpec())
			}
			o := e2ePlugin(t, append(args, v.args...)...)
			e2eWantCode(t, o, exitCritical) // the verdict is of the table as it was
			e2eWantOutput(t, o, "fix: 1 replaced, 0 added in "+w.recv.TableSpec()+", postmap done")

			after := e2eStat(t, w.recv.TablePath)
			e2eWantOneLineChanged(t, before.data, after.data,
				[]byte(stale+"\t"+e2eRelayName+"   # since 2024\n"),
				[]byte(fixed+"\t"+e2eRelayName+"   # since 2024\n"))
			db := e2eStat(t, w.recv.TablePath+".db")
			if db.mtime.Before(after.mtime) || bytes.Equal(db.data, before.db) {
				t.Errorf("%s.db unchanged or older (%v) than the fixed source (%v): the plugin did not run postmap", w.recv.TablePath, db.mtime, after.mtime)
			}
			if v.pluginReloads {
				e2eWantOutput(t, o, "postfix reloaded")
				// postfix reload only signals master, which logs once it
				// has re-read its configuration: wait for that line (the
				// deadline is a hang guard, not a measure).
				for deadline := time.Now().Add(30 * time.Second); w.reloads() <= reloads; time.Sleep(10 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("the receiver's master logged no reload after the plugin's postfix reload\nmaillog:\n%s", w.recv.Maillog())
					}
				}
			}
			// A barrier, not part of the proof: postfix reload returns before
			// the smtpd processes that hold the old .db open have exited.
			w.recv.Reload(t)

			smtp, transcript := w.recv.Swaks(t, renewed, false)
			e2eWantSMTP(t, smtp, 250, string(after.data), transcript)
			again := w.check(t)
			if again.code == exitCritical {
				t.Errorf("plugin still CRITICAL after the fix\n%s", again)
			}
			e2eAgree(t, smtp, transcript, again, "")
			// The table keeps the malformed-key note of "AA:BB" (a WARNING),
			// which the fix leaves alone.
			e2eWantCode(t, again, exitWarning)
			e2eWantOutput(t, again, "listed by pubkey fingerprint")
		})
	}
}

// reloads counts the receiver master's "reload -- version" log lines.
func (w *e2eWorld) reloads() int {
	n := 0
	for _, l := range strings.Split(w.recv.Maillog(), "\n") {
		if strings.Contains(l, " "+w.recv.SyslogName+"/master[") && strings.Contains(l, "]: reload -- version") {
			n++
		}
	}
	return n
}

// e2eFileState is a file's content and mtime, with its .db alongside.
type e2eFileState struct {
	data  []byte
	mtime time.Time
	db    []byte
}

func e2eStat(t *testing.T, path string) e2eFileState {
	t.Helper()
	st := testfs.Stat(t, path)
	s := e2eFileState{data: st.Data, mtime: st.MTime}
	if filepath.Ext(path) != ".db" {
		s.db, _ = os.ReadFile(path + ".db")
	}
	return s
}

// e2eWantOneLineChanged asserts that after is before with the one physical
// line from replaced by to, every other byte identical.
func e2eWantOneLineChanged(t *testing.T, before, after, from, to []byte) {
	t.Helper()
	want := bytes.Replace(before, from, to, 1)
	if bytes.Count(before, from) != 1 {
		t.Fatalf("test bug: %q occurs %d times in the table", from, bytes.Count(before, from))
	}
	if !bytes.Equal(after, want) {
		t.Errorf("fixed table:\n%q\nwant (only %q replaced):\n%q", after, from, want)
	}
}
