package check

// Compiled tables. Postfix reads what postmap compiled (PATH.db,
// PATH.lmdb, ...), not the source the check parses, so Consult learns
// what the compiled table holds:
//
//  1. Whenever postmap can be run, it asks the compiled table as Postfix
//     opens it ("postmap [-c DIR] -q - TYPE:PATH", with main.cf's type),
//     for the observed fingerprints; the listing verdict follows its
//     answer. A lookup that postmap refuses (btree: over a hash-format
//     .db, a missing lmdb: support, a damaged file) is what Postfix
//     answers with "451 4.3.0 Temporary lookup failure": CRITICAL, with
//     postmap's message.
//  2. Without postmap (a monitoring host without Postfix, or without its
//     main.cf), the source is judged, and the times of the compiled file
//     say whether it is current. The modification time alone cannot say
//     so: cp -p, rsync -a, tar and mv restore an old one. So the status-
//     change time counts too, which no program can set back: the compiled
//     file is current only when it is newer by both, older when it is
//     older by either, and of unknown age when a time is equal (rsync and
//     tar copies, or an edit and a postmap within one tick of the file
//     system's clock). Older and unknown both draw a "run postmap"
//     warning; a missing compiled file is CRITICAL, with or without
//     postmap.

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfix"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// Age says how a compiled table's times compare with its source's.
type Age int

// The ages of a compiled table.
const (
	AgeNone    Age = iota // no compiled file: texthash:, or the source could not be examined
	AgeNewer              // newer than the source by modification and status-change time
	AgeUnknown            // not older, but not newer by both times: an equal time, or no status-change time
	AgeOlder              // older than the source by modification or status-change time
	AgeMissing            // a compiled file does not exist
)

// String returns a short name of a.
func (a Age) String() string {
	switch a {
	case AgeNewer:
		return "newer"
	case AgeUnknown:
		return "unknown"
	case AgeOlder:
		return "older"
	case AgeMissing:
		return "missing"
	}
	return "none"
}

// fileTimes are the times of a file that say whether it changed.
type fileTimes struct {
	mtime, ctime time.Time // ctime zero when the system does not say
}

// compare returns the age of a compiled file with times db against its
// source with times src.
func compare(src, db fileTimes) Age {
	switch {
	case db.mtime.Before(src.mtime), db.ctime.Before(src.ctime):
		return AgeOlder
	case db.mtime.After(src.mtime) && db.ctime.After(src.ctime):
		return AgeNewer
	}
	return AgeUnknown
}

// CompiledAge returns the compiled file of spec that Postfix reads and
// its age against the source; for a type with several files (dbm:), the
// worst of them.
func CompiledAge(spec table.Spec) (compiled string, age Age) {
	src, err := os.Stat(spec.Path)
	if err != nil || !spec.NeedsPostmap() {
		return "", AgeNone
	}
	for _, p := range spec.Compiled() {
		fi, err := os.Stat(p)
		if err != nil {
			return p, AgeMissing
		}
		if a := compare(times(src), times(fi)); a > age {
			compiled, age = p, a
		}
	}
	return compiled, age
}

// Consult learns, for every receiver read, what its compiled table holds
// (see the rules at the top of this file): it sets Compiled and Age, and
// InForce or QueryErr when it asked postmap -q for keys, the observed
// fingerprints. postmap is the command to run ("postmap" when empty, found
// as lib/remedy finds it); configDir is main.cf's directory, "" for
// Postfix's default. ctx bounds the queries.
func Consult(ctx context.Context, postmap, configDir string, recv []Receiver, keys []string) {
	for i := range recv {
		rc := &recv[i]
		if rc.Table == nil {
			continue
		}
		rc.Compiled, rc.Age = CompiledAge(rc.Spec)
		if rc.Age == AgeNone || rc.Age == AgeMissing || len(keys) == 0 {
			continue
		}
		found, err := postfix.Query(ctx, postmap, configDir, rc.Spec.String(), keys)
		if err != nil {
			if lookupFailed(ctx, err) {
				rc.QueryErr = err
			}
			continue
		}
		rc.InForce = make(map[string]bool, len(found))
		for k := range found {
			rc.InForce[table.Fold(k)] = true
		}
	}
}

// lookupFailed reports whether err, from postmap -q, says that postmap ran
// and could not read the table, as Postfix could not. A postmap that is
// not there, that ran out of time, or that cannot read its own main.cf
// (installed, but Postfix is not set up on this host) says nothing of the
// table: the check then goes by the times.
func lookupFailed(ctx context.Context, err error) bool {
	var exit *exec.ExitError
	return ctx.Err() == nil && errors.As(err, &exit) && !strings.Contains(err.Error(), "/main.cf: ")
}
