// Package loopback runs raw TCP servers on loopback for the tests of this
// module: peers that speak no protocol or a scripted one (a silent port, an
// echo, a hand-written SMTP dialogue), each connection given to a function.
//
// It is for tests only: a server lives until its test ends, then its
// listener and every open connection are closed and it waits for the
// handlers to return. Real SMTP servers are in internal/smtpfake.
package loopback

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Life bounds how long a server keeps a connection, so that no goroutine
// outlives a test run by much even when a client misbehaves.
const Life = 2 * time.Minute

// Listen returns a listener on a free port of host ("127.0.0.1" or "::1"),
// closed when the test ends.
func Listen(t testing.TB, host string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", host, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Serve accepts connections on l until the test ends and serves each with
// handle, closing it when handle returns. Each connection has a deadline
// Life from its start. It returns l's address, "ip:port".
func Serve(t testing.TB, l net.Listener, handle func(net.Conn)) string {
	t.Helper()
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]bool{}
		closed bool
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			mu.Unlock()
			c.SetDeadline(time.Now().Add(Life))
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}
