package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeDNS answers A and AAAA questions over UDP on loopback from zone
// (name with final dot → addresses); an unknown name gets NXDOMAIN. With a
// nil zone it never answers.
func fakeDNS(t *testing.T, zone map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if zone == nil {
				continue
			}
			if resp := dnsAnswer(buf[:n], zone); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	})
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", pc.LocalAddr().String())
		},
	}
}

// dnsAnswer builds the response to query (RFC 1035 section 4.1), or nil when
// query is not one question of class IN.
func dnsAnswer(query []byte, zone map[string][]netip.Addr) []byte {
	if len(query) < 12 || binary.BigEndian.Uint16(query[4:]) != 1 {
		return nil
	}
	var labels []string
	i := 12
	for i < len(query) && query[i] != 0 {
		n := int(query[i])
		if i+1+n > len(query) {
			return nil
		}
		labels = append(labels, strings.ToLower(string(query[i+1:i+1+n])))
		i += 1 + n
	}
	if i+5 > len(query) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(query[i+1:])
	question := query[12 : i+5]

	addrs, known := zone[strings.Join(labels, ".")+"."]
	var answers [][]byte
	for _, a := range addrs {
		if qtype == 1 && a.Is4() || qtype == 28 && a.Is6() {
			answers = append(answers, a.AsSlice())
		}
	}
	resp := binary.BigEndian.AppendUint16(nil, binary.BigEndian.Uint16(query)) // ID
	flags := uint16(0x8180)                                                    // response, RD, RA
	if !known {
		flags |= 3 // NXDOMAIN
	}
	resp = binary.BigEndian.AppendUint16(resp, flags)
	resp = binary.BigEndian.AppendUint16(resp, 1)
	resp = binary.BigEndian.AppendUint16(resp, uint16(len(answers)))
	resp = append(resp, 0, 0, 0, 0) // no authority, no additional
	resp = append(resp, question...)
	for _, rdata := range answers {
		resp = append(resp, 0xc0, 12) // name: pointer to the question
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = binary.BigEndian.AppendUint16(resp, 1)  // IN
		resp = binary.BigEndian.AppendUint32(resp, 60) // TTL
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
		resp = append(resp, rdata...)
	}
	return resp
}

