package receiver

// Replies are read by internal/smtpreply, as lib/probe reads them (RFC 5321
// section 4.2): lines "CODE-text" then "CODE text", the same code on every
// line, CRLF or a bare LF; a line over 4096 bytes or a reply over 100 lines
// is an error as soon as the bound is crossed. The enhanced status code
// (RFC 3463) is the first word of the first line's text when it reads
// CLASS.SUBJECT.DETAIL with the class equal to the reply code's first digit.

import (
	"strconv"
	"strings"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/smtpreply"
)

// readReply reads one complete reply. On error, the Reply (nil when not
// even its first line could be read) holds what was read.
func readReply(r *smtpreply.Reader) (*Reply, error) {
	code, lines, err := r.Read()
	if len(lines) == 0 {
		return nil, err
	}
	return &Reply{Code: code, Lines: lines, Enhanced: enhanced(code, lines[0])}, err
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// enhanced returns the enhanced status code that starts text, or "".
func enhanced(code int, text string) string {
	word, _, _ := strings.Cut(text, " ")
	parts := strings.Split(word, ".")
	if len(parts) != 3 || parts[0] != strconv.Itoa(code/100) {
		return ""
	}
	for _, p := range parts[1:] {
		if !digits(p) || len(p) > 3 {
			return ""
		}
	}
	return word
}

// relayRefusals are texts that refuse relaying whatever the codes; matched
// without regard to case.
var relayRefusals = []string{
	"relay access denied", // Postfix reject_unauth_destination, defer_unauth_destination
	"relaying denied",     // Sendmail
	"relay not permitted", // Exim
	"unable to relay",     // Exchange
}

// classify returns the verdict on a RCPT reply (see the package
// documentation).
func classify(r *Reply) Verdict {
	if r.Code/100 == 2 {
		return Accepted
	}
	if r.Code/100 != 4 && r.Code/100 != 5 {
		return Other
	}
	text := strings.ToLower(strings.Join(r.Lines, " "))
	for _, s := range relayRefusals {
		if strings.Contains(text, s) {
			return Refused
		}
	}
	policy := r.Enhanced == "4.7.1" || r.Enhanced == "5.7.1" ||
		r.Enhanced == "" && (r.Code == 454 || r.Code == 554)
	if policy && strings.Contains(text, "access denied") {
		return Refused
	}
	return Other
}
