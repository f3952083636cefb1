package postfixtest

// A Relay is a second Postfix instance that really relays: it accepts a
// message from 127.0.0.1 and its smtp client delivers it, over TLS
// (smtp_tls_security_level = encrypt), to a receiver Instance, presenting the
// client certificates it is configured with. Whether the receiver relays the
// message (permit_tls_clientcerts) is then read from the relay's own log:
// the ground truth for a check that judges a relay's client certificate.
//
// The relay's log line of each delivery attempt, as Postfix 3.7 writes it:
//
//	... SYSLOG/smtp[PID]: QUEUEID: to=<b@example.net>, relay=127.0.0.1[127.0.0.1]:PORT,
//	    delay=0.05, delays=0/0/0.03/0.01, dsn=4.7.1, status=deferred (host
//	    127.0.0.1[127.0.0.1] said: 454 4.7.1 <b@example.net>: Relay access
//	    denied (in reply to RCPT TO command))
//
// (one line). A sent message says status=sent (250 2.0.0 Ok: queued as ID).
// Before it, the same smtp process logs the TLS session, with the key type of
// the certificate it presented:
//
//	... SYSLOG/smtp[PID]: Untrusted TLS connection established to
//	    127.0.0.1[127.0.0.1]:PORT: TLSv1.3 with cipher ... server-signature
//	    ECDSA (P-256) server-digest SHA256 client-signature ECDSA (P-256)
//	    client-digest SHA256
//
// A deferred message stays in the relay's queue and is retried only after
// minimal_backoff_time (300 s), that is never during a test, unless Flush
// asks for it; DeleteQueue drops it.

