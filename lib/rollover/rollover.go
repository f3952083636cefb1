// Package rollover installs a relay's new client certificate only once every
// receiver accepts it, so that a renewal with a new key never turns the
// relay's mail into "454 4.7.1 Relay access denied".
//
// It writes the files Postfix's smtp and lmtp clients read their client
// certificates from, as postfix.ClientCerts learns them:
//   - each file of PREFIX_tls_chain_files (key, certificate, chain, as one
//     PEM stream), the recommended set-up: a switch of key and certificate
//     is one rename;
//   - a legacy pair whose certificate and key are one file
//     (smtp_tls_cert_file = smtp_tls_key_file): the same, one rename.
//
// A legacy pair in two files (smtp_tls_cert_file and smtp_tls_key_file
// naming different files) is refused, with the conversion in the error.
// Two files cannot be replaced at once: an smtp process started between the
// two renames would load the new certificate with the old key (or the other
// way round), fail to load either, and with smtp_tls_security_level =
// encrypt defer every message until the next start. Rewriting main.cf to
// point at a fresh pair (postconf -e both names, one rename of main.cf) would
// avoid that, but it writes the admin's main.cf and master.cf overrides
// and leaves a trail of old files; one chain file is simpler and is what
// Postfix recommends since 3.4.
//
// The protocol of Run, for each file FILE it writes:
//
//  1. FILE must be a regular file with one link, that others may not
//     read (its mode is kept, and it will hold the new key), in a
//     directory that its group and others cannot write, owned like every
//     directory above it by root (else another user could swap it): a
//     symlink (into an ACME client's live directory, say) is refused, since
//     a rename would replace the link, not its target.
//  2. The sidecar FILE.lock is opened with O_NOFOLLOW|O_NONBLOCK|O_CREAT
//     (0600) and locked with flock(2), waiting with the caller's context:
//     a deploy hook and a timer never interleave. Everything below runs
//     under the locks (taken in path order).
//  3. The new material (given, or staged by an earlier run in
//     FILE.staged) is assigned to the files: a new certificate replaces the
//     live one of the same key type that shares a DNS name or common name
//     with it (see assign).
//  4. Every receiver is asked, with lib/receiver, whether each new
//     certificate may relay (EHLO, STARTTLS presenting it, MAIL, RCPT,
//     RSET, QUIT; never DATA).
//  5. When every address of every receiver accepts every new certificate,
//     each FILE is rewritten: the live leaves with the new ones in place,
//     written to a temp file in FILE's directory, chowned and chmodded to
//     FILE's owner and mode, read back as Postfix reads a chain file, fsynced
//     and renamed over FILE; the directory is fsynced and FILE.staged
//     removed. Then "postfix reload", once. Given new material is staged
//     for every file first (as in step 6), so that a run stopped between
//     two files leaves the rest staged.
//  6. Otherwise the live files are left alone; given new material is
//     written to FILE.staged (mode 0600, FILE's owner; atomically, as in
//     step 5), replacing what an earlier run staged. A later run without
//     new material starts again at step 3 with it: every staged
//     certificate is assigned again, to every file it belongs to (a run
//     killed between staging two files staged only the first).
//
// A run killed at any point leaves FILE either old or new (and at most a
// temp file .FILE.tmpNNN in its directory, removed by the next run under
// the lock); Postfix never reads a certificate with another key.
package rollover

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/certfile"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfix"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/receiver"
)

// The sidecar files of a live file FILE.
const (
	StagedSuffix = ".staged"
	LockSuffix   = ".lock"
)

// Target is one file rollover writes: Postfix's client reads it.
type Target struct {
	// Path is the file, as main.cf or master.cf names it.
	Path string
	// Param names the parameter(s) that name it.
	Param string
	// Origins are the clients reading it (postfix.ClientTLS.Origin).
	Origins []string
}

// StagedPath returns where new material for t waits: Path + StagedSuffix.
func (t Target) StagedPath() string { return t.Path + StagedSuffix }

