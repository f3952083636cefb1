package main

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testcert"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
)

// fxCA makes a CA and a leaf it signed for 127.0.0.1 (IP SAN) and name;
// it returns the leaf for serving and the CA's PEM file.
func fxCA(t *testing.T, dir, name string) (tls.Certificate, string) {
	t.Helper()
	ca := testcert.New(t, testcert.Spec{CN: "fix test CA", CA: true, Serial: big.NewInt(1)})
	leaf := testcert.New(t, testcert.Spec{CN: name, DNS: []string{name}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		Serial: big.NewInt(2), NotAfter: time.Now().Add(20 * 24 * time.Hour), Parent: &ca})
	caFile := rtWrite(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Leaf.Raw})))
	leaf.Certificate = leaf.Certificate[:1] // the leaf alone, as before
	return leaf, caFile
}

// fxFakePostmap puts a postmap first in PATH that records its arguments
// (or fails with stderr when fail is set), so --fix runs without Postfix.
func fxFakePostmap(t *testing.T, fail bool) (logFile string) {
	t.Helper()
	bin := t.TempDir()
	logFile = filepath.Join(bin, "postmap.log")
	script := "#!/bin/sh\necho \"$@\" >> " + logFile + "\n"
	if fail {
		script += "echo 'postmap: fatal: open database: No space left on device' >&2\nexit 1\n"
	}
	// No fork while the script is open for writing: a child holding the
	// fd until its exec would make running it fail with ETXTBSY.
	syscall.ForkLock.RLock()
	err := os.WriteFile(filepath.Join(bin, "postmap"), []byte(script), 0o755)
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return logFile
}

