// Package receiver asks a receiving SMTP server whether it lets a given TLS
// client certificate relay: it presents the certificate over STARTTLS and
// proposes a recipient the receiver relays to only for trusted clients, the
// same question Postfix's permit_tls_clientcerts answers for a real relay.
// It needs no copy of the receiver's relay_clientcerts table, so it also
// works for a receiver run by someone else.
//
// The dialogue, each step bounded by one context:
//
//	connect, banner 220, EHLO 250 (must offer STARTTLS), STARTTLS 220,
//	TLS handshake presenting the certificate, EHLO 250,
//	MAIL FROM:<sender> (2xx, else the verdict is Other),
//	RCPT TO:<recipient> (the verdict), RSET 250, QUIT 221
//
// It never sends DATA (nor BDAT): no message is ever queued. A Postfix
// receiver logs a refusal as "NOQUEUE: reject: RCPT from ...", and an
// acceptance as "QUEUEID: client=..." (smtpd opens a queue file at the first
// accepted RCPT; RSET removes it, and nothing reaches cleanup or qmgr).
//
// Verdicts on the RCPT reply:
//   - Accepted: 2xx. The receiver lets this certificate relay.
//   - Refused: a refusal of relaying. A 4xx or 5xx reply whose text says
//     "Relay access denied" (Postfix's reject_unauth_destination, 554 5.7.1,
//     and defer_unauth_destination, 454 4.7.1), "Relaying denied",
//     "Relay not permitted" or "Unable to relay"; or whose enhanced code is
//     4.7.1 or 5.7.1 (or, without an enhanced code, whose code is 454 or
//     554) and whose text says "Access denied" (Postfix's generic reject and
//     defer in smtpd_relay_restrictions: "Recipient address rejected: Access
//     denied").
//   - Other: anything else (MAIL refused, 550 5.1.1 unknown user, 451 4.3.0
//     temporary lookup failure, a 5.7.1 DNSBL block...). The reply says
//     nothing about the certificate; see HintOther.
//
// The default recipient, DefaultRcpt, is check-relay-fingerprint@example.com:
//   - the answer to RCPT is a relaying test only for a domain the receiver is
//     not the final destination for (not in mydestination, virtual or
//     relay_domains): there reject_unauth_destination and
//     defer_unauth_destination refuse unless a permit_* (here
//     permit_tls_clientcerts) came first. A recipient in a local domain is
//     accepted whatever certificate is presented, which would be a false OK;
//     example.com is reserved (RFC 2606) and is no real receiver's local
//     domain;
//   - example.com publishes a null MX (RFC 7505), so a receiver that verifies
//     recipients (reject_unverified_recipient) contacts no third party, and
//     nothing could be delivered even by mistake;
//   - the local part names this tool, so the receiver's admin understands the
//     NOQUEUE line it leaves, and it is no role account (postmaster, abuse)
//     that some receivers let through before their relay check.
//
// A receiver with reject_unknown_recipient_domain in its relay restrictions,
// or one that only relays to listed domains, answers Other: then give --rcpt
// an address the relay really sends to through this receiver, in a domain that
// is not local to the receiver.
//
// A receiver that relays for the client whatever it presents (its address is
// in mynetworks, or it is an open relay) accepts any certificate, and would
// accept a removed one too: AskAll's control question, presenting no
// certificate, detects it (HintAnyone). Run from the relay itself, the answer
// is the one the relay's mail gets, unless smtp_bind_address differs.
//
// Non-goals: no SMTPS (implicit TLS), no AUTH, no verification of the
// receiver's certificate (the relay is judged, not the receiver; its chain is
// kept for display), no retries.
package receiver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/smtpreply"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/probe"
)

// DefaultRcpt is the recipient proposed when Options.Rcpt is empty; the
// package documentation says why.
const DefaultRcpt = "check-relay-fingerprint@example.com"