func TestResolve(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr
	r := fakeDNS(t, map[string][]netip.Addr{
		"relay.test.":  {a("192.0.2.2"), a("2001:db8::2"), a("192.0.2.1"), a("192.0.2.2"), a("2001:db8::1")},
		"v4only.test.": {a("192.0.2.9")},
		"v6only.test.": {a("2001:db8::9")},
	})
	tests := []struct {
		name, host, network string
		want                []netip.Addr
		wantErr             string
	}{
		{"ip sorts and deduplicates", "relay.test.", "ip", []netip.Addr{a("192.0.2.1"), a("192.0.2.2"), a("2001:db8::1"), a("2001:db8::2")}, ""},
		{"ip4", "relay.test.", "ip4", []netip.Addr{a("192.0.2.1"), a("192.0.2.2")}, ""},
		{"ip6", "relay.test.", "ip6", []netip.Addr{a("2001:db8::1"), a("2001:db8::2")}, ""},
		{"case-insensitive", "RELAY.test.", "ip4", []netip.Addr{a("192.0.2.1"), a("192.0.2.2")}, ""},
		{"ip6 of an IPv4-only name", "v4only.test.", "ip6", nil, "DNS lookup of v4only.test.: no such host"},
		{"ip4 of an IPv6-only name", "v6only.test.", "ip4", nil, "DNS lookup of v6only.test.: no such host"},
		{"unknown name", "nx.test.", "ip", nil, "DNS lookup of nx.test.: no such host"},
		{"localhost from the hosts file", "localhost", "ip4", []netip.Addr{a("127.0.0.1")}, ""},
		{"IPv4 literal", "192.0.2.1", "ip", []netip.Addr{a("192.0.2.1")}, ""},
		{"IPv4 literal, ip4", "192.0.2.1", "ip4", []netip.Addr{a("192.0.2.1")}, ""},
		{"IPv6 literal", "2001:db8::1", "ip6", []netip.Addr{a("2001:db8::1")}, ""},
		{"IPv4-mapped literal is IPv4", "::ffff:192.0.2.1", "ip4", []netip.Addr{a("192.0.2.1")}, ""},
		{"IPv4 literal, ip6", "192.0.2.1", "ip6", nil, "192.0.2.1 is an IPv4 address, but -6 asks for IPv6 only"},
		{"loopback literal, ip6", "127.0.0.1", "ip6", nil, "127.0.0.1 is an IPv4 address, but -6 asks for IPv6 only"},
		{"IPv4-mapped literal, ip6", "::ffff:127.0.0.1", "ip6", nil, "::ffff:127.0.0.1 is an IPv4 address, but -6 asks for IPv6 only"},
		{"IPv6 literal, ip4", "::1", "ip4", nil, "::1 is an IPv6 address, but -4 asks for IPv4 only"},
		{"unknown network", "relay.test.", "tcp", nil, `unknown network "tcp" (want "ip", "ip4" or "ip6")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Resolve(t.Context(), r, tc.host, tc.network)
			var gotErr string
			if err != nil {
				gotErr = err.Error()
			}
			if !slices.Equal(got, tc.want) || gotErr != tc.wantErr {
				t.Errorf("Resolve(%q, %q) = %v, %q; want %v, %q", tc.host, tc.network, got, gotErr, tc.want, tc.wantErr)
			}
			var e *Error
			if err != nil && tc.network != "tcp" && (!errors.As(err, &e) || e.Stage != StageResolve || e.Addr != tc.host) {
				t.Errorf("Resolve(%q, %q) error %#v, want *Error with Stage %q, Addr %q", tc.host, tc.network, err, StageResolve, tc.host)
			}
		})
	}
}

func TestResolveDefaultResolver(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ host, network, want string }{
		{"localhost", "ip4", "127.0.0.1"},
		{"192.0.2.1", "ip", "192.0.2.1"},
	} {
		got, err := Resolve(t.Context(), nil, tc.host, tc.network)
		if err != nil || len(got) != 1 || got[0].String() != tc.want {
			t.Errorf("Resolve(nil resolver, %q, %q) = %v, %v; want [%s]", tc.host, tc.network, got, err, tc.want)
		}
	}
}

func TestResolveNotFound(t *testing.T) {
	t.Parallel()
	r := fakeDNS(t, map[string][]netip.Addr{})
	_, err := Resolve(t.Context(), r, "nx.test.", "ip")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("Resolve(nx.test.) error %v, want a *net.DNSError with IsNotFound", err)
	}
}

func TestResolveDeadline(t *testing.T) {
	t.Parallel()
	r := fakeDNS(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), shortTimeout)
	defer cancel()
	_, err := Resolve(ctx, r, "relay.test.", "ip")
	var e *Error
	if !errors.As(err, &e) || e.Stage != StageResolve || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Resolve against a silent DNS server: error %v, want a timeout at stage %q", err, StageResolve)
	}
	if want := "timeout during DNS lookup of relay.test."; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
}

// TestResolveWrongFamilyFromHostsFile: a name in the hosts file with no
// address of the wanted family says so in words, not Go's "no suitable
// address found".
func TestResolveWrongFamilyFromHostsFile(t *testing.T) {
	t.Parallel()
	got, err := Resolve(t.Context(), nil, "localhost", "ip6")
	switch {
	case err == nil:
		for _, a := range got {
			if !a.Is6() {
				t.Errorf("Resolve(localhost, ip6) = %v: not IPv6", got)
			}
		}
	case err.Error() != "DNS lookup of localhost: no IPv6 address":
		t.Errorf("Resolve(localhost, ip6) error %q, want %q", err, "DNS lookup of localhost: no IPv6 address")
	}
}
