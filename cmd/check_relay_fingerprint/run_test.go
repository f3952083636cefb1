package main

// Tests of run as an admin or a monitoring system calls it: argument
// lists in, exit code and output out, against real SMTP servers
// (emersion/go-smtp) on 127.0.0.1 that present per-test certificates.
// Helpers here are prefixed "rt" to stay clear of the other test files of
// this package.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/loopback"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/smtpfake"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testcert"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// rtCert makes a self-signed ECDSA certificate for name, valid from a
// minute ago for days days (the demo relay's certificates).
func rtCert(t testing.TB, name string, days int) tls.Certificate {
	t.Helper()
	return testcert.New(t, testcert.Spec{CN: name, DNS: []string{name}, NotBefore: time.Now().Add(-time.Minute),
		NotAfter: time.Now().Add(time.Duration(days) * 24 * time.Hour)})
}

// rtPubkey returns the sha256 public-key fingerprint of cert's leaf, a
// relay_clientcerts key that lists it.
func rtPubkey(t testing.TB, cert tls.Certificate) string {
	t.Helper()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return fingerprint.SHA256.PublicKey(leaf)
}

// rtServe starts a go-smtp server on 127.0.0.1 presenting cert: with
// STARTTLS, or with implicit TLS (SMTPS) when implicit is set. It returns
// "127.0.0.1:port".
func rtServe(t testing.TB, cert tls.Certificate, implicit bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return rtServeOn(t, ln, cert, implicit)
}

// rtServeAt is rtServe on a given loopback address; "" when it is taken.
func rtServeAt(t testing.TB, addr string, cert tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return ""
	}
	return rtServeOn(t, ln, cert, false)
}

// rtServeOn serves go-smtp on ln until the test ends.
func rtServeOn(t testing.TB, ln net.Listener, cert tls.Certificate, implicit bool) string {
	t.Helper()
	return rtServeTLS(t, ln, &tls.Config{Certificates: []tls.Certificate{cert}}, implicit)
}

// rtServeTLS serves go-smtp on ln with cfg until the test ends; it takes
// no mail (the probe sends none).
func rtServeTLS(t testing.TB, ln net.Listener, cfg *tls.Config, implicit bool) string {
	t.Helper()
	return smtpfake.StartOn(t, ln, smtpfake.Server{TLS: cfg, Implicit: implicit}).Addr
}

