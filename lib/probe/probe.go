// Package probe connects to one SMTP server address, obtains the certificate
// chain the server presents over STARTTLS (RFC 3207) or implicit TLS
// (RFC 8314), and returns what it saw: banner, EHLO extensions, the chain,
// the TLS version and cipher suite, and timings.
//
// It does not verify the chain, fingerprint certificates, judge results or
// retry: the caller decides. It never sends MAIL, RCPT or DATA; the dialogue
// is
//
//	smtp:  connect, banner 220, EHLO 250 (must offer STARTTLS), STARTTLS 220,
//	       TLS handshake, EHLO 250, QUIT 221
//	smtps: connect, TLS handshake, banner 220, EHLO 250, QUIT 221
//
// A single context bounds everything: its deadline is set once on the
// connection, the connection is closed when the context ends, and every reply
// is read with bounded line length and line count.
//
// A server may hold one certificate per key type, and which one a client
// gets is negotiated. ProbeAll runs the dialogue three times at once under
// the one context: the default handshake, then TLS 1.2 handshakes offering
// only RSA or only ECDSA cipher suites (Options.KeyType). crypto/tls cannot
// ask for a key type in TLS 1.3 (no Config field or GODEBUG sets the
// client's signature_algorithms), nor for Ed25519 apart from ECDSA: the
// status of each key type says found, none, not asked or failed. The rules
// are written at the top of all.go.
//
// Go's TLS client supports RSA, ECDSA and Ed25519 server keys only. When the
// handshake fails against a server that may hold another (RSA-PSS, DSA,
// Ed448, as OpenSSL allows), Probe reads that server's certificate over one
// more connection with a TLS 1.2 ClientHello of its own and names the key
// type in an UnsupportedKeyError (see sniff.go).
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/smtpreply"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Options tunes Probe. The zero value probes with SMTP and STARTTLS.
type Options struct {
	Protocol Protocol
	// EHLO is the name sent with EHLO; "localhost" when empty.
	EHLO string
	// ServerName is sent as TLS SNI. Leave it empty for an IP literal.
	ServerName string
	// MaxLineLen bounds one reply line in bytes, line ending excluded;
	// 4096 when zero or less (RFC 5321 allows 512 with the ending).
	MaxLineLen int
	// MaxLines bounds the lines of one reply; 100 when zero or less.
	MaxLines int
	// Dialer makes the TCP connection; a zero net.Dialer when nil.
	Dialer *net.Dialer
	// KeyType, when KeyRSA or KeyECDSA, restricts the handshake to TLS 1.0
	// to 1.2 and the cipher suites only a certificate of that key type can
	// serve (ECDSA suites may also be served by an Ed25519 certificate);
	// see all.go. Empty means every version and suite. Other key types
	// cannot be asked for with crypto/tls and are invalid.
	KeyType KeyType

	// noQuickACK turns off TCP_QUICKACK, for benchmarks.
	noQuickACK bool
}

// Stage names the step of the dialogue in which a probe failed.
type Stage string

// The stages, in dialogue order; StageResolve is used by Resolve only.
const (
	StageResolve      Stage = "DNS lookup"
	StageConnect      Stage = "connect"
	StageBanner       Stage = "banner"
	StageEHLO         Stage = "EHLO"
	StageSTARTTLS     Stage = "STARTTLS"
	StageTLS          Stage = "TLS handshake"
	StageEHLOAfterTLS Stage = "EHLO after TLS"
	StageQUIT         Stage = "QUIT"
)

// Timings are the durations of a probe's steps.
type Timings struct {
	Connect time.Duration // TCP connect
	Banner  time.Duration // from connected (over TLS for SMTPS) to the whole banner read
	TLS     time.Duration // TLS handshake
	Total   time.Duration // all of Probe, QUIT included
}

// Result is what one probe saw.
type Result struct {
	Addr   string   // address probed, as given to Probe
	Asked  KeyType  // Options.KeyType: the key type asked for, "" for any
	Banner []string // text of the banner lines, without code
	// EHLO holds the extension lines of the EHLO reply sent in plain text
	// (SMTP only), the keyword upper-cased and the parameters as sent
	// ("STARTTLS", "SIZE 10240000"); the greeting line is left out.
	EHLO []string
	// EHLOAfterTLS holds the same for the EHLO sent over TLS (both protocols).
	EHLOAfterTLS []string
	// Certs is the chain the server presented, leaf first, unverified. It
	// is kept when the handshake fails after the server's Certificate
	// message, before the server proved that it holds the leaf's key
	// (CertificateVerify in TLS 1.3, ServerKeyExchange in TLS 1.2):
	// anyone can send a certificate they copied. The chain is proven only
	// when TLSVersion is set, that is when the handshake completed (see
	// Proven). After an UnsupportedKeyError it is the chain read by the
	// diagnostic ClientHello of sniff.go, unproven as well.
	Certs       []*x509.Certificate
	TLSVersion  uint16 // tls.VersionTLS12 etc.; 0 unless the handshake completed
	CipherSuite uint16 // tls.TLS_AES_128_GCM_SHA256 etc.
	Timings     Timings
	// QuitErr is set when QUIT failed; the probe itself still succeeded.
	QuitErr error
}

