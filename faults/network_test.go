package faults

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// Deadlines for the plugin's -t: short where the server stalls and the
// deadline is the expected end, long where the run ends by itself (a slow
// machine must not turn those into timeouts).
const (
	stallDeadline = 2
	okDeadline    = 30
	// keepDeadline is for a server that stalls after the handshake: the
	// handshake must finish first, even on a loaded machine.
	keepDeadline = 5
)

// netCase is one row of the network fault matrix.
type netCase struct {
	name     string
	relay    relay
	cert     certSpec // the relay's certificate (relay.cert overrides)
	args     []string // more flags
	deadline float64  // -t; okDeadline when zero
	listed   bool     // the table lists the relay's public-key fingerprint
	relays   int      // start this many such relays, each with its -H; 1 when zero
	want     want     // "ADDR" in status and out is replaced by the relay's address
}

const (
	partialHello  = "\x16\x03\x03\x00\x7a\x02\x00" // a TLS record header and 2 bytes of ServerHello
	noSTARTTLS    = "250-relay.test\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"
	tlsRefused    = "454 4.7.0 TLS not available due to local problem\r\n"
	injected      = "220 2.0.0 ready\r\n250 2.0.0 injected before TLS\r\n"
	bannerControl = "554 5.3.2 \x1b[31mgo away\x07\x00\r\n"
)