// rtSilent starts a server on 127.0.0.1 that accepts TCP connections and
// never says a word. It returns "127.0.0.1:port".
func rtSilent(t testing.TB) string {
	t.Helper()
	return loopback.Serve(t, loopback.Listen(t, "127.0.0.1"), func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
}

// rtClosedPort returns "127.0.0.1:port" where nothing listens.
func rtClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// rtWrite writes data to name in dir and returns its path.
func rtWrite(t testing.TB, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// rtCompile makes the hash: compiled table of src, newer than src by
// modification and status-change time, as postmap after an edit does:
// with the real postmap(1) when there is one (a postmap -q then finds what
// src lists), else a stand-in file.
func rtCompile(t testing.TB, src string) {
	t.Helper()
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	cfg := t.TempDir()
	rtWrite(t, cfg, "main.cf", "")
	if out, err := exec.Command("postmap", "-c", cfg, "hash:"+src).CombinedOutput(); err != nil {
		if !errors.Is(err, exec.ErrNotFound) {
			t.Fatalf("postmap hash:%s: %v: %s", src, err, out)
		}
		rtWrite(t, filepath.Dir(src), filepath.Base(src)+".db", "stand-in for a compiled table")
	}
	// The file system's clock ticks every few milliseconds: touch the
	// .db until its status-change time is past the source's.
	srcCtime := fi.Sys().(*syscall.Stat_t).Ctim
	for range 1000 {
		now := time.Now()
		if err := os.Chtimes(src+".db", now, now); err != nil {
			t.Fatal(err)
		}
		db, err := os.Stat(src + ".db")
		if err != nil {
			t.Fatal(err)
		}
		if c := db.Sys().(*syscall.Stat_t).Ctim; c.Nano() > srcCtime.Nano() && db.ModTime().After(fi.ModTime()) {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s.db: its status-change time does not pass its source's", src)
}

// rtRun calls run with args, turning a panic into a test failure.
func rtRun(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("run(%q) panicked: %v", args, r)
			}
		}()
		code = run(args, &out, &errOut)
	}()
	return code, out.String(), errOut.String()
}

// rtStates maps exit codes to the state the status line must name.
var rtStates = map[int]string{0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}

// TestRun drives run through argument lists against loopback relays.
func TestRun(t *testing.T) {
	t.Parallel()
	sha, md5 := fingerprint.SHA256, fingerprint.MD5
	cert := rtCert(t, "cliff.example.org", 60)
	other := rtCert(t, "other.example.org", 60)
	starttls := rtServe(t, cert, false)
	smtps := rtServe(t, cert, true)
	_, starttlsPort, _ := net.SplitHostPort(starttls)
	closed := rtClosedPort(t)
	silent := rtSilent(t)

	dir := t.TempDir()
	leaf := cert.Leaf
	keyTable := "texthash:" + rtWrite(t, dir, "key", sha.PublicKey(leaf)+" cliff.example.org\n")
	certTable := "texthash:" + rtWrite(t, dir, "cert", sha.Cert(leaf)+" cliff.example.org\n")
	otherTable := "texthash:" + rtWrite(t, dir, "other", sha.PublicKey(other.Leaf)+" other.example.org\n")
	md5Table := "texthash:" + rtWrite(t, dir, "md5", md5.PublicKey(leaf)+" cliff.example.org\n")
	lowerTable := "texthash:" + rtWrite(t, dir, "lower", strings.ToLower(sha.PublicKey(leaf))+" cliff.example.org\n")
	badTable := "texthash:" + rtWrite(t, dir, "bad", sha.PublicKey(leaf)+" cliff.example.org\nJUNK\n")
	nulTable := rtWrite(t, dir, "nul", "A:B\x00 x\n")
	tableDir := filepath.Join(dir, "adir")
	if err := os.Mkdir(tableDir, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	certPEM := rtWrite(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})))
	notPEM := rtWrite(t, dir, "not.pem", "hello\n")
	emptyTable := rtWrite(t, dir, "empty", "# no relay here\n")
	rtWrite(t, dir, "empty2", "# nor here\n")

	// hash: with a compiled file newer than the source, and without one.
	hashSrc := rtWrite(t, dir, "hashed", sha.PublicKey(leaf)+" cliff.example.org\n")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(hashSrc, old, old); err != nil {
		t.Fatal(err)
	}
	rtCompile(t, hashSrc)
	hashTable := "hash:" + hashSrc
	staleSrc := rtWrite(t, dir, "stale", sha.PublicKey(leaf)+" cliff.example.org\n")
	rtCompile(t, staleSrc)
	staleDB := staleSrc + ".db"
	if err := os.Chtimes(staleDB, old, old); err != nil {
		t.Fatal(err)
	}
	staleTable := "hash:" + staleSrc
	unhashedTable := "hash:" + rtWrite(t, dir, "unhashed", sha.PublicKey(leaf)+" cliff.example.org\n")

	tests := []struct {
		name   string
		args   []string
		code   int
		out    []string // substrings of stdout
		notOut []string // substrings stdout must not have
		errOut []string // substrings of stderr
	}{
		// The verdicts.
		{name: "listed by public key", args: []string{"-H", starttls, "--table", keyTable}, code: 0,
			out: []string{"RELAY_FINGERPRINT OK - " + starttls + " listed in 1 table", "min_days_left=", "[OK] " + starttls + " in " + keyTable + ": listed by pubkey fingerprint"}},
		{name: "explicit check command", args: []string{"check", "-H", starttls, "--table", keyTable}, code: 0,
			out: []string{"RELAY_FINGERPRINT OK"}},
		{name: "port from -p", args: []string{"-H", "127.0.0.1", "-p", starttlsPort, "--table", keyTable}, code: 0,
			out: []string{"RELAY_FINGERPRINT OK"}},
		{name: "listed by certificate, with a hint", args: []string{"-H", starttls, "--table", certTable}, code: 0,
			out: []string{"RELAY_FINGERPRINT OK", "listed by cert fingerprint", "hint: listed by certificate only", sha.PublicKey(leaf) + " cliff.example.org"}},
		{name: "lower-case table key", args: []string{"-H", starttls, "--table", lowerTable}, code: 0,
			out: []string{"RELAY_FINGERPRINT OK"}},
		{name: "unlisted: CRITICAL with the line to add", args: []string{"-H", starttls, "--table", otherTable}, code: 2,
			out: []string{
				"RELAY_FINGERPRINT CRITICAL - " + starttls + " presents sha256 public-key fingerprint " + sha.PublicKey(leaf) + ", not listed in " + otherTable,
				"add: " + sha.PublicKey(leaf) + " cliff.example.org",
				"unlisted=1;;;0",
			}},
		{name: "listed in one table, not in the other", args: []string{"-H", starttls, "--table", keyTable, "--table", otherTable}, code: 2,
			out: []string{"[OK] " + starttls + " in " + keyTable, "[CRITICAL] " + starttls + " in " + otherTable}},
		{name: "smtps: implicit TLS", args: []string{"-P", "smtps", "-H", smtps, "--table", keyTable}, code: 0,
			out: []string{"RELAY_FINGERPRINT OK - " + smtps}},
		{name: "smtps against a STARTTLS server: UNKNOWN", args: []string{"-P", "smtps", "-H", starttls, "--table", keyTable, "-t", "5"}, code: 3,
			out: []string{"TLS handshake with " + starttls}},
		{name: "-d md5 with an md5 table", args: []string{"-H", starttls, "-d", "md5", "--table", md5Table}, code: 0,
			out: []string{"RELAY_FINGERPRINT OK"}},
		{name: "-d MD5 in upper case", args: []string{"-H", starttls, "-d", "MD5", "--table", md5Table}, code: 0,
			out: []string{"RELAY_FINGERPRINT OK"}},
		{name: "md5 table, sha256 receiver: CRITICAL, can never match", args: []string{"-H", starttls, "--table", md5Table}, code: 2,
			out: []string{"presents sha256 public-key fingerprint " + sha.PublicKey(leaf), "key is a md5 fingerprint, the receiver uses sha256: it can never match"}},
		{name: "-d md5 with a sha256 table: CRITICAL naming the md5 fingerprint", args: []string{"-H", starttls, "-d", "md5", "--table", keyTable}, code: 2,
			out: []string{"presents md5 public-key fingerprint " + md5.PublicKey(leaf), "add: " + md5.PublicKey(leaf) + " cliff.example.org"}},
		{name: "--match cert: public-key listing does not count", args: []string{"-H", starttls, "--match", "cert", "--table", keyTable}, code: 2,
			out: []string{"presents sha256 certificate fingerprint " + sha.Cert(leaf), "add: " + sha.Cert(leaf) + " cliff.example.org"}},
		{name: "--match cert: certificate listing", args: []string{"-H", starttls, "--match", "cert", "--table", certTable}, code: 0,
			out: []string{"RELAY_FINGERPRINT OK"}, notOut: []string{"hint:"}},
		{name: "--match pubkey: certificate listing does not count", args: []string{"-H", starttls, "--match", "pubkey", "--table", certTable}, code: 2,
			out: []string{"presents sha256 public-key fingerprint " + sha.PublicKey(leaf)}},
		{name: "--match pubkey: public-key listing", args: []string{"-H", starttls, "--match", "pubkey", "--table", keyTable}, code: 0,
			out: []string{"RELAY_FINGERPRINT OK"}},
		{name: "malformed line: WARNING", args: []string{"-H", starttls, "--table", badTable}, code: 1,
			out: []string{"RELAY_FINGERPRINT WARNING - " + strings.TrimPrefix(badTable, "texthash:") + ":2: expected format"}},
		{name: "hash: table with a current compiled file", args: []string{"-H", starttls, "--table", hashTable}, code: 0,
			out: []string{"RELAY_FINGERPRINT OK"}},
		{name: "hash: table edited after postmap: WARNING", args: []string{"-H", starttls, "--table", staleTable}, code: 1,
			out: []string{"RELAY_FINGERPRINT WARNING - " + staleTable + ": " + staleDB + " is older than its source", "run postmap " + staleTable}},
		{name: "same table twice: judged once", args: []string{"-H", starttls, "--table", keyTable, "--table", keyTable}, code: 0,
			out: []string{"listed in 1 table"}},
		{name: "same relay twice: probed once", args: []string{"-H", starttls, "-H", starttls, "--table", keyTable}, code: 0,
			out: []string{"relays=1;"}},
		// Postfix answers 451 4.3.0 to every relay then (see the e2e tests).
		{name: "hash: table never postmapped: CRITICAL", args: []string{"-H", starttls, "--table", unhashedTable}, code: 2,
			out: []string{".db does not exist", "run postmap " + unhashedTable}},

		// Thresholds on days left (the certificate has 60).
		{name: "-w bare number: WARNING, perfdata N:", args: []string{"-H", starttls, "--table", keyTable, "-w", "400"}, code: 1,
			out: []string{"certificate expires in 59 days", ";400:;7:"}},
		{name: "-c bare number: CRITICAL, perfdata N:", args: []string{"-H", starttls, "--table", keyTable, "-c", "100"}, code: 2,
			out: []string{"certificate expires in 59 days", ";14:;100:"}},
		{name: "-w range inside with @", args: []string{"-H", starttls, "--table", keyTable, "-w", "@0:90"}, code: 1,
			out: []string{";@90;7:"}},
		{name: "-c range", args: []string{"-H", starttls, "--table", keyTable, "-c", "10:20"}, code: 2,
			out: []string{";14:;10:20"}},
		{name: "-w range not alerting", args: []string{"-H", starttls, "--table", keyTable, "-w", "30:", "-c", "~:365"}, code: 0,
			out: []string{";30:;~:365"}},
		{name: "-w decimal", args: []string{"-H", starttls, "--table", keyTable, "-w", "60.5"}, code: 1,
			out: []string{";60.5:;7:"}},

		// Certificate files.
		{name: "--cert-file listed", args: []string{"--cert-file", certPEM, "--table", keyTable}, code: 0,
			out: []string{"RELAY_FINGERPRINT OK - file " + certPEM + " listed in 1 table"}},
		{name: "--cert-file unlisted", args: []string{"--cert-file", certPEM, "--table", otherTable}, code: 2,
			out: []string{"file " + certPEM + " presents sha256 public-key fingerprint " + sha.PublicKey(leaf), "add: " + sha.PublicKey(leaf) + " cliff.example.org"}},
		{name: "--cert-file and -H", args: []string{"-H", starttls, "--cert-file", certPEM, "--table", keyTable}, code: 0,
			out: []string{"all 2 relay certificates listed in 1 table"}},
		{name: "--cert-file without a certificate: UNKNOWN", args: []string{"--cert-file", notPEM, "--table", keyTable}, code: 3,
			out: []string{notPEM + ": no PEM certificate"}},
		{name: "--cert-file missing: UNKNOWN even with --unreachable critical", args: []string{"--cert-file", missing, "--table", keyTable, "--unreachable", "critical"}, code: 3,
			out: []string{missing}},

		// Relays that cannot be probed.
		{name: "unreachable: UNKNOWN", args: []string{"-H", closed, "--table", keyTable}, code: 3,
			out: []string{"RELAY_FINGERPRINT UNKNOWN - connect to " + closed, "unreachable=1;;;0"}},
		{name: "unreachable: CRITICAL on request", args: []string{"-H", closed, "--table", keyTable, "--unreachable", "critical"}, code: 2,
			out: []string{"RELAY_FINGERPRINT CRITICAL - connect to " + closed}},
		{name: "silent server: timeout during banner", args: []string{"-H", silent, "--table", keyTable, "-t", "1"}, code: 3,
			out: []string{"RELAY_FINGERPRINT UNKNOWN - timeout during banner from " + silent}},
		{name: "silent server: UNKNOWN even with --unreachable critical", args: []string{"-H", silent, "--table", keyTable, "-t", "1", "--unreachable", "critical"}, code: 3,
			out: []string{"timeout during banner"}},
		{name: "-6 with an IPv4 address", args: []string{"-6", "-H", starttls, "--table", keyTable}, code: 3,
			out: []string{"is an IPv4 address, but -6 asks for IPv6 only"}},
		{name: "-4 with an IPv4 address", args: []string{"-4", "-H", starttls, "--table", keyTable}, code: 0,
			out: []string{"RELAY_FINGERPRINT OK"}},

		// Tables that cannot be read.
		{name: "table is a directory", args: []string{"-H", starttls, "--table", "texthash:" + tableDir}, code: 3,
			out: []string{"RELAY_FINGERPRINT UNKNOWN - ", tableDir, "is a directory"}},
		{name: "table is missing", args: []string{"-H", starttls, "--table", missing}, code: 3,
			out: []string{"RELAY_FINGERPRINT UNKNOWN - ", missing, "no such file"}},
		{name: "table has a NUL byte", args: []string{"-H", starttls, "--table", "texthash:" + nulTable}, code: 3,
			out: []string{"RELAY_FINGERPRINT UNKNOWN - " + nulTable + ":1: NUL byte"}},
		{name: "unreadable table beats nothing: unlisted elsewhere is CRITICAL", args: []string{"-H", starttls, "--table", missing, "--table", otherTable}, code: 2,
			out: []string{"RELAY_FINGERPRINT CRITICAL - ", "[UNKNOWN] ", missing}},

		// Verbose output.
		{name: "-v: banner, TLS and fingerprints", args: []string{"-v", "-H", starttls, "--table", keyTable}, code: 0,
			out: []string{starttls + ": banner \"relay.test", starttls + ": TLS 1.3", "sha256 pubkey fingerprint " + sha.PublicKey(leaf)}},

		// Usage errors: UNKNOWN, a clear message, a hint.
		{name: "usage: nothing to check", args: []string{"--table", keyTable}, code: 3,
			out: []string{"RELAY_FINGERPRINT UNKNOWN - usage: nothing to check: give at least one -H HOST, --cert-file PATH, --relay-postconf [CONFIG_DIR] or --client-chain PATH", "hint: check_relay_fingerprint --help"}},
		{name: "usage: no arguments", args: nil, code: 3,
			out: []string{"RELAY_FINGERPRINT UNKNOWN - usage: nothing to check"}},
		{name: "usage: no table", args: []string{"-H", starttls}, code: 3,
			out: []string{"RELAY_FINGERPRINT UNKNOWN - usage: nothing to judge by: give --table"}},
		{name: "usage: bad -d", args: []string{"-H", starttls, "--table", keyTable, "-d", "sha3"}, code: 3,
			out: []string{`usage: -d: unknown digest "sha3": expected one of md5, sha1, sha224, sha256, sha384, sha512`}},
		{name: "usage: bad -w", args: []string{"-H", starttls, "--table", keyTable, "-w", "abc"}, code: 3,
			out: []string{`usage: -w "abc": expected a number of days or a range`}},
		{name: "usage: -w exponent", args: []string{"-H", starttls, "--table", keyTable, "-w", "1e3"}, code: 3,
			out: []string{"usage: -w", "1e3"}},
		{name: "usage: -c start above end", args: []string{"-H", starttls, "--table", keyTable, "-c", "20:10"}, code: 3,
			out: []string{"usage: -c", "start 20 is greater than end 10"}},
		{name: "usage: bad port in -H", args: []string{"-H", "host:99999", "--table", keyTable}, code: 3,
			out: []string{`usage: -H host:99999: invalid port "99999"`}},
		{name: "usage: bad host in -H", args: []string{"-H", "bad host", "--table", keyTable}, code: 3,
			out: []string{"usage: -H bad host: invalid host"}},
		{name: "usage: bad -p", args: []string{"-H", "127.0.0.1", "-p", "70000", "--table", keyTable}, code: 3,
			out: []string{"usage: -p must be a port from 1 to 65535"}},
		{name: "usage: unknown flag", args: []string{"-H", starttls, "--table", keyTable, "--bogus"}, code: 3,
			out: []string{"usage: unknown flag --bogus"}},
		{name: "usage: pattern table", args: []string{"-H", starttls, "--table", "regexp:/x"}, code: 3,
			out: []string{`usage: --table regexp:/x: table "regexp:/x": unsupported type "regexp"`}},
		{name: "one --table naming a list, as main.cf does: listed in its second table", args: []string{"-H", starttls, "--table", "texthash:" + emptyTable + ", " + keyTable}, code: 0,
			out: []string{"in texthash:" + emptyTable + ", " + keyTable + ": listed"}},
		{name: "one --table naming a list: listed in none", args: []string{"-H", starttls, "--table", "texthash:" + emptyTable + " texthash:" + emptyTable + "2"}, code: 2,
			out: []string{"not listed in texthash:" + emptyTable + ", texthash:" + emptyTable + "2"}},
		{name: "usage: -4 and -6", args: []string{"-4", "-6", "-H", starttls, "--table", keyTable}, code: 3,
			out: []string{"usage: ", "--ipv4 and --ipv6"}},
		{name: "usage: -t 0", args: []string{"-H", starttls, "--table", keyTable, "-t", "0"}, code: 3,
			out: []string{"usage: -t must be", "seconds"}},
		{name: "usage: -t not a number", args: []string{"-H", starttls, "--table", keyTable, "-t", "soon"}, code: 3,
			out: []string{"usage: ", "soon"}},
		{name: "usage: bad --match", args: []string{"-H", starttls, "--table", keyTable, "--match", "fingerprint"}, code: 3,
			out: []string{"usage: --match must be one of"}},
		{name: "usage: bad -P", args: []string{"-P", "imap", "-H", starttls, "--table", keyTable}, code: 3,
			out: []string{"usage: ", "imap"}},
		{name: "usage: bad --unreachable", args: []string{"-H", starttls, "--table", keyTable, "--unreachable", "ok"}, code: 3,
			out: []string{"usage: --unreachable must be one of"}},
		{name: "usage: fingerprint without -H", args: []string{"fingerprint"}, code: 3,
			out: []string{"usage: nothing to check"}},

		// Help and version: UNKNOWN, as the guidelines want.
		{name: "--help", args: []string{"--help"}, code: 3,
			out: []string{"Usage: check_relay_fingerprint", "--table", "--postconf", "Examples:"}, notOut: []string{"RELAY_FINGERPRINT"}},
		{name: "-h", args: []string{"-h"}, code: 3,
			out: []string{"Usage: check_relay_fingerprint", "--table"}},
		{name: "--help after flags", args: []string{"-H", starttls, "--help"}, code: 3,
			out: []string{"Usage: check_relay_fingerprint", "--table"}},
		{name: "-h after flags: the check's flags", args: []string{"-H", starttls, "-h"}, code: 3,
			out: []string{"Usage: check_relay_fingerprint check", "--fix-trust"}},
		{name: "fingerprint --help", args: []string{"fingerprint", "--help"}, code: 3,
			out: []string{"Usage: check_relay_fingerprint fingerprint"}},
		{name: "-V", args: []string{"-V"}, code: 3,
			out: []string{"check_relay_fingerprint "}, notOut: []string{"RELAY_FINGERPRINT"}},
		{name: "--version", args: []string{"--version"}, code: 3,
			out: []string{"check_relay_fingerprint "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := rtRun(t, tt.args...)
			if code != tt.code {
				t.Errorf("run(%q) = %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.args, code, tt.code, out, errOut)
			}
			for _, s := range tt.out {
				if !strings.Contains(out, s) {
					t.Errorf("run(%q): stdout lacks %q\nstdout:\n%s", tt.args, s, out)
				}
			}
			for _, s := range tt.notOut {
				if strings.Contains(out, s) {
					t.Errorf("run(%q): stdout has %q\nstdout:\n%s", tt.args, s, out)
				}
			}
			for _, s := range tt.errOut {
				if !strings.Contains(errOut, s) {
					t.Errorf("run(%q): stderr lacks %q\nstderr:\n%s", tt.args, s, errOut)
				}
			}
			rtCheckStatusLine(t, tt.args, code, out)
		})
	}
}