// Proven reports whether the handshake completed, so that the server proved
// it holds the key of Certs[0] (CertificateVerify in TLS 1.3, the signed
// ServerKeyExchange or the RSA key exchange in TLS 1.2). Only a completed
// handshake proves the server holds the key: a chain seen in a handshake
// that failed may be anyone's replay of the relay's old certificate, and must
// never be written to a table. A server that fails after the handshake
// (EHLO over TLS refused, say) still proved it.
func (r *Result) Proven() bool {
	return r != nil && len(r.Certs) > 0 && r.TLSVersion != 0
}

// Error is a failed probe or lookup: the stage, the address and the cause.
// Err is context.DeadlineExceeded when the deadline passed (network timeouts
// and the connection closed at the deadline are mapped to it),
// context.Canceled when the context was canceled, a *ReplyError when the
// server refused a step, ErrNoSTARTTLS or ErrNoCertificate, an
// *UnsupportedKeyError at StageTLS, or another error.
type Error struct {
	Stage Stage
	Addr  string
	Err   error
	// Hint, when set, says what the user probably meant, in the plugin's
	// terms ("this looks like implicit TLS: try -P smtps").
	Hint string
}

// Error returns "timeout during STAGE with ADDR" on deadline ("canceled
// during ..." on cancellation), else "STAGE with ADDR: CAUSE"; the
// preposition is "to" for connect, "from" for banner, "of" for DNS lookup.
// An IP literal of the family Resolve was not asked for is its cause alone
// (no lookup took place). A Hint is appended as "; hint: HINT".
func (e *Error) Error() string {
	if e.Hint != "" {
		return e.message() + "; hint: " + e.Hint
	}
	return e.message()
}

