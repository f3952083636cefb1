package bench

// The bench relays stand in for many distant Postfix relays, each with its
// own certificate, since the bench has one machine and no netem. Each
// relay is a small SMTP server in this process on its own 127.0.0.1 port,
// with its own ECDSA P-256 key and certificate, issued by one bench
// intermediate CA (ECDSA P-384) and sent as leaf + intermediate, as a
// relay with a Let's Encrypt certificate does today. It speaks what a
// Postfix 3.7 smtpd with default settings speaks to the plugin:
//
//	220 banner
//	EHLO      250, STARTTLS among the extensions
//	STARTTLS  220, then a TLS handshake (TLS 1.2 or 1.3, Go's server)
//	EHLO      250, without STARTTLS
//	QUIT      221, then close_notify and close
//
// HELO, NOOP and RSET get 250, anything else 502. It does not ask the
// client for a certificate (smtpd_tls_ask_ccert = no, Postfix's default),
// so Go sends its one session ticket in its first flight (OpenSSL sends
// its tickets after the client's Finished, with the reply to the EHLO
// that follows it: the client waits for the same round trips either way);
// nothing is written that the client is not waiting for.
//
// Distance: every chunk each way is delayed by the one-way delay D, as by
// the delaying proxy. The relay sends the banner four delays after it
// accepted, as the proxy does: across the network the SYN takes D, the
// SYN-ACK D back (the client's connect returns), the client's ACK D (only
// then does the server's accept return and Postfix send its banner), and
// the banner D back. It writes each reply 2D after the client's chunk it answers
// arrived: D for the chunk's way in, D for the reply's way out. Both
// delays are taken at once, before the write, so the relay needs no
// goroutine and no queue per chunk: one goroutine per connection, which
// sleeps until the reply is due. Arrival is the kernel's receive timestamp
// of the chunk (SO_TIMESTAMPNS), not the moment the goroutine got to read
// it, so a relay that was slow to be scheduled on these shared cores still
// answers at arrival + 2D, as a relay with cores of its own would. Reads
// that came without a timestamp are counted (unstamped) and fall back on
// the time of the read.

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testcert"
)

const (
	// relayDeadline bounds one connection to a bench relay.
	relayDeadline = 2 * time.Minute
	// lateBy is how long after due a write counts as late: the relay or
	// proxy did not get a core in time, and the client saw more than the
	// delays.
	lateBy = time.Millisecond
)

// lateness counts the delayed writes of a rig and how late they were.
type lateness struct {
	writes  atomic.Int64
	late    atomic.Int64 // written more than lateBy after due
	maxLate atomic.Int64 // the latest since the last reset, nanoseconds after due
}

// note counts a write about to be made, which was due at due.
func (l *lateness) note(due time.Time) {
	l.writes.Add(1)
	late := time.Since(due)
	if late <= lateBy {
		return
	}
	l.late.Add(1)
	for m := l.maxLate.Load(); int64(late) > m && !l.maxLate.CompareAndSwap(m, int64(late)); m = l.maxLate.Load() {
	}
}

// relaySet is a set of bench relays.
type relaySet struct {
	addrs []string            // 127.0.0.1:PORT of each relay
	names []string            // host name of each relay (banner, certificate)
	certs []*x509.Certificate // leaf certificate of each relay
	delay time.Duration

	handshakes []atomic.Int64 // TLS handshakes completed, by relay
	unstamped  atomic.Int64   // reads that came without a kernel timestamp
	lateness                  // of the replies (banner, TLS flights included)

	connSet
}

// relay is one bench relay: its replies and its TLS configuration.
type relay struct {
	set                      *relaySet
	i                        int // its index in set
	banner, ehlo, ehloTLS    []byte
	helo                     []byte
	tls                      *tls.Config
	notRecognized, tlsActive []byte
}

