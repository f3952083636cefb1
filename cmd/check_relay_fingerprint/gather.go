package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/certfile"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfix"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/probe"
)

// targetFlags are the flags that say what to probe, shared by the check
// and the fingerprint command.
type targetFlags struct {
	Hosts     []string `name:"host" short:"H" sep:"none" placeholder:"HOST[:PORT]" group:"Relays" help:"Relay to probe; repeatable. Every address of a name is probed. IPv6 literals as [2001:db8::1]:25."`
	Port      int      `short:"p" placeholder:"N" group:"Relays" help:"Port for hosts given without one (default 25 for smtp, 465 for smtps)."`
	Protocol  string   `short:"P" enum:"smtp,smtps" default:"smtp" group:"Relays" help:"smtp: plain connect, EHLO, STARTTLS (ports 25, 587); smtps: implicit TLS (port 465). Default: ${default}."`
	CertFiles []string `name:"cert-file" sep:"none" placeholder:"PATH" group:"Relays" help:"Also fingerprint the certificates in this PEM file (e.g. an ACME client's cert.pem; every leaf of a file laid out like smtp_tls_chain_files); repeatable."`
	// RelayPostconf and ClientChains are the relay's client certificates:
	// what permit_tls_clientcerts judges.
	RelayPostconf *string  `name:"relay-postconf" placeholder:"CONFIG_DIR" group:"Relays" help:"On a relay: judge the client certificates its own Postfix presents when relaying (smtp_tls_chain_files, else smtp_tls_cert_file, smtp_tls_eccert_file with their keys; master.cf overrides of smtp and lmtp services), read with postconf -c CONFIG_DIR; without CONFIG_DIR, postconf's default."`
	ClientChains  []string `name:"client-chain" sep:"none" placeholder:"PATH" group:"Relays" help:"A relay's client certificate with its private key, in one PEM file as smtp_tls_chain_files takes it (key, certificate, chain; RSA and ECDSA pairs one after the other); repeatable."`
	IPv4          bool     `short:"4" name:"ipv4" xor:"family" group:"Relays" help:"Probe IPv4 addresses only."`
	IPv6          bool     `short:"6" name:"ipv6" xor:"family" group:"Relays" help:"Probe IPv6 addresses only."`
	EHLO          string   `name:"ehlo" default:"localhost" placeholder:"NAME" group:"Relays" help:"Name to send with EHLO. Default: ${default}."`
	Digest        string   `short:"d" placeholder:"DIGEST" group:"Matching" help:"md5, sha1, sha224, sha256, sha384 or sha512: the receivers' smtpd_tls_fingerprint_digest (default sha256, Postfix 3.6+; md5 before; from postconf with --postconf)."`
	Timeout       float64  `short:"t" default:"10" placeholder:"SECONDS" group:"General" help:"One deadline for the whole run, DNS included. Default: ${default}."`
	Verbose       int      `short:"v" type:"counter" group:"General" help:"More detail in the long output (banner, TLS, certificate); repeatable."`
	Output        string   `short:"o" enum:"nagios,json" default:"nagios" group:"General" help:"Output format: nagios (status line, long output, perfdata) or json (a stable shape for scripts, see README). Default: ${default}."`
}

func (f *targetFlags) validate() error {
	if len(f.Hosts) == 0 && len(f.CertFiles) == 0 && f.RelayPostconf == nil && len(f.ClientChains) == 0 {
		return usagef("nothing to check: give at least one -H HOST, --cert-file PATH, --relay-postconf [CONFIG_DIR] or --client-chain PATH")
	}
	if !(f.Timeout > 0 && f.Timeout <= 86400) {
		return usagef("-t must be more than 0 and at most 86400 seconds, not %v", f.Timeout)
	}
	if err := probe.CheckEHLO(f.EHLO); err != nil {
		return usagef("--ehlo: %v", err)
	}
	if f.Port < 0 || f.Port > 65535 {
		return usagef("-p must be a port from 1 to 65535, not %d", f.Port)
	}
	return nil
}

