package fix

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// Mode says what Run does with the corrected tables.
type Mode int

const (
	// Preview only plans: each TableReport carries the table as read and
	// as corrected (for a diff, or a copy written elsewhere); nothing is
	// written, nothing is run.
	Preview Mode = iota
	// Write rewrites each table in place through Hooks.Update, then runs
	// postmap (and postfix reload) under the table's lock.
	Write
)

// Request is one remediation: what was seen of the relays, the receivers'
// tables, and the policy.
type Request struct {
	Relays    []Relay
	Receivers []check.Receiver // as read; those with a nil Table are left alone
	Config    check.Config     // digest and match mode
	// TrustAny writes whatever was presented (self-signed set-ups);
	// otherwise a certificate must verify for its relay's name with Verify,
	// against Roots (the system's when nil) at Now (time.Now when zero).
	TrustAny  bool
	Roots     *x509.CertPool
	Now       time.Time
	KeepOld   bool // append instead of replacing stale entries
	Mode      Mode
	Backup    bool // Write: keep the previous table (Hooks.Update does)
	NoPostmap bool // Write: do not run postmap
	Reload    bool // Write: run postfix reload after postmap, when a table changed
	Hooks     Hooks
}

// Hooks are the side effects Run needs in Write mode, kept elsewhere
// (package remedy): Run itself touches no file and runs no program.
type Hooks struct {
	// Update rewrites the table file at path with what edit returns for
	// its current bytes, under an exclusive lock, keeping the old content
	// as a backup when backup is set; after runs under the same lock once
	// the table is written or found unchanged. It returns the backup's
	// path. Required in Write mode.
	Update func(ctx context.Context, path string, backup bool, after func(changed bool) error, edit func(current []byte) ([]byte, error)) (backupPath string, err error)
	// Stale tells whether the compiled file of a table is older than its
	// source or missing. Nil counts every compiled table as stale.
	Stale func(spec table.Spec) bool
	// Postmap compiles a table; Reload makes Postfix re-read its tables.
	// Postmap is required in Write mode for a table type that needs it,
	// Reload with Request.Reload.
	Postmap func(ctx context.Context, spec table.Spec) error
	Reload  func(ctx context.Context) error
}

// Step is the outcome of postmap or of postfix reload.
type Step int

const (
	NotRun  Step = iota // not needed: nothing changed, or the type has no compiled file
	Skipped             // needed but not asked for (NoPostmap)
	Done
	Failed
)

// Report is what Run did, table by table, in the order of the receivers.
type Report struct {
	Tables []TableReport
}

// TableReport is what Run did to one table.
type TableReport struct {
	Spec table.Spec
	// ListHead, when set, is the table of the same relay_clientcerts list
	// that the fix goes to; this one was not changed.
	ListHead *table.Spec
	Changes  []Change
	// Before and After are the table as read and as corrected (under the
	// lock in Write mode). After is set even when the fix is refused, so
	// that a preview can show what was refused.
	Before, After []byte
	// Refused, when set, is why trust refused the fix: nothing was
	// written. It is an *UntrustedError.
	Refused error
	// Err, when set, is why the table could not be corrected or written
	// (it does not parse cleanly, the write failed): nothing was written.
	Err     error
	Changed bool   // Write: the table file was replaced
	Backup  string // Write: the backup written, or empty
	Postmap Step
	// PostmapErr and ReloadErr say why postmap or postfix reload failed.
	PostmapErr error
	Reload     Step
	ReloadErr  error
}

// UntrustedError says why a certificate may not be written for a relay.
type UntrustedError struct {
	Where string // where the certificate was seen
	Err   error
}

func (e *UntrustedError) Error() string { return e.Where + ": " + e.Err.Error() }
func (e *UntrustedError) Unwrap() error { return e.Err }

