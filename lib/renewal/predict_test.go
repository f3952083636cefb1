package renewal

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
)

func TestPredict(t *testing.T) {
	t.Parallel()
	next := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	certbot := func(reuse bool) *Info {
		return &Info{Client: Certbot, Name: "mx.example.org", Conf: "/etc/letsencrypt/renewal/mx.example.org.conf",
			ReuseKey: reuse, KeySetting: fmt.Sprintf("reuse_key = %v", reuse), Next: next, NextRule: "certbot's default: 30 days before expiry"}
	}
	acmeSh := &Info{Client: AcmeSh, Name: "mx.example.org", Conf: "/root/.acme.sh/mx.example.org_ecc/mx.example.org.conf",
		KeySetting: "Le_ForceNewDomainKey='1'", Next: next, NextRule: "Le_NextRenewTime"}
	const line = "AB:CD mx.example.org"
	unmanaged := fmt.Errorf("/etc/postfix/relay.pem: %w", ErrUnmanaged)
	tests := []struct {
		name    string
		info    *Info
		err     error
		listing Listing
		state   nagios.State
		want    []string // substrings of the message, in order; nil: no message
	}{
		{"certificate pinned, certbot keeps the key: the certificate still changes", certbot(true), nil, ByCert, nagios.Warning,
			[]string{"listed by certificate fingerprint only: breaks at the next renewal on 2026-03-02", "add " + line + " (public key)"}},
		{"certificate pinned, certbot makes a new key", certbot(false), nil, ByCert, nagios.Warning,
			[]string{"listed by certificate fingerprint only: breaks at the next renewal on 2026-03-02", "add " + line}},
		{"key pinned, certbot makes a new key", certbot(false), nil, ByPublicKey, nagios.Warning,
			[]string{"listed by public key, but certbot makes a new key at the next renewal on 2026-03-02",
				"set reuse_key = True in /etc/letsencrypt/renewal/mx.example.org.conf (or certbot renew --cert-name mx.example.org --reuse-key)"}},
		{"key pinned, certbot keeps the key", certbot(true), nil, ByPublicKey, nagios.OK,
			[]string{"listed by public key, and certbot keeps the key at the next renewal on 2026-03-02", "reuse_key = true"}},
		{"key pinned, acme.sh forced to make a new key", acmeSh, nil, ByPublicKey, nagios.Warning,
			[]string{"acme.sh makes a new key", "remove Le_ForceNewDomainKey='1' from /root/.acme.sh/mx.example.org_ecc/mx.example.org.conf"}},
		{"unlisted: the check's CRITICAL says it all", certbot(false), nil, Unlisted, nagios.OK, nil},
		{"no ACME client, certificate pinned: a note with the line", nil, unmanaged, ByCert, nagios.OK,
			[]string{"next renewal not predicted: /etc/postfix/relay.pem: no supported ACME client", "add " + line}},
		{"no ACME client, key pinned: a note", nil, unmanaged, ByPublicKey, nagios.OK,
			[]string{"next renewal not predicted"}},
		{"unreadable conf: a note", nil, fmt.Errorf("/etc/letsencrypt/renewal/x.conf:3: reuse_key = \"maybe\": expected True or False"), ByPublicKey, nagios.OK,
			[]string{"next renewal not predicted: /etc/letsencrypt/renewal/x.conf:3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Predict(tc.info, tc.err, tc.listing, line)
			if p.State != tc.state {
				t.Errorf("state %v, want %v (%s)", p.State, tc.state, p.Message)
			}
			if tc.want == nil && p.Message != "" {
				t.Errorf("message %q, want none", p.Message)
			}
			rest := p.Message
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("message %q lacks %q (in order)", p.Message, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
