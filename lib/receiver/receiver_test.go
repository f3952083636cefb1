package receiver

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/smtpfake"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/probe"
)

// newCert makes a self-signed client certificate as a tls.Certificate.
func newCert(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	c := postfixtest.NewClientCert(t, "", cn, nil, time.Time{})
	return tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}

// fakeReceiver is a go-smtp server on 127.0.0.1 that plays a receiver
// relaying for listed client certificates (internal/smtpfake).
type fakeReceiver struct {
	*smtpfake.Running
	addr string
}

// fakeOpts: tls nil is no STARTTLS; mail and rcpt, when set, replace the
// default replies (accept MAIL; RCPT 250 for a trusted certificate, 454
// 4.7.1 Relay access denied otherwise).
type fakeOpts struct {
	tls     *tls.Config
	trusted []tls.Certificate
	mail    func() error
	rcpt    func(conn *smtp.Conn) error
}

func startFake(t *testing.T, o fakeOpts) *fakeReceiver {
	t.Helper()
	s := smtpfake.Server{Domain: "receiver.test", TLS: o.tls, Rcpt: smtpfake.RelayFor(o.trusted...)}
	if o.mail != nil {
		s.Mail = func(*smtp.Conn, string) error { return o.mail() }
	}
	if o.rcpt != nil {
		s.Rcpt = func(c *smtp.Conn, _ string) error { return o.rcpt(c) }
	}
	r := smtpfake.Start(t, s)
	return &fakeReceiver{Running: r, addr: r.Addr}
}

// commands returns the verbs the client sent, in order.
func (f *fakeReceiver) commands() []string { return f.Commands() }

func serverTLS(t *testing.T, auth tls.ClientAuthType, maxVersion uint16) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{newCert(t, "receiver.test")},
		ClientAuth:   auth,
		MaxVersion:   maxVersion,
	}
}

