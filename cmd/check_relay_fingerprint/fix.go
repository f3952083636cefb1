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

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/certfile"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fix"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfix"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/remedy"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// fixFlags are the remediation flags of the check command.
type fixFlags struct {
	Fix       bool   `group:"Remediation" help:"Rewrite each --table in place so every relay's current certificate is listed, then run postmap (and postfix reload with --reload)."`
	FixTo     string `name:"fix-to" placeholder:"PATH" group:"Remediation" help:"Write the corrected table to PATH instead (exactly one table or relay_clientcerts list, from --table or --postconf); - writes it to stdout and the status to stderr."`
	Diff      bool   `group:"Remediation" help:"Print a unified diff of what --fix would change; change nothing."`
	NoPostmap bool   `name:"no-postmap" group:"Remediation" help:"With --fix: do not run postmap."`
	Reload    bool   `group:"Remediation" help:"With --fix: run postfix reload after postmap."`
	KeepOld   bool   `name:"keep-old" group:"Remediation" help:"Keep replaced entries (a rollover window): add new lines instead of replacing stale keys."`
	Backup    bool   `group:"Remediation" help:"With --fix: keep the previous table as PATH.bak."`
	FixTrust  string `name:"fix-trust" enum:"verify,any" default:"verify" group:"Remediation" help:"verify: only write fingerprints of certificates that verify for the relay's name (system roots or --ca-file) and are valid now; any: write whatever is presented (self-signed setups; see README: whoever answers for the relay's name can then relay). Default: ${default}."`
	CAFile    string `name:"ca-file" placeholder:"PATH" group:"Remediation" help:"PEM file of CA certificates to verify relay certificates with, instead of the system roots."`

	EventState     *string  `name:"event-state" placeholder:"$SERVICESTATE$" group:"Event handler" help:"Run as an event handler: the service state (OK, WARNING, CRITICAL or UNKNOWN); act only on the states of --fix-on-state. Any other value, empty included, is refused and nothing is done."`
	EventStateType *string  `name:"event-state-type" placeholder:"$SERVICESTATETYPE$" group:"Event handler" help:"The state type (SOFT or HARD); act only on --fix-on-type. Needed with --event-state unless --fix-on-type is SOFT,HARD."`
	EventAttempt   string   `name:"event-attempt" placeholder:"$SERVICEATTEMPT$" group:"Event handler" help:"The check attempt, for the output."`
	FixOnState     []string `name:"fix-on-state" default:"CRITICAL" placeholder:"STATE" group:"Event handler" help:"States to act on, comma-separated or repeated. Default: ${default}."`
	FixOnType      []string `name:"fix-on-type" default:"HARD" placeholder:"TYPE" group:"Event handler" help:"State types to act on (SOFT, HARD). Default: ${default}."`
}

func (f *fixFlags) any() bool { return f.Fix || f.FixTo != "" || f.Diff }

func (f *fixFlags) validateFix() error {
	n := 0
	for _, b := range []bool{f.Fix, f.FixTo != "", f.Diff} {
		if b {
			n++
		}
	}
	if n > 1 {
		return usagef("--fix, --fix-to and --diff exclude each other")
	}
	if (f.NoPostmap || f.Reload || f.Backup) && !f.Fix {
		return usagef("--no-postmap, --reload and --backup go with --fix")
	}
	if f.EventState == nil {
		return nil
	}
	if !f.any() {
		return usagef("--event-state makes an event handler: add --fix (or --fix-to, --diff)")
	}
	// A value that is none of these is a macro that did not expand as
	// meant ($SERVICESTATE$ in a host's handler is empty, $HOSTSTATE$ is
	// UP or DOWN): acting on it would fix on states nobody chose.
	if err := oneOf("--event-state", *f.EventState, eventStates); err != nil {
		return err
	}
	if f.EventStateType != nil {
		if err := oneOf("--event-state-type", *f.EventStateType, eventTypes); err != nil {
			return err
		}
	}
	for _, s := range f.FixOnState {
		if err := oneOf("--fix-on-state", s, eventStates); err != nil {
			return err
		}
	}
	for _, s := range f.FixOnType {
		if err := oneOf("--fix-on-type", s, eventTypes); err != nil {
			return err
		}
	}
	if f.EventStateType == nil && !(containsFold(f.FixOnType, "SOFT") && containsFold(f.FixOnType, "HARD")) {
		return usagef("--event-state needs --event-state-type $SERVICESTATETYPE$ to act only on %s states (or --fix-on-type SOFT,HARD)",
			strings.Join(f.FixOnType, ","))
	}
	return nil
}

var (
	eventStates = []string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}
	eventTypes  = []string{"SOFT", "HARD"}
)

// oneOf refuses a flag value that is not one of the words in list (case
// does not matter).
func oneOf(flag, v string, list []string) error {
	if containsFold(list, v) {
		return nil
	}
	last := len(list) - 1
	return usagef("%s %q: expected %s or %s", flag, v, strings.Join(list[:last], ", "), list[last])
}

func containsFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), strings.TrimSpace(v)) })
}

// skipEvent tells whether an event handler run should do nothing, and why.
// validateFix has accepted the event flags.
func (f *fixFlags) skipEvent() (string, bool) {
	if f.EventState == nil {
		return "", false
	}
	state, typ := strings.ToUpper(strings.TrimSpace(*f.EventState)), ""
	if f.EventStateType != nil {
		typ = strings.ToUpper(strings.TrimSpace(*f.EventStateType))
	}
	if containsFold(f.FixOnState, state) && (typ == "" || containsFold(f.FixOnType, typ)) {
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
	relays, untrusted, err := c.fixRelays(cfg, obs)
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
		for _, ch := range changes {
			if err := untrusted[table.Fold(ch.NewKey)]; err != nil {
				return nil, nil, err
			}
		}
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
			} else if err := remedy.WriteFile(c.FixTo, next, 0o644); err != nil {
				note(nagios.Critical, "fix: "+err.Error())
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
				if pmapErr = postfix.Postmap(ctx, "", configDir, spec); pmapErr != nil {
					return nil
				}
				postmapped = true
				if c.Reload && changed {
					if reloadErr = postfix.Reload(ctx, "", configDir); reloadErr == nil {
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
				var ue untrustedError
				if errors.As(err, &ue) {
					note(nagios.Unknown, "fix refused: "+ue.Error())
				} else {
					note(nagios.Unknown, "fix: "+err.Error())
				}
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

// checkFixTo refuses --fix-to unless the tables, those of --postconf
// included, are one relay_clientcerts list: the corrected table is one
// file.
func (f *fixFlags) checkFixTo(specs []groupSpec) error {
	if f.FixTo == "" {
		return nil
	}
	lists := map[int]bool{}
	for _, s := range specs {
		lists[s.group] = true
	}
	if len(lists) != 1 {
		return usagef("--fix-to needs exactly one table (one relay_clientcerts list, from --table or --postconf), got %d", len(lists))
	}
	return nil
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

// untrustedError says why a certificate's fingerprint may not be written.
type untrustedError struct{ msg string }

func (e untrustedError) Error() string { return e.msg }

// fixRelays groups the observations by relay and, unless --fix-trust any,
// verifies each certificate for the relay's name. A certificate that does
// not verify still counts as presented (fix.Plan keeps the entries that
// list it) but lends the relay none of its names; untrusted maps its
// fingerprints, folded, to the refusal that a change writing one of them
// must end in. Trust is asked only of what would be written: a
// self-signed relay that is listed already does not block the fix of
// another.
func (c *checkCmd) fixRelays(cfg check.Config, obs []observed) (relays []fix.Relay, untrusted map[string]error, err error) {
	var roots *x509.CertPool
	if c.CAFile != "" {
		cas, err := certfile.Read(c.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--ca-file: %w", err)
		}
		roots = x509.NewCertPool()
		for _, ca := range cas {
			roots.AddCert(ca)
		}
	}
	untrusted = map[string]error{}
	trusted := map[string]bool{} // a certificate that verified for one name may be written
	index := map[string]int{}
	now := time.Now()
	for _, o := range obs {
		key := o.Name
		if o.Addr == "" {
			key = "file:" + o.Name
		}
		leaf := o.Leaf()
		var verr error
		if leaf != nil && c.FixTrust != "any" {
			// The name the certificate must be valid for is the one the
			// admin gave with -H (a name or an IP address): never a name
			// taken from the certificate itself. A certificate file has
			// no such name; its chain and validity are still checked.
			name := o.Host
			if o.Addr == "" {
				name = check.Label(o.Observation)
			}
			verr = fix.Verify(o.Chain, name, roots, now)
		}
		if verr != nil {
			// Its own relay entry: its names must not mark the trusted
			// relay's entries as replaceable.
			key = "untrusted:" + key
			refusal := untrustedError{fmt.Sprintf("%s: %v; hint: give the issuing CA with --ca-file, or --fix-trust any for self-signed relays (see README, trust)", o.Where(), verr)}
			untrusted[table.Fold(cfg.Digest.Cert(leaf))] = refusal
			untrusted[table.Fold(cfg.Digest.PublicKey(leaf))] = refusal
		} else if leaf != nil {
			trusted[table.Fold(cfg.Digest.Cert(leaf))] = true
			trusted[table.Fold(cfg.Digest.PublicKey(leaf))] = true
		}
		i, ok := index[key]
		if !ok {
			i = len(relays)
			index[key] = i
			relays = append(relays, fix.Relay{Label: check.Label(o.Observation), Complete: true})
		}
		if leaf == nil {
			relays[i].Complete = false
			continue
		}
		if !slices.ContainsFunc(relays[i].Certs, leaf.Equal) {
			relays[i].Certs = append(relays[i].Certs, leaf)
		}
	}
	for fp := range trusted {
		delete(untrusted, fp)
	}
	return relays, untrusted, nil
}
