package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

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
	Fix        bool   `group:"Remediation" help:"Rewrite each --table in place so every relay's current certificate is listed, then run postmap (and postfix reload with --reload)."`
	FixTo      string `name:"fix-to" placeholder:"PATH" group:"Remediation" help:"Write the corrected table to PATH instead (exactly one table or relay_clientcerts list, from --table or --postconf): a new regular file, or a regular file replaced under its lock with its owner and mode kept, never a link or a device; PATH naming the table itself updates it under its lock, without postmap; - writes it to stdout and the status to stderr."`
	Diff       bool   `group:"Remediation" help:"Print a unified diff of what --fix would change; change nothing."`
	NoPostmap  bool   `name:"no-postmap" group:"Remediation" help:"With --fix: do not run postmap."`
	Reload     bool   `group:"Remediation" help:"With --fix: run postfix reload after postmap."`
	KeepOld    bool   `name:"keep-old" group:"Remediation" help:"Keep replaced entries (a rollover window): add new lines instead of replacing stale keys."`
	Backup     bool   `group:"Remediation" help:"With --fix: keep the previous table as PATH.bak."`
	BreakLinks bool   `name:"break-links" group:"Remediation" help:"With --fix or --fix-to: replace a file that has other hard links (they keep the old table); without it such a file is refused."`
	FixTrust   string `name:"fix-trust" enum:"verify,any" default:"verify" group:"Remediation" help:"verify: only write fingerprints of certificates that verify for the relay's name (system roots or --ca-file) and are valid now; any: write whatever is presented (self-signed setups; see README: whoever answers for the relay's name can then relay). Default: ${default}."`
	CAFile     string `name:"ca-file" placeholder:"PATH" group:"Remediation" help:"PEM file of CA certificates to verify relay certificates with, instead of the system roots."`

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
	if f.BreakLinks && !f.Fix && f.FixTo == "" {
		return usagef("--break-links goes with --fix or --fix-to")
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

// remediate runs --fix, --fix-to or --diff after the check has judged:
// lib/fix decides and (with --fix) writes through remedy; this renders its
// report. It adds what it did to res, may write a diff or a table to out,
// and returns the worst state of its own failures (OK when all went well).
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
	// --fix-to naming the table itself is an update of that table: under
	// its lock, re-planned on what is read under it, never a plain write.
	self, err := c.fixToTable(recv)
	if err != nil {
		note(nagios.Unknown, "fix refused: "+err.Error())
		return failed
	}
	broken := map[string]int{} // table path -> hard links left with the old table
	req, err := c.fixRequest(cfg, obs, recv, configDir, self, broken)
	if err != nil {
		note(nagios.Unknown, "fix refused: "+err.Error())
		return failed
	}
	changes := func(tr fix.TableReport) {
		for _, ch := range tr.Changes {
			res.Long = append(res.Long, "[FIX] "+ch.String())
		}
	}
	for _, tr := range fix.Run(ctx, req).Tables {
		spec := tr.Spec.String()
		switch {
		case tr.ListHead != nil:
			res.Long = append(res.Long, fmt.Sprintf("[FIX] %s: not changed: fixes to its relay_clientcerts list go to %s", spec, tr.ListHead))
		case tr.Err != nil && req.Mode == fix.Preview:
			note(nagios.Unknown, "fix refused: "+tr.Err.Error())
		case tr.Err != nil:
			note(nagios.Unknown, "fix: "+writeError(tr.Err))
		case c.Diff:
			// A refused fix writes nothing anyway: its diff is shown,
			// marked, for the admin to judge.
			changes(tr)
			name := tr.Spec.Path + " (fixed)"
			if tr.Refused != nil {
				name = tr.Spec.Path + " (fixed, REFUSED: not written)"
			}
			fmt.Fprint(out, remedy.Diff(tr.Spec.Path, name, tr.Before, tr.After))
			if tr.Refused != nil {
				note(nagios.Unknown, fmt.Sprintf("fix refused: %s; diff: %s in %s shown as refused, nothing written", refusal(tr.Refused), countChanges(tr.Changes), spec))
				continue
			}
			done(fmt.Sprintf("diff: %s in %s, nothing written", countChanges(tr.Changes), spec))
		case tr.Refused != nil:
			note(nagios.Unknown, "fix refused: "+refusal(tr.Refused))
		case c.FixTo != "" && self != "":
			changes(tr)
			what := fmt.Sprintf("fix: %s of %s written to %s, the table itself, under its lock", countChanges(tr.Changes), spec, c.FixTo)
			if tr.Postmap == fix.Skipped {
				what += "; postmap not run (--fix-to): Postfix does not see it yet"
			}
			done(what + linksNote(broken[tr.Spec.Path]))
		case c.FixTo != "":
			changes(tr)
			if c.FixTo == "-" {
				out.Write(tr.After)
				done(fmt.Sprintf("fix: %s of %s written to %s", countChanges(tr.Changes), spec, c.FixTo))
				continue
			}
			r, err := remedy.Write(ctx, c.FixTo, tr.After, 0o644, remedy.Options{BreakLinks: c.BreakLinks})
			if err != nil {
				note(nagios.Unknown, "fix: "+writeError(err))
				continue
			}
			done(fmt.Sprintf("fix: %s of %s written to %s", countChanges(tr.Changes), spec, c.FixTo) + linksNote(r.BrokenLinks))
		default:
			changes(tr)
			what := fmt.Sprintf("fix: %s in %s", countChanges(tr.Changes), spec)
			if tr.Backup != "" {
				what += ", backup " + tr.Backup
			}
			what += linksNote(broken[tr.Spec.Path])
			switch tr.Postmap {
			case fix.Skipped:
				what += "; postmap not run (--no-postmap): Postfix does not see it yet"
			case fix.Failed:
				note(nagios.Critical, what+"; postmap FAILED, Postfix still uses the old table: "+tr.PostmapErr.Error()+"; hint: fix the cause and run postmap "+spec)
				continue
			case fix.Done:
				what += ", postmap done"
			}
			switch tr.Reload {
			case fix.Failed:
				note(nagios.Critical, what+"; postfix reload FAILED: "+tr.ReloadErr.Error())
				continue
			case fix.Done:
				what += ", postfix reloaded"
			}
			done(what)
		}
	}
	return failed
}