// netCases are the faults of a relay, on whichever loopback address.
func netCases() []netCase {
	unk := func(status ...string) want { return want{code: 3, status: status} }
	tenMBLine := "220 " + strings.Repeat("x", 10<<20) + "\r\n"
	tenKLines := strings.Repeat("220-relay.test continued\r\n", 10000) + "220 relay.test ESMTP\r\n"
	now := time.Now()
	var cases []netCase
	// Stalls, garbage and closed connections in the STARTTLS dialogue.
	cases = append(cases, []netCase{
		{name: "silent server", relay: relay{at: atConnect, fault: hang}, deadline: stallDeadline,
			want: unk("timeout during banner from ADDR")},
		{name: "drip one byte per second", relay: relay{at: atConnect, fault: drip("220-relay.test ESMTP slowly\r\n")}, deadline: stallDeadline,
			want: unk("timeout during banner from ADDR")},
		{name: "10 MB reply line", relay: relay{banner: tenMBLine},
			want: unk("banner from ADDR: reply line longer than 4096 bytes")},
		{name: "10000 continuation lines", relay: relay{banner: tenKLines},
			want: unk("banner from ADDR: reply longer than 100 lines")},
		{name: "binary garbage banner", relay: relay{banner: "\x16\x03\x01\x00\xff\xfe garbage\r\n"},
			want: unk("banner from ADDR: server sent a TLS record (first byte 0x16) instead of a banner; hint: this looks like implicit TLS: try -P smtps")},
		{name: "HTTP server", relay: relay{banner: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"},
			want: unk("banner from ADDR: malformed reply line \"HTTP/1.1 400 Bad Request\"")},
		{name: "empty line as banner", relay: relay{banner: "\r\n"},
			want: unk("banner from ADDR: malformed reply line")},
		{name: "banner 554 with control characters", relay: relay{banner: bannerControl},
			want: unk("banner from ADDR: server replied 554 5.3.2 ?[31mgo away??")},
		{name: "close before banner", relay: relay{at: atConnect, fault: closeConn},
			want: unk("banner from ADDR: connection closed by server")},
		// The RST may beat the end of connect(2) (gVisor) or not (Linux).
		{name: "reset before banner", relay: relay{at: atConnect, fault: reset},
			want: unk(" ADDR: connection reset by server")},
		{name: "close mid-banner", relay: relay{at: atConnect, fault: sendThen("220-relay.test\r\n220-more", closeConn)},
			want: unk("banner from ADDR: connection closed by server")},
		{name: "hang mid-banner", relay: relay{at: atConnect, fault: sendThen("220-relay.test\r\n", hang)}, deadline: stallDeadline,
			want: unk("timeout during banner from ADDR")},
		{name: "close at EHLO", relay: relay{at: atEHLO, fault: closeConn},
			want: unk("EHLO with ADDR: connection closed by server")},
		{name: "EHLO refused", relay: relay{at: atEHLO, fault: sendThen("550 5.7.1 go away\r\n", closeConn)},
			want: unk("EHLO with ADDR: server replied 550 5.7.1 go away")},
		{name: "hang at EHLO", relay: relay{at: atEHLO, fault: hang}, deadline: stallDeadline,
			want: unk("timeout during EHLO with ADDR")},
		{name: "no STARTTLS", relay: relay{ehlo: noSTARTTLS},
			want: unk("EHLO with ADDR: server does not offer STARTTLS")},
		{name: "close at STARTTLS", relay: relay{at: atSTARTTLS, fault: closeConn},
			want: unk("STARTTLS with ADDR: connection closed by server")},
		{name: "STARTTLS refused", relay: relay{starttls: tlsRefused},
			want: unk("STARTTLS with ADDR: server replied 454 4.7.0 TLS not available due to local problem")},
		{name: "hang at STARTTLS", relay: relay{at: atSTARTTLS, fault: hang}, deadline: stallDeadline,
			want: unk("timeout during STARTTLS with ADDR")},
		{name: "STARTTLS response injection", relay: relay{starttls: injected},
			want: unk("STARTTLS with ADDR: server sent")},
		{name: "close instead of TLS", relay: relay{at: atHandshake, fault: closeConn},
			want: unk("TLS handshake with ADDR: ")},
		{name: "close mid-handshake", relay: relay{at: atHandshake, fault: readThen(closeConn)},
			want: unk("TLS handshake with ADDR: ")},
		{name: "hang mid-handshake", relay: relay{at: atHandshake, fault: readThen(hang)}, deadline: stallDeadline,
			want: unk("timeout during TLS handshake with ADDR")},
		{name: "partial ServerHello then hang", relay: relay{at: atHandshake, fault: readThen(sendThen(partialHello, hang))}, deadline: stallDeadline,
			want: unk("timeout during TLS handshake with ADDR")},
		{name: "plain text instead of TLS", relay: relay{at: atHandshake, fault: readThen(sendThen("220 not TLS at all\r\n", hang))},
			want: unk("TLS handshake with ADDR: ")},
		// After the handshake the certificate is what the check came for:
		// a relay failing later is judged on it; -v says what failed.
		{name: "close at EHLO after TLS keeps the certificate", relay: relay{at: atEHLOTLS, fault: closeConn}, listed: true, args: []string{"-v"},
			want: want{code: 0, status: []string{"ADDR listed in 1 table"}, out: []string{"ADDR: after the handshake: EHLO after TLS with ADDR: connection closed by server"}}},
		{name: "hang at EHLO after TLS keeps the certificate", relay: relay{at: atEHLOTLS, fault: hang}, listed: true, args: []string{"-v"}, deadline: keepDeadline,
			want: want{code: 0, status: []string{"ADDR listed in 1 table"}, out: []string{"ADDR: after the handshake: timeout during EHLO after TLS with ADDR"}}},
		{name: "close at QUIT", relay: relay{at: atQUIT, fault: closeConn}, listed: true,
			want: want{code: 0, status: []string{"ADDR listed in 1 table"}}},
		{name: "unreachable critical: closed at banner", relay: relay{at: atConnect, fault: closeConn}, args: []string{"--unreachable", "critical"},
			want: want{code: 2, status: []string{"banner from ADDR: connection closed by server"}}},
		{name: "unreachable critical: the deadline stays UNKNOWN", relay: relay{at: atConnect, fault: hang}, args: []string{"--unreachable", "critical"}, deadline: stallDeadline,
			want: unk("timeout during banner from ADDR")},
		{name: "300 silent relays at once", relay: relay{at: atConnect, fault: hang}, relays: 300, deadline: stallDeadline,
			want: unk("timeout during ", "relays=300;")},
	}...)

	// Certificates, over STARTTLS and over implicit TLS.
	for _, implicit := range []bool{false, true} {
		mode := "STARTTLS"
		var smtps []string
		if implicit {
			mode, smtps = "implicit TLS", []string{"-P", "smtps"}
		}
		with := func(args ...string) []string { return append(append([]string{}, smtps...), args...) }
		cases = append(cases, []netCase{
			{name: mode + ": ECDSA P-256", relay: relay{implicit: implicit}, cert: certSpec{key: keyP256()}, listed: true, args: with(),
				want: want{code: 0, status: []string{"ADDR listed in 1 table, valid 89 days or more"}}},
			{name: mode + ": ECDSA P-384", relay: relay{implicit: implicit}, cert: certSpec{key: keyP384()}, listed: true, args: with(),
				want: want{code: 0, status: []string{"ADDR listed in 1 table"}}},
			{name: mode + ": Ed25519", relay: relay{implicit: implicit}, cert: certSpec{key: keyEd25519()}, listed: true, args: with(),
				want: want{code: 0, status: []string{"ADDR listed in 1 table"}}},
			{name: mode + ": RSA 4096", relay: relay{implicit: implicit}, cert: certSpec{key: keyRSA4096()}, listed: true, args: with(),
				want: want{code: 0, status: []string{"ADDR listed in 1 table"}}},
			{name: mode + ": not listed", relay: relay{implicit: implicit}, args: with(),
				want: want{code: 2, status: []string{"ADDR presents sha256 public-key fingerprint FP, not listed in texthash:TABLE"}}},
			{name: mode + ": expired", relay: relay{implicit: implicit}, cert: certSpec{notBefore: now.Add(-90 * 24 * time.Hour), notAfter: now.Add(-36 * time.Hour)}, listed: true, args: with("-c", "7"),
				want: want{code: 2, status: []string{"ADDR: certificate expired 1 day ago"}}},
			{name: mode + ": not yet valid", relay: relay{implicit: implicit}, cert: certSpec{notBefore: now.Add(10 * 24 * time.Hour), notAfter: now.Add(100 * 24 * time.Hour)}, listed: true, args: with(),
				want: want{code: 1, status: []string{"ADDR: certificate not valid before"}}},
			{name: mode + ": chain of 50 certificates", relay: relay{implicit: implicit}, cert: certSpec{chain: 49}, listed: true, args: with("-vv"),
				want: want{code: 0, status: []string{"ADDR listed in 1 table"}, out: []string{"ADDR: chain[49] subject \"CN=fault CA 0\""}}},
			{name: mode + ": chain of 300 kB", relay: relay{implicit: implicit}, cert: certSpec{chain: 30, pad: 10 << 10}, listed: true, args: with(),
				want: unk("TLS handshake with ADDR: ")},
		}...)
	}

	// Implicit TLS stalls and closes.
	smtps := []string{"-P", "smtps"}
	cases = append(cases, []netCase{
		{name: "implicit TLS: silent server", relay: relay{implicit: true, at: atConnect, fault: hang}, args: smtps, deadline: stallDeadline,
			want: unk("timeout during TLS handshake with ADDR")},
		// The ClientHello may reach the closed socket, which answers RST.
		{name: "implicit TLS: close before handshake", relay: relay{implicit: true, at: atConnect, fault: closeConn}, args: smtps,
			want: unk("TLS handshake with ADDR: connection ")},
		{name: "implicit TLS: hang mid-handshake", relay: relay{implicit: true, at: atConnect, fault: readThen(hang)}, args: smtps, deadline: stallDeadline,
			want: unk("timeout during TLS handshake with ADDR")},
		{name: "implicit TLS: plain SMTP server", relay: relay{implicit: true, at: atConnect, fault: sendThen(defaultBanner, hang)}, args: smtps,
			want: unk("TLS handshake with ADDR: ")},
		{name: "implicit TLS: close at banner keeps the certificate", relay: relay{implicit: true, at: atBannerTLS, fault: closeConn}, listed: true, args: append(smtps, "-v"),
			want: want{code: 0, status: []string{"ADDR listed in 1 table"}, out: []string{"ADDR: after the handshake: banner from ADDR: connection closed by server"}}},
		{name: "implicit TLS: hang at banner keeps the certificate", relay: relay{implicit: true, at: atBannerTLS, fault: hang}, listed: true, args: smtps, deadline: keepDeadline,
			want: want{code: 0, status: []string{"ADDR listed in 1 table"}}},
		{name: "implicit TLS: 10 MB banner line after TLS keeps the certificate", relay: relay{implicit: true, banner: tenMBLine}, listed: true, args: smtps,
			want: want{code: 0, status: []string{"ADDR listed in 1 table"}}},
	}...)
	return cases
}

// loopbacks returns the loopback addresses a server can listen on here.
func loopbacks(t *testing.T) []string {
	hosts := []string{"127.0.0.1"}
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		hosts = append(hosts, "::1")
	} else {
		t.Logf("no IPv6 loopback (%v): the matrix runs on 127.0.0.1 only", err)
	}
	return hosts
}

