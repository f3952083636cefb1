package receiver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/probe"
)

// DefaultPort is the port of a receiver given without one.
const DefaultPort = 25

// maxParallel bounds concurrent dialogues, as the check bounds its probes.
const maxParallel = 256

// AllOptions tunes AskAll. Options.ServerName is ignored: each receiver
// given by name gets its name as SNI, one given as an IP literal none.
type AllOptions struct {
	Options
	// Port is used for receivers given without one; DefaultPort when 0.
	Port int
	// Network is "ip" (both families, the default when empty), "ip4" or
	// "ip6", as for probe.Resolve.
	Network string
	// Resolve finds a receiver's addresses; probe.Resolve with the default
	// resolver when nil.
	Resolve func(ctx context.Context, host, network string) ([]netip.Addr, error)
	// Control also asks every address once presenting no certificate, as
	// a control: Answer.Cert is -1, before that address's other answers.
	// When the control is Accepted, the receiver relays for this client
	// whatever it presents (its address is in mynetworks, say), so an
	// Accepted verdict for a certificate proves nothing about the
	// certificate: see HintAnyone.
	Control bool
}

// Answer is the outcome of one receiver address asked about one
// certificate.
type Answer struct {
	Receiver string // the receiver as given to AskAll
	// Addr is the address asked ("ip:port"), or "host:port" when the name
	// did not resolve.
	Addr string
	Cert int // index of the certificate in AskAll's certs; -1 for the control
	// Result is nil only when the name did not resolve.
	Result *Result
	Err    error // from Ask, or the *probe.Error of the DNS lookup
}

// AskAll asks every address of every receiver ("HOST[:PORT]", the forms of
// probe.SplitHostPort) about every certificate, all concurrently under ctx.
// The answers come in input order: by receiver, then by address (sorted, as
// probe.Resolve returns them), then by certificate. A receiver name that does
// not resolve yields one Answer per certificate (no control) with the lookup
// error. The
// error is for invalid input only (a receiver that does not parse, invalid
// Options), reported before anything is dialled.
func AskAll(ctx context.Context, receivers []string, certs []tls.Certificate, opts AllOptions) ([]Answer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	port := opts.Port
	if port == 0 {
		port = DefaultPort
	}
	network := opts.Network
	if network == "" {
		network = "ip"
	}
	resolve := opts.Resolve
	if resolve == nil {
		resolve = func(ctx context.Context, host, network string) ([]netip.Addr, error) {
			return probe.Resolve(ctx, nil, host, network)
		}
	}
	type target struct {
		host string
		port int
	}
	targets := make([]target, len(receivers))
	for i, r := range receivers {
		host, p, err := probe.SplitHostPort(r, port)
		if err != nil {
			return nil, fmt.Errorf("receiver %s: %w", r, err)
		}
		targets[i] = target{host, p}
	}

	perReceiver := make([][]Answer, len(receivers))
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			addrs, err := resolve(ctx, t.host, network)
			if err != nil {
				var ans []Answer
				for c := range certs {
					ans = append(ans, Answer{Receiver: receivers[i], Addr: net.JoinHostPort(t.host, strconv.Itoa(t.port)), Cert: c, Err: err})
				}
				perReceiver[i] = ans
				return
			}
			o := opts.Options
			o.ServerName = ""
			if _, err := netip.ParseAddr(t.host); err != nil {
				o.ServerName = t.host
			}
			first := 0 // index in certs of the first question per address
			if opts.Control {
				first = -1
			}
			per := len(certs) - first
			ans := make([]Answer, len(addrs)*per)
			var inner sync.WaitGroup
			for j, a := range addrs {
				addr := netip.AddrPortFrom(a, uint16(t.port)).String()
				for c := first; c < len(certs); c++ {
					inner.Go(func() {
						sem <- struct{}{}
						defer func() { <-sem }()
						var cert tls.Certificate // none, for the control
						if c >= 0 {
							cert = certs[c]
						}
						res, err := Ask(ctx, addr, cert, o)
						ans[j*per+c-first] = Answer{Receiver: receivers[i], Addr: addr, Cert: c, Result: res, Err: err}
					})
				}
			}
			inner.Wait()
			perReceiver[i] = ans
		})
	}
	wg.Wait()

	var all []Answer
	for _, a := range perReceiver {
		all = append(all, a...)
	}
	return all, nil
}