// rtCheckStatusLine checks the plugin's first line when it is one: the
// state named is the exit code's, it is one line, and it has at most one
// '|'.
func rtCheckStatusLine(t *testing.T, args []string, code int, out string) {
	t.Helper()
	first, _, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(first, "RELAY_FINGERPRINT ") {
		return
	}
	if want := "RELAY_FINGERPRINT " + rtStates[code] + " "; !strings.HasPrefix(first+" ", want) {
		t.Errorf("run(%q): status line %q does not start with %q (exit %d)", args, first, want, code)
	}
	if n := strings.Count(out, "|"); n > 1 {
		t.Errorf("run(%q): %d '|' in the output, want at most 1", args, n)
	}
	if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
		t.Errorf("run(%q): output mentions a panic:\n%s", args, out)
	}
	// Perfdata labels must be unique: graphers key on them.
	_, perf, ok := strings.Cut(first, " | ")
	if !ok {
		return
	}
	seen := map[string]bool{}
	for _, item := range strings.Fields(perf) {
		label, _, _ := strings.Cut(item, "=")
		if seen[label] {
			t.Errorf("run(%q): perfdata label %q appears twice in %q", args, label, perf)
		}
		seen[label] = true
	}
}

// TestRunTimeoutFlag checks that -t values that are no usable number of
// seconds are refused (or honoured), never turned into an instant
// deadline.
func TestRunTimeoutFlag(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "cliff.example.org", 60)
	relay := rtServe(t, cert, false)
	tablePath := rtWrite(t, t.TempDir(), "t", fingerprint.SHA256.PublicKey(cert.Leaf)+" cliff.example.org\n")
	for _, v := range []string{"NaN", "Inf", "1e300", "-1"} {
		args := []string{"-H", relay, "--table", "texthash:" + tablePath, "-t", v}
		code, out, _ := rtRun(t, args...)
		usage := code == 3 && strings.Contains(out, "usage: ")
		if !(usage || code == 0) || strings.Contains(out, "timeout during") {
			t.Errorf("run(%q) = %d, want a usage error or OK, not a timeout:\n%s", args, code, out)
		}
	}
}