// The stages after the TLS EHLO; the earlier ones are lib/probe's.
const (
	StageMAIL probe.Stage = "MAIL FROM"
	StageRCPT probe.Stage = "RCPT TO"
	StageRSET probe.Stage = "RSET"
)

// Hints a caller shows beside a verdict.
const (
	// HintNotAsked goes with any verdict when Result.CertRequested is
	// false: the receiver never saw the certificate, so a table listing it
	// cannot help.
	HintNotAsked = "the receiver did not ask for a client certificate (smtpd_tls_ask_ccert = no?)"
	// HintAnyone goes with Accepted when AskAll's control, presenting no
	// certificate, was Accepted too.
	HintAnyone = "the receiver relays for this client without any certificate (its address in mynetworks? an open relay?): the verdict says nothing about the certificate"
	// HintOther goes with Other.
	HintOther = "the reply is neither an acceptance nor a refusal of relaying: give --rcpt an address the relay sends to through this receiver, in a domain that is not local to the receiver"
)

// Options tunes Ask. The zero value sends EHLO localhost, MAIL FROM:<> and
// RCPT TO:<DefaultRcpt>.
type Options struct {
	// EHLO is the name sent with EHLO; "localhost" when empty.
	EHLO string
	// MailFrom is the sender; "" or "<>" is the null sender.
	MailFrom string
	// Rcpt is the recipient; DefaultRcpt when empty.
	Rcpt string
	// ServerName is sent as TLS SNI. Leave it empty for an IP literal.
	ServerName string
	// Dialer makes the TCP connection; a zero net.Dialer when nil.
	Dialer *net.Dialer
}

// Validate reports an EHLO name or address that cannot be sent, as a caller
// checks its flags before anything is dialled.
func (o Options) Validate() error {
	if o.EHLO != "" {
		if err := probe.CheckEHLO(o.EHLO); err != nil {
			return err
		}
	}
	if _, err := path(o.MailFrom, true); err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	if _, err := path(o.Rcpt, false); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	return nil
}

// path returns addr as an SMTP path "<addr>": brackets are optional, ""
// and "<>" are the null path when null is allowed, and the default recipient
// otherwise.
func path(addr string, null bool) (string, error) {
	a := strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	if len(a) != len(addr) && len(a) != len(addr)-2 {
		return "", fmt.Errorf("unbalanced angle brackets in %q", addr)
	}
	switch {
	case a == "" && null:
		return "<>", nil
	case a == "" && addr == "":
		a = DefaultRcpt
	case a == "":
		return "", errors.New("empty address")
	}
	if strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '<' || r == '>' }) {
		return "", fmt.Errorf("invalid address %q: space, control character or angle bracket", a)
	}
	if len(a) > 256 {
		return "", fmt.Errorf("invalid address %q: longer than 256 bytes", a)
	}
	return "<" + a + ">", nil
}

// Verdict is what the RCPT reply says about the certificate.
type Verdict int

// The verdicts; the package documentation defines them.
const (
	Other Verdict = iota
	Accepted
	Refused
)

// String returns "accepted", "refused" or "other".
func (v Verdict) String() string {
	switch v {
	case Accepted:
		return "accepted"
	case Refused:
		return "refused"
	}
	return "other"
}

// Reply is one server reply.
type Reply struct {
	Code int // 200 to 599
	// Enhanced is the RFC 3463 status code of the first line ("4.7.1"),
	// "" when there is none.
	Enhanced string
	// Lines holds the text of each line, without the code and separator
	// (the enhanced code, when present, is kept).
	Lines []string
}

// String returns "CODE TEXT", the lines joined by "; ", control characters
// and invalid UTF-8 replaced, cut at 400 bytes: as probe.ReplyError does.
func (r *Reply) String() string {
	return strings.TrimPrefix((&probe.ReplyError{Code: r.Code, Lines: r.Lines}).Error(), "server replied ")
}