func TestAsk(t *testing.T) {
	t.Parallel()
	listed, unlisted := newCert(t, "listed.relay.test"), newCert(t, "unlisted.relay.test")
	type want struct {
		verdict     Verdict
		mail, rcpt  string // Reply.String(); "" for no reply
		enhanced    string // of RCPT
		requested   bool
		sent        bool
		hints       []string
		tlsVersion  uint16
		commandsEnd []string // the last commands the client sent
	}
	dialogue := []string{"MAIL", "RCPT", "RSET", "QUIT"}
	cases := []struct {
		name string
		fake fakeOpts
		cert tls.Certificate
		opts Options
		want want
	}{{
		name: "listed certificate TLS 1.3",
		fake: fakeOpts{tls: serverTLS(t, tls.RequestClientCert, 0), trusted: []tls.Certificate{listed}},
		cert: listed,
		want: want{verdict: Accepted, mail: "250 2.0.0 Roger, accepting mail from <>", rcpt: "250 2.0.0 I'll make sure <" + DefaultRcpt + "> gets this",
			enhanced: "2.0.0", requested: true, sent: true, tlsVersion: tls.VersionTLS13, commandsEnd: dialogue},
	}, {
		name: "listed certificate TLS 1.2",
		fake: fakeOpts{tls: serverTLS(t, tls.RequestClientCert, tls.VersionTLS12), trusted: []tls.Certificate{listed}},
		cert: listed,
		want: want{verdict: Accepted, mail: "250 2.0.0 Roger, accepting mail from <>", rcpt: "250 2.0.0 I'll make sure <" + DefaultRcpt + "> gets this",
			enhanced: "2.0.0", requested: true, sent: true, tlsVersion: tls.VersionTLS12, commandsEnd: dialogue},
	}, {
		name: "unlisted certificate",
		fake: fakeOpts{tls: serverTLS(t, tls.RequestClientCert, 0), trusted: []tls.Certificate{listed}},
		cert: unlisted,
		want: want{verdict: Refused, mail: "250 2.0.0 Roger, accepting mail from <>", rcpt: "454 4.7.1 <" + DefaultRcpt + ">: Relay access denied",
			enhanced: "4.7.1", requested: true, sent: true, tlsVersion: tls.VersionTLS13, commandsEnd: dialogue},
	}, {
		name: "no certificate to present",
		fake: fakeOpts{tls: serverTLS(t, tls.RequestClientCert, 0), trusted: []tls.Certificate{listed}},
		want: want{verdict: Refused, mail: "250 2.0.0 Roger, accepting mail from <>", rcpt: "454 4.7.1 <" + DefaultRcpt + ">: Relay access denied",
			enhanced: "4.7.1", requested: true, tlsVersion: tls.VersionTLS13, commandsEnd: dialogue},
	}, {
		name: "receiver never asks for a certificate",
		fake: fakeOpts{tls: serverTLS(t, tls.NoClientCert, 0), trusted: []tls.Certificate{listed}},
		cert: listed,
		want: want{verdict: Refused, mail: "250 2.0.0 Roger, accepting mail from <>", rcpt: "454 4.7.1 <" + DefaultRcpt + ">: Relay access denied",
			enhanced: "4.7.1", hints: []string{HintNotAsked}, tlsVersion: tls.VersionTLS13, commandsEnd: dialogue},
	}, {
		name: "unknown user",
		fake: fakeOpts{tls: serverTLS(t, tls.RequestClientCert, 0), rcpt: func(*smtp.Conn) error {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<nobody@local.test>: Recipient address rejected: User unknown in local recipient table"}
		}},
		cert: listed,
		opts: Options{Rcpt: "nobody@local.test", MailFrom: "relay@relay.test", EHLO: "relay.test"},
		want: want{verdict: Other, mail: "250 2.0.0 Roger, accepting mail from <relay@relay.test>",
			rcpt:     "550 5.1.1 <nobody@local.test>: Recipient address rejected: User unknown in local recipient table",
			enhanced: "5.1.1", requested: true, sent: true, hints: []string{HintOther}, tlsVersion: tls.VersionTLS13, commandsEnd: dialogue},
	}, {
		name: "MAIL refused",
		fake: fakeOpts{tls: serverTLS(t, tls.RequestClientCert, 0), mail: func() error {
			return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "<>: Sender address rejected: Access denied"}
		}},
		cert: listed,
		want: want{verdict: Other, mail: "553 5.7.1 <>: Sender address rejected: Access denied",
			requested: true, sent: true, hints: []string{HintOther}, tlsVersion: tls.VersionTLS13, commandsEnd: []string{"MAIL", "RSET", "QUIT"}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, tc.fake)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := Ask(ctx, f.addr, tc.cert, tc.opts)
			if err != nil {
				t.Fatalf("Ask: %v", err)
			}
			w := tc.want
			if res.Verdict != w.verdict {
				t.Errorf("Verdict = %v, want %v", res.Verdict, w.verdict)
			}
			if got := replyString(res.Mail); got != w.mail {
				t.Errorf("Mail = %q, want %q", got, w.mail)
			}
			if got := replyString(res.Rcpt); got != w.rcpt {
				t.Errorf("Rcpt = %q, want %q", got, w.rcpt)
			}
			if res.Rcpt != nil && res.Rcpt.Enhanced != w.enhanced {
				t.Errorf("Rcpt.Enhanced = %q, want %q", res.Rcpt.Enhanced, w.enhanced)
			}
			if res.CertRequested != w.requested || res.CertSent != w.sent {
				t.Errorf("CertRequested, CertSent = %v, %v, want %v, %v", res.CertRequested, res.CertSent, w.requested, w.sent)
			}
			if got := res.Hints(); !equal(got, w.hints) {
				t.Errorf("Hints() = %q, want %q", got, w.hints)
			}
			if res.TLSVersion != w.tlsVersion {
				t.Errorf("TLSVersion = %x, want %x", res.TLSVersion, w.tlsVersion)
			}
			if len(res.ServerCerts) != 1 || res.ServerCerts[0].Subject.CommonName != "receiver.test" {
				t.Errorf("ServerCerts = %v, want the receiver's certificate", res.ServerCerts)
			}
			if res.QuitErr != nil {
				t.Errorf("QuitErr = %v", res.QuitErr)
			}
			if len(res.Banner) == 0 {
				t.Errorf("no banner recorded")
			}
			cmds := f.commands()
			if want := append([]string{"EHLO", "STARTTLS", "EHLO"}, w.commandsEnd...); !equal(cmds, want) {
				t.Errorf("client sent %q, want %q", cmds, want)
			}
		})
	}
}

