package receiver

// Replies are read as lib/probe reads them (RFC 5321 section 4.2): lines
// "CODE-text" then "CODE text", the same code on every line, CRLF or a bare
// LF; a line over 4096 bytes or a reply over 100 lines is an error as soon as
// the bound is crossed. The enhanced status code (RFC 3463) is the first word
// of the first line's text when it reads CLASS.SUBJECT.DETAIL with the
// class equal to the reply code's first digit.

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
)

// readReply reads one complete reply. On error, the Reply (possibly nil)
// holds what was read.
func (r *replyReader) readReply() (*Reply, error) {
	var rep *Reply
	for {
		line, err := r.readLine()
		if err != nil {
			return rep, err
		}
		code, more, text, err := parseLine(line)
		if err != nil {
			return rep, err
		}
		if rep == nil {
			rep = &Reply{Code: code, Enhanced: enhanced(code, text)}
		} else if code != rep.Code {
			return rep, protocolErrorf("reply code changed from %d to %d within one reply", rep.Code, code)
		}
		rep.Lines = append(rep.Lines, text)
		if !more {
			return rep, nil
		}
		if len(rep.Lines) >= maxLines {
			return rep, protocolErrorf("reply longer than %d lines", maxLines)
		}
	}
}

func (r *replyReader) readLine() (string, error) {
	b, err := r.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", protocolErrorf("reply line longer than %d bytes", maxLineLen)
	case errors.Is(err, io.EOF):
		return "", errServerClosed
	case err != nil:
		return "", err
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if len(b) > maxLineLen {
		return "", protocolErrorf("reply line longer than %d bytes", maxLineLen)
	}
	return string(b), nil
}

func parseLine(line string) (code int, more bool, text string, err error) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || !digits(line[1:3]) ||
		len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		start := line
		if len(start) > 40 {
			start = start[:40] + "..."
		}
		return 0, false, "", protocolErrorf("malformed reply line %q", start)
	}
	code, _ = strconv.Atoi(line[:3])
	if len(line) == 3 {
		return code, false, "", nil
	}
	return code, line[3] == '-', line[4:], nil
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