// observed is one certificate seen, with the probe's details when it came
// from a relay.
type observed struct {
	check.Observation
	probe   *probe.Result
	lateErr error // a failure after the certificate was seen, for -v
	// served is, on the first observation of a probed address, what each
	// key type gave (probe.ProbeAll); complete is false on every
	// observation of an address that may serve a certificate not seen.
	served   []probe.KeyTypeStatus
	complete bool
}

// resolve finds a relay's addresses; tests put a fake name service in
// front of it (before any test runs, so nothing races with it).
var resolve = probe.Resolve

// maxParallel bounds concurrent probes: enough for hundreds of relays at
// once, few enough to stay within a default file-descriptor limit.
const maxParallel = 256

// gather reads the relay's client certificates (see clients), resolves
// and probes every -H relay concurrently and reads every --cert-file, all
// bounded by ctx. The result keeps the order of the flags, and the order
// of addresses within a name; the client certificates come first. The
// notes are for the long output.
func gather(ctx context.Context, f *targetFlags) ([]observed, []string, []postfix.ClientTLS, error) {
	proto, err := probe.ParseProtocol(f.Protocol)
	if err != nil {
		return nil, nil, nil, usagef("%v", err)
	}
	all, notes, entries := clients(ctx, f)
	defPort := f.Port
	if defPort == 0 {
		defPort = proto.DefaultPort()
	}
	network := "ip"
	switch {
	case f.IPv4:
		network = "ip4"
	case f.IPv6:
		network = "ip6"
	}
	type target struct {
		name string
		host string
		port int
	}
	targets := make([]target, 0, len(f.Hosts))
	seen := map[string]bool{}
	for _, h := range f.Hosts {
		host, port, err := probe.SplitHostPort(h, defPort)
		if err != nil {
			return nil, nil, nil, usagef("-H %s: %v", h, err)
		}
		key := probe.EndpointKey(host, port)
		if seen[key] {
			continue // the same relay twice is probed once
		}
		seen[key] = true
		targets = append(targets, target{name: h, host: host, port: port})
	}

	// Resolve every name concurrently, then probe every address
	// concurrently; a slot per target keeps the output in flag order.
	perTarget := make([][]observed, len(targets))
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := displayName(t.host, t.port, defPort)
			addrs, err := resolve(ctx, nil, t.host, network)
			if err != nil {
				perTarget[i] = []observed{{Observation: check.Observation{
					Name: name, Host: t.host, Addr: net.JoinHostPort(t.host, strconv.Itoa(t.port)), Err: err}}}
				return
			}
			obs := make([][]observed, len(addrs))
			var inner sync.WaitGroup
			for j, a := range addrs {
				inner.Add(1)
				go func() {
					defer inner.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					obs[j] = probeAddr(ctx, name, t.host, a, t.port, proto, f.EHLO)
				}()
			}
			inner.Wait()
			perTarget[i] = slices.Concat(obs...)
		}()
	}
	wg.Wait()

	for _, o := range perTarget {
		all = append(all, o...)
	}
	for _, path := range f.CertFiles {
		all = append(all, fileObservations(path, check.RoleServer)...)
	}
	return all, notes, entries, nil
}

// clients reads the relay's client certificates: from its Postfix
// (--relay-postconf) and from --client-chain files. The notes are for the
// long output.
func clients(ctx context.Context, f *targetFlags) (obs []observed, notes []string, entries []postfix.ClientTLS) {
	if f.RelayPostconf != nil {
		var err error
		entries, err = postfix.ClientCerts(ctx, "", *f.RelayPostconf)
		if err != nil {
			obs = append(obs, observed{Observation: check.Observation{Name: "--relay-postconf", Role: check.RoleClient, Err: err}, complete: true})
		} else {
			var o []check.Observation
			o, notes = check.Clients(entries)
			for _, c := range o {
				obs = append(obs, observed{Observation: c, complete: true})
			}
		}
	}
	for _, path := range f.ClientChains {
		obs = append(obs, fileObservations(path, check.RoleClient)...)
	}
	return obs, notes, entries
}

