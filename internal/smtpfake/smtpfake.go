// Package smtpfake runs real SMTP servers (emersion/go-smtp) on loopback
// for the tests of this module: a relay that offers STARTTLS or implicit
// TLS and accepts no mail, and a receiver that relays only for the client
// certificates it lists, answering RCPT as Postfix's
// permit_tls_clientcerts, defer_unauth_destination does.
//
// It is for tests only (it takes a testing.TB and stops its server when
// the test ends) and listens on 127.0.0.1 only. It is not a mail server:
// no message is ever stored, and DATA fails the test unless allowed.
package smtpfake

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Server says how a fake server behaves. The zero value is a server
// without STARTTLS that refuses MAIL.
type Server struct {
	// Domain is the name in the banner and EHLO reply ("relay.test" when
	// empty).
	Domain string
	// TLS is offered with STARTTLS, or from the first byte when Implicit
	// is set (SMTPS). Nil: no TLS.
	TLS      *tls.Config
	Implicit bool
	// Mail and Rcpt answer MAIL FROM and RCPT TO; a nil error is a 250.
	// Nil Mail refuses all mail unless Rcpt is set (then it accepts
	// MAIL); nil Rcpt refuses every recipient.
	Mail func(c *smtp.Conn, from string) error
	Rcpt func(c *smtp.Conn, to string) error
	// AllowData lets a client send DATA (the message is discarded);
	// without it DATA fails the test: the checks of this module never
	// send mail.
	AllowData bool
}

// Running is a fake server that runs until the test ends.
type Running struct {
	// Addr is "127.0.0.1:port".
	Addr string

	mu    sync.Mutex
	debug bytes.Buffer // the dialogue, both directions, after TLS decoded
}

// errNoMail is the reply of a server that takes no mail.
var errNoMail = errors.New("no mail here")

// Start serves s on a free port of 127.0.0.1 until the test ends.
func Start(t testing.TB, s Server) *Running {
	t.Helper()
	return StartOn(t, Listen(t), s)
}

// Listen returns a listener on a free port of 127.0.0.1.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// StartOn serves s on l until the test ends, and waits for the server to
// stop when it does.
func StartOn(t testing.TB, l net.Listener, s Server) *Running {
	t.Helper()
	r := &Running{Addr: l.Addr().String()}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{t: t, s: &s, conn: c}, nil
	}))
	srv.Domain = s.Domain
	if srv.Domain == "" {
		srv.Domain = "relay.test"
	}
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.Debug = lockedWriter{&r.mu, &r.debug}
	if s.Implicit && s.TLS != nil {
		l = tls.NewListener(l, s.TLS)
	} else {
		srv.TLSConfig = s.TLS
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return r
}

// Commands returns the verbs clients sent, in order, upper-cased.
func (r *Running) Commands() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var verbs []string
	for _, line := range strings.Split(r.debug.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] >= '0' && line[0] <= '9' {
			continue // a server reply
		}
		verb, _, _ := strings.Cut(line, " ")
		verb, _, _ = strings.Cut(verb, ":")
		verbs = append(verbs, strings.ToUpper(verb))
	}
	return verbs
}

// RelayFor answers RCPT as a receiver whose relay_clientcerts lists the
// given certificates (by the sha256 of their DER leaf): 250 when the client
// presented one of them over TLS, else
// "454 4.7.1 <to>: Relay access denied".
func RelayFor(trusted ...tls.Certificate) func(c *smtp.Conn, to string) error {
	listed := map[[32]byte]bool{}
	for _, c := range trusted {
		listed[sha256.Sum256(c.Certificate[0])] = true
	}
	return func(c *smtp.Conn, to string) error {
		st, ok := c.TLSConnectionState()
		if ok && len(st.PeerCertificates) > 0 && listed[sha256.Sum256(st.PeerCertificates[0].Raw)] {
			return nil
		}
		return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "<" + to + ">: Relay access denied"}
	}
}

type session struct {
	t    testing.TB
	s    *Server
	conn *smtp.Conn
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	switch {
	case s.s.Mail != nil:
		return s.s.Mail(s.conn, from)
	case s.s.Rcpt != nil:
		return nil
	}
	return errNoMail
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.s.Rcpt != nil {
		return s.s.Rcpt(s.conn, to)
	}
	return errNoMail
}

func (s *session) Data(r io.Reader) error {
	if !s.s.AllowData {
		s.t.Errorf("smtpfake: the client sent DATA")
		return errors.New("no DATA expected")
	}
	_, err := io.Copy(io.Discard, r)
	return err
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}
