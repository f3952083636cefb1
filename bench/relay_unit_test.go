package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/probe"
)

// TestRelays probes every relay of a set with lib/probe, the plugin's own
// client: each must complete the dialogue over TLS 1.3, present its own
// certificate (leaf + intermediate, a public key no other relay has),
// offer STARTTLS only before TLS, and take at least the delays it
// promises (a lower bound only: a loaded machine can only add time).
func TestRelays(t *testing.T) {
	t.Parallel()
	const delay = 10 * time.Millisecond
	s := startRelays(t, 3, delay)
	seen := map[string]int{}
	for i, addr := range s.addrs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := probe.Probe(ctx, addr, probe.Options{})
		cancel()
		if err != nil {
			t.Fatalf("relay %d: probe.Probe(%s) = %v, want no error", i, addr, err)
		}
		t.Logf("relay %d: banner after %v, TLS handshake %v, dialogue %v", i, res.Timings.Banner, res.Timings.TLS, res.Timings.Total)
		if res.QuitErr != nil {
			t.Errorf("relay %d: QUIT: %v, want 221", i, res.QuitErr)
		}
		if res.TLSVersion != tls.VersionTLS13 {
			t.Errorf("relay %d: TLS version %#x, want TLS 1.3", i, res.TLSVersion)
		}
		if len(res.Certs) != 2 || !res.Certs[0].Equal(s.certs[i]) {
			t.Fatalf("relay %d: presented %d certificates, want 2 with relay %d's leaf first", i, len(res.Certs), i)
		}
		if err := res.Certs[0].CheckSignatureFrom(res.Certs[1]); err != nil {
			t.Errorf("relay %d: leaf not issued by the intermediate sent with it: %v", i, err)
		}
		fp := fingerprint.SHA256.PublicKey(res.Certs[0])
		if j, dup := seen[fp]; dup {
			t.Errorf("relays %d and %d present the same public key %s", j, i, fp)
		}
		seen[fp] = i
		if !slices.Contains(res.EHLO, "STARTTLS") || slices.Contains(res.EHLOAfterTLS, "STARTTLS") {
			t.Errorf("relay %d: EHLO %q, after TLS %q; want STARTTLS offered before TLS only", i, res.EHLO, res.EHLOAfterTLS)
		}
		// The banner 4 delays after connect (checked below from before
		// the dial: the probe starts its banner clock after its dial
		// returned, which may be after the relay accepted), then EHLO,
		// STARTTLS, TLS, EHLO, QUIT: a round trip each.
		if want := 14 * delay; res.Timings.Total < want {
			t.Errorf("relay %d: dialogue took %v, want at least %v", i, res.Timings.Total, want)
		}
	}
	start := time.Now()
	c, err := net.Dial("tcp", s.addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatalf("reading the banner of %s: %v", s.addrs[0], err)
	}
	if el, want := time.Since(start), 4*delay; el < want {
		t.Errorf("banner %v after the dial began, want at least %v (SYN, SYN-ACK, ACK, banner)", el, want)
	}
	for i := range s.handshakes {
		if got := s.handshakes[i].Load(); got != 1 {
			t.Errorf("relay %d: handshakes counted %d, want 1", i, got)
		}
	}
	if got := s.unstamped.Load(); got != 0 {
		t.Errorf("%d reads came without a kernel receive timestamp, want 0 (SO_TIMESTAMPNS)", got)
	}
}

// TestRelayDialogue checks the relay's answers to what the plugin does not
// send, without delay.
func TestRelayDialogue(t *testing.T) {
	t.Parallel()
	s := startRelays(t, 1, 0)
	tests := []struct {
		name string
		send string
		want []string // reply lines after the banner, in order; then end of stream
	}{
		{"quit", "QUIT\r\n", []string{"221 2.0.0 Bye"}},
		{"helo, noop, rset", "HELO client\r\nNOOP\r\nrset\r\nQUIT\r\n",
			[]string{"250 relay001.example.net", "250 2.0.0 Ok", "250 2.0.0 Ok", "221 2.0.0 Bye"}},
		{"unknown command", "MAIL FROM:<>\r\nQUIT\r\n", []string{"502 5.5.2 Error: command not recognized", "221 2.0.0 Bye"}},
		{"lower-case ehlo", "ehlo client\r\nQUIT\r\n", []string{"250-relay001.example.net", "250-PIPELINING", "250-SIZE 10240000",
			"250-VRFY", "250-ETRN", "250-STARTTLS", "250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250-DSN", "250-SMTPUTF8", "250 CHUNKING",
			"221 2.0.0 Bye"}},
		{"plain text after STARTTLS hangs up", "STARTTLS\r\nEHLO injected\r\n", []string{"220 2.0.0 Ready to start TLS"}},
		{"end of stream without QUIT", "NOOP\r\n", []string{"250 2.0.0 Ok"}},
		{"line too long hangs up", strings.Repeat("x", 2000) + "\r\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", s.addrs[0])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			_ = c.(*net.TCPConn).CloseWrite()
			var got []string
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				got = append(got, sc.Text())
			}
			if len(got) == 0 || got[0] != "220 relay001.example.net ESMTP Postfix (Debian/GNU)" {
				t.Fatalf("sent %q: banner %q, want the relay's 220", tc.send, got)
			}
			if got = got[1:]; !slices.Equal(got, tc.want) {
				t.Errorf("sent %q: got replies %q, want %q", tc.send, got, tc.want)
			}
		})
	}
}
