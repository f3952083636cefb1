// Package fix decides how a relay_clientcerts table must change so that
// every relay's current certificates are listed, and runs that change.
// Plan and Apply are pure. Run takes the receivers' tables as the caller
// read them, applies the trust policy and the list rule, and leaves the
// side effects (the locked write with its re-read, postmap, postfix
// reload) to the hooks its caller passes: this package opens no file and
// runs no program.
//
// What "corrected" means, per relay (one -H name, all its addresses, every
// certificate each serves; or one certificate file):
//
//   - A certificate is listed when the table has its certificate or its
//     public-key fingerprint (as the match mode counts them). Listed
//     certificates need nothing.
//   - Trust is decided per relay and certificate, never per fingerprint:
//     a certificate may be written for a relay only when it verifies for
//     that relay's name (or --fix-trust any) and a completed handshake
//     proved it. One that does not still counts as presented, but lends
//     the relay none of its names, and a change that would write it is
//     refused: the whole table is then left alone. Trusted changes are
//     planned first, so a certificate presented where it is not valid is
//     never written over that relay's entries.
//   - An entry is the relay's when its value's first word is one of the
//     relay's labels: its name, or a DNS name or the common name of a
//     certificate trusted for it. Case does not matter.
//   - An entry of the relay whose key no certificate of any relay presents
//     any more is stale. Each fingerprint to add replaces the key of one
//     stale entry, in file order, keeping its value, comments and
//     position; the rest are appended as "FINGERPRINT label". Stale
//     entries left over stay.
//   - Nothing is replaced, only appended, when KeepOld is set (a rollover
//     window) or when not every certificate of every relay could be seen
//     (an address did not answer, a key type could not be asked for): the
//     entry might be what the relay still presents, whatever its label.
//   - A key that any certificate seen still has (its certificate or its
//     public-key fingerprint, whatever the match mode; any key type, any
//     role) is never touched, whichever relay it belongs to: a relay
//     serving an ECDSA and an RSA certificate keeps its ECDSA line when
//     its RSA certificate is renewed.
//   - The fingerprint written is the public key's (stable across renewals
//     that keep the key), or the certificate's with match mode cert.
//   - In a relay_clientcerts list of several tables the fix goes to the
//     first readable one; a certificate any table of the list holds needs
//     nothing, as Postfix searches them all.
package fix

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// Cert is one certificate a relay presents or may present: served by one
// of its addresses (any key type), named by its configuration, or read
// from a certificate file.
type Cert struct {
	Where string              // where it was seen, for people: "cliff.example.org 192.0.2.1:25", "file /etc/ssl/cliff.pem"
	Chain []*x509.Certificate // leaf first, as presented
	// Proven is true when the relay showed that it holds the key (a
	// completed handshake), or the admin named the certificate (a file, the
	// relay's configuration). An unproven certificate keeps the entries
	// that list it, but its fingerprint is never written: a chain seen in
	// a handshake that failed may be anyone's replay of an old one.
	Proven bool
}

// Leaf returns the certificate itself, or nil.
func (c Cert) Leaf() *x509.Certificate {
	if len(c.Chain) == 0 {
		return nil
	}
	return c.Chain[0]
}

// Relay is one relay (a -H name with all its addresses, or a certificate
// file) and every certificate it was seen with.
type Relay struct {
	// Name is what its certificates must be valid for: the name or IP
	// address the admin gave, never one read from a certificate (a
	// certificate file has no other, so the caller names it).
	Name  string
	Label string // the label for appended lines, e.g. "cliff.example.org"
	Certs []Cert // every certificate seen, any key type, any role
	// Complete is true when every certificate the relay may present was
	// seen (every address answered, every key type could be asked for).
	// Otherwise nothing is replaced, only added.
	Complete bool
}

// labels returns every label that marks an entry as the relay's: its
// Label and the names of the certificates trusted for it. A certificate
// that is not valid for the relay's name lends it none of its names.
func (r Relay) labels(trusted func(Cert) bool) []string {
	labels := []string{r.Label}
	for _, c := range r.Certs {
		leaf := c.Leaf()
		if leaf == nil || !trusted(c) {
			continue
		}
		labels = append(labels, leaf.DNSNames...)
		if leaf.Subject.CommonName != "" {
			labels = append(labels, leaf.Subject.CommonName)
		}
	}
	return labels
}

// Change is one edit of the table.
type Change struct {
	Relay  string // the relay's label
	OldKey string // the stale key replaced; empty for an append
	Line   int    // the replaced entry's line; 0 for an append
	NewKey string
	Value  string // the entry's value (kept when replacing)
	// Refused, when set, says why this change may not be written: its
	// certificate is not trusted for the relay's name, or not proven.
	Refused error
}

// String describes the change for the long output.
func (c Change) String() string {
	if c.OldKey == "" {
		return fmt.Sprintf("%s: add %s %s", c.Relay, c.NewKey, c.Value)
	}
	return fmt.Sprintf("%s: line %d: replace %s with %s (%s)", c.Relay, c.Line, c.OldKey, c.NewKey, c.Value)
}

// Options are the policy choices of a fix.
type Options struct {
	Config  check.Config // digest and match mode
	KeepOld bool         // append instead of replacing stale entries
	// Elsewhere, when set, tells whether another table of the same
	// relay_clientcerts list holds a fingerprint: Postfix searches the
	// whole list, so such a certificate needs nothing here.
	Elsewhere func(fingerprint string) bool
	// Trust, when set, says whether cert may be written for relay r: nil
	// when it may, else why not. Nil trusts every proven certificate.
	Trust func(r Relay, cert Cert) error
}

