package probe

import (
	"net"
	"syscall"
)

// quickACKConn sets TCP_QUICKACK before every read. Linux leaves quick-ACK
// mode on its own once a connection looks interactive (request, reply,
// request...), and then delays the ACK of a server's small segment by up to
// 40 ms; a server that writes one reply in several pieces with Nagle's
// algorithm on holds back the second piece until that ACK comes. Against
// such a server (BenchmarkProbeNagle) a probe takes about 1 ms with this
// option and about 88 ms without; it costs one setsockopt per read.
type quickACKConn struct {
	net.Conn
	rc syscall.RawConn
}

func withQuickACK(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickACKConn{Conn: c, rc: rc}
}

func (c *quickACKConn) Read(b []byte) (int, error) {
	// Best effort: a failure only costs the delayed ACK.
	_ = c.rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
	return c.Conn.Read(b)
}
