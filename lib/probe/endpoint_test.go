package probe

import "testing"

// Issue 13 item 9: -H 127.0.0.1:2701 -H [::ffff:127.0.0.1]:2701 probed one
// relay twice.
func TestEndpointKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		a, b    string // -H values
		defPort int
		same    bool
	}{
		{"mapped IPv4 is IPv4", "127.0.0.1:2701", "[::ffff:127.0.0.1]:2701", 25, true},
		{"mapped IPv4 bare", "127.0.0.1", "::ffff:127.0.0.1", 25, true},
		{"default port written or not", "127.0.0.1", "127.0.0.1:25", 25, true},
		{"IPv6 spellings", "[2001:DB8:0::1]:25", "2001:db8::1", 25, true},
		{"name case", "MX.example.org", "mx.EXAMPLE.org:25", 25, true},
		{"Postfix brackets", "[mx.example.org]:25", "mx.example.org", 25, true},
		{"other port", "127.0.0.1:2701", "127.0.0.1:2702", 25, false},
		{"other address", "127.0.0.1", "127.0.0.2", 25, false},
		{"IPv4 and IPv6 loopback", "127.0.0.1", "::1", 25, false},
		{"IPv4-compatible is not mapped", "127.0.0.1", "::127.0.0.1", 25, false},
		{"two names", "mx1.example.org", "mx2.example.org", 25, false},
		{"name and its address", "localhost", "127.0.0.1", 25, false},
		{"zones differ", "fe80::1%eth0", "fe80::1%eth1", 25, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := func(s string) string {
				h, p, err := SplitHostPort(s, tt.defPort)
				if err != nil {
					t.Fatalf("SplitHostPort(%q): %v", s, err)
				}
				return EndpointKey(h, p)
			}
			ka, kb := key(tt.a), key(tt.b)
			if (ka == kb) != tt.same {
				t.Errorf("EndpointKey of %q = %q, of %q = %q; same endpoint = %v, want %v", tt.a, ka, tt.b, kb, ka == kb, tt.same)
			}
		})
	}
}