// TestRunFingerprintRoundTrip prints table lines with the fingerprint
// command, writes them as a table, and checks that the check is then OK.
func TestRunFingerprintRoundTrip(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "cliff.example.org", 60)
	starttls := rtServe(t, cert, false)
	smtps := rtServe(t, cert, true)
	pemPath := rtWrite(t, t.TempDir(), "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw})))

	tests := []struct {
		name    string
		target  []string // what to fingerprint and check
		digest  fingerprint.Digest
		match   string
		entries int // lines printed
	}{
		{"STARTTLS sha256 any", []string{"-H", starttls}, fingerprint.SHA256, "any", 2},
		{"STARTTLS md5 any", []string{"-H", starttls}, fingerprint.MD5, "any", 2},
		{"STARTTLS sha1 cert", []string{"-H", starttls}, fingerprint.SHA1, "cert", 1},
		{"STARTTLS sha512 pubkey", []string{"-H", starttls}, fingerprint.SHA512, "pubkey", 1},
		{"smtps sha256 any", []string{"-P", "smtps", "-H", smtps}, fingerprint.SHA256, "any", 2},
		{"certificate file sha256 any", []string{"--cert-file", pemPath}, fingerprint.SHA256, "any", 2},
		{"relay and its certificate file: printed once", []string{"-H", starttls, "--cert-file", pemPath}, fingerprint.SHA256, "any", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := []string{"-d", string(tt.digest), "--match", tt.match}
			fpArgs := append(append([]string{"fingerprint"}, tt.target...), opts...)
			code, out, errOut := rtRun(t, fpArgs...)
			if code != 0 {
				t.Fatalf("run(%q) = %d, want 0\nstdout:\n%s\nstderr:\n%s", fpArgs, code, out, errOut)
			}
			path := rtWrite(t, t.TempDir(), "relay_clientcerts", out)
			tb, err := table.Parse(path, []byte(out))
			if err != nil {
				t.Fatalf("fingerprint output does not parse as a table: %v\n%s", err, out)
			}
			if len(tb.Warnings) > 0 {
				t.Errorf("fingerprint output draws table warnings %v\n%s", tb.Warnings, out)
			}
			if tb.Len() != tt.entries || len(tb.Entries) != tt.entries {
				t.Errorf("fingerprint output has %d entries (%d distinct), want %d\n%s", len(tb.Entries), tb.Len(), tt.entries, out)
			}
			for _, e := range tb.Entries {
				if d, ok := fingerprint.Guess(e.Key); !ok || d != tt.digest {
					t.Errorf("line %d key %q is not a %s fingerprint", e.Line, e.Key, tt.digest)
				}
				if e.Value != "cliff.example.org" {
					t.Errorf("line %d label %q, want cliff.example.org", e.Line, e.Value)
				}
			}

			checkArgs := append(append([]string{"--table", "texthash:" + path}, tt.target...), opts...)
			code, out, errOut = rtRun(t, checkArgs...)
			if code != 0 || !strings.HasPrefix(out, "RELAY_FINGERPRINT OK - ") {
				t.Errorf("check of the printed table: run(%q) = %d, want 0 and OK\nstdout:\n%s\nstderr:\n%s", checkArgs, code, out, errOut)
			}
			// Both lines are in the table: no advice to add one of them.
			if strings.Contains(out, "hint:") {
				t.Errorf("check of the printed table gives a hint although every printed line is listed:\n%s", out)
			}
		})
	}
}