import (
	"fmt"
	"net"
	"net/textproto"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RelayHostname is myhostname of every Relay. It differs from the
// receiver's ServerHostname: a Postfix smtp client that meets its own name in
// the peer's greeting refuses to deliver ("loops back to myself").
const RelayHostname = "relay.localdomain"

// The receiver's relay restrictions. DeferUnauth is what StartReceiver sets:
// an untrusted client's relaying is refused with "454 4.7.1 <rcpt>: Relay
// access denied". RejectUnauth refuses with 554 5.7.1 (with soft_bounce = no;
// soft_bounce = yes, the Instance default, turns it into 454 too).
const (
	DeferUnauth  = "permit_tls_clientcerts, defer_unauth_destination"
	RejectUnauth = "permit_tls_clientcerts, reject_unauth_destination"
)

// StartReceiver starts an Instance as a receiver that relays for trusted
// clients only: smtpd_relay_restrictions = DeferUnauth. Recipient's domain is
// not its own, so relaying a message to Recipient needs a client certificate
// listed in TablePath; an accepted message is discarded (status=sent in the
// receiver's log) and never leaves the machine. opts.Settings come after the
// receiver's own and win, for example "smtpd_relay_restrictions = " +
// RejectUnauth.
func StartReceiver(tb testing.TB, opts Options) *Instance {
	tb.Helper()
	opts.Settings = append([]string{"smtpd_relay_restrictions = " + DeferUnauth}, opts.Settings...)
	return Start(tb, opts)
}

// CertStyle says which Postfix parameters carry a role's certificates.
type CertStyle int

// The certificate styles, for role smtp (the client) or smtpd (the server).
const (
	// OneChainFile: ROLE_tls_chain_files names one file holding every key
	// and certificate (see ChainPEM).
	OneChainFile CertStyle = iota
	// ChainFilePerCert: ROLE_tls_chain_files lists one file per key and
	// certificate.
	ChainFilePerCert
	// CertKeyFiles: the legacy parameters; Certs[0] in ROLE_tls_cert_file and
	// ROLE_tls_key_file, Certs[1] (if any) in ROLE_tls_eccert_file and
	// ROLE_tls_eckey_file, each pointing at the ClientCert's own files.
	CertKeyFiles
)

func (s CertStyle) String() string {
	switch s {
	case OneChainFile:
		return "one chain file"
	case ChainFilePerCert:
		return "a chain file per certificate"
	case CertKeyFiles:
		return "cert and key files"
	}
	return "CertStyle(" + strconv.Itoa(int(s)) + ")"
}

// CertConfig is the set of certificates one TLS role presents, and how
// main.cf names them. No Certs means none: every parameter is set empty.
type CertConfig struct {
	Style CertStyle
	Certs []*ClientCert
	// Path, for OneChainFile, is the chain file to (over)write; empty: a new
	// file in the Relay's CertDir. Give the client and the server the same
	// Path to have both roles read one file, or give a later SetClient the
	// Path in use to renew in place, the way an admin does.
	Path string
}

// certParams are the certificate parameters of a role, in the order
// settings writes them.
var certParams = []string{"chain_files", "cert_file", "key_file", "dcert_file", "dkey_file", "eccert_file", "eckey_file"}

// settings writes cc's chain files into dir (names prefixed with role and
// tag, so configurations do not overwrite each other's files) and returns
// every certificate parameter of role ("smtp" or "smtpd") as "name=value",
// the unused ones empty.
func (cc CertConfig) settings(tb testing.TB, dir, role, tag string) []string {
	tb.Helper()
	values := map[string]string{}
	switch cc.Style {
	case OneChainFile:
		if len(cc.Certs) > 0 {
			path := cc.Path
			if path == "" {
				path = filepath.Join(dir, role+"-"+tag+"-chain.pem")
			}
			WriteChainFile(tb, path, cc.Certs...)
			values["chain_files"] = path
		}
	case ChainFilePerCert:
		var paths []string
		for i, c := range cc.Certs {
			path := filepath.Join(dir, fmt.Sprintf("%s-%s-chain-%d.pem", role, tag, i))
			WriteChainFile(tb, path, c)
			paths = append(paths, path)
		}
		values["chain_files"] = strings.Join(paths, ", ")
	case CertKeyFiles:
		if len(cc.Certs) > 2 {
			tb.Fatalf("postfixtest: %s: %d certificates as cert and key files, want at most 2 (cert_file, eccert_file)", role, len(cc.Certs))
		}
		for i, c := range cc.Certs {
			prefix := []string{"", "ec"}[i]
			values[prefix+"cert_file"] = c.CertFile
			values[prefix+"key_file"] = c.KeyFile
		}
	default:
		tb.Fatalf("postfixtest: %s: unknown %v", role, cc.Style)
	}
	out := make([]string, 0, len(certParams))
	for _, p := range certParams {
		out = append(out, role+"_tls_"+p+"="+values[p])
	}
	return out
}

// RelayOptions configures a Relay.
type RelayOptions struct {
	// Options configures the relay's Instance as for Start. Its Settings
	// come after the relay's own and win; ServerCert is used only when
	// Server has no certificates.
	Options
	// Receiver is the "127.0.0.1:port" every message goes to (relayhost =
	// [127.0.0.1]:port), usually a receiver's SMTPAddr.
	Receiver string
	// Client is what the relay's smtp client presents; zero: no certificate.
	Client CertConfig
	// Server is what the relay's smtpd presents; zero: as Start (ServerCert,
	// or a generated one, in smtpd_tls_cert_file).
	Server CertConfig
}

// Relay is a running relay instance. Its fields are read-only; change the
// certificates with SetClient and SetServer. Only Submit and Traffic may be
// used from other goroutines.
type Relay struct {
	*Instance
	// Receiver is the "127.0.0.1:port" of relayhost.
	Receiver string
	// CertDir holds the chain files written for Client and Server.
	CertDir string
	// Client and Server are the certificates configured now.
	Client, Server CertConfig

	mu      sync.Mutex
	configs int // configurations written, for unique chain file names
	sent    int // messages handed over, for unique Message-IDs
}

// StartRelay starts a Relay: an Instance with relayhost = [opts.Receiver],
// smtp_tls_security_level = encrypt, the client and server certificates of
// opts, and mynetworks = 127.0.0.0/8 so that Send may hand it mail. Like
// Start, it skips without root or Postfix (fails under CI).
func StartRelay(tb testing.TB, opts RelayOptions) *Relay {
	tb.Helper()
	Require(tb, "postfix", "postmap", "postconf", "postsuper", "postqueue")
	requireRoot(tb)
	host, port, err := net.SplitHostPort(opts.Receiver)
	if err != nil {
		tb.Fatalf("postfixtest: RelayOptions.Receiver %q: %v", opts.Receiver, err)
	}
	r := &Relay{Receiver: opts.Receiver, CertDir: tb.TempDir(), Client: opts.Client}
	settings := []string{
		"myhostname = " + RelayHostname,
		"mynetworks = 127.0.0.0/8",
		"smtpd_relay_restrictions = permit_mynetworks, reject",
		"relayhost = [" + host + "]:" + port,
		"default_transport = smtp",
		"relay_transport = smtp",
		"smtp_tls_security_level = encrypt",
		"smtp_tls_loglevel = 1",
		// One connection, so one TLS handshake, per message: each delivery
		// shows the certificate configured when it was made.
		"smtp_connection_cache_on_demand = no",
	}
	settings = append(settings, opts.Client.settings(tb, r.CertDir, "smtp", r.tag())...)
	if len(opts.Server.Certs) > 0 {
		r.Server = opts.Server
		opts.ServerCert = opts.Server.Certs[0]
		settings = append(settings, opts.Server.settings(tb, r.CertDir, "smtpd", r.tag())...)
	}
	opts.Settings = append(settings, opts.Settings...)
	r.Instance = Start(tb, opts.Options)
	if len(r.Server.Certs) == 0 {
		r.Server = CertConfig{Style: CertKeyFiles, Certs: []*ClientCert{r.Instance.Server}}
	}
	return r
}

// tag returns a new name part for this configuration's chain files.
func (r *Relay) tag() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.configs++
	return strconv.Itoa(r.configs)
}