// need is a fingerprint a relay is missing, with why it may not be
// written (nil when it may).
type need struct {
	fp      string
	refused error
}

// Plan returns the changes that list every relay's certificates in t.
// Changes whose certificate may not be written carry Refused: the caller
// must then write nothing (Run does so). Trusted changes are planned
// first, for every relay: a certificate that a relay presents without
// being trusted for it is then listed only if a relay it is trusted for
// writes it, and never by replacing the entries of the relay that
// presented it.
func Plan(t *table.Table, relays []Relay, opts Options) []Change {
	trust := func(r Relay, c Cert) error {
		if !c.Proven {
			return &UntrustedError{Where: c.Where, Err: errors.New("certificate seen in a handshake that did not complete: not proof that the relay holds its key")}
		}
		if opts.Trust == nil {
			return nil
		}
		return opts.Trust(r, c)
	}
	// current holds every key some relay still presents, folded: none of
	// them is ever replaced, whichever relay's label its entry carries.
	current := map[string]bool{}
	replace := !opts.KeepOld
	for _, r := range relays {
		replace = replace && r.Complete
		for _, c := range r.Certs {
			if leaf := c.Leaf(); leaf != nil {
				current[table.Fold(opts.Config.Digest.Cert(leaf))] = true
				current[table.Fold(opts.Config.Digest.PublicKey(leaf))] = true
			}
		}
	}
	listed := func(leaf *x509.Certificate) bool {
		for _, p := range opts.Config.Fingerprints(leaf) {
			if _, ok := t.Lookup(p.Value); ok || opts.Elsewhere != nil && opts.Elsewhere(p.Value) {
				return true
			}
		}
		return false
	}
	// What each relay misses, split by trust.
	trusted := make([][]need, len(relays))
	untrusted := make([][]need, len(relays))
	for i, r := range relays {
		for _, c := range r.Certs {
			leaf := c.Leaf()
			if leaf == nil || listed(leaf) {
				continue
			}
			prints := opts.Config.Fingerprints(leaf)
			n := need{fp: prints[len(prints)-1].Value, refused: trust(r, c)} // pubkey unless match mode cert
			list := &trusted[i]
			if n.refused != nil {
				list = &untrusted[i]
			}
			if !slices.ContainsFunc(*list, func(x need) bool { return x.fp == n.fp }) {
				*list = append(*list, n)
			}
		}
	}

	var changes []Change
	used := map[string]bool{}   // stale keys already replaced, folded
	adding := map[string]bool{} // keys a change already writes, folded
	plan := func(r Relay, missing []need) {
		// A key an earlier change writes is as good as listed: the same
		// certificate, given as a relay and as its file, or by name and by
		// address, is written once.
		missing = slices.DeleteFunc(slices.Clone(missing), func(n need) bool { return adding[table.Fold(n.fp)] })
		if len(missing) == 0 {
			return
		}
		var stale []table.Entry
		if replace {
			labels := r.labels(func(c Cert) bool { return trust(r, c) == nil })
			for _, e := range t.Entries {
				k := table.Fold(e.Key)
				if e.DupOf != 0 || current[k] || used[k] || !hasLabel(e.Value, labels) {
					continue
				}
				stale = append(stale, e)
			}
		}
		for i, n := range missing {
			adding[table.Fold(n.fp)] = true
			if i < len(stale) {
				e := stale[i]
				used[table.Fold(e.Key)] = true
				changes = append(changes, Change{Relay: r.Label, OldKey: e.Key, Line: e.Line, NewKey: n.fp, Value: e.Value, Refused: n.refused})
				continue
			}
			changes = append(changes, Change{Relay: r.Label, NewKey: n.fp, Value: r.Label, Refused: n.refused})
		}
	}
	for i, r := range relays {
		plan(r, trusted[i])
	}
	for i, r := range relays {
		plan(r, untrusted[i])
	}
	return changes
}

// Apply makes the changes to t; only the edited lines' bytes change. Its
// errors are the table's, which name the file (and line).
func Apply(t *table.Table, changes []Change) error {
	for _, c := range changes {
		var err error
		if c.OldKey != "" {
			err = t.ReplaceKey(c.OldKey, c.NewKey)
		} else {
			err = t.Append(c.NewKey, c.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Refused returns the first refusal among changes, or nil.
func Refused(changes []Change) error {
	for _, c := range changes {
		if c.Refused != nil {
			return c.Refused
		}
	}
	return nil
}

func hasLabel(value string, labels []string) bool {
	first, _, _ := strings.Cut(strings.TrimSpace(value), " ")
	first, _, _ = strings.Cut(first, "\t")
	for _, l := range labels {
		if l != "" && strings.EqualFold(first, l) {
			return true
		}
	}
	return false
}

// Verify checks that chain (leaf first, as presented) is trusted for name
// at now: it chains to roots (the system's when nil), is valid then, and
// may serve for TLS (a client-auth or server-auth extended key usage, or
// no such extension at all).
// Only verified certificates may be written into a table: whoever can
// answer for a relay's name could otherwise make the receiver relay for
// them.
func Verify(chain []*x509.Certificate, name string, roots *x509.CertPool, now time.Time) error {
	if len(chain) == 0 {
		return fmt.Errorf("no certificate to verify")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		DNSName:       name,
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("certificate of %s not trusted: %w", name, err)
	}
	return nil
}