// writeError says why a table or --fix-to file was not written; a table
// refused for its hard links names --break-links.
func writeError(err error) string {
	var hl *remedy.HardLinkError
	if errors.As(err, &hl) {
		return fmt.Sprintf("refusing to replace %s: it has %d hard links, and replacing it would leave the other %d with the old table; hint: make the other names symlinks to %s, or give --break-links to replace it anyway",
			hl.Path, hl.Links, hl.Links-1, hl.Path)
	}
	return err.Error()
}

// linksNote says, for a file replaced with --break-links, that its other
// hard links still hold the old table.
func linksNote(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "; the table had 1 other hard link; it still holds the old table"
	}
	return fmt.Sprintf("; the table had %d other hard links; they still hold the old table", n)
}

// fixToTable tells whether --fix-to names the file of a table the check
// read, as the file system resolves both, and returns the --fix-to path
// then ("" otherwise, and for - or a path that does not exist). A --fix-to
// naming a table of the list that the fix does not go to is refused: the
// corrected list head would overwrite it.
func (c *checkCmd) fixToTable(recv []check.Receiver) (string, error) {
	if c.FixTo == "" || c.FixTo == "-" {
		return "", nil
	}
	to, err := os.Stat(c.FixTo)
	if err != nil {
		return "", nil // a new file, or one remedy.Write will refuse
	}
	head := true
	for _, rc := range recv {
		if rc.Table == nil {
			continue
		}
		if fi, err := os.Stat(rc.Spec.Path); err == nil && os.SameFile(fi, to) {
			if !head {
				return "", fmt.Errorf("--fix-to %s is %s, another table of the relay_clientcerts list than the one the fix goes to; hint: give another path, or --fix", c.FixTo, rc.Spec)
			}
			return c.FixTo, nil
		}
		head = false
	}
	return "", nil
}