// TestRunFingerprintUnreachable checks that a relay that cannot be
// probed is reported on stderr and makes the exit UNKNOWN, while the
// others are still printed.
func TestRunFingerprintUnreachable(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "cliff.example.org", 60)
	ok := rtServe(t, cert, false)
	closed := rtClosedPort(t)
	code, out, errOut := rtRun(t, "fingerprint", "-H", closed, "-H", ok)
	if code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	if !strings.Contains(errOut, "error: connect to "+closed) {
		t.Errorf("stderr lacks the error for %s:\n%s", closed, errOut)
	}
	if !strings.Contains(out, fingerprint.SHA256.PublicKey(cert.Leaf)+" cliff.example.org") {
		t.Errorf("stdout lacks the line of the reachable relay:\n%s", out)
	}
}

// TestRunPostconf takes the tables and the digest from a real postconf
// reading a temporary main.cf: compatibility_level 0 means md5.
// rtReceiverMainCF makes a main.cf a receiver that relays by client
// certificate (later lines of a test's main.cf override it), and
// rtMasterCF its master.cf: what --postconf checks beside the tables.
const (
	rtReceiverMainCF = "smtpd_tls_security_level = may\nsmtpd_tls_ask_ccert = yes\n" +
		"smtpd_relay_restrictions = permit_mynetworks, permit_tls_clientcerts, defer_unauth_destination\n"
	rtMasterCF = "smtp inet n - y - - smtpd\n"
)