func TestRunFix(t *testing.T) {
	// Not parallel: t.Setenv for the fake postmap.
	oldCert := rtCert(t, "cliff.example.org", 90)
	newCert := rtCert(t, "cliff.example.org", 90)
	addr := rtServe(t, newCert, false)
	oldKey := fingerprint.SHA256.Cert(oldCert.Leaf)
	newKey := fingerprint.SHA256.PublicKey(newCert.Leaf)
	stale := "# relays\r\n" + oldKey + " cliff.example.org\r\n" + "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99 other.example.org\r\n"
	fixed := strings.Replace(stale, oldKey, newKey, 1)

	for _, tc := range []struct {
		name     string
		table    string
		args     []string // after -H addr --table hash:PATH
		code     int
		out      []string
		want     string // table content afterwards
		postmap  bool   // postmap must have run
		failPMap bool
	}{
		{"diff writes nothing", stale, []string{"--diff", "--fix-trust", "any"}, 2,
			[]string{"-" + oldKey, "+" + newKey, "nothing written"}, stale, false, false},
		// Issue 15 item 5: a refused fix writes nothing anyway, so its diff
		// is shown, marked, with the reason. It used to print nothing.
		{"diff of a refused fix is shown and marked", stale, []string{"--diff"}, 2,
			[]string{"-" + oldKey, "+" + newKey, "(fixed, REFUSED: not written)", "fix refused: ", "not trusted",
				"hint: give the issuing CA", "shown as refused, nothing written"}, stale, false, false},
		{"fix replaces in place and runs postmap", stale, []string{"--fix", "--fix-trust", "any"}, 2,
			[]string{"fix: 1 replaced, 0 added", "postmap done", "[FIX] cliff.example.org: line 2"}, fixed, true, false},
		// The table needs no change, but its .db is missing here: postmap
		// runs so that Postfix sees the source.
		{"fix of a listed relay writes nothing", fixed, []string{"--fix", "--fix-trust", "any"}, 2,
			[]string{"fix: no change", "postmap done"}, fixed, true, false},
		{"keep-old appends", stale, []string{"--fix", "--fix-trust", "any", "--keep-old"}, 2,
			[]string{"0 replaced, 1 added"}, stale + newKey + " cliff.example.org\r\n", true, false},
		{"untrusted: refused and nothing written", stale, []string{"--fix"}, 2,
			[]string{"fix refused", "not trusted", "hint: give the issuing CA with --ca-file"}, stale, false, false},
		{"table that does not parse cleanly is not rewritten", stale + "lonely-key\r\n", []string{"--fix", "--fix-trust", "any"}, 2,
			[]string{"does not parse cleanly", "not rewritten"}, stale + "lonely-key\r\n", false, false},
		{"postmap failure is CRITICAL with its stderr; source already fixed", stale, []string{"--fix", "--fix-trust", "any"}, 2,
			[]string{"postmap FAILED", "No space left on device", "hint: fix the cause and run postmap"}, fixed, true, true},
		{"no-postmap", stale, []string{"--fix", "--fix-trust", "any", "--no-postmap"}, 2,
			[]string{"postmap not run"}, fixed, false, false},
		{"event handler: SOFT is not acted on", stale, []string{"--fix", "--fix-trust", "any", "--event-state", "CRITICAL", "--event-state-type", "SOFT", "--event-attempt", "2"}, 0,
			[]string{"nothing to do for CRITICAL SOFT (attempt 2)"}, stale, false, false},
		{"event handler: WARNING is not acted on", stale, []string{"--fix", "--fix-trust", "any", "--event-state", "WARNING", "--event-state-type", "HARD"}, 0,
			[]string{"nothing to do for WARNING HARD"}, stale, false, false},
		// As an event handler the exit status is the fix's own (0: done),
		// the status line still says what was found.
		{"event handler: CRITICAL HARD fixes", stale, []string{"--fix", "--fix-trust", "any", "--event-state", "CRITICAL", "--event-state-type", "HARD"}, 0,
			[]string{"RELAY_FINGERPRINT CRITICAL - ", "fix: 1 replaced"}, fixed, true, false},
		{"event handler: a failed fix exits with its state", stale, []string{"--fix", "--event-state", "CRITICAL", "--event-state-type", "HARD"}, 3,
			[]string{"RELAY_FINGERPRINT CRITICAL - ", "fix refused"}, stale, false, false},
		{"event handler with chosen states", stale, []string{"--fix", "--fix-trust", "any", "--event-state", "WARNING", "--event-state-type", "SOFT", "--fix-on-state", "WARNING,CRITICAL", "--fix-on-type", "SOFT,HARD"}, 0,
			[]string{"fix: 1 replaced"}, fixed, true, false},
		{"event handler: lower-case values", stale, []string{"--fix", "--fix-trust", "any", "--event-state", "critical", "--event-state-type", "hard"}, 0,
			[]string{"fix: 1 replaced"}, fixed, true, false},
		// Regression: an empty --event-state (a macro that expanded to
		// nothing, say $SERVICESTATE$ in a host's handler) made a plain
		// --fix that acted on every state; an empty or missing type acted
		// on SOFT states too. The handler must refuse and write nothing.
		{"event handler: empty state refused", stale, []string{"--fix", "--fix-trust", "any", "--event-state", "", "--event-state-type", "HARD"}, 3,
			[]string{`usage: --event-state "": expected OK, WARNING, CRITICAL or UNKNOWN`}, stale, false, false},
		{"event handler: host state refused", stale, []string{"--fix", "--fix-trust", "any", "--event-state", "DOWN", "--event-state-type", "HARD"}, 3,
			[]string{`usage: --event-state "DOWN"`}, stale, false, false},
		{"event handler: empty state type refused", stale, []string{"--fix", "--fix-trust", "any", "--event-state", "CRITICAL", "--event-state-type", ""}, 3,
			[]string{`usage: --event-state-type "": expected SOFT or HARD`}, stale, false, false},
		{"event handler: no state type refused", stale, []string{"--fix", "--fix-trust", "any", "--event-state", "CRITICAL"}, 3,
			[]string{"usage: --event-state needs --event-state-type"}, stale, false, false},
		{"event handler: no state type but every type chosen", stale, []string{"--fix", "--fix-trust", "any", "--event-state", "CRITICAL", "--fix-on-type", "SOFT,HARD"}, 0,
			[]string{"fix: 1 replaced"}, fixed, true, false},
		{"usage: misspelt --fix-on-state", stale, []string{"--fix", "--fix-trust", "any", "--event-state", "CRITICAL", "--event-state-type", "HARD", "--fix-on-state", "CRITCAL"}, 3,
			[]string{`usage: --fix-on-state "CRITCAL": expected OK, WARNING, CRITICAL or UNKNOWN`}, stale, false, false},
		{"usage: misspelt --fix-on-type", stale, []string{"--fix", "--fix-trust", "any", "--event-state", "CRITICAL", "--event-state-type", "HARD", "--fix-on-type", "HRAD"}, 3,
			[]string{`usage: --fix-on-type "HRAD": expected SOFT or HARD`}, stale, false, false},
		{"usage: two modes", stale, []string{"--fix", "--diff"}, 3, []string{"exclude each other"}, stale, false, false},
		{"usage: backup without fix", stale, []string{"--backup"}, 3, []string{"go with --fix"}, stale, false, false},
		{"usage: event handler without fix", stale, []string{"--event-state", "CRITICAL"}, 3, []string{"add --fix"}, stale, false, false},
		{"usage: bad trust", stale, []string{"--fix", "--fix-trust", "maybe"}, 3, []string{"--fix-trust"}, stale, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := fxFakePostmap(t, tc.failPMap)
			dir := t.TempDir()
			path := rtWrite(t, dir, "relay_clientcerts", tc.table)
			before, _ := os.Stat(path)
			args := append([]string{"-H", addr, "--table", "hash:" + path}, tc.args...)
			code, out, _ := rtRun(t, args...)
			if code != tc.code {
				t.Errorf("run(%q) = %d, want %d\n%s", args, code, tc.code, out)
			}
			for _, s := range tc.out {
				if !strings.Contains(out, s) {
					t.Errorf("run(%q) output lacks %q:\n%s", args, s, out)
				}
			}
			got, _ := os.ReadFile(path)
			if string(got) != tc.want {
				t.Errorf("table after run(%q):\ngot  %q\nwant %q", args, got, tc.want)
			}
			if tc.want == tc.table {
				if after, _ := os.Stat(path); !after.ModTime().Equal(before.ModTime()) {
					t.Errorf("table unchanged but its mtime moved: %v -> %v", before.ModTime(), after.ModTime())
				}
			}
			logged, _ := os.ReadFile(log)
			if ran := len(logged) > 0; ran != tc.postmap {
				t.Errorf("postmap ran = %v (%q), want %v", ran, logged, tc.postmap)
			} else if ran && strings.TrimSpace(string(logged)) != "hash:"+path {
				t.Errorf("postmap args = %q, want hash:%s", logged, path)
			}
		})
	}
}

