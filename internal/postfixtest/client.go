package postfixtest

// Client transcripts parsed here.
//
// swaks prints one line per protocol line; the prefix says who sent it and
// whether TLS was on: " -> " / "<-  " in clear, " ~> " / "<~  " inside TLS.
// An error reply is marked "<** " in clear and "<~* " inside TLS. The RCPT
// reply is the first reply line after the " -> RCPT TO:" or " ~> RCPT TO:"
// line.
//
// posttls-finger -L peercert prints one summary line for the leaf
// certificate, on stdout, and always exits 0:
//
//	posttls-finger: 127.0.0.1[127.0.0.1]:2525: subject_CN=..., issuer_CN=...,
//	    fingerprint=AB:..., pkey_fingerprint=CD:...
//
// (one line). Failures are other lines, so no summary line is an error.

import (
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	swaksRcpt  = regexp.MustCompile(`^ [~-]> RCPT TO:`)
	swaksReply = regexp.MustCompile(`^<(?:-|~|\*)\*? +([0-9]{3})[ -]`)
	fingerLeaf = regexp.MustCompile(`[ ,]fingerprint=([0-9A-F:]+), pkey_fingerprint=([0-9A-F:]+)`)
)

// Sender and Recipient are the envelope Swaks uses. The recipient's domain is
// not local to any Instance, so accepting it means relaying.
const (
	Sender    = "a@relay.test"
	Recipient = "b@example.net"
)

// TLSMode says how a client starts TLS.
type TLSMode int

// The TLS modes: none, STARTTLS after EHLO, or TLS from the first byte
// (SMTPS, smtpd_tls_wrappermode).
const (
	Plaintext TLSMode = iota
	STARTTLS
	ImplicitTLS
)

// Swaks runs swaks against the instance, STARTTLS on SMTPAddr or implicit TLS
// on SMTPSAddr, presenting c (no client certificate when c is nil), and quits
// after RCPT, so nothing is ever queued. It returns the RCPT reply code
// (250 relayed, 454 refused) and the whole transcript. It fails tb when the
// transcript has no RCPT reply (for example when TLS failed).
func (in *Instance) Swaks(tb testing.TB, c *ClientCert, implicitTLS bool) (code int, transcript string) {
	tb.Helper()
	if implicitTLS {
		return SwaksAt(tb, in.SMTPSAddr, c, ImplicitTLS)
	}
	return SwaksAt(tb, in.SMTPAddr, c, STARTTLS)
}

// SwaksAt runs swaks against any SMTP server at addr, as Instance.Swaks
// does, starting TLS as mode says. c is presented only with TLS.
func SwaksAt(tb testing.TB, addr string, c *ClientCert, mode TLSMode) (code int, transcript string) {
	tb.Helper()
	Require(tb, "swaks")
	args := []string{
		"--server", addr,
		"--helo", "client.relay.test",
		"--from", Sender,
		"--to", Recipient,
		"--quit-after", "RCPT",
		"--timeout", "30",
	}
	switch mode {
	case STARTTLS:
		args = append(args, "--tls")
	case ImplicitTLS:
		args = append(args, "--tlsc")
	}
	if c != nil && mode != Plaintext {
		args = append(args, "--tls-cert", c.CertFile, "--tls-key", c.KeyFile)
	}
	// swaks exits non-zero on a refused RCPT: the transcript decides.
	transcript, _ = run(nil, "swaks", args...)
	code, ok := rcptReply(transcript)
	if !ok {
		tb.Fatalf("postfixtest: swaks %s: no RCPT reply in transcript:\n%s", strings.Join(args, " "), transcript)
	}
	return code, transcript
}

// rcptReply returns the code of the first reply after the RCPT command.
func rcptReply(transcript string) (int, bool) {
	sent := false
	for _, line := range strings.Split(transcript, "\n") {
		line = strings.TrimRight(line, "\r")
		if swaksRcpt.MatchString(line) {
			sent = true
			continue
		}
		if m := swaksReply.FindStringSubmatch(line); sent && m != nil {
			code, _ := strconv.Atoi(m[1])
			return code, true
		}
	}
	return 0, false
}

// PosttlsFinger runs posttls-finger with STARTTLS against addr
// ("host:port"), MAIL_CONFIG=configDir (a temporary minimal main.cf when
// empty), digest (-d) and security level secure (no anonymous ciphers, the
// untrusted chain is reported anyway), and returns the leaf certificate's
// fingerprint= and pkey_fingerprint= values as printed. It fails tb when they
// are not in the output; posttls-finger itself always exits 0.
func PosttlsFinger(tb testing.TB, configDir, addr, digest string) (certFP, pkeyFP string) {
	tb.Helper()
	return finger(tb, configDir, addr, digest, false)
}

// PosttlsFingerSMTPS is PosttlsFinger for an implicit-TLS server
// (posttls-finger -w).
func PosttlsFingerSMTPS(tb testing.TB, configDir, addr, digest string) (certFP, pkeyFP string) {
	tb.Helper()
	return finger(tb, configDir, addr, digest, true)
}

func finger(tb testing.TB, configDir, addr, digest string, wrapper bool) (string, string) {
	tb.Helper()
	Require(tb, "posttls-finger")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatalf("postfixtest: posttls-finger destination: %v", err)
	}
	// [] disables MX lookups; IPv6 literals are written [ipv6:addr].
	if strings.Contains(host, ":") {
		host = "ipv6:" + host
	}
	dest := "[" + host + "]:" + port
	if configDir == "" {
		configDir = tb.TempDir()
		writeFile(tb, filepath.Join(configDir, "main.cf"), []byte("compatibility_level = 3.6\n"), 0o644)
	}
	args := []string{"-c", "-L", "peercert", "-l", "secure", "-d", digest, "-t", "30", "-T", "30"}
	if wrapper {
		args = append(args, "-w")
	}
	args = append(args, dest)
	out, err := run([]string{"MAIL_CONFIG=" + configDir}, "posttls-finger", args...)
	m := fingerLeaf.FindStringSubmatch(out)
	if m == nil {
		tb.Fatalf("postfixtest: MAIL_CONFIG=%s posttls-finger %s: no fingerprint (err %v):\n%s", configDir, strings.Join(args, " "), err, out)
	}
	return m[1], m[2]
}
