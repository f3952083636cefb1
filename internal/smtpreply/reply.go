// Package smtpreply reads SMTP replies from a server, bounded, for the
// plugin's two SMTP clients (lib/probe, lib/receiver). It reads; it does not
// write commands, judge codes or keep deadlines: its callers do.
//
// SMTP replies, as read by this package (RFC 5321 section 4.2):
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
package smtpreply

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ProtocolError is a reply that breaks the grammar above or its bounds, or
// a server that breaks the dialogue (Errorf). It is never caused by the
// context, so callers report it as is.
type ProtocolError struct{ msg string }

func (e *ProtocolError) Error() string { return e.msg }

// Errorf returns a *ProtocolError.
func Errorf(format string, args ...any) error {
	return &ProtocolError{msg: fmt.Sprintf(format, args...)}
}

// ErrServerClosed replaces io.EOF: the server closed the connection while a
// reply was expected.
var ErrServerClosed = errors.New("connection closed by server")

// Reader reads SMTP replies from one connection.
type Reader struct {
	br       *bufio.Reader
	maxLen   int
	maxLines int
}

// NewReader reads replies from r, with lines of at most maxLen bytes and
// replies of at most maxLines lines.
func NewReader(r io.Reader, maxLen, maxLines int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, maxLen+2), maxLen: maxLen, maxLines: maxLines}
}

// Buffered reports how many bytes were received but not yet read.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Peek returns the next n bytes without reading them, as bufio.Reader's
// Peek does (n at most maxLen+2).
func (r *Reader) Peek(n int) ([]byte, error) { return r.br.Peek(n) }

// Read reads one complete reply: its code and the text of each line. On
// error, code and lines hold what was read so far (0 and none when the
// first line was not a reply line).
func (r *Reader) Read() (code int, lines []string, err error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return code, lines, err
		}
		c, more, text, err := parseLine(line)
		if err != nil {
			return code, lines, err
		}
		if len(lines) > 0 && c != code {
			return code, lines, Errorf("reply code changed from %d to %d within one reply", code, c)
		}
		code = c
		lines = append(lines, text)
		if !more {
			return code, lines, nil
		}
		if len(lines) >= r.maxLines {
			return code, lines, Errorf("reply longer than %d lines", r.maxLines)
		}
	}
}

// readLine returns one line without its EOL.
func (r *Reader) readLine() (string, error) {
	b, err := r.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", Errorf("reply line longer than %d bytes", r.maxLen)
	case errors.Is(err, io.EOF):
		return "", ErrServerClosed
	case err != nil:
		return "", err
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if len(b) > r.maxLen {
		return "", Errorf("reply line longer than %d bytes", r.maxLen)
	}
	return string(b), nil
}

// parseLine splits one line into its code, whether more lines follow,
// and its text.
func parseLine(line string) (code int, more bool, text string, err error) {
	if len(line) < 3 || !isDigits(line[:3]) || line[0] < '2' || line[0] > '5' ||
		len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		return 0, false, "", Errorf("malformed reply line %q", quoteStart(line))
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
