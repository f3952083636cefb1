package probe

import (
	"net/netip"
	"strconv"
	"strings"
)

// EndpointKey returns a key that is the same for two -H values that name
// one endpoint, so that a relay given twice is probed, counted and
// labelled once: host and port as SplitHostPort returns them. An IP
// literal is keyed by its address in canonical form with an IPv4-mapped
// IPv6 address unmapped, as Resolve probes it ("::ffff:127.0.0.1" and
// "127.0.0.1", "2001:DB8:0::1" and "2001:db8::1" are one endpoint; an IPv6
// zone is kept as written, as interface names are case-sensitive); a name
// is keyed in lower case (DNS names are case-insensitive). Two different
// names are never one endpoint, even when they resolve to one address:
// each is a relay of its own, whose certificate must be valid for it.
func EndpointKey(host string, port int) string {
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(port)).String()
	}
	return strings.ToLower(host) + ":" + strconv.Itoa(port)
}
