package bench

// The delaying proxy stands in for network distance, since netem is not
// available here. Each accepted connection gets its own upstream
// connection to the target. Every chunk read in either direction is held
// for the one-way delay, counted from the moment it was read, then written
// on, in order; an end of stream is passed on (as a half-close) after the
// same delay. There is no bandwidth limit and chunks are never merged or
// split, so a round trip through the proxy costs two delays plus what the
// two endpoints spend.
//
// The TCP handshake to a distant server costs three delays before its
// banner can even be sent (the SYN, the SYN-ACK back, the client's ACK,
// after which the server's accept returns); the kernel completes the
// client's connect to the proxy at once, so the proxy waits three delays
// before it dials upstream. The client therefore sees the banner four
// delays after it began to connect, as it would across the network.
//
// Reads from the target set TCP_QUICKACK, so the proxy ACKs promptly like
// the plugin does and adds no delayed-ACK stall of its own; the direct
// (unproxied) rows of the bench show how a real Postfix and each client
// behave there.

import (
	"bytes"
	"errors"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/loopback"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// delayProxy forwards connections on its listeners to one target with an
// added one-way delay.
type delayProxy struct {
	addrs  []string // 127.0.0.1:PORT of each listener
	target string
	delay  time.Duration
	lateness
	connSet
}

// startDelayProxy listens on n ports of 127.0.0.1 (p.addrs); everything
// stops in tb.Cleanup.
func startDelayProxy(tb testing.TB, target string, delay time.Duration, n int) *delayProxy {
	tb.Helper()
	p := &delayProxy{target: target, delay: delay}
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			p.close()
			tb.Fatalf("delay proxy: %v", err)
		}
		p.ls = append(p.ls, l)
		p.addrs = append(p.addrs, l.Addr().String())
		p.wg.Add(1)
		go p.accept(l)
	}
	tb.Cleanup(p.close)
	return p
}

func (p *delayProxy) accept(l net.Listener) {
	defer p.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *delayProxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	time.Sleep(3 * p.delay) // the SYN, SYN-ACK and ACK to and from the distant server
	up, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		return
	}
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(up, client, false) }()
	go func() { defer wg.Done(); p.pipe(client, up, true) }()
	wg.Wait()
}

type chunk struct {
	b   []byte // nil: end of stream
	due time.Time
}

// pipe copies src to dst, each chunk delayed by p.delay, then half-closes
// dst. On a write error it closes both, which ends the other direction too.
func (p *delayProxy) pipe(dst, src net.Conn, quickACK bool) {
	ch := make(chan chunk, 256)
	go func() {
		defer close(ch)
		var rc syscall.RawConn
		if sc, ok := src.(syscall.Conn); ok && quickACK {
			rc, _ = sc.SyscallConn()
		}
		setQuickACK := func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		}
		// One read buffer per direction; each chunk is copied out at its
		// own size (SMTP lines, TLS flights: mostly well under 2 KiB).
		buf := make([]byte, 32<<10)
		for {
			if rc != nil {
				_ = rc.Control(setQuickACK)
			}
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{b: append([]byte(nil), buf[:n]...), due: time.Now().Add(p.delay)}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					ch <- chunk{due: time.Now().Add(p.delay)}
				}
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.due))
		p.note(c.due)
		if c.b == nil {
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			continue
		}
		if _, err := dst.Write(c.b); err != nil {
			dst.Close()
			src.Close()
			for range ch {
			}
			return
		}
	}
}

// startEcho runs an echo server on 127.0.0.1 that half-closes after the
// client's end of stream.
func startEcho(t *testing.T) string {
	t.Helper()
	return loopback.Serve(t, loopback.Listen(t, "127.0.0.1"), func(c net.Conn) {
		_, _ = io.Copy(c, c)
		_ = c.(*net.TCPConn).CloseWrite()
	})
}

// TestDelayProxy checks that the proxy forwards every byte both ways, in
// order, passes on the end of stream, and adds at least the delays it
// promises (a lower bound only: a loaded machine can only add time).
func TestDelayProxy(t *testing.T) {
	t.Parallel()
	const delay = 15 * time.Millisecond
	echo := startEcho(t)
	addrs := startDelayProxy(t, echo, delay, 3).addrs
	if len(addrs) != 3 || addrs[0] == addrs[1] || addrs[1] == addrs[2] {
		t.Fatalf("startDelayProxy(n=3) = %v, want 3 distinct addresses", addrs)
	}
	tests := []struct {
		name   string
		chunks []string
	}{
		{"one chunk", []string{"EHLO localhost\r\n"}},
		{"several chunks in order", []string{"a", "bb", "ccc", "dddd"}},
		{"large chunk", []string{string(bytes.Repeat([]byte("x"), 200<<10))}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			c, err := net.Dial("tcp", addrs[i])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			var want bytes.Buffer
			for _, s := range tc.chunks {
				want.WriteString(s)
				if _, err := io.WriteString(c, s); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("reading the echo of %d chunks: %v", len(tc.chunks), err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("echo of %d chunks (%d bytes): got %d bytes %.40q, want %.40q", len(tc.chunks), want.Len(), len(got), got, want.Bytes())
			}
			// Connect round trip, then there and back again.
			if min, el := 4*delay, time.Since(start); el < min {
				t.Errorf("echo through the proxy took %v, want at least %v (connect round trip + round trip)", el, min)
			}
		})
	}
}
