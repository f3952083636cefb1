package smtpreply

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	t.Parallel()
	const maxLen, maxLines = 16, 3
	tests := []struct {
		name      string
		in        string
		wantCode  int
		wantLines []string
		wantErr   string
	}{
		{"one line", "220 mx ESMTP\r\n", 220, []string{"mx ESMTP"}, ""},
		{"bare LF", "220 mx\n", 220, []string{"mx"}, ""},
		{"code only", "250\r\n", 250, []string{""}, ""},
		{"code and space", "250 \r\n", 250, []string{""}, ""},
		{"continuation", "250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n", 250, []string{"mx", "PIPELINING", "STARTTLS"}, ""},
		{"empty continuation", "250-\r\n250 x\r\n", 250, []string{"", "x"}, ""},
		{"CR inside text kept", "250 a\rb\r\n", 250, []string{"a\rb"}, ""},
		{"line of exactly maxLen", "250 " + strings.Repeat("x", maxLen-4) + "\r\n", 250, []string{strings.Repeat("x", maxLen-4)}, ""},
		{"maxLines lines", "250-a\r\n250-b\r\n250 c\r\n", 250, []string{"a", "b", "c"}, ""},
		{"599 accepted", "599 x\r\n", 599, []string{"x"}, ""},

		{"empty input", "", 0, nil, "connection closed by server"},
		{"no EOL", "220 mx", 0, nil, "connection closed by server"},
		{"closed mid-reply", "250-a\r\n", 250, []string{"a"}, "connection closed by server"},
		{"empty line", "\r\n", 0, nil, `malformed reply line ""`},
		{"short code", "22\r\n", 0, nil, `malformed reply line "22"`},
		{"letters", "abc def\r\n", 0, nil, `malformed reply line "abc def"`},
		{"1xx", "199 x\r\n", 0, nil, `malformed reply line "199 x"`},
		{"6xx", "600 x\r\n", 0, nil, `malformed reply line "600 x"`},
		{"bad separator", "220_mx\r\n", 0, nil, `malformed reply line "220_mx"`},
		{"four digits", "2200 x\r\n", 0, nil, `malformed reply line "2200 x"`},
		{"leading space", " 220 x\r\n", 0, nil, `malformed reply line " 220 x"`},
		{"code changes", "250-a\r\n251 b\r\n", 250, []string{"a"}, "reply code changed from 250 to 251 within one reply"},
		{"line one over maxLen", "250 " + strings.Repeat("x", maxLen-3) + "\r\n", 0, nil, "reply line longer than 16 bytes"},
		{"line far over maxLen", "250 " + strings.Repeat("x", 1000), 0, nil, "reply line longer than 16 bytes"},
		{"too many lines", "250-a\r\n250-b\r\n250-c\r\n250 d\r\n", 250, []string{"a", "b", "c"}, "reply longer than 3 lines"},
		{"long malformed line quoted short", "HTTP/1.1 400 Bad\r\n", 0, nil, `malformed reply line "HTTP/1.1 400 Bad"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := NewReader(strings.NewReader(tc.in), maxLen, maxLines)
			code, lines, err := r.Read()
			var gotErr string
			if err != nil {
				gotErr = err.Error()
			}
			if code != tc.wantCode || !slices.Equal(lines, tc.wantLines) || gotErr != tc.wantErr {
				t.Errorf("readReply(%q) = %d, %q, %q; want %d, %q, %q", tc.in, code, lines, gotErr, tc.wantCode, tc.wantLines, tc.wantErr)
			}
		})
	}
}

func TestReadReplySequence(t *testing.T) {
	t.Parallel()
	in := "220 mx\r\n250-mx\r\n250 STARTTLS\r\n220 go\r\n"
	r := NewReader(strings.NewReader(in), 64, 10)
	var got []string
	for {
		code, lines, err := r.Read()
		if errors.Is(err, ErrServerClosed) {
			break
		}
		if err != nil {
			t.Fatalf("readReply on %q: %v", in, err)
		}
		got = append(got, fmt.Sprint(code, lines))
	}
	want := []string{"220 [mx]", "250 [mx STARTTLS]", "220 [go]"}
	if !slices.Equal(got, want) {
		t.Errorf("replies of %q = %q, want %q", in, got, want)
	}
}

func TestQuoteStart(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("y", 100)
	r := NewReader(strings.NewReader(long+"\r\n"), 200, 1)
	_, _, err := r.Read()
	want := fmt.Sprintf("malformed reply line %q", strings.Repeat("y", 40)+"...")
	if err == nil || err.Error() != want {
		t.Errorf("readReply(100 x 'y') error = %v, want %q", err, want)
	}
}

// FuzzReadReply reads replies from arbitrary bytes: it must stay within its
// bounds, and every reply it accepts must read back the same once rewritten.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"220 mx ESMTP\r\n",
		"250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
		"250\n",
		"250-a\r\n251 b\r\n",
		"SSH-2.0-OpenSSH\r\n",
		"220-a\r\n220-b\r\n220-c\r\n220-d\r\n220-e\r\n220 f\r\n",
	} {
		f.Add([]byte(s))
	}
	const maxLen, maxLines = 32, 4
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(strings.NewReader(string(in)), maxLen, maxLines)
		for range len(in) + 1 {
			code, lines, err := r.Read()
			if len(lines) > maxLines {
				t.Fatalf("readReply(%q) kept %d lines, bound is %d", in, len(lines), maxLines)
			}
			for _, l := range lines {
				if len(l) > maxLen || strings.Contains(l, "\n") {
					t.Fatalf("readReply(%q) kept line %q: over %d bytes or with LF", in, l, maxLen)
				}
			}
			if err != nil {
				var pe *ProtocolError
				if !errors.Is(err, ErrServerClosed) && !errors.As(err, &pe) {
					t.Fatalf("readReply(%q) error %v (%T), want ErrServerClosed or *ProtocolError", in, err, err)
				}
				return
			}
			if code < 200 || code > 599 || len(lines) == 0 {
				t.Fatalf("readReply(%q) = %d, %q; want a code in 200..599 and a line", in, code, lines)
			}
			var b strings.Builder
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				fmt.Fprintf(&b, "%d%s%s\r\n", code, sep, l)
			}
			code2, lines2, err := NewReader(strings.NewReader(b.String()), maxLen, maxLines).Read()
			if err != nil || code2 != code || !slices.Equal(lines2, lines) {
				t.Fatalf("reply %d %q rewritten as %q reads back as %d, %q, %v", code, lines, b.String(), code2, lines2, err)
			}
		}
		t.Fatalf("readReply(%q) returned more replies than input bytes", in)
	})
}

// endless repeats unit forever after prefix and counts the bytes taken.
type endless struct {
	prefix, unit string
	off, taken   int
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		if e.taken < len(e.prefix) {
			p[i] = e.prefix[e.taken]
		} else {
			p[i] = e.unit[e.off]
			e.off = (e.off + 1) % len(e.unit)
		}
		e.taken++
	}
	return len(p), nil
}

func TestReadReplyBounded(t *testing.T) {
	t.Parallel()
	const maxLen, maxLines = 4096, 100
	tests := []struct {
		name      string
		src       *endless
		wantErr   string
		wantTaken int // at most this many bytes read from the server
	}{
		{"endless line", &endless{prefix: "220 ", unit: "x"}, "reply line longer than 4096 bytes", maxLen + 2},
		{"endless continuation", &endless{unit: "220-more\r\n"}, "reply longer than 100 lines", maxLines*len("220-more\r\n") + maxLen + 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, lines, err := NewReader(tc.src, maxLen, maxLines).Read()
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("readReply(%s) error = %v, want %q", tc.name, err, tc.wantErr)
			}
			if tc.src.taken > tc.wantTaken || len(lines) > maxLines {
				t.Errorf("readReply(%s) read %d bytes and kept %d lines, want at most %d bytes and %d lines", tc.name, tc.src.taken, len(lines), tc.wantTaken, maxLines)
			}
		})
	}
}
