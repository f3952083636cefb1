package probe

// Host values, as SplitHostPort accepts them (the -H of the plugin):
//
//	name              mx.example.org            default port
//	name:port         mx.example.org:587
//	IPv4              192.0.2.1                 default port
//	IPv4:port         192.0.2.1:25
//	[IPv6]:port       [2001:db8::1]:25
//	[IPv6]            [::1]                     default port
//	IPv6              ::1                       default port; a bare IPv6
//	                                            literal never carries a port
//	[name]:port       [mx.example.org]:25       Postfix nexthop style; the
//	                                            brackets are dropped
//
// A name is ASCII letters, digits, '-', '_' and '.', at most 253 bytes
// (not counting one final dot), labels of 1 to 63 bytes. An IPv6 zone
// (fe80::1%eth0) is letters, digits, '-' and '_'. A port is 1 to 65535
// written in at most 5 decimal digits.

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Protocol is how the TLS session is started.
type Protocol int

const (
	// SMTP is plain SMTP upgraded with EHLO and STARTTLS (RFC 3207).
	SMTP Protocol = iota
	// SMTPS is SMTP inside TLS from the first byte (RFC 8314), usually port 465.
	SMTPS
)

// ParseProtocol parses "smtp" or "smtps", in any letter case.
func ParseProtocol(s string) (Protocol, error) {
	switch strings.ToLower(s) {
	case "smtp":
		return SMTP, nil
	case "smtps":
		return SMTPS, nil
	}
	return 0, fmt.Errorf("unknown protocol %q (want \"smtp\" or \"smtps\")", s)
}

// DefaultPort returns the port used when none is given: 25 for SMTP, 465 for
// SMTPS, 0 for an unknown value.
func (p Protocol) DefaultPort() int {
	switch p {
	case SMTP:
		return 25
	case SMTPS:
		return 465
	}
	return 0
}

// String returns "smtp" or "smtps", or "Protocol(N)" for an unknown value.
func (p Protocol) String() string {
	switch p {
	case SMTP:
		return "smtp"
	case SMTPS:
		return "smtps"
	}
	return "Protocol(" + strconv.Itoa(int(p)) + ")"
}

// SplitHostPort parses a host value in one of the forms listed at the top of
// addr.go (name, name:port, IPv4, IPv4:port, [IPv6]:port, [IPv6], bare IPv6,
// [name]:port) and returns the host without brackets and the port, defaultPort
// when the value has none.
func SplitHostPort(s string, defaultPort int) (host string, port int, err error) {
	if s == "" {
		return "", 0, errors.New("empty host")
	}
	host, portStr, hasPort := s, "", false
	switch {
	case s[0] == '[':
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("missing ']' in %q", s)
		}
		host = s[1:end]
		switch rest := s[end+1:]; {
		case rest == "":
		case rest[0] == ':':
			portStr, hasPort = rest[1:], true
		default:
			return "", 0, fmt.Errorf("unexpected %q after ']' in %q", rest, s)
		}
		if strings.ContainsAny(host, "[]") {
			return "", 0, fmt.Errorf("nested brackets in %q", s)
		}
	case strings.Count(s, ":") > 1:
		if _, err := netip.ParseAddr(s); err != nil {
			return "", 0, fmt.Errorf("invalid address %q (an IPv6 address with a port is written in brackets, as in \"[2001:db8::1]:25\")", s)
		}
	default:
		host, portStr, hasPort = strings.Cut(s, ":")
	}
	if host == "" {
		return "", 0, fmt.Errorf("empty host in %q", s)
	}
	if err := checkHost(host); err != nil {
		return "", 0, fmt.Errorf("invalid host %q: %w", host, err)
	}
	if !hasPort {
		if defaultPort < 1 || defaultPort > 65535 {
			return "", 0, fmt.Errorf("no port in %q and no valid default port (%d)", s, defaultPort)
		}
		return host, defaultPort, nil
	}
	port, ok := parsePort(portStr)
	if !ok {
		return "", 0, fmt.Errorf("invalid port %q in %q (want 1 to 65535)", portStr, s)
	}
	return host, port, nil
}

func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 || !isDigits(s) {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, n >= 1 && n <= 65535
}

// checkHost accepts an IP literal or a name as described at the top of this file.
func checkHost(h string) error {
	if a, err := netip.ParseAddr(h); err == nil {
		if z := a.Zone(); strings.ContainsFunc(z, func(r rune) bool { return !isNameChar(r) }) {
			return fmt.Errorf("invalid zone %q", z)
		}
		return nil
	}
	if strings.IndexByte(h, ':') >= 0 {
		return errors.New("not an IPv6 address")
	}
	name := strings.TrimSuffix(h, ".")
	if len(name) > 253 {
		return errors.New("name longer than 253 bytes")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return errors.New("empty label in name")
		}
		if len(label) > 63 {
			return errors.New("label longer than 63 bytes")
		}
		for i := 0; i < len(label); i++ {
			c := rune(label[i])
			if c >= 0x80 {
				return errors.New("non-ASCII character in name (write an internationalized name in its xn-- form)")
			}
			if !isNameChar(c) {
				return fmt.Errorf("character %q not allowed in a name", c)
			}
		}
	}
	return nil
}

// isNameChar reports whether r may appear in a host name label or an IPv6 zone.
func isNameChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_'
}
