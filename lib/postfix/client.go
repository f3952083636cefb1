package postfix

// The client certificates of a relay: what its smtp(8) and lmtp(8)
// clients present when a receiver asks (permit_tls_clientcerts judges
// that certificate, not the one the relay's smtpd serves).
//
// Postfix's rules (tls_certkey.c, tls_set_my_certificate_key_info):
//   - a non-empty PREFIX_tls_chain_files wins: its files are one stream of
//     key, certificate, chain, key, certificate, chain...; the legacy
//     parameters are then ignored;
//   - else each non-empty PREFIX_tls_cert_file, _dcert_file, _eccert_file
//     is loaded with its key file (_key_file, _dkey_file, _eckey_file,
//     which default to the certificate file);
//   - PREFIX is "smtp" for the smtp command and "lmtp" for the lmtp
//     command (the same program, which picks its parameters by its name).
// A master.cf service running smtp or lmtp may override any of them with
// -o; its values are computed by postconf -x -o, as the daemon computes
// them.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/certfile"
)

// ClientTLS is where one Postfix SMTP or LMTP client takes its client
// certificates from.
type ClientTLS struct {
	// Command is "smtp" or "lmtp".
	Command string
	// Services are the master.cf services ("relay/unix") that present
	// these certificates. For the main.cf entry, those without overrides
	// that change them.
	Services []string
	// Overrides are the service's -o settings, as master.cf writes them,
	// when this is a service's own entry; nil for main.cf's.
	Overrides []Override
	// SecurityLevel is PREFIX_tls_security_level, or from the legacy
	// PREFIX_use_tls / PREFIX_enforce_tls when it is empty ("none", "may",
	// "encrypt", ...). At "none" the client never starts TLS and so
	// never presents a certificate. Per-destination policy
	// (smtp_tls_policy_maps) is not consulted.
	SecurityLevel string
	// PolicyMaps is PREFIX_tls_policy_maps, then PREFIX_tls_per_site,
	// as postconf prints them, each that is not empty, joined by " and ":
	// a per-destination policy there may start TLS for some receivers
	// even at SecurityLevel "none".
	PolicyMaps string
	// ChainFiles is PREFIX_tls_chain_files split into file names; when
	// it is not empty, Postfix ignores the legacy pairs and Pairs is nil.
	ChainFiles []string
	// Pairs are the legacy certificate and key files, in Postfix's
	// loading order (RSA, DSA, ECDSA), only those with a certificate file.
	Pairs []CertKey
	// Carries names main.cf's transports that deliver through one of
	// Services ("default_transport = smtp"), when no transport_maps or
	// sender_dependent_default_transport_maps can route mail elsewhere:
	// then mail relayed to another domain takes this client for sure.
	Carries []string
}

// CertKey is one legacy certificate file and its key file.
type CertKey struct {
	CertParam, Cert string // "smtp_tls_cert_file", "/etc/ssl/relay.pem"
	KeyParam, Key   string // "smtp_tls_key_file", "/etc/ssl/relay.key"
}

// None reports whether c presents no client certificate at all.
func (c ClientTLS) None() bool { return len(c.ChainFiles) == 0 && len(c.Pairs) == 0 }

// NoTLS reports whether c never starts TLS, so never presents its
// certificates: SecurityLevel "none" and no per-destination policy
// (PolicyMaps) that could raise it.
func (c ClientTLS) NoTLS() bool { return c.SecurityLevel == "none" && c.PolicyMaps == "" }

// Origin names where c comes from: "main.cf" or "master.cf service
// relay/unix".
func (c ClientTLS) Origin() string {
	if c.Overrides == nil {
		return "main.cf (" + c.Command + ")"
	}
	return "master.cf service " + c.Services[0]
}

// Load reads c's certificates and keys as Postfix does (see
// certfile.ChainFiles and certfile.Pair): every leaf with its key, ready
// to be fingerprinted or presented. A file Postfix could not load is an
// error (Postfix then disables TLS for this client). No certificate
// configured is not an error: Load returns none.
func (c ClientTLS) Load() ([]certfile.Leaf, error) {
	if len(c.ChainFiles) > 0 {
		l, err := certfile.ChainFiles(c.ChainFiles)
		if err != nil {
			return nil, fmt.Errorf("%s: %s_tls_chain_files: %w", c.Origin(), c.Command, err)
		}
		return l, nil
	}
	var leaves []certfile.Leaf
	for _, p := range c.Pairs {
		if p.Key == "" {
			return nil, fmt.Errorf("%s: %s = %s but %s is empty", c.Origin(), p.CertParam, p.Cert, p.KeyParam)
		}
		l, err := certfile.Pair(p.Cert, p.Key)
		if err != nil {
			return nil, fmt.Errorf("%s: %s, %s: %w", c.Origin(), p.CertParam, p.KeyParam, err)
		}
		leaves = append(leaves, l)
	}
	return leaves, nil
}

// clientParams are the parameters of one client, without their prefix.
var clientParams = []string{
	"tls_security_level", "use_tls", "enforce_tls", "tls_policy_maps", "tls_per_site",
	"tls_chain_files",
	"tls_cert_file", "tls_key_file", "tls_dcert_file", "tls_dkey_file", "tls_eccert_file", "tls_eckey_file",
}

func prefixed(prefix string) []string {
	names := make([]string, len(clientParams))
	for i, p := range clientParams {
		names[i] = prefix + "_" + p
	}
	return names
}