func (e *Error) message() string {
	prep := "with"
	switch e.Stage {
	case StageConnect:
		prep = "to"
	case StageBanner:
		prep = "from"
	case StageResolve:
		prep = "of"
	}
	where := fmt.Sprintf("%s %s %s", e.Stage, prep, e.Addr)
	var dnsErr *net.DNSError
	var famErr *familyError
	switch {
	case errors.As(e.Err, &famErr):
		return famErr.Error() // no lookup took place: say so, not "DNS lookup of"
	case e.Err == nil:
		return where + ": unknown error"
	case errors.Is(e.Err, context.DeadlineExceeded):
		return "timeout during " + where
	case errors.Is(e.Err, context.Canceled):
		return "canceled during " + where
	case errors.As(e.Err, &dnsErr):
		return where + ": " + dnsErr.Err
	}
	return where + ": " + e.Err.Error()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

var (
	// ErrNoSTARTTLS means the EHLO reply did not list STARTTLS.
	ErrNoSTARTTLS = errors.New("server does not offer STARTTLS")
	// ErrNoCertificate means the TLS server presented no certificate.
	ErrNoCertificate = errors.New("server presented no certificate")
	errServerReset   = errors.New("connection reset by server")
)

// Probe runs the dialogue described in the package documentation against
// addr ("ip:port", or "[ipv6]:port") and returns what it saw. ctx bounds the
// whole probe; without a deadline in ctx, only cancellation ends a stalled
// server. Errors are *Error, except for invalid Options. The Result is never
// nil: on error it holds what was seen before the failure, including the
// chain when the handshake got that far.
func Probe(ctx context.Context, addr string, opts Options) (*Result, error) {
	start := time.Now()
	s := &session{ctx: ctx, addr: addr, opts: opts, res: &Result{Addr: addr, Asked: opts.KeyType}}
	err := s.run()
	if e, ok := err.(*Error); ok && opts.KeyType == "" && len(s.res.Certs) == 0 && suspectKey(e) {
		s.explainKey(e)
	}
	s.res.Timings.Total = time.Since(start)
	if err != nil {
		return s.res, err
	}
	return s.res, nil
}

type session struct {
	ctx  context.Context
	addr string
	opts Options
	res  *Result
	w    io.Writer
	r    *smtpreply.Reader
	// sniff makes handshake read the chain with the ClientHello of
	// sniff.go instead of running crypto/tls.
	sniff bool
}

// CheckEHLO tells whether name can be sent with EHLO: one word, no
// space or control character.
func CheckEHLO(name string) error {
	if name == "" {
		return fmt.Errorf("invalid EHLO name %q: empty", name)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("invalid EHLO name %q: space or control character", name)
	}
	return nil
}

func (s *session) run() error {
	o := &s.opts
	if o.EHLO == "" {
		o.EHLO = "localhost"
	}
	if err := CheckEHLO(o.EHLO); err != nil {
		return err
	}
	if o.Protocol != SMTP && o.Protocol != SMTPS {
		return fmt.Errorf("invalid protocol %v", o.Protocol)
	}
	if o.KeyType != "" && restrictedSuites(o.KeyType) == nil {
		return fmt.Errorf("cannot ask for a %s certificate: Go's TLS client can ask only for RSA or ECDSA", o.KeyType)
	}
	if o.MaxLineLen <= 0 {
		o.MaxLineLen = 4096
	}
	if o.MaxLines <= 0 {
		o.MaxLines = 100
	}
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{}
	}

	t := time.Now()
	raw, err := d.DialContext(s.ctx, "tcp", s.addr)
	if err != nil {
		return s.fail(StageConnect, err)
	}
	s.res.Timings.Connect = time.Since(t)
	defer raw.Close()
	defer context.AfterFunc(s.ctx, func() { raw.Close() })()
	if deadline, ok := s.ctx.Deadline(); ok {
		if err := raw.SetDeadline(deadline); err != nil {
			return s.fail(StageConnect, err)
		}
	}
	conn := raw
	if !o.noQuickACK {
		conn = withQuickACK(raw)
	}

	if o.Protocol == SMTPS {
		if conn, err = s.handshake(conn); err != nil {
			return err
		}
	}
	s.w, s.r = conn, smtpreply.NewReader(conn, o.MaxLineLen, o.MaxLines)
	if err := s.banner(); err != nil {
		return err
	}
	if o.Protocol == SMTP {
		if s.res.EHLO, err = s.ehlo(StageEHLO); err != nil {
			return err
		}
		if !slices.ContainsFunc(s.res.EHLO, isSTARTTLS) {
			return s.fail(StageEHLO, ErrNoSTARTTLS)
		}
		if _, err := s.cmd(StageSTARTTLS, 220, "STARTTLS"); err != nil {
			return err
		}
		if n := s.r.Buffered(); n > 0 {
			// Bytes sent before the handshake would later be read as if
			// they came over TLS: STARTTLS response injection.
			return s.fail(StageSTARTTLS, protocolErrorf("server sent %d bytes after its 220 reply, before TLS", n))
		}
		if conn, err = s.handshake(conn); err != nil {
			return err
		}
		s.w, s.r = conn, smtpreply.NewReader(conn, o.MaxLineLen, o.MaxLines)
	}
	if s.res.EHLOAfterTLS, err = s.ehlo(StageEHLOAfterTLS); err != nil {
		return err
	}
	_, s.res.QuitErr = s.cmd(StageQUIT, 221, "QUIT")
	return nil
}

// fail wraps err for stage, mapping what the context caused to its error.
func (s *session) fail(stage Stage, err error) *Error {
	return Fail(s.ctx, stage, s.addr, err)
}

// Fail wraps err, met at stage of a dialogue with addr under ctx, as an
// *Error: what the context caused becomes its error (deadline or
// cancellation), an end of file "connection closed by server", a reset
// "connection reset by server", and a dial, read or write error its
// system error alone. A refusal, a protocol error, ErrNoSTARTTLS and
// ErrNoCertificate are the server's doing and stay, whatever the context
// says. Other SMTP dialogues of this module (lib/receiver) fail alike.
func Fail(ctx context.Context, stage Stage, addr string, err error) *Error {
	var re *ReplyError
	var pe *protocolError
	switch {
	case errors.As(err, &re), errors.As(err, &pe),
		errors.Is(err, ErrNoSTARTTLS), errors.Is(err, ErrNoCertificate):
		// The server's doing, whatever the context says.
	case ctx.Err() != nil:
		err = ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = context.DeadlineExceeded
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		err = errServerClosed
	case errors.Is(err, syscall.ECONNRESET):
		err = errServerReset
	default:
		// "dial tcp 192.0.2.1:25: connect: connection refused" says the
		// address twice; keep "connection refused". TLS alerts ("remote
		// error") keep their operation.
		var op *net.OpError
		var sys *os.SyscallError
		if errors.As(err, &op) && (op.Op == "dial" || op.Op == "read" || op.Op == "write") {
			err = op.Err
			if errors.As(err, &sys) {
				err = sys.Err
			}
		}
	}
	return &Error{Stage: stage, Addr: addr, Err: err}
}

// cmd sends line and reads the reply, which must have code want.
func (s *session) cmd(stage Stage, want int, line string) ([]string, error) {
	if _, err := io.WriteString(s.w, line+"\r\n"); err != nil {
		return nil, s.fail(stage, err)
	}
	code, lines, err := s.r.Read()
	if err != nil {
		return lines, s.fail(stage, err)
	}
	if code != want {
		return lines, s.fail(stage, &ReplyError{Code: code, Lines: lines})
	}
	return lines, nil
}