func TestRunFixTo(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "cliff.example.org", 90)
	addr := rtServe(t, cert, false)
	dir := t.TempDir()
	src := "# empty\n"
	path := rtWrite(t, dir, "relay_clientcerts", src)
	// Probed by address, labelled by the certificate's name.
	want := src + fingerprint.SHA256.PublicKey(cert.Leaf) + " cliff.example.org\n"

	out := filepath.Join(dir, "fixed")
	code, stdout, _ := rtRun(t, "-H", addr, "--table", "texthash:"+path, "--fix-to", out, "--fix-trust", "any")
	if code != 2 || !strings.Contains(stdout, "written to "+out) {
		t.Errorf("--fix-to FILE: exit %d, output:\n%s", code, stdout)
	}
	if got, _ := os.ReadFile(out); string(got) != want {
		t.Errorf("--fix-to FILE wrote %q, want %q", got, want)
	}
	if got, _ := os.ReadFile(path); string(got) != src {
		t.Errorf("--fix-to changed the source table: %q", got)
	}

	code, stdout, stderr := rtRun(t, "-H", addr, "--table", "texthash:"+path, "--fix-to", "-", "--fix-trust", "any")
	if code != 2 || stdout != want || !strings.HasPrefix(stderr, "RELAY_FINGERPRINT CRITICAL - ") {
		t.Errorf("--fix-to -: exit %d\nstdout %q (want %q)\nstderr %q", code, stdout, want, stderr)
	}

	code, stdout, _ = rtRun(t, "-H", addr, "--table", path, "--table", path+"2", "--fix-to", out)
	if code != 3 || !strings.Contains(stdout, "exactly one table") {
		t.Errorf("--fix-to with two tables: exit %d\n%s", code, stdout)
	}
}

