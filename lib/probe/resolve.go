package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// Resolve returns the addresses of host for network "ip" (both families),
// "ip4" or "ip6", sorted (IPv4 first) and without duplicates. An IP literal
// returns itself, or an error when it is not of the wanted family, which
// names the plugin's flag and involves no DNS ("127.0.0.1 is an IPv4
// address, but -6 asks for IPv6 only"); IPv4-mapped IPv6 addresses count as
// IPv4. A nil r means net.DefaultResolver. The lookup
// ends at ctx's deadline even when the DNS server never answers. Errors are
// *Error with Stage StageResolve.
func Resolve(ctx context.Context, r *net.Resolver, host, network string) ([]netip.Addr, error) {
	var family string
	switch network {
	case "ip":
		family = "IP"
	case "ip4":
		family = "IPv4"
	case "ip6":
		family = "IPv6"
	default:
		return nil, fmt.Errorf("unknown network %q (want \"ip\", \"ip4\" or \"ip6\")", network)
	}
	fail := func(err error) error { return &Error{Stage: StageResolve, Addr: host, Err: err} }
	keep := func(a netip.Addr) bool {
		return network == "ip" || network == "ip4" && a.Is4() || network == "ip6" && a.Is6()
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a = a.Unmap(); !keep(a) {
			return nil, fail(&familyError{host: host, want: network})
		}
		return []netip.Addr{a}, nil
	}
	if r == nil {
		r = net.DefaultResolver
	}
	found, err := r.LookupNetIP(ctx, network, host)
	if err != nil {
		var addrErr *net.AddrError
		switch ctxErr := ctx.Err(); {
		case ctxErr != nil:
			err = ctxErr
		case errors.As(err, &addrErr):
			// The name has addresses, none of the wanted family (-4, -6).
			err = fmt.Errorf("no %s address", family)
		}
		return nil, fail(err)
	}
	addrs := make([]netip.Addr, 0, len(found))
	for _, a := range found {
		if a = a.Unmap(); keep(a) {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, fail(fmt.Errorf("no %s address", family))
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	return slices.Compact(addrs), nil
}

// familyError is an IP literal of the family -4 or -6 excludes. Error.Error
// shows it alone: no DNS lookup took place.
type familyError struct {
	host string // as given
	want string // "ip4" or "ip6"
}

func (e *familyError) Error() string {
	if e.want == "ip6" {
		return e.host + " is an IPv4 address, but -6 asks for IPv6 only"
	}
	return e.host + " is an IPv6 address, but -4 asks for IPv4 only"
}
