package fix

import (
	"crypto/ecdsa"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testcert"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// newCert makes a self-signed certificate for cn (also its first DNS
// name), with key (a fresh one when nil) and more DNS names.
func newCert(t *testing.T, cn string, key *ecdsa.PrivateKey, moreDNS ...string) *x509.Certificate {
	t.Helper()
	s := testcert.Spec{CN: cn, DNS: append([]string{cn}, moreDNS...), NotAfter: time.Now().Add(90 * 24 * time.Hour), NoEKU: true}
	if key != nil {
		s.Key = key
	}
	return testcert.New(t, s).Leaf
}

var any256 = check.Config{Digest: fingerprint.SHA256, Match: check.MatchAny}

// certs turns leaves into proven certificates of a relay.
func certs(leaves ...*x509.Certificate) []Cert {
	out := make([]Cert, len(leaves))
	for i, l := range leaves {
		out[i] = Cert{Where: l.Subject.CommonName, Chain: []*x509.Certificate{l}, Proven: true}
	}
	return out
}

func pk(c *x509.Certificate) string { return fingerprint.SHA256.PublicKey(c) }
func ck(c *x509.Certificate) string { return fingerprint.SHA256.Cert(c) }

func TestPlan(t *testing.T) {
	t.Parallel()
	oldCliff := newCert(t, "cliff.example.org", nil)
	newCliff := newCert(t, "cliff.example.org", nil)
	other := newCert(t, "other.example.org", nil)
	multiSAN := newCert(t, "cliff.example.org", nil, "other.example.org")

	for _, tc := range []struct {
		name   string
		table  string
		relays []Relay
		opts   Options
		want   string // the table after Apply
	}{
		{
			name:   "listed relay: nothing changes",
			table:  "# relays\n" + ck(oldCliff) + " cliff.example.org\n",
			relays: []Relay{{Label: "cliff.example.org", Certs: certs(oldCliff), Complete: true}},
			opts:   Options{Config: any256},
			want:   "# relays\n" + ck(oldCliff) + " cliff.example.org\n",
		},
		{
			name: "renewed: stale key replaced in place, value, comments and order kept",
			table: "# relays\r\n" + ck(other) + " other.example.org\r\n" + ck(oldCliff) +
				"\tCliff.Example.ORG  # the relay\r\n" + "# end\r\n",
			relays: []Relay{{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true}},
			opts:   Options{Config: any256},
			want: "# relays\r\n" + ck(other) + " other.example.org\r\n" + pk(newCliff) +
				"\tCliff.Example.ORG  # the relay\r\n" + "# end\r\n",
		},
		{
			name:   "keep old: appended instead",
			table:  ck(oldCliff) + " cliff.example.org\n",
			relays: []Relay{{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true}},
			opts:   Options{Config: any256, KeepOld: true},
			want:   ck(oldCliff) + " cliff.example.org\n" + pk(newCliff) + " cliff.example.org\n",
		},
		{
			name:   "an address not probed: appended, nothing replaced",
			table:  ck(oldCliff) + " cliff.example.org\n",
			relays: []Relay{{Label: "cliff.example.org", Certs: certs(newCliff), Complete: false}},
			opts:   Options{Config: any256},
			want:   ck(oldCliff) + " cliff.example.org\n" + pk(newCliff) + " cliff.example.org\n",
		},
		{
			name:   "cliff1 renewed, cliff2 not: the key cliff2 presents stays",
			table:  ck(oldCliff) + " cliff.example.org\n",
			relays: []Relay{{Label: "cliff.example.org", Certs: certs(newCliff, oldCliff), Complete: true}},
			opts:   Options{Config: any256},
			want:   ck(oldCliff) + " cliff.example.org\n" + pk(newCliff) + " cliff.example.org\n",
		},
		{
			name:   "unknown relay, no final newline: appended after a newline",
			table:  ck(other) + " other.example.org",
			relays: []Relay{{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true}},
			opts:   Options{Config: any256},
			want:   ck(other) + " other.example.org\n" + pk(newCliff) + " cliff.example.org\n",
		},
		{
			name:   "match cert writes the certificate fingerprint",
			table:  ck(oldCliff) + " cliff.example.org\n",
			relays: []Relay{{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true}},
			opts:   Options{Config: check.Config{Digest: fingerprint.SHA256, Match: check.MatchCert}},
			want:   ck(newCliff) + " cliff.example.org\n",
		},
		{
			name:   "md5 receiver gets an md5 key",
			table:  "",
			relays: []Relay{{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true}},
			opts:   Options{Config: check.Config{Digest: fingerprint.MD5, Match: check.MatchAny}},
			want:   fingerprint.MD5.PublicKey(newCliff) + " cliff.example.org\n",
		},
		{
			name:   "listed in another table of the list: nothing to do, its stale key stays",
			table:  ck(oldCliff) + " cliff.example.org\n",
			relays: []Relay{{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true}},
			opts:   Options{Config: any256, Elsewhere: func(fp string) bool { return fp == pk(newCliff) }},
			want:   ck(oldCliff) + " cliff.example.org\n",
		},
		// Regression: the keys other relays (or certificate files) still
		// present were "stale" for a relay that shares their label, and
		// were replaced. Two relays given by address, both presenting
		// certificates named cliff: cliff1 renewed, cliff2 not yet.
		{
			name:  "two relays share a label: the key the other still presents stays",
			table: pk(oldCliff) + " cliff.example.org\n",
			relays: []Relay{
				{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true},
				{Label: "cliff.example.org", Certs: certs(oldCliff), Complete: true},
			},
			opts: Options{Config: any256},
			want: pk(oldCliff) + " cliff.example.org\n" + pk(newCliff) + " cliff.example.org\n",
		},
		{
			name:  "a SAN names another relay: its listed entry stays",
			table: ck(other) + " other.example.org\n",
			relays: []Relay{
				{Label: "cliff.example.org", Certs: certs(multiSAN), Complete: true},
				{Label: "other.example.org", Certs: certs(other), Complete: true},
			},
			opts: Options{Config: any256},
			want: ck(other) + " other.example.org\n" + pk(multiSAN) + " cliff.example.org\n",
		},
		{
			name:  "match cert: the public-key entry of a presented certificate stays",
			table: pk(oldCliff) + " cliff.example.org\n",
			relays: []Relay{
				{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true},
				{Label: "cliff.example.org", Certs: certs(oldCliff), Complete: true},
			},
			opts: Options{Config: check.Config{Digest: fingerprint.SHA256, Match: check.MatchCert}},
			want: pk(oldCliff) + " cliff.example.org\n" + ck(newCliff) + " cliff.example.org\n" + ck(oldCliff) + " cliff.example.org\n",
		},
		{
			name:  "another relay could not be probed: nothing replaced",
			table: ck(oldCliff) + " cliff.example.org\n",
			relays: []Relay{
				{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true},
				{Label: "192.0.2.2", Complete: false}, // may present oldCliff
			},
			opts: Options{Config: any256},
			want: ck(oldCliff) + " cliff.example.org\n" + pk(newCliff) + " cliff.example.org\n",
		},
		// Regression: each relay planned its own line for the same key,
		// and the second append failed ("key already present"), so the
		// whole fix failed.
		{
			name:  "the same certificate from a relay and from its file: written once",
			table: "",
			relays: []Relay{
				{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true},
				{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true},
			},
			opts: Options{Config: any256},
			want: pk(newCliff) + " cliff.example.org\n",
		},
		{
			name:  "the same certificate by name and by address: the stale key replaced once",
			table: ck(oldCliff) + " cliff.example.org\n",
			relays: []Relay{
				{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true},
				{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true},
			},
			opts: Options{Config: any256},
			want: pk(newCliff) + " cliff.example.org\n",
		},
		{
			name:   "other labels are never touched",
			table:  ck(other) + " other.example.org\n",
			relays: []Relay{{Label: "cliff.example.org", Certs: certs(newCliff), Complete: true}},
			opts:   Options{Config: any256},
			want:   ck(other) + " other.example.org\n" + pk(newCliff) + " cliff.example.org\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl, err := table.Parse("relay_clientcerts", []byte(tc.table))
			if err != nil {
				t.Fatal(err)
			}
			changes := Plan(tbl, tc.relays, tc.opts)
			if err := Apply(tbl, changes); err != nil {
				t.Fatal(err)
			}
			if got := string(tbl.Bytes()); got != tc.want {
				t.Errorf("after %v:\ngot  %q\nwant %q", changes, got, tc.want)
			}
			// A second plan on the corrected table finds nothing to do.
			if again := Plan(tbl, tc.relays, tc.opts); len(again) != 0 {
				t.Errorf("not idempotent: second plan %v", again)
			}
		})
	}
}

func TestChangeString(t *testing.T) {
	t.Parallel()
	c := Change{Relay: "cliff", OldKey: "AA:BB", Line: 3, NewKey: "CC:DD", Value: "cliff"}
	if got := c.String(); !strings.Contains(got, "line 3") || !strings.Contains(got, "CC:DD") {
		t.Errorf("String() = %q", got)
	}
}