// Timings are the durations of Ask's steps.
type Timings struct {
	Connect time.Duration // TCP connect
	TLS     time.Duration // TLS handshake
	Total   time.Duration // all of Ask, QUIT included
}

// Result is what one Ask saw.
type Result struct {
	Addr   string   // address asked, as given to Ask
	Banner []string // text of the banner lines
	// ServerCerts is the chain the receiver presented, leaf first,
	// unverified; for display only.
	ServerCerts []*x509.Certificate
	TLSVersion  uint16 // 0 unless the handshake completed
	CipherSuite uint16
	// CertRequested says the receiver asked for a client certificate (a
	// CertificateRequest in the handshake). When false the certificate was
	// not sent, and the verdict says nothing about it: see HintNotAsked.
	CertRequested bool
	// CertSent says a certificate was sent (it was requested and Ask had
	// one to present).
	CertSent bool
	// Mail and Rcpt are the replies to MAIL FROM and RCPT TO; nil when the
	// command was not reached (Rcpt is nil when MAIL was refused).
	Mail, Rcpt *Reply
	// Verdict is meaningful once Mail is set: Other when MAIL was refused.
	Verdict Verdict
	Timings Timings
	// QuitErr is set when RSET or QUIT failed; the verdict stands.
	QuitErr error
}

// Hints returns the hints that go with r: HintNotAsked when the receiver
// did not ask for the certificate, HintOther for the Other verdict.
func (r *Result) Hints() []string {
	var h []string
	if r.TLSVersion != 0 && !r.CertRequested {
		h = append(h, HintNotAsked)
	}
	if r.Mail != nil && r.Verdict == Other {
		h = append(h, HintOther)
	}
	return h
}

// Ask runs the dialogue of the package documentation against addr ("ip:port"
// or "[ipv6]:port"), presenting cert when the receiver asks for a client
// certificate (a cert without Certificate bytes presents none). ctx bounds
// everything: its deadline is set once on the connection, which is closed
// when ctx ends. Errors are *probe.Error naming the stage (Err is
// context.DeadlineExceeded on timeout, a *probe.ReplyError when the receiver
// refused EHLO, STARTTLS or the TLS EHLO, probe.ErrNoSTARTTLS), or plain for
// invalid Options. A refused MAIL or RCPT is not an error: it is the verdict.
// The Result is never nil.
func Ask(ctx context.Context, addr string, cert tls.Certificate, opts Options) (*Result, error) {
	start := time.Now()
	s := &session{ctx: ctx, addr: addr, opts: opts, cert: cert, res: &Result{Addr: addr}}
	err := s.run()
	s.res.Timings.Total = time.Since(start)
	return s.res, err
}

// Bounds on replies: a line in bytes (EOL excluded), the lines of one reply.
const (
	maxLineLen = 4096
	maxLines   = 100
)

type session struct {
	ctx  context.Context
	addr string
	opts Options
	cert tls.Certificate
	res  *Result
	w    io.Writer
	r    *smtpreply.Reader
}

