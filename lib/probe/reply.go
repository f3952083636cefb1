package probe

// SMTP replies, as read by this file (RFC 5321 section 4.2):
//
//	reply = *( code "-" text EOL ) code [ " " text ] EOL
//	code  = 3 digits, 200 to 599, the same on every line of one reply
//	EOL   = CRLF, or a bare LF (accepted, as net/textproto does)
//
// Reading is bounded: a line longer than maxLen bytes (EOL excluded) or a
// reply of more than maxLines lines is an error as soon as the bound is
// crossed, so a hostile server can neither exhaust memory nor keep the
// reader busy past the bound. Memory is one buffer of maxLen+2 bytes plus
// at most maxLines*maxLen bytes of kept text.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
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

// protocolError is a reply that breaks the grammar above or its bounds.
// It is never caused by the context, so it is reported as is.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

func protocolErrorf(format string, args ...any) error {
	return &protocolError{msg: fmt.Sprintf(format, args...)}
}

// errServerClosed replaces io.EOF: the server closed the connection while a
// reply was expected.
var errServerClosed = errors.New("connection closed by server")

// replyReader reads SMTP replies from one connection.
type replyReader struct {
	br       *bufio.Reader
	maxLen   int
	maxLines int
}

func newReplyReader(r io.Reader, maxLen, maxLines int) *replyReader {
	return &replyReader{br: bufio.NewReaderSize(r, maxLen+2), maxLen: maxLen, maxLines: maxLines}
}

// buffered reports how many bytes were received but not yet read.
func (r *replyReader) buffered() int { return r.br.Buffered() }

// readReply reads one complete reply. On error, lines holds the lines read
// so far.
func (r *replyReader) readReply() (code int, lines []string, err error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return code, lines, err
		}
		c, more, text, err := parseReplyLine(line)
		if err != nil {
			return code, lines, err
		}
		if len(lines) > 0 && c != code {
			return code, lines, protocolErrorf("reply code changed from %d to %d within one reply", code, c)
		}
		code = c
		lines = append(lines, text)
		if !more {
			return code, lines, nil
		}
		if len(lines) >= r.maxLines {
			return code, lines, protocolErrorf("reply longer than %d lines", r.maxLines)
		}
	}
}

// readLine returns one line without its EOL.
func (r *replyReader) readLine() (string, error) {
	b, err := r.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", protocolErrorf("reply line longer than %d bytes", r.maxLen)
	case errors.Is(err, io.EOF):
		return "", errServerClosed
	case err != nil:
		return "", err
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if len(b) > r.maxLen {
		return "", protocolErrorf("reply line longer than %d bytes", r.maxLen)
	}
	return string(b), nil
}

// parseReplyLine splits one line into its code, whether more lines follow,
// and its text.
func parseReplyLine(line string) (code int, more bool, text string, err error) {
	if len(line) < 3 || !isDigits(line[:3]) || line[0] < '2' || line[0] > '5' ||
		len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		return 0, false, "", protocolErrorf("malformed reply line %q", quoteStart(line))
	}
	code, _ = strconv.Atoi(line[:3])
	if len(line) == 3 {
		return code, false, "", nil
	}
	return code, line[3] == '-', line[4:], nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quoteStart keeps an error about a long line short.
func quoteStart(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
