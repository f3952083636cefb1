package probe

// SMTP replies are read by internal/smtpreply (RFC 5321 section 4.2, bounded
// by Options.MaxLineLen and MaxLines); a reply with the wrong code is a
// ReplyError.

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/smtpreply"
)

// ReplyError is a reply whose code is not the one the dialogue needs, such as
// 454 to STARTTLS or 550 to EHLO. Its text is what the server sent.
type ReplyError struct {
	Code  int      // reply code, 200 to 599
	Lines []string // text of each line, without code and separator
}

// maxErrorText caps the server text quoted by ReplyError.Error.
const maxErrorText = 400

// Error returns "server replied CODE TEXT", the lines joined by "; ",
// control characters and invalid UTF-8 replaced, cut at 400 bytes.
func (e *ReplyError) Error() string {
	var b strings.Builder
	b.WriteString("server replied ")
	b.WriteString(strconv.Itoa(e.Code))
	text := printable(strings.Join(e.Lines, "; "))
	if text != "" {
		b.WriteByte(' ')
		b.WriteString(text)
	}
	return b.String()
}

// printable makes server text safe to show on one line of plugin output.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// The reply reader and its errors are internal/smtpreply's, shared with
// lib/receiver.
type protocolError = smtpreply.ProtocolError

var (
	protocolErrorf  = smtpreply.Errorf
	errServerClosed = smtpreply.ErrServerClosed
)

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