// Targets returns the files of clients that rollover writes, each once, in
// the order first named. A legacy pair in two files is an error saying how
// to convert it; so is a set-up where no client presents a certificate.
func Targets(clients []postfix.ClientTLS) ([]Target, error) {
	var out []Target
	add := func(path, param, origin string) {
		for i := range out {
			if out[i].Path == path {
				if !slices.Contains(out[i].Origins, origin) {
					out[i].Origins = append(out[i].Origins, origin)
				}
				return
			}
		}
		out = append(out, Target{Path: path, Param: param, Origins: []string{origin}})
	}
	for _, c := range clients {
		for _, f := range c.ChainFiles {
			add(f, c.Command+"_tls_chain_files", c.Origin())
		}
		for _, p := range c.Pairs {
			if p.Key != p.Cert {
				return nil, fmt.Errorf("%s: %s = %s and %s = %s are two files: replacing both cannot be atomic, so Postfix could load a new certificate with the old key; "+
					"hint: put key and certificate in one file and name it in %s_tls_chain_files: "+
					"umask 077; cat %s %s > /etc/postfix/%s-client.pem; postconf -e '%s_tls_chain_files = /etc/postfix/%s-client.pem' '%s =' '%s ='",
					c.Origin(), p.CertParam, p.Cert, p.KeyParam, p.Key, c.Command, p.Key, p.Cert, c.Command, c.Command, c.Command, p.CertParam, p.KeyParam)
			}
			add(p.Cert, p.CertParam+" = "+p.KeyParam, c.Origin())
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no smtp or lmtp client of this Postfix presents a client certificate: nothing to roll over; hint: name a chain file in smtp_tls_chain_files first")
	}
	return out, nil
}

// Staging is new material waiting beside a live file.
type Staging struct {
	Target
	// Leaves are the staged certificates with their keys.
	Leaves []certfile.Leaf
}

// Staged returns the material staged beside c's files by a run whose
// receivers did not all accept it yet: none when nothing waits. The check
// uses it to report a switch still waiting.
func Staged(c postfix.ClientTLS) ([]Staging, error) {
	targets, err := Targets([]postfix.ClientTLS{c})
	if err != nil {
		if c.None() {
			return nil, nil
		}
		return nil, err
	}
	return staged(targets)
}

func staged(targets []Target) ([]Staging, error) {
	var out []Staging
	for _, t := range targets {
		// Only rollover writes FILE.staged, as a regular file: a symlink
		// (to another identity's key, say) or a FIFO was planted.
		fi, err := os.Lstat(t.StagedPath())
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil && !fi.Mode().IsRegular() {
			err = fmt.Errorf("%s is not a regular file (%s): rollover did not write it; hint: remove it and give the new material again", t.StagedPath(), fi.Mode().Type())
		}
		if err != nil {
			return nil, fmt.Errorf("staged material: %w", err)
		}
		leaves, err := certfile.Leaves(t.StagedPath())
		if err != nil {
			return nil, fmt.Errorf("staged material: %w", err)
		}
		out = append(out, Staging{Target: t, Leaves: leaves})
	}
	return out, nil
}

// Material reads new client-certificate material, given in one of three
// ways: chain, a PEM file holding key, certificate and chain (as
// smtp_tls_chain_files takes it); cert and key, two PEM files; lineage,
// certbot's $RENEWED_LINEAGE directory (privkey.pem and fullchain.pem).
// Exactly one way must be given; every leaf must come with its key.
func Material(chain, cert, key, lineage string) ([]certfile.Leaf, error) {
	given := 0
	for _, s := range []string{chain, cert + key, lineage} {
		if s != "" {
			given++
		}
	}
	switch {
	case given != 1:
		return nil, errors.New("give the new material one way: a chain file, a certificate and key pair, or a certbot lineage")
	case chain != "":
		leaves, err := certfile.Leaves(chain)
		if err != nil {
			return nil, err
		}
		for _, l := range leaves {
			if l.Key == nil {
				return nil, fmt.Errorf("%s: no private key for the certificate at %s: a chain file holds the key first, then its certificate and chain", chain, l.Source)
			}
		}
		return leaves, nil
	case lineage != "":
		cert, key = filepath.Join(lineage, "fullchain.pem"), filepath.Join(lineage, "privkey.pem")
	case cert == "" || key == "":
		return nil, errors.New("a new certificate needs its key, and a key its certificate")
	}
	l, err := certfile.Pair(cert, key)
	if err != nil {
		return nil, err
	}
	return []certfile.Leaf{l}, nil
}

// Options configures Run.
type Options struct {
	// New is the new material; nil completes what an earlier run staged.
	New []certfile.Leaf
	// Receivers are the receivers to ask ("HOST[:PORT]"), at least one.
	Receivers []string
	// Ask tunes the questions (recipient, sender, EHLO name).
	Ask receiver.AllOptions
	// Reload makes Postfix read the new files; it runs once after an
	// install. Required.
	Reload func(ctx context.Context) error

	// beforeInstall, when set (tests), runs before each file is replaced;
	// an error stops Run there, as a kill would.
	beforeInstall func(Target) error
}

// Outcome says what Run did.
type Outcome int

// The outcomes.
const (
	// NothingStaged: no new material given and none staged.
	NothingStaged Outcome = iota
	// AlreadyLive: the new material is what the files hold already; any
	// staged copy was removed.
	AlreadyLive
	// Installed: every receiver accepted, the files were replaced and
	// Postfix reloaded.
	Installed
	// Waiting: not every receiver accepted; the live files are untouched
	// and the new material is staged.
	Waiting
)

// Report is Run's account of what it did.
type Report struct {
	Outcome Outcome
	// Files are the live files installed (Installed) or staged for
	// (Waiting).
	Files []Target
	// New are the new certificates asked about.
	New []certfile.Leaf
	// Answers are the receivers' answers; Answer.Cert indexes New.
	Answers []receiver.Answer
}

// Refused returns the answers that refused a new certificate.
func (r *Report) Refused() []receiver.Answer {
	var out []receiver.Answer
	for _, a := range r.Answers {
		if a.Err == nil && a.Result != nil && a.Result.Verdict == receiver.Refused {
			out = append(out, a)
		}
	}
	return out
}

// Unsure returns the answers that neither accepted nor refused: a
// receiver that could not be asked, or an Other verdict.
func (r *Report) Unsure() []receiver.Answer {
	var out []receiver.Answer
	for _, a := range r.Answers {
		if a.Err != nil || a.Result == nil || a.Result.Verdict == receiver.Other {
			out = append(out, a)
		}
	}
	return out
}

// Run installs the new material (opts.New, or what is staged) into the
// targets' files once every receiver accepts it, following the protocol at
// the top of this file, or stages it. The error is for what stops it
// (unreadable files, a refused file, a write or reload that failed); the
// receivers' refusals are in the Report.
func Run(ctx context.Context, targets []Target, opts Options) (*Report, error) {
	if len(opts.Receivers) == 0 {
		return nil, errors.New("no receiver to ask")
	}
	if opts.Reload == nil {
		return nil, errors.New("no reload function")
	}
	targets = slices.Clone(targets)
	slices.SortFunc(targets, func(a, b Target) int { return strings.Compare(a.Path, b.Path) })
	type fileID struct{ dev, ino uint64 }
	seen := map[fileID]bool{}
	for i := 0; i < len(targets); i++ {
		if err := checkLive(targets[i].Path); err != nil {
			return nil, err
		}
		// One file named two ways (main.cf and a master.cf -o through a
		// symlinked directory): written once, locked once (a second flock
		// of the same lock file would wait for ever on the first).
		fi, err := os.Stat(targets[i].Path)
		if err != nil {
			return nil, fmt.Errorf("live file: %w", err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			id := fileID{uint64(st.Dev), st.Ino}
			if seen[id] {
				targets = slices.Delete(targets, i, i+1)
				i--
				continue
			}
			seen[id] = true
		}
	}
	for _, t := range targets {
		unlock, err := lock(ctx, t.Path+LockSuffix)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	for _, t := range targets {
		removeLeftovers(t)
	}
	live := make([][]certfile.Leaf, len(targets))
	for i, t := range targets {
		l, err := certfile.Leaves(t.Path)
		if err != nil {
			return nil, fmt.Errorf("live file: %w", err)
		}
		live[i] = l
	}

	// Step 3: the material per file.
	plan := make([][]certfile.Leaf, len(targets))
	if opts.New != nil {
		var err error
		if plan, err = assign(targets, live, opts.New); err != nil {
			return nil, err
		}
	} else {
		// What is staged is assigned again, as a whole: a run killed
		// between staging two files left the second without its copy,
		// and it must be switched too.
		st, err := staged(targets)
		if err != nil {
			return nil, err
		}
		var fresh []certfile.Leaf
		for _, s := range st {
			for _, l := range s.Leaves {
				if !slices.ContainsFunc(fresh, func(f certfile.Leaf) bool { return bytes.Equal(f.Cert().Raw, l.Cert().Raw) }) {
					fresh = append(fresh, l)
				}
			}
		}
		if len(fresh) > 0 {
			if plan, err = assign(targets, live, fresh); err != nil {
				return nil, err
			}
		}
	}
	now := time.Now()
	for _, p := range plan {
		for _, l := range p {
			if c := l.Cert(); now.After(c.NotAfter) {
				return nil, fmt.Errorf("%s: the new certificate expired on %s; hint: give newer material", l.Source, c.NotAfter.UTC().Format(time.DateOnly))
			}
		}
	}
	rep := &Report{}
	pending := false
	for i := range targets {
		if len(plan[i]) == 0 {
			continue
		}
		pending = true
		if isLive(live[i], plan[i]) {
			plan[i] = nil
			if err := removeStaged(targets[i]); err != nil {
				return nil, err
			}
			continue
		}
		rep.Files = append(rep.Files, targets[i])
		for _, l := range plan[i] {
			if !slices.ContainsFunc(rep.New, func(n certfile.Leaf) bool { return bytes.Equal(n.Cert().Raw, l.Cert().Raw) }) {
				rep.New = append(rep.New, l)
			}
		}
	}
	switch {
	case !pending:
		rep.Outcome = NothingStaged
		return rep, nil
	case len(rep.Files) == 0:
		rep.Outcome = AlreadyLive
		return rep, nil
	}

	// Step 4: ask.
	certs := make([]tls.Certificate, len(rep.New))
	for i, l := range rep.New {
		certs[i] = l.TLS()
	}
	answers, err := receiver.AskAll(ctx, opts.Receivers, certs, opts.Ask)
	if err != nil {
		return nil, err
	}
	rep.Answers = answers
	accepted := len(answers) > 0
	for _, a := range answers {
		accepted = accepted && a.Err == nil && a.Result != nil && a.Result.Verdict == receiver.Accepted
	}

	// Step 6: wait.
	if !accepted {
		rep.Outcome = Waiting
		if opts.New != nil {
			for i, t := range targets {
				if plan[i] == nil {
					continue
				}
				if err := stage(t, plan[i]); err != nil {
					return rep, err
				}
			}
		}
		return rep, nil
	}

	// Step 5: install, then reload.
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("nothing installed: %w", err)
	}
	// Stage every file's material first: a run killed between two files
	// leaves the rest staged, and the next run completes them.
	if opts.New != nil {
		for i, t := range targets {
			if plan[i] == nil {
				continue
			}
			if err := stage(t, plan[i]); err != nil {
				return rep, fmt.Errorf("nothing installed: %w", err)
			}
		}
	}
	for i, t := range targets {
		if plan[i] == nil {
			continue
		}
		if opts.beforeInstall != nil {
			if err := opts.beforeInstall(t); err != nil {
				return rep, err
			}
		}
		if err := install(t, merge(live[i], plan[i])); err != nil {
			return rep, err
		}
		if err := removeStaged(t); err != nil {
			return rep, err
		}
	}
	rep.Outcome = Installed
	if err := opts.Reload(ctx); err != nil {
		return rep, fmt.Errorf("installed, but the reload failed (Postfix reads the new files at its next start or reload): %w", err)
	}
	return rep, nil
}

// isLive reports whether every certificate of fresh is in live already.
func isLive(live, fresh []certfile.Leaf) bool {
	for _, f := range fresh {
		if !slices.ContainsFunc(live, func(l certfile.Leaf) bool { return bytes.Equal(l.Cert().Raw, f.Cert().Raw) }) {
			return false
		}
	}
	return true
}

// keyType names a certificate's public key algorithm.
func keyType(c *x509.Certificate) string { return c.PublicKeyAlgorithm.String() }

// names returns c's DNS names and common name, lower-cased.
func names(c *x509.Certificate) []string {
	var n []string
	for _, s := range append(slices.Clip(c.DNSNames), c.Subject.CommonName) {
		if s != "" {
			n = append(n, strings.ToLower(s))
		}
	}
	return n
}

func shareName(a, b *x509.Certificate) bool {
	nb := names(b)
	for _, n := range names(a) {
		if slices.Contains(nb, n) {
			return true
		}
	}
	return false
}

// assign decides which file each new certificate goes to: every file
// holding a certificate of the same key type that shares a DNS name or the
// common name with it, else the first file whose one certificate shares a
// name (the key type changed). A certificate that shares no name with any live
// one replaces the only certificate of the only file, or is added to the
// only file when it holds several; with several files it is an error.
func assign(targets []Target, live [][]certfile.Leaf, fresh []certfile.Leaf) ([][]certfile.Leaf, error) {
	plan := make([][]certfile.Leaf, len(targets))
	for _, f := range fresh {
		placed := false
		for i := range targets {
			if slices.ContainsFunc(live[i], func(l certfile.Leaf) bool {
				return keyType(l.Cert()) == keyType(f.Cert()) && shareName(l.Cert(), f.Cert())
			}) {
				plan[i] = append(plan[i], f)
				placed = true
			}
		}
		for i := range targets {
			if !placed && len(live[i]) == 1 && shareName(live[i][0].Cert(), f.Cert()) {
				plan[i] = append(plan[i], f)
				placed = true
			}
		}
		if placed {
			continue
		}
		if len(targets) != 1 {
			var files []string
			for _, t := range targets {
				files = append(files, t.Path)
			}
			return nil, fmt.Errorf("the new certificate %s (%s) shares no name with a live certificate of %s: cannot tell which file it replaces",
				f.Source, strings.Join(names(f.Cert()), ", "), strings.Join(files, ", "))
		}
		plan[0] = append(plan[0], f)
	}
	return plan, nil
}

// merge returns a file's leaves with fresh in place: each replaces the
// live leaf of its key type sharing a name with it, else the only live
// leaf, else it is added.
func merge(live, fresh []certfile.Leaf) []certfile.Leaf {
	out := slices.Clone(live)
	for _, f := range fresh {
		i := slices.IndexFunc(out, func(l certfile.Leaf) bool {
			return keyType(l.Cert()) == keyType(f.Cert()) && shareName(l.Cert(), f.Cert())
		})
		switch {
		case i >= 0:
			out[i] = f
		case len(live) == 1 && len(fresh) == 1:
			out[0] = f
		default:
			out = append(out, f)
		}
	}
	return out
}

// encode writes leaves as a chain file: each key (PKCS #8) followed by
// its certificate and chain.
func encode(leaves []certfile.Leaf) ([]byte, error) {
	var b bytes.Buffer
	for _, l := range leaves {
		if l.Key == nil {
			return nil, fmt.Errorf("%s: no private key", l.Source)
		}
		der, err := x509.MarshalPKCS8PrivateKey(l.Key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.KeySource, err)
		}
		pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		for _, c := range l.Chain {
			pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
	}
	return b.Bytes(), nil
}

// checkLive applies step 1 to a live file.
func checkLive(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("live file: %w", err)
	}
	hint := "hint: give Postfix a file of its own that only rollover writes, e.g. smtp_tls_chain_files = /etc/postfix/smtp-client.pem, never a file in an ACME client's directory"
	if fi.Mode()&fs.ModeSymlink != 0 {
		to, _ := os.Readlink(path)
		return fmt.Errorf("refusing to replace %s: it is a symlink (to %s), and a rename would replace the link; %s", path, to, hint)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("refusing to replace %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return fmt.Errorf("refusing to write a new private key into %s: others may use it (mode %04o), and its mode is kept; hint: chmod o-rwx %s (Postfix reads it as root)", path, fi.Mode().Perm(), path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return fmt.Errorf("refusing to replace %s: it has %d hard links, which would keep the old content; %s", path, st.Nlink, hint)
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if di.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("refusing to write in %s: writable by its group or others (mode %04o), who could swap the file; hint: chmod go-w %s", dir, di.Mode().Perm(), dir)
	}
	// The directory and every directory above it must be root's (or ours):
	// their owner could rename the files, plant FILE.staged, or swap the
	// directory for a symlink to another. Sticky directories writable by
	// others (/tmp) are fine above it: nobody else may rename root's
	// entries in them.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	for d := real; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
			return fmt.Errorf("refusing to write in %s: %s is owned by uid %d, who could swap the file; hint: chown root %s", dir, d, st.Uid, d)
		}
		if d != real && fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
			return fmt.Errorf("refusing to write in %s: %s is writable by its group or others (mode %04o), who could swap the directory; hint: chmod go-w %s", dir, d, fi.Mode().Perm(), d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// owner returns a file's mode, uid and gid.
func owner(path string) (fs.FileMode, int, int, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0, fmt.Errorf("%s: no owner information", path)
	}
	return fi.Mode().Perm(), int(st.Uid), int(st.Gid), nil
}

// stage writes fresh to t's staged file: mode 0600, the live file's owner.
func stage(t Target, fresh []certfile.Leaf) error {
	data, err := encode(fresh)
	if err != nil {
		return err
	}
	_, uid, gid, err := owner(t.Path)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(t.StagedPath()); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("refusing to replace %s: not a regular file", t.StagedPath())
	}
	return writeAtomic(t.StagedPath(), data, 0o600, uid, gid)
}

// install replaces t's file with leaves, keeping its mode and owner.
func install(t Target, leaves []certfile.Leaf) error {
	data, err := encode(leaves)
	if err != nil {
		return err
	}
	mode, uid, gid, err := owner(t.Path)
	if err != nil {
		return err
	}
	return writeAtomic(t.Path, data, mode, uid, gid)
}

func removeStaged(t Target) error {
	if err := os.Remove(t.StagedPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(t.Path))
}

// removeLeftovers removes the temp files a killed run left beside t's
// files (.FILE.tmpNNN, .FILE.staged.tmpNNN). Under t's lock no other run
// is writing them.
func removeLeftovers(t Target) {
	for _, p := range []string{t.Path, t.StagedPath()} {
		dir, base := filepath.Split(p)
		left, _ := filepath.Glob(filepath.Join(dir, "."+globEscape(base)+".tmp*"))
		for _, l := range left {
			if fi, err := os.Lstat(l); err == nil && fi.Mode().IsRegular() {
				os.Remove(l)
			}
		}
	}
}

// globEscape quotes the characters filepath.Match treats specially.
func globEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`).Replace(s)
}

// writeAtomic replaces path with data: a temp file in its directory, given
// mode, uid and gid, read back as a chain file, fsynced, renamed over path;
// then the directory is fsynced.
func writeAtomic(path string, data []byte, mode fs.FileMode, uid, gid int) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Chown(uid, gid); err != nil {
		return fmt.Errorf("writing %s: keeping its owner %d:%d: %w", path, uid, gid, err)
	}
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// What Postfix will read must load as a chain file: keys matching.
	if _, err = certfile.ChainFiles([]string{tmp}); err != nil {
		return fmt.Errorf("writing %s: the new content does not load: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// lock takes an exclusive flock on the sidecar lockPath, waiting with ctx.
func lock(ctx context.Context, lockPath string) (func(), error) {
	fd, err := syscall.Open(lockPath, syscall.O_RDWR|syscall.O_CREAT|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return nil, fmt.Errorf("lock %s: not a regular file", lockPath)
	}
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Close(fd) }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			syscall.Close(fd)
			return nil, fmt.Errorf("lock %s: %w", lockPath, err)
		}
		select {
		case <-ctx.Done():
			syscall.Close(fd)
			return nil, fmt.Errorf("lock %s: another rollover holds it: %w", lockPath, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
