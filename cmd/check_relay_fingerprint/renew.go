package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfix"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/renewal"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/rollover"
)

// renewalAnswers are what receivers said beside the check's own
// questions: of each client certificate's twin (Obs is the certificate's
// observation), and of each staged certificate (Obs indexes stagedAt,
// which holds the staging and leaf index).
type renewalAnswers struct {
	twins, staged []check.Answer
	stagedAt      [][2]int
}

// stage finds the material rollover staged beside the relay's client
// certificate files; an error is a note (the check judges what is live).
func (g *gathered) stage() {
	for _, e := range g.entries {
		st, err := rollover.Staged(e)
		if err != nil {
			g.notes = append(g.notes, fmt.Sprintf("[OK] %s: staged material not read: %v", e.Origin(), err))
			continue
		}
		g.staged = append(g.staged, st...)
	}
}

// judgeRenewals adds to v what the next renewal of each client
// certificate will do to each receiver that lists it (lib/renewal's
// Predict: WARNING when it will break), and the material rollover staged
// and not yet installed (WARNING, with what each refusing receiver needs).
func (g *gathered) judgeRenewals(v *check.Verdict, cfg check.Config, recv []check.Receiver, certbotDir string) {
	dirs := renewal.DefaultDirs()
	dirs.Certbot = certbotDir
	for i, o := range g.obs {
		if o.Role != check.RoleClient || o.Leaf() == nil {
			continue
		}
		path := o.Source // "path:line"
		if i := strings.LastIndexByte(path, ':'); i > 0 {
			path = path[:i]
		}
		info, ferr := renewal.Find(dirs, path, o.Leaf())
		line := cfg.Digest.PublicKey(o.Leaf()) + " " + check.Label(o.Observation)
		predict := func(where string, l renewal.Listing) {
			p := renewal.Predict(info, ferr, l, line)
			if p.Message != "" {
				v.Add(p.State, fmt.Sprintf("%s in %s: %s", o.Where(), where, p.Message))
			}
		}
		for _, l := range v.Listings {
			if l.Obs != i || l.Matched == nil {
				continue
			}
			rc := recv[l.Table]
			listing := renewal.ByCert
			if _, ok := rc.Table.Lookup(cfg.Digest.PublicKey(o.Leaf())); ok {
				listing = renewal.ByPublicKey
			}
			predict(rc.Spec.String(), listing)
		}
		for _, a := range g.answers {
			if a.Obs != i || a.Err != nil || g.relaysAnyway(a) {
				continue
			}
			twin := g.twinOf(a)
			if twin == nil || twin.Err != nil {
				continue
			}
			predict("receiver "+a.Receiver, renewal.ListingOf(a.Verdict == check.Accepted, twin.Verdict == check.Accepted))
		}
	}
	for si, st := range g.staged {
		for li := range st.Leaves {
			g.judgeStaged(v, cfg, st, si, li)
		}
	}
	unread := g.unreadStaged(v)
	if len(g.staged) == 0 && unread == 0 || cfg.Days.Critical == nil {
		return
	}
	// The live certificate inside -c while its successor still waits:
	// when it expires the relay presents an expired certificate, or none.
	for _, o := range g.obs {
		if o.Role != check.RoleClient || o.Leaf() == nil {
			continue
		}
		days := o.Leaf().NotAfter.Sub(cfg.Now).Hours() / 24
		if cfg.Days.Critical.Alert(days) {
			v.Add(nagios.Critical, fmt.Sprintf("%s expires on %s while its successor is still staged: the receivers that refuse it must list it first (see the staged lines above), or rollover cannot switch in time",
				o.Where(), o.Leaf().NotAfter.UTC().Format("2006-01-02 15:04 MST")))
		}
	}
}

// unreadStaged warns of each staged file that exists but was not read
// (rollover writes it mode 0600, so a check run as another user than the
// live file's owner cannot read it): a switch still waits, whatever is
// in it. It returns how many there are.
func (g *gathered) unreadStaged(v *check.Verdict) int {
	n := 0
	for _, e := range g.entries {
		targets, err := rollover.Targets([]postfix.ClientTLS{e})
		if err != nil {
			continue
		}
		_, serr := rollover.Staged(e)
		for _, t := range targets {
			if _, err := os.Lstat(t.StagedPath()); err != nil {
				continue
			}
			if slices.ContainsFunc(g.staged, func(s rollover.Staging) bool { return s.StagedPath() == t.StagedPath() }) {
				continue
			}
			n++
			v.Add(nagios.Warning, fmt.Sprintf("new material staged as %s, not read (%v): waiting for rollover; hint: run the check as a user that may read it (its owner), or run rollover to see which receivers still refuse it", t.StagedPath(), serr))
		}
	}
	return n
}

// judgeStaged says what a staged certificate waits for.
func (g *gathered) judgeStaged(v *check.Verdict, cfg check.Config, st rollover.Staging, si, li int) {
	leaf := st.Leaves[li]
	what := fmt.Sprintf("new certificate staged as %s (%s, valid until %s)", st.StagedPath(), leaf.Cert().Subject.CommonName, leaf.Cert().NotAfter.UTC().Format("2006-01-02"))
	line := cfg.Digest.PublicKey(leaf.Cert()) + " " + check.Label(check.Observation{Chain: leaf.Chain})
	var refusing []string
	asked := false
	for _, a := range g.renewals.staged {
		if at := g.renewals.stagedAt[a.Obs]; at != [2]int{si, li} {
			continue
		}
		asked = true
		if a.Err != nil || a.Verdict != check.Accepted {
			refusing = append(refusing, a.Receiver)
		}
	}
	switch {
	case !asked:
		v.Add(nagios.Warning, what+": waiting for rollover; hint: give --receiver to see which receivers still refuse it")
	case len(refusing) > 0:
		v.Add(nagios.Warning, fmt.Sprintf("%s, not yet accepted by %s: add %s", what, strings.Join(uniq(refusing), ", "), line))
	default:
		v.Add(nagios.OK, what+": every receiver accepts it; the next rollover run installs it")
	}
}

// twinOf returns the answer about a's certificate's twin from the same
// receiver address.
func (g *gathered) twinOf(a check.Answer) *check.Answer {
	for i, t := range g.renewals.twins {
		if t.Obs == a.Obs && t.Receiver == a.Receiver && t.Addr == a.Addr {
			return &g.renewals.twins[i]
		}
	}
	return nil
}

// relaysAnyway reports whether a's receiver address relayed for the
// control question, presenting no certificate: then nothing can be told
// of how it lists one.
func (g *gathered) relaysAnyway(a check.Answer) bool {
	for _, c := range g.answers {
		if c.Obs < 0 && c.Receiver == a.Receiver && c.Addr == a.Addr {
			return c.Err == nil && c.Verdict == check.Accepted
		}
	}
	return false
}

func uniq(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