// TestRunFixTrustCA: a relay whose chain verifies against --ca-file for
// the address given with -H is fixed without --fix-trust any.
func TestRunFixTrustCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	leaf, caFile := fxCA(t, dir, "cliff.example.org")
	addr := rtServe(t, leaf, false)
	path := rtWrite(t, dir, "relay_clientcerts", "")
	code, out, _ := rtRun(t, "-H", addr, "--table", "texthash:"+path, "--fix", "--ca-file", caFile)
	if code != 2 || !strings.Contains(out, "fix: 0 replaced, 1 added") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	want := fingerprint.SHA256.PublicKey(leaf.Leaf) + " cliff.example.org\n"
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Errorf("table = %q, want %q", got, want)
	}
	if code, out, _ := rtRun(t, "-H", addr, "--table", "texthash:"+path); code != 0 {
		t.Errorf("after the fix: exit %d\n%s", code, out)
	}
}

// TestRunFixSharedLabel: two relays given by address present certificates
// of the same name; one renewed, the other not yet. The fix must add the
// renewed one's line and keep the line the other still presents.
// Regression: that line was "stale" for the renewed relay and replaced.
func TestRunFixSharedLabel(t *testing.T) {
	t.Parallel()
	renewed := rtCert(t, "cliff.example.org", 90)
	notYet := rtCert(t, "cliff.example.org", 90)
	a, b := rtServe(t, renewed, false), rtServe(t, notYet, false)
	kept := fingerprint.SHA256.PublicKey(notYet.Leaf) + " cliff.example.org\n"
	path := rtWrite(t, t.TempDir(), "relay_clientcerts", kept)
	want := kept + fingerprint.SHA256.PublicKey(renewed.Leaf) + " cliff.example.org\n"

	args := []string{"-H", a, "-H", b, "--table", "texthash:" + path, "--fix", "--fix-trust", "any"}
	code, out, _ := rtRun(t, args...)
	if code != 2 || !strings.Contains(out, "fix: 0 replaced, 1 added") {
		t.Errorf("run(%q) = %d, want 2 and one line added\n%s", args, code, out)
	}
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Errorf("table after run(%q):\ngot  %q\nwant %q", args, got, want)
	}
	if code, out, _ := rtRun(t, "-H", a, "-H", b, "--table", "texthash:"+path); code != 0 {
		t.Errorf("after the fix: exit %d, want 0\n%s", code, out)
	}
}

// TestRunFixTrustOnlyWhatIsWritten: trust is asked of the certificates
// whose fingerprints a fix writes. A self-signed relay that is listed
// already must not block the fix of a CA-issued relay that renewed; a
// self-signed relay that is not listed still refuses it, writing nothing.
// Regression: every presented certificate had to verify.
func TestRunFixTrustOnlyWhatIsWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	issued, caFile := fxCA(t, dir, "cliff.example.org")
	selfSigned := rtCert(t, "legacy.example.org", 90)
	issuedAddr, selfAddr := rtServe(t, issued, false), rtServe(t, selfSigned, false)
	legacy := fingerprint.SHA256.PublicKey(selfSigned.Leaf) + " legacy.example.org\n"

	path := rtWrite(t, dir, "relay_clientcerts", legacy)
	args := []string{"-H", issuedAddr, "-H", selfAddr, "--table", "texthash:" + path, "--fix", "--ca-file", caFile}
	code, out, _ := rtRun(t, args...)
	want := legacy + fingerprint.SHA256.PublicKey(issued.Leaf) + " cliff.example.org\n"
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Errorf("table after run(%q):\ngot  %q\nwant %q\noutput:\n%s", args, got, want, out)
	}
	if code != 2 || !strings.Contains(out, "fix: 0 replaced, 1 added") {
		t.Errorf("run(%q) = %d, want 2 and one line added\n%s", args, code, out)
	}

	empty := rtWrite(t, dir, "empty", "")
	args = []string{"-H", issuedAddr, "-H", selfAddr, "--table", "texthash:" + empty, "--fix", "--ca-file", caFile}
	code, out, _ = rtRun(t, args...)
	if code != 2 || !strings.Contains(out, "fix refused: "+selfAddr) || !strings.Contains(out, "hint: give the issuing CA") {
		t.Errorf("run(%q) = %d, want 2 and the fix refused for %s\n%s", args, code, selfAddr, out)
	}
	if got, _ := os.ReadFile(empty); len(got) != 0 {
		t.Errorf("table written although the fix was refused: %q", got)
	}
}

