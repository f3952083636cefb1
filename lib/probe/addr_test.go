package probe

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestSplitHostPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		wantHost string
		wantPort int
		wantErr  string
	}{
		{"mx.example.org", "mx.example.org", 25, ""},
		{"mx.example.org:587", "mx.example.org", 587, ""},
		{"mx.example.org.", "mx.example.org.", 25, ""},
		{"MX-1.Example.ORG:25", "MX-1.Example.ORG", 25, ""},
		{"_relay.example.org", "_relay.example.org", 25, ""},
		{"localhost", "localhost", 25, ""},
		{"192.0.2.1", "192.0.2.1", 25, ""},
		{"192.0.2.1:25", "192.0.2.1", 25, ""},
		{"192.0.2.1:00465", "192.0.2.1", 465, ""},
		{"[2001:db8::1]:25", "2001:db8::1", 25, ""},
		{"[2001:db8::1]:65535", "2001:db8::1", 65535, ""},
		{"[::1]", "::1", 25, ""},
		{"::1", "::1", 25, ""},
		{"2001:db8::1", "2001:db8::1", 25, ""},
		{"2001:db8::1:25", "2001:db8::1:25", 25, ""}, // a valid address, not a port
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1", 25, ""},
		{"fe80::1%eth0", "fe80::1%eth0", 25, ""},
		{"[fe80::1%eth0]:25", "fe80::1%eth0", 25, ""},
		{"[mx.example.org]:25", "mx.example.org", 25, ""},
		{"[192.0.2.1]", "192.0.2.1", 25, ""},

		{"", "", 0, "empty host"},
		{":25", "", 0, `empty host in ":25"`},
		{"[]:25", "", 0, `empty host in "[]:25"`},
		{"[]", "", 0, `empty host in "[]"`},
		{"host:x", "", 0, `invalid port "x" in "host:x" (want 1 to 65535)`},
		{"host:", "", 0, `invalid port "" in "host:" (want 1 to 65535)`},
		{"host:0", "", 0, `invalid port "0" in "host:0" (want 1 to 65535)`},
		{"host:65536", "", 0, `invalid port "65536" in "host:65536" (want 1 to 65535)`},
		{"host:+25", "", 0, `invalid port "+25" in "host:+25" (want 1 to 65535)`},
		{"host:-1", "", 0, `invalid port "-1" in "host:-1" (want 1 to 65535)`},
		{"host: 25", "", 0, `invalid port " 25" in "host: 25" (want 1 to 65535)`},
		{"host:000025", "", 0, `invalid port "000025" in "host:000025" (want 1 to 65535)`},
		{"host:99999999999999999999", "", 0, `invalid port "99999999999999999999" in "host:99999999999999999999" (want 1 to 65535)`},
		{"[::1]:x", "", 0, `invalid port "x" in "[::1]:x" (want 1 to 65535)`},
		{"[::1", "", 0, `missing ']' in "[::1"`},
		{"[::1]25", "", 0, `unexpected "25" after ']' in "[::1]25"`},
		{"[[::1]]", "", 0, `unexpected "]" after ']' in "[[::1]]"`},
		{"[a[b]", "", 0, `nested brackets in "[a[b]"`},
		{"192.0.2.1:25:26", "", 0, `invalid address "192.0.2.1:25:26" (an IPv6 address with a port is written in brackets, as in "[2001:db8::1]:25")`},
		{"2001:db8::1::25", "", 0, `invalid address "2001:db8::1::25" (an IPv6 address with a port is written in brackets, as in "[2001:db8::1]:25")`},
		{"[mx:1]:25", "", 0, `invalid host "mx:1": not an IPv6 address`},
		{"mx example.org", "", 0, `invalid host "mx example.org": character ' ' not allowed in a name`},
		{"mx.example.org/24", "", 0, `invalid host "mx.example.org/24": character '/' not allowed in a name`},
		{"user@mx.example.org", "", 0, `invalid host "user@mx.example.org": character '@' not allowed in a name`},
		{"mx\x00.example.org", "", 0, `invalid host "mx\x00.example.org": character '\x00' not allowed in a name`},
		{"münchen.de", "", 0, `invalid host "münchen.de": non-ASCII character in name (write an internationalized name in its xn-- form)`},
		{"fe80::1%a b", "", 0, `invalid host "fe80::1%a b": invalid zone "a b"`},
		{"fe80::1%]", "", 0, `invalid host "fe80::1%]": invalid zone "]"`},
		{"[fe80::1%]:25", "", 0, `invalid host "fe80::1%": not an IPv6 address`},
		{"mx..example.org", "", 0, `invalid host "mx..example.org": empty label in name`},
		{".", "", 0, `invalid host ".": empty label in name`},
		{strings.Repeat("a", 64) + ".org", "", 0, `invalid host "` + strings.Repeat("a", 64) + `.org": label longer than 63 bytes`},
		{strings.Repeat("a.", 127) + "ab", "", 0, `invalid host "` + strings.Repeat("a.", 127) + `ab": name longer than 253 bytes`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			host, port, err := SplitHostPort(tc.in, 25)
			var gotErr string
			if err != nil {
				gotErr = err.Error()
			}
			if host != tc.wantHost || port != tc.wantPort || gotErr != tc.wantErr {
				t.Errorf("SplitHostPort(%q, 25) = %q, %d, %q; want %q, %d, %q",
					tc.in, host, port, gotErr, tc.wantHost, tc.wantPort, tc.wantErr)
			}
		})
	}
}

func TestSplitHostPortDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in          string
		defaultPort int
		wantPort    int
		wantErr     string
	}{
		{"mx.example.org", 465, 465, ""},
		{"mx.example.org:25", 0, 25, ""},
		{"mx.example.org", 0, 0, `no port in "mx.example.org" and no valid default port (0)`},
		{"[::1]", 70000, 0, `no port in "[::1]" and no valid default port (70000)`},
	}
	for _, tc := range tests {
		_, port, err := SplitHostPort(tc.in, tc.defaultPort)
		var gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		if port != tc.wantPort || gotErr != tc.wantErr {
			t.Errorf("SplitHostPort(%q, %d) = _, %d, %q; want %d, %q", tc.in, tc.defaultPort, port, gotErr, tc.wantPort, tc.wantErr)
		}
	}
}

func FuzzSplitHostPort(f *testing.F) {
	for _, s := range []string{"mx.example.org", "mx:587", "192.0.2.1:25", "[2001:db8::1]:25", "[::1]", "::1", "[mx]:25", "host:x", "[::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := SplitHostPort(s, 25)
		if err != nil {
			if host != "" || port != 0 {
				t.Fatalf("SplitHostPort(%q) = %q, %d with error %v; want zero values", s, host, port, err)
			}
			return
		}
		if host == "" || port < 1 || port > 65535 || strings.ContainsAny(host, "[] \t\r\n/@") {
			t.Fatalf("SplitHostPort(%q) = %q, %d; want a plain host and a port in 1..65535", s, host, port)
		}
		// What net.JoinHostPort makes of the result must parse to the same.
		joined := net.JoinHostPort(host, strconv.Itoa(port))
		h2, p2, err := SplitHostPort(joined, 1)
		if err != nil || h2 != host || p2 != port {
			t.Fatalf("SplitHostPort(%q) = %q, %d, but SplitHostPort(%q) = %q, %d, %v", s, host, port, joined, h2, p2, err)
		}
	})
}

func TestProtocol(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Protocol
		port    int
		wantErr string
	}{
		{"smtp", SMTP, 25, ""},
		{"smtps", SMTPS, 465, ""},
		{"SMTPS", SMTPS, 465, ""},
		{"", 0, 0, `unknown protocol "" (want "smtp" or "smtps")`},
		{"submission", 0, 0, `unknown protocol "submission" (want "smtp" or "smtps")`},
	}
	for _, tc := range tests {
		got, err := ParseProtocol(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParseProtocol(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want || got.DefaultPort() != tc.port || got.String() != strings.ToLower(tc.in) {
			t.Errorf("ParseProtocol(%q) = %v (port %d), %v; want %v (port %d)", tc.in, got, got.DefaultPort(), err, tc.want, tc.port)
		}
	}
	if got := Protocol(9).String(); got != "Protocol(9)" {
		t.Errorf("Protocol(9).String() = %q, want %q", got, "Protocol(9)")
	}
	if got := Protocol(9).DefaultPort(); got != 0 {
		t.Errorf("Protocol(9).DefaultPort() = %d, want 0", got)
	}
}
