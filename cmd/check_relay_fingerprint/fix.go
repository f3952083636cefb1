package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/certfile"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fix"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/remedy"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// fixFlags are the remediation flags of the check command.
type fixFlags struct {
	Fix       bool   `group:"Remediation" help:"Rewrite each --table in place so every relay's current certificate is listed, then run postmap (and postfix reload with --reload)."`
	FixTo     string `name:"fix-to" placeholder:"PATH" group:"Remediation" help:"Write the corrected table to PATH instead (exactly one --table); - writes it to stdout and the status to stderr."`
	Diff      bool   `group:"Remediation" help:"Print a unified diff of what --fix would change; change nothing."`
	NoPostmap bool   `name:"no-postmap" group:"Remediation" help:"With --fix: do not run postmap."`
	Reload    bool   `group:"Remediation" help:"With --fix: run postfix reload after postmap."`
	KeepOld   bool   `name:"keep-old" group:"Remediation" help:"Keep replaced entries (a rollover window): add new lines instead of replacing stale keys."`
	Backup    bool   `group:"Remediation" help:"With --fix: keep the previous table as PATH.bak."`
	FixTrust  string `name:"fix-trust" enum:"verify,any" default:"verify" group:"Remediation" help:"verify: only write fingerprints of certificates that verify for the relay's name (system roots or --ca-file) and are valid now; any: write whatever is presented (self-signed setups; see README: whoever answers for the relay's name can then relay). Default: ${default}."`
	CAFile    string `name:"ca-file" placeholder:"PATH" group:"Remediation" help:"PEM file of CA certificates to verify relay certificates with, instead of the system roots."`

	EventState     string   `name:"event-state" placeholder:"$SERVICESTATE$" group:"Event handler" help:"Run as an event handler: the service state; act only on the states of --fix-on-state."`
	EventStateType string   `name:"event-state-type" placeholder:"$SERVICESTATETYPE$" group:"Event handler" help:"The state type (SOFT or HARD); act only on --fix-on-type."`
	EventAttempt   string   `name:"event-attempt" placeholder:"$SERVICEATTEMPT$" group:"Event handler" help:"The check attempt, for the output."`
	FixOnState     []string `name:"fix-on-state" default:"CRITICAL" placeholder:"STATE" group:"Event handler" help:"States to act on, comma-separated or repeated. Default: ${default}."`
	FixOnType      []string `name:"fix-on-type" default:"HARD" placeholder:"TYPE" group:"Event handler" help:"State types to act on (SOFT, HARD). Default: ${default}."`
}

func (f *fixFlags) any() bool { return f.Fix || f.FixTo != "" || f.Diff }

func (f *fixFlags) validateFix(tables int) error {
	n := 0
	for _, b := range []bool{f.Fix, f.FixTo != "", f.Diff} {
		if b {
			n++
		}
	}
	if n > 1 {
		return usagef("--fix, --fix-to and --diff exclude each other")
	}
	if f.FixTo != "" && tables != 1 {
		return usagef("--fix-to needs exactly one table, got %d", tables)
	}
	if (f.NoPostmap || f.Reload || f.Backup) && !f.Fix {
		return usagef("--no-postmap, --reload and --backup go with --fix")
	}
	if f.EventState != "" && !f.any() {
		return usagef("--event-state makes an event handler: add --fix (or --fix-to, --diff)")
	}
	return nil
}

// skipEvent tells whether an event handler run should do nothing, and why.
func (f *fixFlags) skipEvent() (string, bool) {
	if f.EventState == "" {
		return "", false
	}
	in := func(v string, list []string) bool {
		return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), v) })
	}
	state, typ := strings.ToUpper(f.EventState), strings.ToUpper(f.EventStateType)
	if in(state, f.FixOnState) && (typ == "" || in(typ, f.FixOnType)) {
		return "", false
	}
	what := state
	if typ != "" {
		what += " " + typ
	}
	if f.EventAttempt != "" {
		what += " (attempt " + f.EventAttempt + ")"
	}
	return fmt.Sprintf("event handler: nothing to do for %s; acting on %s %s", what,
		strings.Join(f.FixOnState, ","), strings.Join(f.FixOnType, ",")), true
}