// TestRunFixRelayAndItsFile: a relay probed with -H and its certificate
// file given with --cert-file present one certificate; the fix writes its
// line once. Regression: both planned the line and the fix failed with
// "key already present".
func TestRunFixRelayAndItsFile(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "cliff.example.org", 90)
	addr := rtServe(t, cert, false)
	dir := t.TempDir()
	pemPath := rtWrite(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw})))
	path := rtWrite(t, dir, "relay_clientcerts", "# relays\n")
	want := "# relays\n" + fingerprint.SHA256.PublicKey(cert.Leaf) + " cliff.example.org\n"

	args := []string{"-H", addr, "--cert-file", pemPath, "--table", "texthash:" + path, "--fix", "--fix-trust", "any"}
	code, out, _ := rtRun(t, args...)
	if code != 2 || !strings.Contains(out, "fix: 0 replaced, 1 added") {
		t.Errorf("run(%q) = %d, want 2 and one line added\n%s", args, code, out)
	}
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Errorf("table after run(%q):\ngot  %q\nwant %q", args, got, want)
	}
}

// Names that resolve, in these tests only, to loopback: a and b to
// 127.0.0.1 (relays told apart by port), m to 127.0.0.1 and 127.0.0.2 (one
// name, two relays at one port).
var fxNames = map[string][]netip.Addr{
	"a.trust.test": {netip.MustParseAddr("127.0.0.1")},
	"b.trust.test": {netip.MustParseAddr("127.0.0.1")},
	"m.trust.test": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")},
}

func init() {
	next := resolve
	resolve = func(ctx context.Context, r *net.Resolver, host, network string) ([]netip.Addr, error) {
		if addrs, ok := fxNames[host]; ok && network != "ip6" {
			return addrs, nil
		}
		return next(ctx, r, host, network)
	}
}

// fxTLS turns a certificate the e2e CA issued into one to serve.
func fxTLS(c *postfixtest.ClientCert) tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}

// fxServePair serves first on 127.0.0.1 and second on 127.0.0.2 at one
// port, and returns the port.
func fxServePair(t *testing.T, first, second tls.Certificate) string {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln2, err := net.Listen("tcp", "127.0.0.2:"+port)
		if err != nil {
			ln.Close()
			continue // the port is taken on 127.0.0.2: try another
		}
		rtServeOn(t, ln, first, false)
		rtServeOn(t, ln2, second, false)
		return port
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return ""
}

// fxKey is a made-up key for an entry no relay presents any more.
func fxKey(b byte) string {
	return strings.TrimSuffix(strings.Repeat(strings.ToUpper(hex.EncodeToString([]byte{b}))+":", 32), ":")
}

// TestRunFixTrustPerRelay: trust is decided per relay name and
// certificate, never per fingerprint across the run (issue 13, items 3 and
// 14). A certificate that verified for relay a, presented by relay b (or
// by one address of relay m) for whose name it is not valid, must not
// replace b's (m's) entry: that would lock the real b out. Regression:
// a fingerprint trusted for a was trusted for every relay of the run.
func TestRunFixTrustPerRelay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newE2ECA(t, dir)
	a := fxTLS(ca.issue(t, dir, "a.trust.test"))
	m := fxTLS(ca.issue(t, dir, "m.trust.test"))
	_, aPort, _ := net.SplitHostPort(rtServe(t, a, false))
	_, bPort, _ := net.SplitHostPort(rtServe(t, a, false)) // b answers with a's certificate
	mPort := fxServePair(t, m, a)                          // m's second address too
	newA, mKey := rtPubkey(t, a), rtPubkey(t, m)
	oldA, realB, realM2 := fxKey(0xA0), fxKey(0xB0), fxKey(0xC0)

	for _, tc := range []struct {
		name  string
		hosts []string
		table string
		want  string
	}{
		{"two relays: b presents a's certificate", []string{"b.trust.test:" + bPort, "a.trust.test:" + aPort},
			realB + " b.trust.test\n" + oldA + " a.trust.test\n",
			realB + " b.trust.test\n" + newA + " a.trust.test\n"},
		{"one name: its second address presents a's certificate", []string{"m.trust.test:" + mPort, "a.trust.test:" + aPort},
			mKey + " m.trust.test\n" + realM2 + " m.trust.test\n" + oldA + " a.trust.test\n",
			mKey + " m.trust.test\n" + realM2 + " m.trust.test\n" + newA + " a.trust.test\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := rtWrite(t, t.TempDir(), "relay_clientcerts", tc.table)
			var args []string
			for _, h := range tc.hosts {
				args = append(args, "-H", h)
			}
			args = append(args, "--table", "texthash:"+path, "--fix", "--ca-file", ca.file)
			_, out, _ := rtRun(t, args...)
			if got, _ := os.ReadFile(path); string(got) != tc.want {
				t.Errorf("table after run(%q):\ngot  %q\nwant %q\noutput:\n%s", args, got, tc.want, out)
			}
		})
	}
}