func TestRunPostconf(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("postconf"); err != nil {
		if _, err := exec.LookPath("/usr/sbin/postconf"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("postconf not installed (install postfix): needed under CI")
			}
			t.Skip("postconf not installed")
		}
	}
	cert := rtCert(t, "cliff.example.org", 60)
	relay := rtServe(t, cert, false)
	md5, sha := fingerprint.MD5, fingerprint.SHA256

	tests := []struct {
		name  string
		main  string // main.cf; DIR is the config directory
		table string // the table's text
		args  []string
		code  int
		out   []string
	}{
		{
			name:  "compatibility_level 0: md5 fingerprint listed",
			main:  "compatibility_level = 0\nrelay_clientcerts = texthash:DIR/t\n",
			table: md5.PublicKey(cert.Leaf) + " cliff.example.org\n",
			code:  0,
			out:   []string{"RELAY_FINGERPRINT OK", "[OK] " + relay + " in texthash:"},
		},
		{
			name:  "compatibility_level 0: sha256 fingerprint can never match",
			main:  "compatibility_level = 0\nrelay_clientcerts = texthash:DIR/t\n",
			table: sha.PublicKey(cert.Leaf) + " cliff.example.org\n",
			code:  2,
			out:   []string{"presents md5 public-key fingerprint " + md5.PublicKey(cert.Leaf), "key is a sha256 fingerprint, the receiver uses md5"},
		},
		{
			name:  "compatibility_level 3.6: sha256",
			main:  "compatibility_level = 3.6\nrelay_clientcerts = texthash:DIR/t\n",
			table: sha.PublicKey(cert.Leaf) + " cliff.example.org\n",
			code:  0,
			out:   []string{"RELAY_FINGERPRINT OK"},
		},
		{
			name:  "explicit smtpd_tls_fingerprint_digest",
			main:  "compatibility_level = 3.6\nsmtpd_tls_fingerprint_digest = sha1\nrelay_clientcerts = texthash:DIR/t\n",
			table: fingerprint.SHA1.PublicKey(cert.Leaf) + " cliff.example.org\n",
			code:  0,
			out:   []string{"RELAY_FINGERPRINT OK"},
		},
		{
			// Regression: -d overrode postconf's digest, and --fix then
			// wrote a key the receiver never looks up (issue 15).
			name:  "-d that disagrees with postconf: usage error naming both",
			main:  "compatibility_level = 3.6\nrelay_clientcerts = texthash:DIR/t\n",
			table: sha.PublicKey(cert.Leaf) + " cliff.example.org\n",
			args:  []string{"-d", "md5"},
			code:  3,
			out:   []string{"usage: -d md5 disagrees with postconf: smtpd_tls_fingerprint_digest = sha256"},
		},
		{
			name:  "-d that agrees with postconf",
			main:  "compatibility_level = 0\nrelay_clientcerts = texthash:DIR/t\n",
			table: md5.PublicKey(cert.Leaf) + " cliff.example.org\n",
			args:  []string{"-d", "md5"},
			code:  0,
			out:   []string{"RELAY_FINGERPRINT OK"},
		},
		{
			name:  "--table that postconf does not name: usage error",
			main:  "compatibility_level = 3.6\nrelay_clientcerts = texthash:DIR/t\n",
			table: sha.PublicKey(cert.Leaf) + " cliff.example.org\n",
			args:  []string{"--table", "texthash:/nonexistent/other"},
			code:  3,
			out:   []string{"usage: --table texthash:/nonexistent/other is not in postconf's relay_clientcerts"},
		},
		{
			// Regression: Postfix never asks for a client certificate, so
			// permit_tls_clientcerts never matches, yet the check said OK
			// (issue 15).
			name:  "smtpd_tls_ask_ccert = no: CRITICAL with the setting",
			main:  "compatibility_level = 3.6\nrelay_clientcerts = texthash:DIR/t\nsmtpd_tls_ask_ccert = no\n",
			table: sha.PublicKey(cert.Leaf) + " cliff.example.org\n",
			code:  2,
			out:   []string{"RELAY_FINGERPRINT CRITICAL - postconf: smtpd_tls_ask_ccert = no", "set smtpd_tls_ask_ccert = yes"},
		},
		{
			name:  "permit_tls_clientcerts after the refusal: CRITICAL",
			main:  "compatibility_level = 3.6\nrelay_clientcerts = texthash:DIR/t\nsmtpd_relay_restrictions = defer_unauth_destination, permit_tls_clientcerts\n",
			table: sha.PublicKey(cert.Leaf) + " cliff.example.org\n",
			code:  2,
			out:   []string{"RELAY_FINGERPRINT CRITICAL - postconf: ", "permit_tls_clientcerts"},
		},
		{
			name:  "relay_clientcerts under config_directory",
			main:  "compatibility_level = 0\nrelay_clientcerts = texthash:${config_directory}/t\n",
			table: md5.PublicKey(cert.Leaf) + " cliff.example.org\n",
			code:  0,
			out:   []string{"RELAY_FINGERPRINT OK"},
		},
		{
			name: "empty relay_clientcerts: UNKNOWN",
			main: "compatibility_level = 3.6\n",
			code: 3,
			out:  []string{"relay_clientcerts is empty"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			mainCF := rtWrite(t, dir, "main.cf", rtReceiverMainCF+strings.ReplaceAll(tt.main, "DIR", dir))
			rtWrite(t, dir, "master.cf", rtMasterCF)
			// Postfix re-reads a main.cf modified in the current second
			// until it is a second old: date it back to save the wait.
			old := time.Now().Add(-time.Minute)
			if err := os.Chtimes(mainCF, old, old); err != nil {
				t.Fatal(err)
			}
			rtWrite(t, dir, "t", tt.table)
			args := append([]string{"-H", relay, "--postconf", dir}, tt.args...)
			code, out, errOut := rtRun(t, args...)
			if code != tt.code {
				t.Errorf("run(%q) = %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, tt.code, out, errOut)
			}
			for _, s := range tt.out {
				if !strings.Contains(out, s) {
					t.Errorf("run(%q): stdout lacks %q\nstdout:\n%s", args, s, out)
				}
			}
			rtCheckStatusLine(t, args, code, out)
		})
	}

	t.Run("missing config directory: UNKNOWN naming postconf", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(t.TempDir(), "nonexistent")
		code, out, _ := rtRun(t, "-H", relay, "--postconf", missing)
		if code != 3 || !strings.Contains(out, "postconf") || !strings.Contains(out, missing) {
			t.Errorf("exit %d, want 3 with a message naming postconf and %s:\n%s", code, missing, out)
		}
	})
	// Regression: --fix-to counted only the --table flags, so that
	// --postconf alone was refused and --postconf with one --table wrote
	// both tables, one after the other, into the one output.
	t.Run("--fix-to with --postconf", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mainCF := rtWrite(t, dir, "main.cf", rtReceiverMainCF+"compatibility_level = 3.6\nrelay_clientcerts = texthash:"+dir+"/t\n")
		rtWrite(t, dir, "master.cf", rtMasterCF)
		old := time.Now().Add(-time.Minute)
		if err := os.Chtimes(mainCF, old, old); err != nil {
			t.Fatal(err)
		}
		src := "# receiver's table\n"
		rtWrite(t, dir, "t", src)
		other := "texthash:" + rtWrite(t, dir, "other", "# another receiver\n")
		want := src + sha.PublicKey(cert.Leaf) + " cliff.example.org\n"

		args := []string{"-H", relay, "--postconf", dir, "--fix-to", "-", "--fix-trust", "any"}
		code, out, errOut := rtRun(t, args...)
		if code != 2 || out != want || !strings.HasPrefix(errOut, "RELAY_FINGERPRINT CRITICAL - ") {
			t.Errorf("run(%q) = %d\nstdout %q (want %q)\nstderr:\n%s", args, code, out, want, errOut)
		}

		args = []string{"-H", relay, "--postconf", dir, "--table", other, "--fix-to", "-", "--fix-trust", "any"}
		code, out, errOut = rtRun(t, args...)
		if code != 3 || !strings.Contains(out, "usage: --table "+other+" is not in postconf's relay_clientcerts") {
			t.Errorf("run(%q) = %d, want 3 and a usage error\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
		}
	})
	t.Run("bare --postconf before another flag", func(t *testing.T) {
		t.Parallel()
		// The default config directory may hold anything: only check
		// that a bare --postconf parses and does not swallow -H.
		code, out, _ := rtRun(t, "--postconf", "-H", relay)
		if strings.Contains(out, "usage:") {
			t.Errorf("exit %d: bare --postconf is a usage error:\n%s", code, out)
		}
	})
}