// ClientCerts returns where a relay's Postfix takes the client
// certificates of its smtp and lmtp clients from: first main.cf's smtp
// client, then main.cf's lmtp client when a master.cf service runs lmtp,
// then each master.cf service running smtp or lmtp whose -o overrides
// change them. An entry with no files (ClientTLS.None) is a valid answer:
// that client presents no certificate. bin is as for Find, configDir ""
// for Postfix's default.
func ClientCerts(ctx context.Context, bin, configDir string) ([]ClientTLS, error) {
	svcs, err := Services(ctx, bin, configDir)
	if err != nil {
		return nil, err
	}
	clients, err := clientCerts(svcs, func(command string, o []Override) (map[string]string, error) {
		return values(ctx, bin, configDir, o, prefixed(command)...)
	})
	if err != nil {
		return nil, err
	}
	v, err := values(ctx, bin, configDir, nil, routing...)
	if err != nil {
		return nil, err
	}
	markCarriers(clients, v)
	return clients, nil
}

// routing are main.cf's parameters that say which transport relayed mail
// takes.
var routing = []string{"default_transport", "relay_transport", "transport_maps", "sender_dependent_default_transport_maps"}

// markCarriers sets Carries on each client from routing's values v: a
// transport "name" or "name:nexthop" delivers through the unix service
// "name". With transport_maps or sender-dependent transports, where
// relayed mail goes is not known, and nothing is marked.
func markCarriers(clients []ClientTLS, v map[string]string) {
	if v["transport_maps"] != "" || v["sender_dependent_default_transport_maps"] != "" {
		return
	}
	for _, param := range []string{"default_transport", "relay_transport"} {
		name, _, _ := strings.Cut(v[param], ":")
		for i := range clients {
			if slices.Contains(clients[i].Services, name+"/unix") {
				clients[i].Carries = append(clients[i].Carries, param+" = "+v[param])
			}
		}
	}
}

// clientCerts builds ClientCerts's answer from master.cf's services and
// eval, which returns a client's parameters with a service's overrides
// applied (postconf -x -o in production, a fixture in tests). Services
// with overrides are evaluated concurrently.
func clientCerts(svcs []Service, eval func(command string, o []Override) (map[string]string, error)) ([]ClientTLS, error) {
	var clients []Service
	lmtp := false
	for _, s := range svcs {
		if s.Command == "smtp" || s.Command == "lmtp" {
			clients = append(clients, s)
			lmtp = lmtp || s.Command == "lmtp"
		}
	}
	mains := []string{"smtp"}
	if lmtp {
		mains = append(mains, "lmtp")
	}
	out := make([]ClientTLS, len(mains))
	own := make([]*ClientTLS, len(clients))
	errs := make([]error, len(mains)+len(clients))
	var wg sync.WaitGroup
	for i, cmd := range mains {
		wg.Go(func() {
			v, err := eval(cmd, nil)
			out[i], errs[i] = clientOf(cmd, v), err
		})
	}
	for i, s := range clients {
		if len(s.Overrides) == 0 {
			continue
		}
		wg.Go(func() {
			v, err := eval(s.Command, s.Overrides)
			c := clientOf(s.Command, v)
			c.Services, c.Overrides = []string{s.String()}, s.Overrides
			own[i], errs[len(mains)+i] = &c, err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for i, s := range clients {
		m := &out[slices.Index(mains, s.Command)]
		if own[i] == nil || sameFiles(*own[i], *m) {
			m.Services = append(m.Services, s.String())
			continue
		}
		out = append(out, *own[i])
	}
	return out, nil
}

// clientOf reads one client's settings from postconf's values.
func clientOf(command string, v map[string]string) ClientTLS {
	p := func(name string) string { return v[command+"_"+name] }
	c := ClientTLS{Command: command, SecurityLevel: p("tls_security_level")}
	if c.SecurityLevel == "" {
		switch {
		case p("enforce_tls") == "yes":
			c.SecurityLevel = "encrypt"
		case p("use_tls") == "yes":
			c.SecurityLevel = "may"
		default:
			c.SecurityLevel = "none"
		}
	}
	var maps []string
	for _, m := range []string{"tls_policy_maps", "tls_per_site"} {
		if v := p(m); v != "" {
			maps = append(maps, command+"_"+m+" = "+v)
		}
	}
	c.PolicyMaps = strings.Join(maps, " and ")
	// Postfix splits the chain files with argv_split(CHARS_COMMA_SP):
	// braces have no meaning there.
	c.ChainFiles = splitPlain(p("tls_chain_files"))
	if len(c.ChainFiles) > 0 {
		return c
	}
	for _, kind := range []struct{ cert, key string }{{"cert_file", "key_file"}, {"dcert_file", "dkey_file"}, {"eccert_file", "eckey_file"}} {
		if cert := p("tls_" + kind.cert); cert != "" {
			c.Pairs = append(c.Pairs, CertKey{
				CertParam: command + "_tls_" + kind.cert, Cert: cert,
				KeyParam: command + "_tls_" + kind.key, Key: p("tls_" + kind.key),
			})
		}
	}
	return c
}

// sameFiles reports whether a and b present the same files.
func sameFiles(a, b ClientTLS) bool {
	return a.SecurityLevel == b.SecurityLevel && a.PolicyMaps == b.PolicyMaps && slices.Equal(a.ChainFiles, b.ChainFiles) && slices.Equal(a.Pairs, b.Pairs)
}

// splitPlain splits at commas and whitespace, as Postfix's argv_split.
func splitPlain(s string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' || s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	return out
}