// Run plans the fix of every receiver's table and, in Write mode, makes
// it. Failures are per table, in the report: one table that cannot be
// fixed does not stop the others.
func Run(ctx context.Context, req Request) Report {
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	// Trust per relay name and certificate, each verified once.
	verdicts := map[[2]string]error{}
	opts := Options{Config: req.Config, KeepOld: req.KeepOld}
	opts.Trust = func(r Relay, c Cert) error {
		if req.TrustAny {
			return nil
		}
		key := [2]string{r.Name, string(c.Leaf().Raw)}
		err, ok := verdicts[key]
		if !ok {
			if err = Verify(c.Chain, r.Name, req.Roots, now); err != nil {
				err = &UntrustedError{Where: c.Where, Err: err}
			}
			verdicts[key] = err
		}
		return err
	}

	recv := req.Receivers
	first := map[int]int{} // Group -> index of its first readable table
	for i, rc := range recv {
		if _, ok := first[rc.Group]; !ok && rc.Table != nil && rc.Group != 0 {
			first[rc.Group] = i
		}
	}
	var rep Report
	for i, rc := range recv {
		if rc.Table == nil {
			continue
		}
		tr := TableReport{Spec: rc.Spec}
		if rc.Group != 0 && first[rc.Group] != i {
			head := recv[first[rc.Group]].Spec
			tr.ListHead = &head
			rep.Tables = append(rep.Tables, tr)
			continue
		}
		o := opts
		o.Elsewhere = func(fp string) bool {
			for j, other := range recv {
				if j != i && other.Table != nil && other.Group != 0 && other.Group == rc.Group {
					if _, ok := other.Table.Lookup(fp); ok {
						return true
					}
				}
			}
			return false
		}
		// plan corrects content; a refusal still returns the corrected
		// bytes, for the report.
		plan := func(content []byte) error {
			tr.Before, tr.After, tr.Changes, tr.Refused = content, nil, nil, nil
			t, err := table.Parse(rc.Spec.Path, content)
			if err != nil {
				return err
			}
			if len(t.Warnings) > 0 {
				return fmt.Errorf("%s does not parse cleanly (%s); not rewritten: correct it by hand first", rc.Spec.Path, t.Warnings[0])
			}
			tr.Changes = Plan(t, req.Relays, o)
			if err := Apply(t, tr.Changes); err != nil {
				return err
			}
			tr.After = t.Bytes()
			tr.Refused = Refused(tr.Changes)
			return tr.Refused
		}
		if req.Mode == Preview {
			if err := plan(rc.Table.Bytes()); err != nil && tr.Refused == nil {
				tr.Err = err
			}
			rep.Tables = append(rep.Tables, tr)
			continue
		}
		write(ctx, req, rc.Spec, &tr, plan)
		rep.Tables = append(rep.Tables, tr)
	}
	return rep
}

// write rewrites the table of spec with plan, then runs postmap and
// reload under its lock.
func write(ctx context.Context, req Request, spec table.Spec, tr *TableReport, plan func([]byte) error) {
	h := req.Hooks
	if h.Update == nil {
		tr.Err = errors.New("fix: no way to write the table (Hooks.Update unset)")
		return
	}
	after := func(changed bool) error {
		tr.Changed = changed
		if !spec.NeedsPostmap() || !changed && h.Stale != nil && !h.Stale(spec) {
			return nil
		}
		if req.NoPostmap {
			tr.Postmap = Skipped
			return nil
		}
		if h.Postmap == nil {
			tr.Postmap, tr.PostmapErr = Failed, errors.New("no way to run postmap (Hooks.Postmap unset)")
			return nil
		}
		if tr.PostmapErr = h.Postmap(ctx, spec); tr.PostmapErr != nil {
			tr.Postmap = Failed
			return nil
		}
		tr.Postmap = Done
		if !req.Reload || !changed {
			return nil
		}
		if h.Reload == nil {
			tr.Reload, tr.ReloadErr = Failed, errors.New("no way to reload Postfix (Hooks.Reload unset)")
			return nil
		}
		if tr.ReloadErr = h.Reload(ctx); tr.ReloadErr != nil {
			tr.Reload = Failed
			return nil
		}
		tr.Reload = Done
		return nil
	}
	backup, err := h.Update(ctx, spec.Path, req.Backup, after, func(cur []byte) ([]byte, error) {
		if err := plan(cur); err != nil {
			return nil, err
		}
		return tr.After, nil
	})
	tr.Backup = backup
	if err != nil {
		tr.Changed = false
		if tr.Refused == nil {
			tr.Err = err
		}
	}
}