// TestRunDemo runs the demo command, which checks its own verdicts.
func TestRunDemo(t *testing.T) {
	t.Parallel()
	code, out, errOut := rtRun(t, "demo")
	if code != 0 {
		t.Errorf("run(demo) = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, s := range []string{"RELAY_FINGERPRINT OK", "RELAY_FINGERPRINT CRITICAL", "add: ",
		"$ check_relay_fingerprint --client-chain relay.pem --receiver 127.0.0.1:", "may relay (250 2.1.5 Ok)",
		": Relay access denied; the receiver's relay_clientcerts needs: ", "demo: all 5 verdicts as expected."} {
		if !strings.Contains(out, s) {
			t.Errorf("demo output lacks %q:\n%s", s, out)
		}
	}
}

// TestRunDemoKeep: demo --keep leaves what its help promises, the table
// and both certificates, ready for --cert-file, and the relay's client
// chain, as the demo ends: the receiver has added the renewed key.
func TestRunDemoKeep(t *testing.T) {
	t.Parallel()
	code, out, errOut := rtRun(t, "demo", "--keep")
	first, _, _ := strings.Cut(out, "\n")
	dir, ok := strings.CutPrefix(first, "demo directory: ")
	if code != 0 || !ok {
		t.Fatalf("run(demo --keep) = %d, first line %q\nstdout:\n%s\nstderr:\n%s", code, first, out, errOut)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tbl := "texthash:" + filepath.Join(dir, "relay_clientcerts")
	for _, tc := range []struct {
		file string
		code int
	}{{"cliff.pem", 0}, {"cliff-renewed.pem", 0}, {"relay.pem", 0}, {"nothing.pem", 3}} {
		args := []string{"--cert-file", filepath.Join(dir, tc.file), "--table", tbl}
		if tc.file == "relay.pem" {
			args[0] = "--client-chain"
		}
		if code, out, _ := rtRun(t, args...); code != tc.code {
			t.Errorf("run(%q) = %d, want %d\n%s", args, code, tc.code, out)
		}
	}
}

// TestRunIPv6Loopback probes a relay on [::1] when the host has IPv6
// loopback.
func TestRunIPv6Loopback(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback on this host: %v", err) // a property of the host, not a missing program
	}
	cert := rtCert(t, "cliff.example.org", 60)
	rtServeOn(t, ln, cert, false)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	tablePath := rtWrite(t, t.TempDir(), "t", fingerprint.SHA256.PublicKey(cert.Leaf)+" cliff.example.org\n")

	for _, args := range [][]string{
		{"-H", "[::1]:" + port, "--table", "texthash:" + tablePath},
		{"-6", "-H", "::1", "-p", port, "--table", "texthash:" + tablePath},
	} {
		code, out, _ := rtRun(t, args...)
		if code != 0 || !strings.Contains(out, "RELAY_FINGERPRINT OK - [::1]:"+port+" listed") {
			t.Errorf("run(%q) = %d, want 0 and OK for [::1]:%s\n%s", args, code, port, out)
		}
	}
}

// rtCertNamed makes a self-signed ECDSA certificate with the given common
// name and DNS names, as a hostile or odd relay might present.
func rtCertNamed(t testing.TB, cn string, dns []string) tls.Certificate {
	t.Helper()
	return testcert.New(t, testcert.Spec{CN: cn, DNS: dns, Serial: big.NewInt(7), NotAfter: time.Now().Add(60 * 24 * time.Hour), NoEKU: true})
}

// TestRunFingerprintHostileNames: the fingerprint command's output is
// pasted into relay_clientcerts, and a relay chooses the names in its
// certificate. A line break in its subject or DNS name must not add a
// line of the relay's choosing (here: a fingerprint it wants listed).
func TestRunFingerprintHostileNames(t *testing.T) {
	t.Parallel()
	planted := "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99"
	evil := "x\n" + planted + " planted.example.org"
	cert := rtCertNamed(t, evil, []string{evil})
	addr := rtServe(t, cert, false)
	for _, args := range [][]string{
		{"fingerprint", "-H", addr},
		{"fingerprint", "-H", "localhost:" + addr[strings.LastIndexByte(addr, ':')+1:]},
	} {
		code, out, errOut := rtRun(t, args...)
		if code != 0 {
			t.Fatalf("run(%q) = %d, want 0\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
		}
		tb, err := table.Parse("fingerprint-output", []byte(out))
		if err != nil {
			t.Fatalf("run(%q): output does not parse as a table: %v\n%s", args, err, out)
		}
		want := map[string]bool{fingerprint.SHA256.PublicKey(cert.Leaf): true, fingerprint.SHA256.Cert(cert.Leaf): true}
		for _, e := range tb.Entries {
			if !want[e.Key] {
				t.Errorf("run(%q): line %d lists %q %q, which the relay does not present\n%s", args, e.Line, e.Key, e.Value, out)
			}
			if strings.Contains(e.Value, "planted") {
				t.Errorf("run(%q): line %d has the relay's planted label %q\n%s", args, e.Line, e.Value, out)
			}
		}
		if len(tb.Entries) != 2 || len(tb.Warnings) > 0 {
			t.Errorf("run(%q): %d entries, warnings %v; want 2 and none\n%s", args, len(tb.Entries), tb.Warnings, out)
		}
	}
}

// TestRunJSON checks that -o json prints exactly one JSON document with
// the documented fields, whatever the run does, and the same exit code.
func TestRunJSON(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "cliff.example.org", 60)
	addr := rtServe(t, cert, false)
	dir := t.TempDir()
	listed := "texthash:" + rtWrite(t, dir, "listed", fingerprint.SHA256.PublicKey(cert.Leaf)+" cliff.example.org\n")
	stale := "texthash:" + rtWrite(t, dir, "stale", "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99 cliff.example.org\n")
	checkFields := []string{"state", "exit_code", "summary", "digest", "match", "relays", "tables", "listings", "long", "perfdata"}

	tests := []struct {
		name   string
		args   []string
		code   int
		list   bool     // the fingerprint command's list of relays
		fields []string // top-level fields that must be there
		has    []string // substrings of the document
	}{
		{name: "OK", args: []string{"-H", addr, "--table", listed}, code: 0, fields: checkFields,
			has: []string{`"state": "OK"`, `"listed": true`, `"matched": "pubkey"`}},
		// Regression: the diff was printed after the document, so that
		// stdout was no longer JSON.
		{name: "--diff goes inside the document", args: []string{"-H", addr, "--table", stale, "--diff", "--fix-trust", "any"}, code: 2,
			fields: append(checkFields, "diff"), has: []string{`"diff": "--- `, "+" + fingerprint.SHA256.PublicKey(cert.Leaf)}},
		// Regression: errors found after parsing were plain text.
		{name: "usage error", args: []string{"--table", listed}, code: 3, fields: checkFields,
			has: []string{`"state": "UNKNOWN"`, `"exit_code": 3`, "nothing to check"}},
		{name: "event handler with nothing to do", args: []string{"-H", addr, "--table", stale, "--fix", "--event-state", "OK", "--event-state-type", "HARD"}, code: 0,
			fields: checkFields, has: []string{`"state": "OK"`, "nothing to do"}},
		{name: "fingerprint", args: []string{"fingerprint", "-H", addr}, code: 0, list: true,
			has: []string{`"pubkey_fingerprint": "` + fingerprint.SHA256.PublicKey(cert.Leaf)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{}, tt.args...), "-o", "json")
			code, out, errOut := rtRun(t, args...)
			if code != tt.code {
				t.Errorf("run(%q) = %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, tt.code, out, errOut)
			}
			dec := json.NewDecoder(strings.NewReader(out))
			var doc any
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("run(%q): stdout is not JSON: %v\n%s", args, err, out)
			}
			if _, err := dec.Token(); err != io.EOF {
				t.Errorf("run(%q): more than one JSON document on stdout (%v)\n%s", args, err, out)
			}
			for _, s := range tt.has {
				if !strings.Contains(out, s) {
					t.Errorf("run(%q): document lacks %q\n%s", args, s, out)
				}
			}
			if tt.list {
				if _, ok := doc.([]any); !ok {
					t.Errorf("run(%q): document is %T, want a list of relays", args, doc)
				}
				return
			}
			m, ok := doc.(map[string]any)
			if !ok {
				t.Fatalf("run(%q): document is %T, want an object", args, doc)
			}
			for _, f := range tt.fields {
				if _, ok := m[f]; !ok {
					t.Errorf("run(%q): document lacks field %q\n%s", args, f, out)
				}
			}
			if got, _ := m["exit_code"].(float64); int(got) != code {
				t.Errorf("run(%q): exit_code %v, process exit %d", args, m["exit_code"], code)
			}
		})
	}
}