// SetClient makes the relay's smtp client present cc from the next
// delivery on: it rewrites the smtp_tls_* certificate parameters and
// reloads.
func (r *Relay) SetClient(tb testing.TB, cc CertConfig) {
	tb.Helper()
	r.Postconf(tb, cc.settings(tb, r.CertDir, "smtp", r.tag())...)
	r.Reload(tb)
	r.Client = cc
}

// SetServer makes the relay's smtpd present cc (at least one certificate)
// from the next connection on.
func (r *Relay) SetServer(tb testing.TB, cc CertConfig) {
	tb.Helper()
	if len(cc.Certs) == 0 {
		tb.Fatal("postfixtest: SetServer: smtpd needs a certificate")
	}
	r.Postconf(tb, cc.settings(tb, r.CertDir, "smtpd", r.tag())...)
	r.Reload(tb)
	r.Server = cc
}

// Outcome is one delivery attempt of the relay's smtp client, from its log.
type Outcome struct {
	// QueueID is the message's queue id on the relay.
	QueueID string
	// To is the recipient.
	To string
	// Relay is where it went, "127.0.0.1[127.0.0.1]:PORT", or "none".
	Relay string
	// DSN is the enhanced status code, "2.0.0" or "4.7.1".
	DSN string
	// Status is sent, deferred, bounced or SOFTBOUNCE (soft_bounce = yes).
	Status string
	// Reply is the receiver's reply, "250 2.0.0 Ok: queued as X" or "454 4.7.1
	// <b@example.net>: Relay access denied"; "" when there was none (a TLS
	// or connection failure: see Detail).
	Reply string
	// Detail is the whole parenthesised text after status=.
	Detail string
	// TLS is the session summary the same smtp process logged before this
	// attempt, from the protocol on ("TLSv1.3 with cipher ..."); "" if none.
	TLS string
	// ClientKeyType is the type of the certificate the relay's client
	// presented in that session (from "client-signature"), "" if it
	// presented none.
	ClientKeyType KeyType
	// Line is the log line of the attempt.
	Line string
}

// Sent reports whether the receiver accepted the message.
func (o Outcome) Sent() bool { return o.Status == "sent" }

// Deferred reports whether the message stays queued for a later attempt
// (deferred, or SOFTBOUNCE).
func (o Outcome) Deferred() bool { return o.Status == "deferred" || o.Status == "SOFTBOUNCE" }

var (
	// logPrefix matches "SYSLOG/SERVICE[PID]: " in a maillog line.
	logPrefix = regexp.MustCompile(`\s(\S+)/([a-z]+)\[([0-9]+)\]: (.*)$`)
	delivery  = regexp.MustCompile(`^([0-9A-Za-z]+): to=<([^>]*)>, (?:orig_to=<[^>]*>, )?relay=([^,]+), .*?(?:dsn=([0-9.]+), )?status=(\S+) \((.*)\)$`)
	said      = regexp.MustCompile(`^host \S+ said: (.*) \(in reply to [^()]* command\)$`)
	tlsUp     = regexp.MustCompile(`^\S+ TLS connection established to [^ ]+: (.*)$`)
	clientSig = regexp.MustCompile(`\bclient-signature ([A-Za-z0-9]+)`)
)