func replyString(r *Reply) string {
	if r == nil {
		return ""
	}
	return r.String()
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAskErrors(t *testing.T) {
	t.Parallel()
	cert := newCert(t, "relay.test")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stallRcpt := func(*smtp.Conn) error { <-release; return nil }

	// silent accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	// refused is a port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()

	cases := []struct {
		name    string
		addr    func(t *testing.T) string
		timeout time.Duration
		stage   probe.Stage
		is      error  // errors.Is target, nil to skip
		msg     string // substring of Error()
	}{{
		name:  "no STARTTLS",
		addr:  func(t *testing.T) string { return startFake(t, fakeOpts{}).addr },
		stage: probe.StageEHLO, is: probe.ErrNoSTARTTLS, msg: "EHLO with 127.0.0.1:",
	}, {
		name: "stalls at RCPT",
		addr: func(t *testing.T) string {
			return startFake(t, fakeOpts{tls: serverTLS(t, tls.RequestClientCert, 0), rcpt: stallRcpt}).addr
		},
		timeout: 300 * time.Millisecond,
		stage:   StageRCPT, is: context.DeadlineExceeded, msg: "timeout during RCPT TO with 127.0.0.1:",
	}, {
		name:    "stalls before the banner",
		addr:    func(*testing.T) string { return silent.Addr().String() },
		timeout: 300 * time.Millisecond,
		stage:   probe.StageBanner, is: context.DeadlineExceeded, msg: "timeout during banner from 127.0.0.1:",
	}, {
		name:  "connection refused",
		addr:  func(*testing.T) string { return refused },
		stage: probe.StageConnect, is: syscall.ECONNREFUSED, msg: "connect to " + refused + ": connection refused",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 30 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			res, err := Ask(ctx, tc.addr(t), cert, Options{})
			if res == nil {
				t.Fatal("nil Result")
			}
			var pe *probe.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *probe.Error", err, err)
			}
			if pe.Stage != tc.stage {
				t.Errorf("Stage = %q, want %q (err %v)", pe.Stage, tc.stage, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q, want it to contain %q", err, tc.msg)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		opts      Options
		from, rcp string // the paths sent
		err       string
	}{
		{opts: Options{}, from: "<>", rcp: "<" + DefaultRcpt + ">"},
		{opts: Options{MailFrom: "<>", Rcpt: "<a@b.test>"}, from: "<>", rcp: "<a@b.test>"},
		{opts: Options{MailFrom: "x@relay.test", Rcpt: "a@b.test"}, from: "<x@relay.test>", rcp: "<a@b.test>"},
		{opts: Options{Rcpt: "<>"}, err: "recipient: empty address"},
		{opts: Options{Rcpt: "a@b.test>"}, err: "recipient: unbalanced angle brackets"},
		{opts: Options{Rcpt: "a b@c.test"}, err: "recipient: invalid address"},
		{opts: Options{MailFrom: "a\r\nDATA"}, err: "sender: invalid address"},
		{opts: Options{EHLO: "two words"}, err: "invalid EHLO name"},
	}
	for _, tc := range cases {
		err := tc.opts.Validate()
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%+v: Validate() = %v", tc.opts, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%+v: Validate() = %v, want %q", tc.opts, err, tc.err)
		case tc.err == "":
			from, _ := path(tc.opts.MailFrom, true)
			rcpt, _ := path(tc.opts.Rcpt, false)
			if from != tc.from || rcpt != tc.rcp {
				t.Errorf("%+v: paths %q %q, want %q %q", tc.opts, from, rcpt, tc.from, tc.rcp)
			}
		}
	}
}