func (s *session) run() error {
	if err := s.opts.Validate(); err != nil {
		return err
	}
	from, _ := path(s.opts.MailFrom, true)
	rcpt, _ := path(s.opts.Rcpt, false)
	if s.opts.EHLO == "" {
		s.opts.EHLO = "localhost"
	}
	d := s.opts.Dialer
	if d == nil {
		d = &net.Dialer{}
	}

	t := time.Now()
	raw, err := d.DialContext(s.ctx, "tcp", s.addr)
	if err != nil {
		return s.fail(probe.StageConnect, err)
	}
	s.res.Timings.Connect = time.Since(t)
	defer raw.Close()
	defer context.AfterFunc(s.ctx, func() { raw.Close() })()
	if deadline, ok := s.ctx.Deadline(); ok {
		if err := raw.SetDeadline(deadline); err != nil {
			return s.fail(probe.StageConnect, err)
		}
	}

	s.w, s.r = raw, smtpreply.NewReader(raw, maxLineLen, maxLines)
	reply, err := s.cmd(probe.StageBanner, 220, "")
	if reply != nil {
		s.res.Banner = reply.Lines
	}
	if err != nil {
		return err
	}
	ehlo, err := s.cmd(probe.StageEHLO, 250, "EHLO "+s.opts.EHLO)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(ehlo.Lines[1:], isSTARTTLS) {
		return s.fail(probe.StageEHLO, probe.ErrNoSTARTTLS)
	}
	if _, err := s.cmd(probe.StageSTARTTLS, 220, "STARTTLS"); err != nil {
		return err
	}
	if n := s.r.Buffered(); n > 0 {
		// Bytes sent before the handshake would be read as if they came
		// over TLS: STARTTLS response injection.
		return s.fail(probe.StageSTARTTLS, fmt.Errorf("server sent %d bytes after its 220 reply, before TLS", n))
	}
	conn, err := s.handshake(raw)
	if err != nil {
		return err
	}
	s.w, s.r = conn, smtpreply.NewReader(conn, maxLineLen, maxLines)
	if _, err := s.cmd(probe.StageEHLOAfterTLS, 250, "EHLO "+s.opts.EHLO); err != nil {
		return err
	}

	if s.res.Mail, err = s.cmd(StageMAIL, 0, "MAIL FROM:"+from); err != nil {
		return err
	}
	if s.res.Mail.Code/100 == 2 {
		if s.res.Rcpt, err = s.cmd(StageRCPT, 0, "RCPT TO:"+rcpt); err != nil {
			return err
		}
		s.res.Verdict = classify(s.res.Rcpt)
	}
	// The verdict is known: a failure from here on is only reported.
	if _, err := s.cmd(StageRSET, 250, "RSET"); err != nil {
		s.res.QuitErr = err
		return nil
	}
	_, s.res.QuitErr = s.cmd(probe.StageQUIT, 221, "QUIT")
	return nil
}

// cmd sends line (nothing when empty, for the banner) and reads the reply,
// which must have code want (any code when want is 0).
func (s *session) cmd(stage probe.Stage, want int, line string) (*Reply, error) {
	if line != "" {
		if _, err := io.WriteString(s.w, line+"\r\n"); err != nil {
			return nil, s.fail(stage, err)
		}
	}
	r, err := readReply(s.r)
	if err != nil {
		return r, s.fail(stage, err)
	}
	if want != 0 && r.Code != want {
		return r, s.fail(stage, &probe.ReplyError{Code: r.Code, Lines: r.Lines})
	}
	return r, nil
}

func isSTARTTLS(ext string) bool {
	k, _, _ := strings.Cut(ext, " ")
	return strings.EqualFold(k, "STARTTLS")
}

// handshake runs the TLS client handshake on conn, presenting the
// certificate if the receiver asks for one, and records the receiver's
// chain without verifying it.
func (s *session) handshake(conn net.Conn) (net.Conn, error) {
	tc := tls.Client(conn, &tls.Config{
		ServerName:         s.opts.ServerName,
		InsecureSkipVerify: true, // the relay is judged, not the receiver
		MinVersion:         tls.VersionTLS10,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			s.res.CertRequested = true
			s.res.CertSent = len(s.cert.Certificate) > 0
			return &s.cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			s.res.ServerCerts = slices.Clone(cs.PeerCertificates)
			return nil
		},
	})
	t := time.Now()
	err := tc.HandshakeContext(s.ctx)
	s.res.Timings.TLS = time.Since(t)
	if err != nil {
		return nil, s.fail(probe.StageTLS, err)
	}
	st := tc.ConnectionState()
	s.res.TLSVersion, s.res.CipherSuite = st.Version, st.CipherSuite
	return tc, nil
}

// fail wraps err for stage as lib/probe's dialogue fails.
func (s *session) fail(stage probe.Stage, err error) error {
	return probe.Fail(s.ctx, stage, s.addr, err)
}