// ParseDeliveries returns every delivery attempt logged under syslogName in
// maillog (any delivery agent: smtp, error, retry, discard ...), in order,
// each with the TLS summary its smtp process logged last.
func ParseDeliveries(maillog, syslogName string) []Outcome {
	var out []Outcome
	session := map[string]string{} // smtp pid -> last TLS summary
	for _, line := range strings.Split(maillog, "\n") {
		m := logPrefix.FindStringSubmatch(line)
		if m == nil || m[1] != syslogName {
			continue
		}
		service, pid, msg := m[2], m[3], m[4]
		if t := tlsUp.FindStringSubmatch(msg); t != nil {
			session[service+pid] = t[1]
			continue
		}
		d := delivery.FindStringSubmatch(msg)
		if d == nil {
			continue
		}
		o := Outcome{QueueID: d[1], To: d[2], Relay: d[3], DSN: d[4], Status: d[5], Detail: d[6], Line: line}
		if o.Status == "sent" {
			o.Reply = o.Detail
		} else if s := said.FindStringSubmatch(o.Detail); s != nil {
			o.Reply = s[1]
		}
		if t, ok := session[service+pid]; ok {
			o.TLS = t
			if c := clientSig.FindStringSubmatch(t); c != nil {
				o.ClientKeyType = KeyType(strings.TrimSuffix(c[1], "-PSS"))
			}
			delete(session, service+pid) // one session per delivery (no connection cache)
		}
		out = append(out, o)
	}
	return out
}

// Deliveries returns every delivery attempt in the relay's log so far.
func (r *Relay) Deliveries() []Outcome { return ParseDeliveries(r.Maillog(), r.SyslogName) }

// SentCount counts the delivery attempts logged so far that the receiver
// accepted.
func (r *Relay) SentCount() int {
	n := 0
	for _, o := range r.Deliveries() {
		if o.Sent() {
			n++
		}
	}
	return n
}

// DeferredCount counts the delivery attempts logged so far that left the
// message queued (deferred or SOFTBOUNCE). A message counts once per
// attempt; during a test that is once (see Flush).
func (r *Relay) DeferredCount() int {
	n := 0
	for _, o := range r.Deliveries() {
		if o.Deferred() {
			n++
		}
	}
	return n
}

// outcomeTimeout bounds the wait for a delivery attempt. The first attempt
// follows the hand-over by milliseconds; this is a hang guard, not a test.
const outcomeTimeout = 20 * time.Second

// SendAndWait hands the relay a message from from to rcpt (Send) and returns
// the outcome of its first delivery attempt (Wait).
func (r *Relay) SendAndWait(tb testing.TB, from, rcpt string) Outcome {
	tb.Helper()
	return r.Wait(tb, r.Send(tb, from, rcpt))
}

// Wait returns the first delivery attempt of queueID, waiting for it at
// most 20 seconds (then it fails tb with the maillog).
func (r *Relay) Wait(tb testing.TB, queueID string) Outcome {
	tb.Helper()
	return r.WaitAttempt(tb, queueID, 1)
}