// hintSMTPS is the hint for a port that seems to speak implicit TLS.
const hintSMTPS = "this looks like implicit TLS: try -P smtps"

func (s *session) banner() error {
	t := time.Now()
	if s.opts.Protocol == SMTP {
		// A TLS record (0x16 handshake, 0x15 alert) instead of "220":
		// the port speaks implicit TLS. Say so now, not at the deadline.
		b, err := s.r.Peek(1)
		switch {
		case err == nil && (b[0] == 0x16 || b[0] == 0x15):
			err := s.fail(StageBanner, protocolErrorf("server sent a TLS record (first byte %#02x) instead of a banner", b[0]))
			err.Hint = hintSMTPS
			return err
		case err != nil && !errors.Is(err, io.EOF):
			// Peek hands its error over once: a reset read again would
			// be a plain end of file.
			return s.bannerErr(err)
		}
	}
	code, lines, err := s.r.Read()
	s.res.Banner = lines
	s.res.Timings.Banner = time.Since(t)
	if err != nil {
		return s.bannerErr(err)
	}
	if code != 220 {
		return s.fail(StageBanner, &ReplyError{Code: code, Lines: lines})
	}
	return nil
}

// bannerErr wraps a failure to read the banner.
func (s *session) bannerErr(cause error) error {
	err := s.fail(StageBanner, cause)
	// A Postfix smtps service waits for the ClientHello and sends
	// nothing: on port 465 the silence is the same hint.
	if _, port, _ := net.SplitHostPort(s.addr); port == "465" && s.opts.Protocol == SMTP && errors.Is(err, context.DeadlineExceeded) {
		err.Hint = hintSMTPS
	}
	return err
}

// ehlo returns the extension lines, keyword upper-cased.
func (s *session) ehlo(stage Stage) ([]string, error) {
	lines, err := s.cmd(stage, 250, "EHLO "+s.opts.EHLO)
	if err != nil {
		return nil, err
	}
	ext := make([]string, 0, len(lines)-1)
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, " ")
		k = strings.ToUpper(k)
		if ok {
			k += " " + v
		}
		ext = append(ext, k)
	}
	return ext, nil
}

func isSTARTTLS(ext string) bool {
	k, _, _ := strings.Cut(ext, " ")
	return k == "STARTTLS"
}

// handshake runs the TLS client handshake on conn and records the chain.
// Verification is off: the chain is captured, not judged. Every TLS 1.0 to
// 1.3 version and cipher suite Go implements is offered, since only EHLO and
// QUIT travel over the session and an old relay must still show its chain.
func (s *session) handshake(conn net.Conn) (net.Conn, error) {
	if s.sniff {
		certs, err := sniffChain(conn, s.opts.ServerName)
		s.res.Certs = certs
		if err == nil {
			err = errSniffed
		}
		return nil, s.fail(StageTLS, err)
	}
	cfg := &tls.Config{
		ServerName:         s.opts.ServerName,
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS10,
		CipherSuites:       cipherSuites(),
		// X25519 first, no X25519MLKEM768: its key generation is a tenth
		// of the probe's CPU, and only EHLO and QUIT cross this session.
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrNoCertificate
			}
			s.res.Certs = slices.Clone(cs.PeerCertificates)
			return nil
		},
	}
	if s.opts.KeyType != "" {
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = restrictedSuites(s.opts.KeyType)
	}
	tc := tls.Client(conn, cfg)
	t := time.Now()
	err := tc.HandshakeContext(s.ctx)
	s.res.Timings.TLS = time.Since(t)
	if err != nil {
		ferr := s.fail(StageTLS, err)
		var rh tls.RecordHeaderError
		if s.opts.Protocol == SMTPS && errors.As(err, &rh) && string(rh.RecordHeader[:3]) == "220" {
			ferr.Hint = "this looks like plain SMTP with STARTTLS: try -P smtp"
		}
		return nil, ferr
	}
	st := tc.ConnectionState()
	s.res.TLSVersion, s.res.CipherSuite = st.Version, st.CipherSuite
	return tc, nil
}

// cipherSuites lists every TLS 1.0 to 1.2 suite Go implements, secure first;
// Go picks by its own preference whatever the order.
func cipherSuites() []uint16 {
	var ids []uint16
	for _, cs := range slices.Concat(tls.CipherSuites(), tls.InsecureCipherSuites()) {
		if slices.ContainsFunc(cs.SupportedVersions, func(v uint16) bool { return v <= tls.VersionTLS12 }) {
			ids = append(ids, cs.ID)
		}
	}
	return ids
}