// remediate runs --fix, --fix-to or --diff after the check has judged.
// It adds what it did to res, may write a diff or a table to out, and
// returns the worst state of its own failures (OK when all went well).
func (c *checkCmd) remediate(ctx context.Context, cfg check.Config, obs []observed, recv []check.Receiver, res *nagios.Result, out io.Writer, configDir string) (failed nagios.State) {
	// note adds what the remediation did or why it failed; done notes do
	// not change the state: it still says what the check found.
	note := func(s nagios.State, msg string) {
		failed = nagios.Worst(failed, s)
		res.Raise(s)
		res.Long = append(res.Long, "["+s.String()+"] "+msg)
		res.Summary += "; " + msg
	}
	done := func(msg string) {
		res.Long = append(res.Long, "[FIX] "+msg)
		res.Summary += "; " + msg
	}
	relays, err := c.fixRelays(cfg, obs)
	if err != nil {
		note(nagios.Unknown, "fix refused: "+err.Error())
		return failed
	}
	opts := fix.Options{Config: cfg, KeepOld: c.KeepOld}
	// plan parses content, refuses a table that does not parse cleanly and
	// returns the corrected bytes; opts.Elsewhere is set per list below.
	plan := func(path string, content []byte) ([]byte, []fix.Change, error) {
		t, err := table.Parse(path, content)
		if err != nil {
			return nil, nil, err
		}
		if len(t.Warnings) > 0 {
			return nil, nil, fmt.Errorf("%s does not parse cleanly (%s); not rewritten: correct it by hand first", path, t.Warnings[0])
		}
		changes := fix.Plan(t, relays, opts)
		if err := fix.Apply(t, changes); err != nil {
			return nil, nil, err
		}
		return t.Bytes(), changes, nil
	}

	// In a relay_clientcerts list of several tables the fix goes to the
	// first readable one; a certificate any table of the list holds needs
	// nothing, as Postfix searches them all.
	first := map[int]int{} // Group -> index of its first readable table
	for i, rc := range recv {
		if _, ok := first[rc.Group]; !ok && rc.Table != nil && rc.Group != 0 {
			first[rc.Group] = i
		}
	}
	for i, rc := range recv {
		if rc.Table == nil {
			continue
		}
		spec := rc.Spec.String()
		if rc.Group != 0 && first[rc.Group] != i {
			res.Long = append(res.Long, fmt.Sprintf("[FIX] %s: not changed: fixes to its relay_clientcerts list go to %s", spec, recv[first[rc.Group]].Spec))
			continue
		}
		opts.Elsewhere = func(fp string) bool {
			for j, other := range recv {
				if j != i && other.Table != nil && other.Group != 0 && other.Group == rc.Group {
					if _, ok := other.Table.Lookup(fp); ok {
						return true
					}
				}
			}
			return false
		}
		switch {
		case c.Diff || c.FixTo != "":
			cur := rc.Table.Bytes()
			next, changes, err := plan(rc.Spec.Path, cur)
			if err != nil {
				note(nagios.Unknown, "fix refused: "+err.Error())
				continue
			}
			for _, ch := range changes {
				res.Long = append(res.Long, "[FIX] "+ch.String())
			}
			if c.Diff {
				fmt.Fprint(out, remedy.Diff(rc.Spec.Path, rc.Spec.Path+" (fixed)", cur, next))
				done(fmt.Sprintf("diff: %s in %s, nothing written", countChanges(changes), spec))
				continue
			}
			if c.FixTo == "-" {
				out.Write(next)
			} else if err := renameio.WriteFile(c.FixTo, next, 0o644); err != nil {
				note(nagios.Critical, fmt.Sprintf("fix: writing %s: %v", c.FixTo, err))
				continue
			}
			done(fmt.Sprintf("fix: %s of %s written to %s", countChanges(changes), spec, c.FixTo))
		case c.Fix:
			var changes []fix.Change
			var pmap, pmapErr, reloadErr error
			var postmapped, reloaded bool
			// postmap (and reload) run under the table's lock, so the
			// compiled table is made from exactly what was written and a
			// concurrent fixer cannot interleave.
			after := func(changed bool) error {
				stalePath, _ := stale(rc.Spec)
				if !rc.Spec.NeedsPostmap() || !changed && stalePath == "" {
					return nil
				}
				if c.NoPostmap {
					pmap = errNoPostmap
					return nil
				}
				if pmapErr = remedy.Postmap(ctx, "", configDir, spec); pmapErr != nil {
					return nil
				}
				postmapped = true
				if c.Reload && changed {
					if reloadErr = remedy.Reload(ctx, "", configDir); reloadErr == nil {
						reloaded = true
					}
				}
				return nil
			}
			r, err := remedy.Update(ctx, rc.Spec.Path, remedy.Options{Backup: c.Backup, After: after}, func(cur []byte) ([]byte, error) {
				next, ch, err := plan(rc.Spec.Path, cur)
				changes = ch
				return next, err
			})
			if err != nil {
				note(nagios.Unknown, "fix: "+err.Error())
				continue
			}
			for _, ch := range changes {
				res.Long = append(res.Long, "[FIX] "+ch.String())
			}
			what := fmt.Sprintf("fix: %s in %s", countChanges(changes), spec)
			if r.Backup != "" {
				what += ", backup " + r.Backup
			}
			switch {
			case pmap != nil:
				what += "; postmap not run (--no-postmap): Postfix does not see it yet"
			case pmapErr != nil:
				note(nagios.Critical, what+"; postmap FAILED, Postfix still uses the old table: "+pmapErr.Error()+"; hint: fix the cause and run postmap "+spec)
				continue
			case postmapped:
				what += ", postmap done"
			}
			if reloadErr != nil {
				note(nagios.Critical, what+"; postfix reload FAILED: "+reloadErr.Error())
				continue
			}
			if reloaded {
				what += ", postfix reloaded"
			}
			done(what)
		}
	}
	return failed
}