// TestRunTooManyArgs guards the argument cap: kong's parse costs memory
// quadratic in the argument count (6 000 -H took 878 MB and 3.5 s), so a
// command line over maxArgs is a usage error before kong sees it, even
// when every argument repeats the same relay.
func TestRunTooManyArgs(t *testing.T) {
	t.Parallel()
	for _, n := range []int{maxArgs/2 + 1, 3000} {
		args := make([]string, 0, 2*n)
		for range n {
			args = append(args, "-H", "127.0.0.1:1")
		}
		var stdout, stderr strings.Builder
		code := run(args, &stdout, &stderr)
		want := fmt.Sprintf("usage: %d arguments, at most %d are accepted", 2*n, maxArgs)
		if code != exitUnknown || !strings.Contains(stdout.String(), want) {
			t.Errorf("%d × -H: exit %d, output %q; want %d and %q", n, code, stdout.String(), exitUnknown, want)
		}
	}
	// At the cap itself kong parses (and the run fails later for the
	// missing table, not for the count).
	args := make([]string, 0, maxArgs)
	for len(args) < maxArgs {
		args = append(args, "-H", "127.0.0.1:1")
	}
	var stdout, stderr strings.Builder
	run(args, &stdout, &stderr)
	if strings.Contains(stdout.String(), "arguments, at most") {
		t.Errorf("%d arguments refused: %q", maxArgs, stdout.String())
	}
}

// TestRunNonUTF8Paths guards paths as bytes: kong turns bytes that are not
// UTF-8 into U+FFFD, which made two tables "t\xfe" and "t\xff" one path
// (and a path that exists "missing"); run restores the bytes.
func TestRunNonUTF8Paths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert := rtCert(t, "cliff.example.org", 60)
	certPEM := rtWrite(t, dir, "cert\xfd.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw})))
	listed := rtWrite(t, dir, "t\xfe", fingerprint.SHA256.PublicKey(cert.Leaf)+" cliff.example.org\n")
	rtWrite(t, dir, "t\xff", "# nobody\n")

	code, out, _ := rtRun(t, "--cert-file", certPEM, "--table", "texthash:"+listed)
	if code != exitOK {
		t.Errorf("--table texthash:%q: exit %d, want %d (the listing table)\n%s", listed, code, exitOK, out)
	}
	code, out, _ = rtRun(t, "--cert-file="+certPEM, "--table=texthash:"+filepath.Join(dir, "t\xff"))
	if code != exitCritical {
		t.Errorf("--table=texthash:t\\xff: exit %d, want %d (the other table)\n%s", code, exitCritical, out)
	}
	code, out, _ = rtRun(t, "--cert-file", certPEM, "--table", "texthash:"+listed, "--table", "texthash:"+filepath.Join(dir, "t\xff"))
	if code != exitUnknown || !strings.Contains(out, "differ only in bytes that are not UTF-8") {
		t.Errorf("both tables: exit %d, want %d and a usage error\n%s", code, exitUnknown, out)
	}
}
