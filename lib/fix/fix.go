// Package fix decides how a relay_clientcerts table must change so that
// every relay's current certificate is listed, and applies that change to
// a parsed table. It is pure: it reads no files, takes no locks and runs
// no postmap (package remedy does that), and it trusts its caller to pass
// only certificates that were verified.
//
// What "corrected" means, per relay (one -H name, all its addresses):
//
//   - A certificate is listed when the table has its certificate or its
//     public-key fingerprint (as the match mode counts them). Listed
//     relays are left alone.
//   - An entry is the relay's when its value's first word is one of the
//     relay's labels: the -H host name, or a DNS name or the common name
//     of a certificate it presents. Case does not matter.
//   - An entry of the relay whose key no address presents any more is
//     stale. Each fingerprint to add replaces the key of one stale entry,
//     in file order, keeping its value, comments and position; the rest
//     are appended as "FINGERPRINT label". Stale entries left over stay.
//   - Nothing is replaced, only appended, when KeepOld is set (a rollover
//     window) or when some address of any relay could not be probed: the
//     entry might be what that address still presents, whatever its label.
//   - A key that any probed address or certificate file still presents
//     (its certificate or its public-key fingerprint, whatever the match
//     mode) is never touched, whichever relay it belongs to: two relays
//     given by address often present certificates of the same name.
//   - The fingerprint written is the public key's (stable across renewals
//     that keep the key), or the certificate's with match mode cert.
package fix

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// Relay is one relay name and what its addresses presented.
type Relay struct {
	Label    string              // the label for appended lines, e.g. "cliff.example.org"
	Certs    []*x509.Certificate // every certificate its addresses presented (leaves)
	Complete bool                // every address was probed
}

// Labels returns every label that marks an entry as the relay's.
func (r Relay) Labels() []string {
	labels := []string{r.Label}
	for _, c := range r.Certs {
		labels = append(labels, c.DNSNames...)
		if c.Subject.CommonName != "" {
			labels = append(labels, c.Subject.CommonName)
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
}

// Plan returns the changes that list every relay's certificates in t.
func Plan(t *table.Table, relays []Relay, opts Options) []Change {
	var changes []Change
	used := map[string]bool{}   // stale keys already replaced, folded
	adding := map[string]bool{} // keys a change already writes, folded
	// current holds every key some relay still presents, folded: none of
	// them is ever replaced, whichever relay's label its entry carries.
	current := map[string]bool{}
	replace := !opts.KeepOld
	for _, r := range relays {
		replace = replace && r.Complete
		for _, c := range r.Certs {
			current[table.Fold(opts.Config.Digest.Cert(c))] = true
			current[table.Fold(opts.Config.Digest.PublicKey(c))] = true
		}
	}
	for _, r := range relays {
		var missing []string
		for _, c := range r.Certs {
			prints := opts.Config.Fingerprints(c)
			listed := false
			for _, p := range prints {
				// A key an earlier relay's change writes is as good as
				// listed: the same certificate, given as a relay and as its
				// file, or by name and by address, is written once.
				if _, ok := t.Lookup(p.Value); ok || adding[table.Fold(p.Value)] || opts.Elsewhere != nil && opts.Elsewhere(p.Value) {
					listed = true
				}
			}
			if listed {
				continue
			}
			want := prints[len(prints)-1].Value // pubkey unless match mode cert
			if !contains(missing, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 {
			continue
		}
		var stale []table.Entry
		if replace {
			labels := r.Labels()
			for _, e := range t.Entries {
				k := table.Fold(e.Key)
				if e.DupOf != 0 || current[k] || used[k] || !hasLabel(e.Value, labels) {
					continue
				}
				stale = append(stale, e)
			}
		}
		for i, fp := range missing {
			adding[table.Fold(fp)] = true
			if i < len(stale) {
				e := stale[i]
				used[table.Fold(e.Key)] = true
				changes = append(changes, Change{Relay: r.Label, OldKey: e.Key, Line: e.Line, NewKey: fp, Value: e.Value})
				continue
			}
			changes = append(changes, Change{Relay: r.Label, NewKey: fp, Value: r.Label})
		}
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Verify checks that chain (leaf first, as presented) is trusted for name
// at now: it chains to roots (the system's when nil) and is valid then.
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
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("certificate of %s not trusted: %w", name, err)
	}
	return nil
}