// WaitAttempt returns the n-th delivery attempt (from 1) of queueID, as
// Wait does: the second one follows a deferral and Flush.
func (r *Relay) WaitAttempt(tb testing.TB, queueID string, n int) Outcome {
	tb.Helper()
	deadline := time.Now().Add(outcomeTimeout)
	for {
		seen := 0
		for _, o := range r.Deliveries() {
			if o.QueueID == queueID {
				if seen++; seen == n {
					return o
				}
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("postfixtest: no delivery attempt %d of %s after %v (%d seen)\nrelay maillog:\n%s", n, queueID, outcomeTimeout, seen, r.Maillog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Send hands the relay a message from from to rcpt over SMTP (plaintext,
// from 127.0.0.1, allowed by mynetworks) and returns its queue id. It does
// not wait for the delivery.
func (r *Relay) Send(tb testing.TB, from, rcpt string) string {
	tb.Helper()
	id, err := r.Submit(from, rcpt)
	if err != nil {
		tb.Fatalf("postfixtest: %v\nrelay maillog:\n%s", err, lastLines(r.Maillog(), 20))
	}
	return id
}

// Submit is Send for a goroutine other than the test's (which must not
// call tb.Fatal): it returns the error instead. It is safe for concurrent
// use.
func (r *Relay) Submit(from, rcpt string) (queueID string, err error) {
	r.mu.Lock()
	r.sent++
	n := r.sent
	r.mu.Unlock()
	id, err := submit(r.SMTPAddr, from, rcpt, fmt.Sprintf("<%d.%s@%s>", n, r.SyslogName, RelayHostname))
	if err != nil {
		return "", fmt.Errorf("handing a message to the relay %s: %w", r.SMTPAddr, err)
	}
	return id, nil
}

var qmgrActive = regexp.MustCompile(`^([0-9A-Za-z]+): from=<[^>]*>, size=[0-9]+, nrcpt=[0-9]+ \(queue active\)$`)

// Queued returns the queue ids of the messages in's queue manager has taken
// in, in order, each once: every message the instance received whole
// (after DATA) or made itself. A client that stops before DATA leaves none.
func (in *Instance) Queued() []string {
	var ids []string
	seen := map[string]bool{}
	for _, line := range strings.Split(in.Maillog(), "\n") {
		m := logPrefix.FindStringSubmatch(line)
		if m == nil || m[1] != in.SyslogName || m[2] != "qmgr" {
			continue
		}
		if q := qmgrActive.FindStringSubmatch(m[4]); q != nil && !seen[q[1]] {
			seen[q[1]] = true
			ids = append(ids, q[1])
		}
	}
	return ids
}

var queuedAs = regexp.MustCompile(`queued as ([0-9A-Za-z]+)`)

// submit sends one message to the SMTP server at addr without TLS and
// returns the queue id from the reply to the final dot.
func submit(addr, from, rcpt, msgID string) (string, error) {
	raw, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer raw.Close()
	if err := raw.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return "", err
	}
	c := textproto.NewConn(raw)
	step := func(expect int, format string, args ...any) (string, error) {
		if format != "" {
			if err := c.PrintfLine(format, args...); err != nil {
				return "", err
			}
		}
		_, msg, err := c.ReadResponse(expect)
		if err != nil {
			return "", fmt.Errorf("after %q: %w", strings.SplitN(fmt.Sprintf(format, args...), "\r", 2)[0], err)
		}
		return msg, nil
	}
	if _, err := step(220, ""); err != nil {
		return "", err
	}
	if _, err := step(250, "EHLO client.localdomain"); err != nil {
		return "", err
	}
	if _, err := step(250, "MAIL FROM:<%s>", from); err != nil {
		return "", err
	}
	if _, err := step(250, "RCPT TO:<%s>", rcpt); err != nil {
		return "", err
	}
	if _, err := step(354, "DATA"); err != nil {
		return "", err
	}
	body := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: postfixtest\r\nMessage-ID: %s\r\n\r\npostfixtest relay message\r\n.", from, rcpt, msgID)
	msg, err := step(250, "%s", body)
	if err != nil {
		return "", err
	}
	m := queuedAs.FindStringSubmatch(msg)
	if m == nil {
		return "", fmt.Errorf("no queue id in %q", msg)
	}
	_, _ = step(221, "QUIT")
	return m[1], nil
}

// Flush asks the relay to retry every deferred message now (postqueue -f).
func (r *Relay) Flush(tb testing.TB) {
	tb.Helper()
	if out, err := run(nil, "postqueue", "-c", r.ConfigDir, "-f"); err != nil {
		tb.Fatalf("postfixtest: postqueue -c %s -f: %v\n%s", r.ConfigDir, err, out)
	}
}

// DeleteQueue drops every message queued on the relay (postsuper -d ALL),
// so that no retry of an earlier case shows up in a later one.
func (r *Relay) DeleteQueue(tb testing.TB) {
	tb.Helper()
	if out, err := run(nil, "postsuper", "-c", r.ConfigDir, "-d", "ALL"); err != nil {
		tb.Fatalf("postfixtest: postsuper -c %s -d ALL: %v\n%s", r.ConfigDir, err, out)
	}
}