// fileObservations reads every leaf of a PEM file.
func fileObservations(path string, role check.Role) []observed {
	leaves, err := certfile.Leaves(path)
	if err != nil {
		return []observed{{Observation: check.Observation{Name: path, Role: role, Err: err}, complete: true}}
	}
	name := path
	if role == check.RoleClient {
		name = "" // the source names the file
	}
	var obs []observed
	for _, o := range check.Leaves(name, role, leaves) {
		obs = append(obs, observed{Observation: o, complete: true})
	}
	return obs
}

// displayName is how a relay is named in output: the host, with the port
// only when it is not the default.
func displayName(host string, port, defPort int) string {
	if port == defPort {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// seenAll reports whether every RSA and ECDSA certificate of an address
// was seen, for the fix's rule that only adds otherwise. An Ed25519
// certificate beside an ECDSA one cannot be asked for with Go's TLS client
// (the output says so): counting that as unseen would make the fix only
// add, never replace, for every ECDSA relay, and keep every retired key
// trusted; a relay holding both is rare enough to be the documented limit.
func seenAll(s *probe.Served) bool {
	for _, k := range s.KeyTypes {
		if k.KeyType != probe.KeyEd25519 && k.Status != probe.Found && k.Status != probe.Absent {
			return false
		}
	}
	return true
}

// probeAddr finds every certificate one address serves (probe.ProbeAll):
// one observation per distinct certificate, named by key type when there
// are several, or one that says why there is none.
func probeAddr(ctx context.Context, name, host string, a netip.Addr, port int, proto probe.Protocol, ehlo string) []observed {
	addr := netip.AddrPortFrom(a, uint16(port)).String()
	opts := probe.Options{Protocol: proto, EHLO: ehlo}
	if _, err := netip.ParseAddr(host); err != nil {
		opts.ServerName = host
	}
	served, err := probe.ProbeAll(ctx, addr, opts)
	base := check.Observation{Name: name, Host: host, Addr: addr}
	var obs []observed
	for _, res := range served.Results {
		// The certificate is what we came for: a server that fails after
		// the handshake (EHLO over TLS refused, say) still presented it.
		// Only a completed handshake proves it (Result.Proven): --fix
		// could write it.
		if !res.Proven() || len(res.Certs) == 0 {
			continue
		}
		o := observed{Observation: base, probe: res, complete: seenAll(served)}
		o.Chain, o.Handshake = res.Certs, res.Timings.TLS
		obs = append(obs, o)
	}
	if len(obs) == 0 {
		o := observed{Observation: base, probe: served.Results[0]}
		o.Err = err
		if o.Err == nil {
			o.Err = errors.New("no certificate")
		}
		return []observed{o}
	}
	if len(obs) > 1 {
		for i := range obs {
			obs[i].KeyType = string(probe.KeyTypeOf(obs[i].Leaf()))
		}
	}
	obs[0].lateErr, obs[0].served = err, served.KeyTypes
	// A key type whose own handshake failed (a timeout, a connection
	// closed, an unexpected alert) may be served and unlisted: the
	// certificates seen must not pass for all of them. The address is
	// judged as one that cannot be probed (--unreachable). Ed25519 is
	// asked with ECDSA, so its failure is ECDSA's.
	for _, k := range served.KeyTypes {
		if k.Status == probe.Failed && k.KeyType != probe.KeyEd25519 {
			o := observed{Observation: base, complete: false}
			o.KeyType = string(k.KeyType)
			o.Err = fmt.Errorf("the handshake asking for its %s certificate failed, so an unlisted %s certificate may go unseen: %w", k.KeyType, k.KeyType, k.Err)
			obs = append(obs, o)
		}
	}
	return obs
}
func parseDigest(s string) (fingerprint.Digest, error) {
	d, err := fingerprint.ParseDigest(s)
	if err != nil {
		return "", usagef("-d: %v", err)
	}
	return d, nil
}

// deadline returns the run's one context.
func deadline(seconds float64) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), duration(seconds))
}

// duration converts -t, in seconds and fractions of one, to a Duration.
func duration(seconds float64) time.Duration {
	return time.Duration(seconds * float64(time.Second))
}

var errNoTable = errors.New("nothing to judge by: give --table [TYPE:]PATH (repeatable) or --postconf [CONFIG_DIR] on a receiver, or --receiver HOST[:PORT] to ask receivers themselves")
