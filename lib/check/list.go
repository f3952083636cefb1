package check

import (
	"fmt"
	"strings"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
)

// groups returns the index ranges [start, end) of recv that form one
// relay_clientcerts list each.
func groups(recv []Receiver) [][2]int {
	var g [][2]int
	for i := 0; i < len(recv); {
		end := i + 1
		for end < len(recv) && recv[i].Group != 0 && recv[end].Group == recv[i].Group {
			end++
		}
		g = append(g, [2]int{i, end})
		i = end
	}
	return g
}

// listing judges one observation against one relay_clientcerts list, as
// Postfix does: the tables in order, the compiled table when it was
// queried, listed when any table lists one of the fingerprints. A table
// that postmap could not read lists nothing (its error is reported once).
func (j *judge) listing(oi int, o Observation, prints []Print, want Print, recv []Receiver, g [2]int) {
	var names []string
	l := Listing{Obs: oi, Table: -1, Want: want}
	var forceOnly, sourceOnly *Receiver // for the postmap-not-run notes
	for ti := g[0]; ti < g[1]; ti++ {
		rc := &recv[ti]
		names = append(names, rc.Spec.String())
		if rc.Table == nil || rc.QueryErr != nil {
			continue // its error is reported once
		}
		if l.Table < 0 {
			l.Table = ti
		}
		src, e := rc.lookup(prints)
		force := rc.inForce(prints)
		switch {
		case force != nil && l.Matched == nil:
			l.Table, l.Matched, l.Entry = ti, force, e
			if src == nil {
				forceOnly = rc
			}
		case src != nil && force == nil && sourceOnly == nil:
			sourceOnly = rc
		}
	}
	if l.Table < 0 {
		return // no table of the list could be read
	}
	list := strings.Join(names, ", ")
	where := fmt.Sprintf("%s in %s", o.Where(), list)
	j.v.Listings = append(j.v.Listings, l)
	if l.Matched == nil {
		j.v.Unlisted++
		fps := make([]string, len(prints))
		for i, p := range prints {
			fps[i] = p.Kind + " " + p.Value
		}
		why := "not listed"
		if sourceOnly != nil {
			why = fmt.Sprintf("listed in the source %s but not in %s, which Postfix reads: run postmap %s",
				sourceOnly.Table.Path, sourceOnly.Compiled, sourceOnly.Spec)
		}
		j.add(nagios.Critical,
			fmt.Sprintf("%s presents %s %s fingerprint %s, %s in %s", o.Where(), j.cfg.Digest, want.kindName(), want.Value, why, list),
			fmt.Sprintf("%s: %s (%s %s); add: %s %s", where, why, j.cfg.Digest, strings.Join(fps, ", "), want.Value, Label(o)))
		return
	}
	if forceOnly != nil {
		text := fmt.Sprintf("%s: listed by %s fingerprint only in %s, not in its source %s: the next postmap drops it and Postfix will refuse this relay",
			where, l.Matched.Kind, forceOnly.Compiled, forceOnly.Table.Path)
		j.add(nagios.Warning, text, text)
		return
	}
	rc := recv[l.Table]
	text := fmt.Sprintf("%s: listed by %s fingerprint at %s:%d", where, l.Matched.Kind, rc.Table.Path, l.Entry.Line)
	if _, both := rc.Table.Lookup(want.Value); l.Matched.Kind == "cert" && j.cfg.Match == MatchAny && !both {
		text += fmt.Sprintf("; hint: listed by certificate only, this breaks at its next renewal; add the public-key line %q, stable while the key is reused",
			want.Value+" "+Label(o))
	}
	j.add(nagios.OK, "", text)
}