// startRelays starts n bench relays with the one-way delay d; everything
// stops in tb.Cleanup.
func startRelays(tb testing.TB, n int, d time.Duration) *relaySet {
	tb.Helper()
	s := &relaySet{delay: d, handshakes: make([]atomic.Int64, n)}
	tb.Cleanup(s.close)
	ca, caKey := newCA(tb)
	for i := range n {
		name := fmt.Sprintf("relay%03d.example.net", i+1)
		leaf, key := newLeaf(tb, name, ca, caKey)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("bench relay: %v", err)
		}
		s.ls = append(s.ls, l)
		s.addrs = append(s.addrs, l.Addr().String())
		s.names = append(s.names, name)
		s.certs = append(s.certs, leaf)
		r := &relay{
			set:    s,
			i:      i,
			banner: []byte("220 " + name + " ESMTP Postfix (Debian/GNU)\r\n"),
			ehlo: []byte("250-" + name + "\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n" +
				"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"),
			ehloTLS: []byte("250-" + name + "\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n" +
				"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"),
			helo:          []byte("250 " + name + "\r\n"),
			notRecognized: []byte("502 5.5.2 Error: command not recognized\r\n"),
			tlsActive:     []byte("554 5.5.1 Error: TLS already active\r\n"),
			tls: &tls.Config{
				MinVersion: tls.VersionTLS12,
				Certificates: []tls.Certificate{{
					Certificate: [][]byte{leaf.Raw, ca.Raw},
					PrivateKey:  key,
					Leaf:        leaf,
				}},
			},
		}
		s.wg.Add(1)
		go r.accept(l)
	}
	return s
}

func (r *relay) accept(l net.Listener) {
	defer r.set.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		if !r.set.track(c) {
			return
		}
		r.set.wg.Add(1)
		go r.serve(c.(*net.TCPConn))
	}
}

// serve runs the dialogue of the file comment on one connection.
func (r *relay) serve(tc *net.TCPConn) {
	defer r.set.wg.Done()
	defer r.set.untrack(tc)
	accepted := time.Now()
	c, err := newStampedConn(tc, r.set)
	if err != nil {
		return
	}
	_ = tc.SetDeadline(accepted.Add(relayDeadline))
	// The SYN, SYN-ACK and ACK, then the banner's way back: due 4 delays
	// after the accept, as through the proxy.
	c.arrived = accepted.Add(2 * r.set.delay)
	if _, err := c.Write(r.banner); err != nil {
		return
	}
	var rw interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
	} = c
	br := bufio.NewReaderSize(c, 1024)
	var tconn *tls.Conn
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			// End of stream, the deadline, or a line longer than the
			// buffer (which the plugin never sends): hang up.
			return
		}
		verb, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(" "))
		var reply []byte
		switch string(bytes.ToUpper(verb)) {
		case "EHLO":
			reply = r.ehlo
			if tconn != nil {
				reply = r.ehloTLS
			}
		case "HELO":
			reply = r.helo
		case "NOOP", "RSET":
			reply = []byte("250 2.0.0 Ok\r\n")
		case "QUIT":
			_, _ = rw.Write([]byte("221 2.0.0 Bye\r\n"))
			if tconn != nil {
				_ = tconn.Close() // close_notify, then close
			}
			return
		case "STARTTLS":
			if tconn != nil {
				reply = r.tlsActive
				break
			}
			if _, err := rw.Write([]byte("220 2.0.0 Ready to start TLS\r\n")); err != nil {
				return
			}
			if br.Buffered() > 0 {
				return // plain text sent after STARTTLS: Postfix hangs up too
			}
			tconn = tls.Server(c, r.tls)
			if err := tconn.Handshake(); err != nil {
				return
			}
			r.set.handshakes[r.i].Add(1)
			rw = tconn
			br.Reset(tconn)
			continue
		default:
			reply = r.notRecognized
		}
		if _, err := rw.Write(reply); err != nil {
			return
		}
	}
}