// TestRunFixOnlyAddsUnlessAllSeen is issue 14 item 4's rule, wired: a relay
// that only speaks TLS 1.3 cannot be asked for its RSA and ECDSA
// certificates one by one (Go's client has no say in TLS 1.3), so one it
// serves may be unseen and still be what its client presents: the fix
// adds the new key and keeps the old entry. Served whole (TLS 1.2 too), the
// same relay has its old entry replaced.
func TestRunFixOnlyAddsUnlessAllSeen(t *testing.T) {
	t.Parallel()
	oldCert := rtCert(t, "cliff.example.org", 90)
	newCert := rtCert(t, "cliff.example.org", 90)
	oldKey := fingerprint.SHA256.PublicKey(oldCert.Leaf)
	newKey := fingerprint.SHA256.PublicKey(newCert.Leaf)
	stale := oldKey + " cliff.example.org\n"
	for _, tc := range []struct {
		name string
		min  uint16
		want string
		out  string
	}{
		{"TLS 1.3 only: only adds", tls.VersionTLS13, stale + newKey + " cliff.example.org\n", "not asked (the server refuses TLS 1.2"},
		{"TLS 1.2 too: replaces", tls.VersionTLS12, newKey + " cliff.example.org\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := rtServeTLS(t, ln, &tls.Config{Certificates: []tls.Certificate{newCert}, MinVersion: tc.min}, false)
			path := rtWrite(t, t.TempDir(), "rc", stale)
			code, out, errOut := rtRun(t, "-H", addr, "--table", "texthash:"+path, "--fix-to", "-", "--fix-trust", "any")
			if code != exitCritical || out != tc.want || !strings.Contains(errOut, tc.out) {
				t.Errorf("exit %d, table %q, want %q and a status naming %q\n%s", code, out, tc.want, tc.out, errOut)
			}
		})
	}
}

// TestRunFixToRefusesDevices: --fix-to writes only a regular file (issue
// 13 item 7): /dev/stdout, as root, was replaced by a regular file; - is
// the way to standard output, and the refusal says so.
func TestRunFixToRefusesDevices(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "cliff.example.org", 90)
	addr := rtServe(t, cert, false)
	path := rtWrite(t, t.TempDir(), "relay_clientcerts", "# empty\n")
	for _, to := range []string{"/dev/stdout", "/dev/null"} {
		before, err := os.Lstat(to)
		if err != nil {
			t.Fatal(err)
		}
		code, out, _ := rtRun(t, "-H", addr, "--table", "texthash:"+path, "--fix-to", to, "--fix-trust", "any")
		if code != 2 || !strings.Contains(out, "\n[UNKNOWN] fix: ") || !strings.Contains(out, "refusing") || strings.Contains(out, "written to") {
			t.Errorf("--fix-to %s: exit %d, want 2 (the check's verdict) with an UNKNOWN refusal:\n%s", to, code, out)
		}
		if to == "/dev/stdout" && !strings.Contains(out, "- writes to standard output") {
			t.Errorf("--fix-to /dev/stdout: no hint that - writes to standard output:\n%s", out)
		}
		if after, err := os.Lstat(to); err != nil || after.Mode() != before.Mode() {
			t.Fatalf("--fix-to %s changed it: mode %v, now %v (%v)", to, before.Mode(), after.Mode(), err)
		}
	}
}