var errNoPostmap = errors.New("--no-postmap")

func countChanges(ch []fix.Change) string {
	rep, add := 0, 0
	for _, c := range ch {
		if c.OldKey != "" {
			rep++
		} else {
			add++
		}
	}
	if rep+add == 0 {
		return "no change"
	}
	return fmt.Sprintf("%d replaced, %d added", rep, add)
}

// fixRelays groups the observations by relay and, unless --fix-trust any,
// refuses certificates that do not verify for the relay's name.
func (c *checkCmd) fixRelays(cfg check.Config, obs []observed) ([]fix.Relay, error) {
	var roots *x509.CertPool
	if c.CAFile != "" {
		cas, err := certfile.Read(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		roots = x509.NewCertPool()
		for _, ca := range cas {
			roots.AddCert(ca)
		}
	}
	var relays []fix.Relay
	index := map[string]int{}
	now := time.Now()
	for _, o := range obs {
		key := o.Name
		if o.Addr == "" {
			key = "file:" + o.Name
		}
		i, ok := index[key]
		if !ok {
			i = len(relays)
			index[key] = i
			relays = append(relays, fix.Relay{Label: check.Label(o.Observation), Complete: true})
		}
		leaf := o.Leaf()
		if leaf == nil {
			relays[i].Complete = false
			continue
		}
		if c.FixTrust != "any" {
			// The name the certificate must be valid for is the one the
			// admin gave with -H (a name or an IP address): never a name
			// taken from the certificate itself. A certificate file has
			// no such name; its chain and validity are still checked.
			name := o.Host
			if o.Addr == "" {
				name = relays[i].Label
			}
			if err := fix.Verify(o.Chain, name, roots, now); err != nil {
				return nil, fmt.Errorf("%s: %w; hint: give the issuing CA with --ca-file, or --fix-trust any for self-signed relays (see README, trust)", o.Where(), err)
			}
		}
		if !slices.ContainsFunc(relays[i].Certs, leaf.Equal) {
			relays[i].Certs = append(relays[i].Certs, leaf)
		}
	}
	return relays, nil
}