// stampedConn is a connection to a relay's client that records when each
// chunk from the client arrived and holds each write until 2D after the
// latest arrival. It is used by one goroutine at a time.
type stampedConn struct {
	*net.TCPConn
	set     *relaySet
	raw     syscall.RawConn
	arrived time.Time // arrival of the latest chunk from the client

	// The read in progress, kept here so that the closure given to
	// raw.Read is made once per connection, not once per read.
	buf     []byte
	oob     [64]byte
	n, oobn int
	err     error
	readFn  func(fd uintptr) bool
}

func newStampedConn(tc *net.TCPConn, s *relaySet) (*stampedConn, error) {
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &stampedConn{TCPConn: tc, set: s, raw: raw}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, fmt.Errorf("SO_TIMESTAMPNS: %w", serr)
	}
	c.readFn = func(fd uintptr) bool {
		for {
			c.n, c.oobn, _, _, c.err = syscall.Recvmsg(int(fd), c.buf, c.oob[:], 0)
			if c.err != syscall.EINTR {
				return c.err != syscall.EAGAIN // false: wait until readable
			}
		}
	}
	return c, nil
}

// Read reads what has arrived and notes its kernel receive timestamp.
func (c *stampedConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.buf, c.n, c.oobn, c.err = p, 0, 0, nil
	if err := c.raw.Read(c.readFn); err != nil {
		return 0, err // deadline or closed
	}
	c.buf = nil
	if c.err != nil {
		return 0, c.err
	}
	if c.n == 0 {
		return 0, io.EOF
	}
	if t, ok := receiveTime(c.oob[:c.oobn]); ok {
		c.arrived = t
	} else {
		c.set.unstamped.Add(1)
		c.arrived = time.Now()
	}
	return c.n, nil
}

// Write sends p once 2D have passed since the latest chunk from the
// client arrived (4D after the accept for the banner), and counts the
// reply as late when that was more than lateBy ago.
func (c *stampedConn) Write(p []byte) (int, error) {
	due := c.arrived.Add(2 * c.set.delay)
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
	c.set.note(due)
	return c.TCPConn.Write(p)
}

// receiveTime returns the SCM_TIMESTAMPNS of a recvmsg's control data.
func receiveTime(oob []byte) (time.Time, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS &&
			len(m.Data) >= int(unsafe.Sizeof(syscall.Timespec{})) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&m.Data[0]))
			// A wall-clock time, without monotonic reading: compared with
			// time.Now's wall clock by time.Until.
			return time.Unix(int64(ts.Sec), int64(ts.Nsec)), true
		}
	}
	return time.Time{}, false
}

// newCA makes the bench intermediate CA: ECDSA P-384, as Let's Encrypt's
// E-series intermediates. Self-signed here; the plugin does not verify.
func newCA(tb testing.TB) (*x509.Certificate, *ecdsa.PrivateKey) {
	tb.Helper()
	key := newKey(tb, elliptic.P384())
	now := time.Now()
	ca := testcert.New(tb, testcert.Spec{CN: "Bench E1", Org: []string{"check_relay_fingerprint bench"}, Key: key,
		Serial: big.NewInt(1), NotBefore: now.Add(-24 * time.Hour), NotAfter: now.AddDate(3, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		EKU:      []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		CA:       true, PathLenZero: true})
	return ca.Leaf, key
}

// newLeaf makes a relay's key (ECDSA P-256) and certificate for name,
// issued by ca, valid for 90 days, for server and client authentication
// (a relay presents the same certificate to receivers).
func newLeaf(tb testing.TB, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	tb.Helper()
	key := newKey(tb, elliptic.P256())
	parent := tls.Certificate{Leaf: ca, PrivateKey: caKey}
	leaf := testcert.New(tb, testcert.Spec{CN: name, DNS: []string{name}, Key: key,
		NotAfter: time.Now().Add(90 * 24 * time.Hour), Parent: &parent})
	return leaf.Leaf, key
}

// newKey makes an ECDSA key on curve.
func newKey(tb testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}
