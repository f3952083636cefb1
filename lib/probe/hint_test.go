package probe

import (
	"context"
	"errors"
	"fmt"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/loopback"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// listen465 listens on port 465 of a random 127.0.0.0/8 address, so that
// parallel tests and a system smtps service do not collide.
func listen465(t *testing.T) net.Listener {
	t.Helper()
	var err error
	for range 20 {
		addr := fmt.Sprintf("127.%d.%d.%d:465", rand.IntN(254)+1, rand.IntN(256), rand.IntN(254)+1)
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			t.Cleanup(func() { l.Close() })
			return l
		}
	}
	t.Fatalf("no free 127.x.y.z:465: %v (needs root or CAP_NET_BIND_SERVICE)", err)
	return nil
}

// serveSilentTLS accepts connections on l and waits for a ClientHello that
// never comes, as a Postfix smtps service does.
func serveSilentTLS(t *testing.T, l net.Listener) string {
	t.Helper()
	return loopback.Serve(t, l, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
}

// TestProbeProtocolHints: -P smtp against an implicit-TLS port, and -P smtps
// against a STARTTLS port, say which protocol the port seems to speak
// (issue 15 item 8).
func TestProbeProtocolHints(t *testing.T) {
	t.Parallel()
	pki := newPKI(t, nil)
	alert := startFake(t, func(f *fake) {
		f.send("\x15\x03\x03\x00\x02\x02\x28") // a fatal handshake_failure alert
		f.drain()
	})
	serverHello := startFake(t, func(f *fake) {
		f.send("\x16\x03\x03\x00\x04\x02\x00\x00\x00")
		f.drain()
	})
	tests := []struct {
		name     string
		addr     string
		proto    Protocol
		timeout  time.Duration
		want     string
		deadline bool // the error is context.DeadlineExceeded
	}{
		{"smtp on silent port 465", serveSilentTLS(t, listen465(t)), SMTP, shortTimeout,
			"timeout during banner from %s; hint: this looks like implicit TLS: try -P smtps", true},
		{"smtp on a silent other port", serveSilentTLS(t, listen(t)), SMTP, shortTimeout,
			"timeout during banner from %s", true},
		{"smtp, a TLS alert instead of a banner", alert, SMTP, okTimeout,
			"banner from %s: server sent a TLS record (first byte 0x15) instead of a banner; hint: this looks like implicit TLS: try -P smtps", false},
		{"smtp, a TLS handshake record instead of a banner", serverHello, SMTP, okTimeout,
			"banner from %s: server sent a TLS record (first byte 0x16) instead of a banner; hint: this looks like implicit TLS: try -P smtps", false},
		{"smtp against real implicit TLS", startSMTP(t, SMTPS, pki), SMTP, shortTimeout,
			"timeout during banner from %s", true},
		{"smtps against STARTTLS", startSMTP(t, SMTP, pki), SMTPS, okTimeout,
			"TLS handshake with %s: tls: first record does not look like a TLS handshake; hint: this looks like plain SMTP with STARTTLS: try -P smtp", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			_, err := Probe(ctx, tc.addr, Options{Protocol: tc.proto})
			if err == nil {
				t.Fatalf("Probe(%s, %v) succeeded, want an error", tc.addr, tc.proto)
			}
			if want := fmt.Sprintf(tc.want, tc.addr); err.Error() != want {
				t.Errorf("Probe(%s, %v) error:\n got %q\nwant %q", tc.addr, tc.proto, err, want)
			}
			if got := errors.Is(err, context.DeadlineExceeded); got != tc.deadline {
				t.Errorf("errors.Is(%q, DeadlineExceeded) = %v, want %v", err, got, tc.deadline)
			}
		})
	}
}
