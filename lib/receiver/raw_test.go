package receiver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/probe"
)

// scripted serves one connection on 127.0.0.1 with serve, and returns the
// address. serve reads the client's lines with r; the connection is closed
// when serve returns or the test ends.
func scripted(t *testing.T, serve func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		stop := context.AfterFunc(t.Context(), func() { c.Close() })
		defer stop()
		serve(c, bufio.NewReader(c))
	}()
	return l.Addr().String()
}

// expect reads one line and fails the test unless it starts with prefix.
func expect(t *testing.T, r *bufio.Reader, prefix string) bool {
	line, err := r.ReadString('\n')
	if err != nil {
		return false
	}
	if !strings.HasPrefix(line, prefix) {
		t.Errorf("client sent %q, want %q", line, prefix)
		return false
	}
	return true
}

func TestAskScripted(t *testing.T) {
	t.Parallel()
	cert := newCert(t, "relay.test")
	cases := []struct {
		name    string
		serve   func(t *testing.T, c net.Conn, r *bufio.Reader)
		timeout time.Duration
		stage   probe.Stage
		msg     string // substring of the error
	}{{
		name: "STARTTLS response injection",
		serve: func(t *testing.T, c net.Conn, r *bufio.Reader) {
			c.Write([]byte("220 mx\r\n"))
			expect(t, r, "EHLO localhost")
			c.Write([]byte("250-mx\r\n250 STARTTLS\r\n"))
			expect(t, r, "STARTTLS")
			c.Write([]byte("220 go ahead\r\n250 2.1.5 injected\r\n"))
			r.ReadByte() // until the client gives up
		},
		stage: probe.StageSTARTTLS, msg: "STARTTLS with 127.0.0.1:",
	}, {
		name: "stalls in the TLS handshake",
		serve: func(t *testing.T, c net.Conn, r *bufio.Reader) {
			c.Write([]byte("220 mx\r\n"))
			expect(t, r, "EHLO")
			c.Write([]byte("250-mx\r\n250 starttls\r\n")) // lower case counts
			expect(t, r, "STARTTLS")
			c.Write([]byte("220 go ahead\r\n"))
			r.ReadByte()
			<-t.Context().Done()
		},
		timeout: 300 * time.Millisecond,
		stage:   probe.StageTLS, msg: "timeout during TLS handshake with 127.0.0.1:",
	}, {
		name: "EHLO refused",
		serve: func(t *testing.T, c net.Conn, r *bufio.Reader) {
			c.Write([]byte("220 mx\r\n"))
			expect(t, r, "EHLO")
			c.Write([]byte("554 5.7.1 go away\r\n"))
			r.ReadByte()
		},
		stage: probe.StageEHLO, msg: "EHLO with 127.0.0.1:",
	}, {
		name: "banner 554",
		serve: func(t *testing.T, c net.Conn, r *bufio.Reader) {
			c.Write([]byte("554 5.3.2 not now\r\n"))
			r.ReadByte()
		},
		stage: probe.StageBanner, msg: "server replied 554 5.3.2 not now",
	}, {
		name:  "closes before the banner",
		serve: func(*testing.T, net.Conn, *bufio.Reader) {},
		stage: probe.StageBanner, msg: "banner from 127.0.0.1:",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := scripted(t, func(c net.Conn, r *bufio.Reader) { tc.serve(t, c, r) })
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 30 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			res, err := Ask(ctx, addr, cert, Options{})
			var pe *probe.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *probe.Error", err, err)
			}
			if pe.Stage != tc.stage || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q (stage %q), want stage %q and %q", err, pe.Stage, tc.stage, tc.msg)
			}
			if res.Mail != nil || res.Rcpt != nil {
				t.Errorf("MAIL or RCPT sent after a failure: %+v", res)
			}
		})
	}
}

// TestAskCanceled checks that canceling the context ends a stalled
// dialogue with the canceled error, not a timeout.
func TestAskCanceled(t *testing.T) {
	t.Parallel()
	addr := scripted(t, func(c net.Conn, r *bufio.Reader) {
		c.Write([]byte("220 mx\r\n"))
		<-t.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := Ask(ctx, addr, tls.Certificate{}, Options{})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "canceled during EHLO with 127.0.0.1:") {
		t.Errorf("err = %v, want canceled during EHLO", err)
	}
}