// TestNetworkFaults runs the plugin against every misbehaving relay of
// netCases, on 127.0.0.1 and on ::1.
func TestNetworkFaults(t *testing.T) {
	t.Parallel()
	defCert := newCert(t, certSpec{})
	for _, host := range loopbacks(t) {
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			for _, tc := range netCases() {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					cert := defCert
					if tc.cert != (certSpec{}) {
						cert = newCert(t, tc.cert)
					}
					if tc.relay.cert != nil {
						cert = *tc.relay.cert
					}
					addr := tc.relay.serve(t, host, cert)
					addrs := []string{addr}
					for range tc.relays - 1 {
						addrs = append(addrs, tc.relay.serve(t, host, cert))
					}
					dir := t.TempDir()
					lines := []string{"# relay_clientcerts of the fault matrix", otherFP + " other.test"}
					if tc.listed {
						lines = append(lines, pubkeyFP(cert)+" relay.test")
					}
					table := writeTable(t, dir, lines...)
					args := []string{"--table", "texthash:" + table}
					for _, a := range addrs {
						args = append(args, "-H", a)
					}
					args = append(args, tc.args...)
					d := tc.deadline
					if d == 0 {
						d = okDeadline
					}
					o := plugin(t, invocation{args: args, deadline: d})
					r := strings.NewReplacer("ADDR", addr, "FP", pubkeyFP(cert), "TABLE", table)
					w := tc.want
					w.status = replaceAll(r, w.status)
					w.out = replaceAll(r, w.out)
					o.check(t, w)
				})
			}
		})
	}
}

func replaceAll(r *strings.Replacer, list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = r.Replace(s)
	}
	return out
}

// TestLocalhostName probes a relay by a name, "localhost", when the hosts
// file resolves it: the lookup then never leaves the machine. Every address
// of the name is probed; here only one listens.
func TestLocalhostName(t *testing.T) {
	t.Parallel()
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil || !hostsHasLocalhost(string(hosts)) {
		t.Skip("/etc/hosts does not name localhost: resolving it could send a DNS query off the machine")
	}
	cert := newCert(t, certSpec{name: "localhost"})
	addr := relay{}.serve(t, "127.0.0.1", cert)
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	table := writeTable(t, dir, pubkeyFP(cert)+" localhost")
	o := plugin(t, invocation{args: []string{"-H", "localhost:" + port, "--table", "texthash:" + table}, deadline: okDeadline})
	o.check(t, want{code: 0, status: []string{"localhost:" + port + " 127.0.0.1:" + port + " listed in 1 table"}})
}

func hostsHasLocalhost(hosts string) bool {
	for line := range strings.Lines(hosts) {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "127.0.0.1" {
			for _, n := range f[1:] {
				if n == "localhost" {
					return true
				}
			}
		}
	}
	return false
}