// refusal says why trust refused a fix, and what the admin can do.
func refusal(err error) string {
	return err.Error() + "; hint: give the issuing CA with --ca-file, or --fix-trust any for self-signed relays (see README, trust)"
}

// fixRequest turns the flags, the observations and the tables into
// lib/fix's request, with remedy's write, postmap and reload as its hooks.
// self, when set, is the --fix-to path naming the table itself: the table
// is then updated through that path (Write mode, without postmap). Each
// table written records in broken how many other hard links kept its old
// content (--break-links).
func (c *checkCmd) fixRequest(cfg check.Config, obs []observed, recv []check.Receiver, configDir, self string, broken map[string]int) (fix.Request, error) {
	req := fix.Request{
		Relays:    fixRelays(obs),
		Receivers: recv,
		Config:    cfg,
		TrustAny:  c.FixTrust == "any",
		KeepOld:   c.KeepOld,
		Backup:    c.Backup,
		NoPostmap: c.NoPostmap,
		Reload:    c.Reload,
		Hooks: fix.Hooks{
			Update: func(ctx context.Context, path string, backup bool, after func(bool) error, edit func([]byte) ([]byte, error)) (string, error) {
				through := path
				if self != "" {
					through = self
				}
				r, err := remedy.Update(ctx, through, remedy.Options{Backup: backup, After: after, BreakLinks: c.BreakLinks}, edit)
				broken[path] = r.BrokenLinks
				return r.Backup, err
			},
			Stale: func(s table.Spec) bool {
				p, _ := stale(s)
				return p != ""
			},
			Postmap: func(ctx context.Context, s table.Spec) error { return postfix.Postmap(ctx, "", configDir, s.String()) },
			Reload:  func(ctx context.Context) error { return postfix.Reload(ctx, "", configDir) },
		},
	}
	if c.Fix {
		req.Mode = fix.Write
	}
	if self != "" {
		req.Mode, req.NoPostmap = fix.Write, true
	}
	if c.CAFile != "" && !req.TrustAny {
		cas, err := certfile.Read(c.CAFile)
		if err != nil {
			return req, fmt.Errorf("--ca-file: %w", err)
		}
		req.Roots = x509.NewCertPool()
		for _, ca := range cas {
			req.Roots.AddCert(ca)
		}
	}
	return req, nil
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

// fixRelays groups the observations by relay: a -H name with all its
// addresses, or a certificate file. The name a relay's certificates must
// be valid for is the one the admin gave with -H (a name or an IP
// address), never a name taken from a certificate; a certificate file has
// no such name, so its chain and validity are checked for its label.
// Only a completed handshake puts a chain into an observation (see
// probeOne), so every chain here is proven.
func fixRelays(obs []observed) []fix.Relay {
	var relays []fix.Relay
	index := map[string]int{}
	for _, o := range obs {
		key, name := o.Name, o.Host
		if o.Addr == "" {
			key, name = "file:"+o.Name, check.Label(o.Observation)
		}
		i, ok := index[key]
		if !ok {
			i = len(relays)
			index[key] = i
			relays = append(relays, fix.Relay{Name: name, Label: check.Label(o.Observation), Complete: true})
		}
		leaf := o.Leaf()
		if leaf == nil || !o.complete {
			// An address that may serve a certificate not seen (a key
			// type that could not be asked for) may still present the
			// entry a replace would drop: only add.
			relays[i].Complete = false
		}
		if leaf == nil {
			continue
		}
		if !slices.ContainsFunc(relays[i].Certs, func(c fix.Cert) bool { return c.Leaf().Equal(leaf) }) {
			relays[i].Certs = append(relays[i].Certs, fix.Cert{Where: o.Where(), Chain: o.Chain, Proven: true})
		}
	}
	return relays
}