// fxTableOf makes a texthash table owned by nobody in a directory of its
// own, listing nothing yet, and returns its path.
func fxTableOf(t *testing.T, content string) string {
	t.Helper()
	path := rtWrite(t, t.TempDir(), "relay_clientcerts", content)
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunFixToSymlinkedTable: --fix-to onto a symlinked table replaced the
// link with a plain file (issue 13 item 7). A link another user owns is
// refused; a trusted link to the table itself is an update of the table,
// through the link, which stays.
func TestRunFixToSymlinkedTable(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "cliff.example.org", 90)
	addr := rtServe(t, cert, false)
	const src = "# relays\n"
	want := src + rtPubkey(t, cert) + " cliff.example.org\n"

	t.Run("link of another user refused", func(t *testing.T) {
		real := fxTableOf(t, src)
		link := filepath.Join(filepath.Dir(real), "rc")
		if err := os.Symlink("relay_clientcerts", link); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(link, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		code, out, _ := rtRun(t, "-H", addr, "--table", "texthash:"+real, "--fix-to", link, "--fix-trust", "any")
		if code != 2 || !strings.Contains(out, "\n[UNKNOWN] fix: refusing to write through "+link) {
			t.Errorf("--fix-to LINK of nobody: exit %d, want 2 with an UNKNOWN refusal naming the link:\n%s", code, out)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the link is no longer a link: %v, %v", fi.Mode(), err)
		}
		if got, _ := os.ReadFile(real); string(got) != src {
			t.Errorf("the table was changed through an untrusted link: %q", got)
		}
	})

	t.Run("trusted link to the table itself", func(t *testing.T) {
		real := fxTableOf(t, src)
		link := filepath.Join(filepath.Dir(real), "rc")
		if err := os.Symlink("relay_clientcerts", link); err != nil {
			t.Fatal(err)
		}
		code, out, _ := rtRun(t, "-H", addr, "--table", "texthash:"+link, "--fix-to", link, "--fix-trust", "any")
		if code != 2 || !strings.Contains(out, "written to "+link+", the table itself, under its lock") {
			t.Errorf("--fix-to the table's link: exit %d, want 2 with the table updated:\n%s", code, out)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the link was replaced: %v, %v", fi.Mode(), err)
		}
		if got, _ := os.ReadFile(real); string(got) != want {
			t.Errorf("table %q, want %q", got, want)
		}
	})
}

// TestRunFixToTableItself: --fix-to naming the table took no lock and gave
// the table root's ownership (issue 13 item 7). Now it is an update of the
// table: it waits for the table's lock, plans again on what it reads under
// it (a line another fixer added meanwhile survives), and keeps the owner
// and mode. The run is made to wait on the lock this test holds, and the
// table is changed once the check has read it (inotify tells when).
func TestRunFixToTableItself(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "cliff.example.org", 90)
	addr := rtServe(t, cert, false)
	const src = "# relays\n"
	path := fxTableOf(t, src)

	lock, err := os.OpenFile(path+".lock", os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	in, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(in)
	if _, err := syscall.InotifyAddWatch(in, path, syscall.IN_CLOSE_NOWRITE); err != nil {
		t.Fatal(err)
	}

	type result struct {
		code int
		out  string
	}
	done := make(chan result, 1)
	go func() {
		code, out, _ := rtRun(t, "-H", addr, "--table", "texthash:"+path, "--fix-to", path, "--fix-trust", "any")
		done <- result{code, out}
	}()
	buf := make([]byte, 4096)
	if _, err := syscall.Read(in, buf); err != nil { // the check has read the table
		t.Fatal(err)
	}
	other := fxKey(0xAB) + " other.example.org\n"
	if err := os.WriteFile(path, []byte(src+other), 0o640); err != nil { // in place, owner kept
		t.Fatal(err)
	}
	syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	r := <-done

	want := src + other + rtPubkey(t, cert) + " cliff.example.org\n"
	if r.code != 2 || !strings.Contains(r.out, "written to "+path+", the table itself, under its lock") {
		t.Errorf("--fix-to the table: exit %d, want 2 with the table updated:\n%s", r.code, r.out)
	}
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Errorf("table %q, want %q (the line written under the lock kept)", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 || fi.Mode().Perm() != 0o640 {
		t.Errorf("table owner %d:%d mode %v, want 65534:65534 0640 kept", st.Uid, st.Gid, fi.Mode().Perm())
	}
}

// TestRunFixHardLinkedTable: the atomic replace gives the table a new
// inode, and its other hard links keep the old table (issue 13 item 8).
// Refused, naming --break-links; with it, done and said.
func TestRunFixHardLinkedTable(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "cliff.example.org", 90)
	addr := rtServe(t, cert, false)
	const src = "# relays\n"
	want := src + rtPubkey(t, cert) + " cliff.example.org\n"
	for _, mode := range []string{"--fix", "--fix-to"} {
		t.Run(mode, func(t *testing.T) {
			path := fxTableOf(t, src)
			target := path
			if mode == "--fix-to" {
				target = filepath.Join(filepath.Dir(path), "copy")
				rtWrite(t, filepath.Dir(path), "copy", "old copy\n")
			}
			other := target + ".other"
			if err := os.Link(target, other); err != nil {
				t.Fatal(err)
			}
			args := []string{"-H", addr, "--table", "texthash:" + path, "--fix-trust", "any"}
			if mode == "--fix-to" {
				args = append(args, "--fix-to", target)
			} else {
				args = append(args, "--fix")
			}
			old, _ := os.ReadFile(target)
			code, out, _ := rtRun(t, args...)
			if code != 2 || !strings.Contains(out, "\n[UNKNOWN] fix: refusing to replace "+target+": it has 2 hard links") || !strings.Contains(out, "hint: ") || !strings.Contains(out, "give --break-links") {
				t.Errorf("%s on a hard-linked file: exit %d, want 2 with an UNKNOWN refusal naming --break-links:\n%s", mode, code, out)
			}
			if got, _ := os.ReadFile(target); string(got) != string(old) {
				t.Errorf("%s on a hard-linked file wrote it: %q", mode, got)
			}

			code, out, _ = rtRun(t, append(args, "--break-links")...)
			if code != 2 || !strings.Contains(out, "the table had 1 other hard link; it still holds the old table") {
				t.Errorf("%s --break-links: exit %d, want 2 with a note on the link:\n%s", mode, code, out)
			}
			if got, _ := os.ReadFile(target); string(got) != want {
				t.Errorf("%s --break-links: %s holds %q, want %q", mode, target, got, want)
			}
			if got, _ := os.ReadFile(other); string(got) != string(old) {
				t.Errorf("%s --break-links: the other link holds %q, want the old %q", mode, got, old)
			}
		})
	}
	code, out, _ := rtRun(t, "-H", addr, "--table", "texthash:/x", "--diff", "--break-links")
	if code != 3 || !strings.Contains(out, "--break-links goes with --fix or --fix-to") {
		t.Errorf("--diff --break-links: exit %d, want a usage error:\n%s", code, out)
	}
}

// TestRunFixToOtherTableOfTheList: --fix-to naming a table of the list
// that the fix does not go to would overwrite it with the list head's
// corrected content: refused, nothing written.
func TestRunFixToOtherTableOfTheList(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "cliff.example.org", 90)
	addr := rtServe(t, cert, false)
	dir := t.TempDir()
	head := rtWrite(t, dir, "head", "# head\n")
	second := rtWrite(t, dir, "second", "# second\n")
	code, out, _ := rtRun(t, "-H", addr, "--table", "texthash:"+head+", texthash:"+second, "--fix-to", second, "--fix-trust", "any")
	if code != 2 || !strings.Contains(out, "\n[UNKNOWN] fix refused: --fix-to "+second+" is texthash:"+second+", another table of the relay_clientcerts list") {
		t.Errorf("--fix-to the list's second table: exit %d, want 2 with an UNKNOWN refusal:\n%s", code, out)
	}
	for path, want := range map[string]string{head: "# head\n", second: "# second\n"} {
		if got, _ := os.ReadFile(path); string(got) != want {
			t.Errorf("%s = %q, want %q untouched", path, got, want)
		}
	}
}
