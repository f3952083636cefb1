package remedy

// The write protocol of Update, for a table reached through PATH whose real
// file (all symlinks followed) is TARGET = DIR/BASE:
//
//  1. TARGET must exist and be a regular file; anything else is refused
//     before any file is created.
//  2. An exclusive flock(2) is taken on the sidecar TARGET.lock (created
//     0644 if missing, never removed, never renamed over), waiting with
//     the caller's context. Every writer that uses Update locks the same
//     sidecar, whichever symlink it came through.
//  3. Under the lock PATH is resolved again (a symlink switched while we
//     waited sends us back to step 1), TARGET is opened without following
//     symlinks and read whole; its mode, uid and gid are taken from that
//     open file.
//  4. edit(current) gives the new content. An error, or identical bytes,
//     ends here: nothing is written, not even the mtime.
//  5. Temp files of this package's naming pattern (DIR/.BASE<digits> and
//     DIR/.BASE.bak<digits>, the names renameio gives, with at least 15
//     digits) older than a minute are left-overs of a killed writer and are
//     removed.
//  6. With Options.Backup the current bytes go to TARGET.bak, itself
//     replaced atomically like the table.
//  7. The new content is written to DIR/.BASE<digits> (renameio), chowned
//     to the table's uid and gid, chmodded to its mode, fsynced and renamed
//     over TARGET. DIR is fsynced.
//  8. Options.After runs (also when step 4 found nothing to change), still
//     under the lock: postmap there compiles exactly what was written.
//
// A process killed at any point leaves TARGET with either the old or the new
// content, plus at most one temp file, removed by a later Update (step 5).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/renameio/v2"
)

const (
	// LockSuffix is appended to the real table path to name the lock file.
	LockSuffix = ".lock"
	// BackupSuffix is appended to the real table path to name the backup.
	BackupSuffix = ".bak"

	lockRetryDelay = 10 * time.Millisecond
	maxRetarget    = 5
	staleAge       = time.Minute
)

// Options tunes Update.
type Options struct {
	// Backup keeps the previous content as TARGET.bak (TARGET being the real
	// file behind the path), replacing an older backup atomically.
	Backup bool
	// After, when set, runs under the lock once the table is written, or
	// found unchanged (changed is false), before the lock is released. It is
	// the place for postmap: the compiled table then always matches the
	// source it was made from, and no concurrent Update can slip a write in
	// between. Its error is returned, wrapped, with the Result.
	After func(changed bool) error
}

// Result tells what Update did.
type Result struct {
	// Changed is false when edit returned the current bytes: nothing was
	// written then, not even the mtime.
	Changed bool
	// Target is the real file behind the path (symlinks followed), the one
	// that was, or would have been, replaced. The symlinks stay as they are.
	Target string
	// Backup is the path of the backup written, or empty.
	Backup string
}

// Update rewrites the table at path with the bytes edit returns for its
// current content. It follows symlinks to the real file and replaces that
// file, leaving the links alone; it refuses directories, devices, pipes and
// sockets, and a path that does not exist (the error then wraps
// fs.ErrNotExist). edit runs under an exclusive lock on a sidecar file, with
// the content read under that lock, so concurrent Updates of one table never
// lose each other's changes. edit must not keep or modify its argument.
// When edit fails or returns the same bytes, nothing is written. Otherwise
// the new content replaces the file atomically, with the file's mode and
// owner kept: a process that cannot give the new file the old owner gets an
// error and the table is left alone. Waiting for the lock ends with ctx; ctx
// is checked again just before writing. The caller needs write access to
// the directory of the real file (lock file, temp file, rename).
//
// The write protocol is described at the top of update.go.
func Update(ctx context.Context, path string, opts Options, edit func(current []byte) ([]byte, error)) (Result, error) {
	if edit == nil {
		return Result{}, fmt.Errorf("update %s: no edit function", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Result{}, fmt.Errorf("update %s: %w", path, err)
	}
	for attempt := 1; ; attempt++ {
		target, err := resolve(abs)
		if err != nil {
			return Result{}, err
		}
		res, retarget, err := updateLocked(ctx, abs, target, opts, edit)
		if !retarget {
			return res, err
		}
		if attempt == maxRetarget {
			return Result{Target: target}, fmt.Errorf("update %s: its symlink target kept changing while waiting for the lock", path)
		}
	}
}

// resolve returns the real regular file behind abs.
func resolve(abs string) (string, error) {
	target, err := filepath.EvalSymlinks(abs)
	if err == nil {
		var fi fs.FileInfo
		if fi, err = os.Lstat(target); err == nil && !fi.Mode().IsRegular() {
			return "", notRegular(target, fi.Mode())
		}
	}
	if err != nil {
		// Name a missing symlink target, not the path twice.
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == abs {
			err = pe.Err
		}
		return "", fmt.Errorf("table %s: %w", abs, err)
	}
	return target, nil
}

func notRegular(target string, m fs.FileMode) error {
	kind := "not a regular file"
	switch {
	case m.IsDir():
		kind = "a directory"
	case m&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case m&fs.ModeCharDevice != 0:
		kind = "a character device"
	case m&fs.ModeDevice != 0:
		kind = "a block device"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	case m&fs.ModeSymlink != 0:
		kind = "a symlink"
	}
	return fmt.Errorf("refusing to replace %s: it is %s, not a regular file", target, kind)
}

// meta is what a replacement keeps of the file it replaces.
type meta struct {
	mode     fs.FileMode
	uid, gid int
}

// updateLocked runs steps 2 to 8 of the protocol. retarget reports that the
// path resolved to another file once the lock was held.
func updateLocked(ctx context.Context, abs, target string, opts Options, edit func([]byte) ([]byte, error)) (res Result, retarget bool, err error) {
	res.Target = target
	lockPath := target + LockSuffix
	lk := flock.New(lockPath, flock.SetPermissions(0o644))
	ok, err := lk.TryLockContext(ctx, lockRetryDelay)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return res, false, fmt.Errorf("wait for lock %s (another update holds it): %w", lockPath, err)
		}
		return res, false, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	if !ok {
		return res, false, fmt.Errorf("lock %s: not acquired", lockPath)
	}
	defer lk.Unlock()

	again, err := resolve(abs)
	if err != nil {
		return res, false, err
	}
	if again != target {
		return res, true, nil
	}

	current, m, err := readTable(target)
	if err != nil {
		return res, false, err
	}
	orig := bytes.Clone(current)
	next, err := edit(current)
	if err != nil {
		return res, false, fmt.Errorf("edit %s: %w", target, err)
	}
	if bytes.Equal(orig, next) {
		return res, false, after(opts, res, target)
	}
	if err := ctx.Err(); err != nil {
		return res, false, fmt.Errorf("update %s: %w", target, err)
	}

	dir, base := filepath.Split(target)
	removeStale(dir, base, time.Now())
	if opts.Backup {
		bak := target + BackupSuffix
		if err := writeAtomic(bak, orig, m); err != nil {
			return res, false, fmt.Errorf("back up %s: %w", target, err)
		}
		res.Backup = bak
	}
	if err := writeAtomic(target, next, m); err != nil {
		return res, false, fmt.Errorf("replace %s: %w", target, err)
	}
	res.Changed = true
	if err := syncDir(dir); err != nil {
		return res, false, fmt.Errorf("replaced %s but could not sync its directory: %w", target, err)
	}
	return res, false, after(opts, res, target)
}

// after runs opts.After, still under the lock.
func after(opts Options, res Result, target string) error {
	if opts.After == nil {
		return nil
	}
	if err := opts.After(res.Changed); err != nil {
		if res.Changed {
			return fmt.Errorf("%s was replaced, then: %w", target, err)
		}
		return err
	}
	return nil
}

// readTable reads the regular file target without following a symlink and
// returns its content, mode and owner.
func readTable(target string) ([]byte, meta, error) {
	f, err := os.OpenFile(target, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, meta{}, fmt.Errorf("read table: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, meta{}, fmt.Errorf("read table: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, meta{}, notRegular(target, fi.Mode())
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, meta{}, fmt.Errorf("read table %s: no owner information on this system", target)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, meta{}, fmt.Errorf("read table: %w", err)
	}
	m := meta{
		mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
		uid:  int(st.Uid),
		gid:  int(st.Gid),
	}
	return b, m, nil
}

// writeAtomic replaces dest with data through a temp file in dest's
// directory, giving it m's owner and mode before the rename.
func writeAtomic(dest string, data []byte, m meta) error {
	pf, err := renameio.NewPendingFile(dest, renameio.WithTempDir(filepath.Dir(dest)))
	if err != nil {
		return err
	}
	defer pf.Cleanup()
	if err := keepOwner(pf.File, m); err != nil {
		return err
	}
	// After the chown: a chown clears the set-user-ID and set-group-ID bits.
	if err := pf.Chmod(m.mode); err != nil {
		return err
	}
	if _, err := pf.Write(data); err != nil {
		return err
	}
	return pf.CloseAtomicallyReplace()
}

// keepOwner gives f the uid and gid of m, or fails if it cannot.
func keepOwner(f *os.File, m meta) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == m.uid && int(st.Gid) == m.gid {
		return nil
	}
	if err := f.Chown(m.uid, m.gid); err != nil {
		return fmt.Errorf("cannot keep the owner (uid %d, gid %d) of the table, run as root or as that user: %w", m.uid, m.gid, err)
	}
	return nil
}

// removeStale removes temp files of this package's naming pattern for base
// in dir that are older than staleAge. It runs under the table's lock, so no
// Update is writing them; errors are ignored (the files are only clutter).
func removeStale(dir, base string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !isTempName(e.Name(), base) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < staleAge {
			continue
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

// minTempDigits is the fewest digits of a temp name that isTempName
// accepts. renameio appends a random non-negative int64 in decimal, which
// has fewer than 15 digits once in about 90 000 names (such a left-over only
// stays as clutter); a name a person gives, such as a dated copy
// ".relay_clientcerts20240101" or "...20240101123045", has at most 14.
const minTempDigits = 15

// isTempName reports whether name is a renameio temp file for base or for
// its backup: "." + base + [".bak"] + at least minTempDigits digits.
func isTempName(name, base string) bool {
	rest, ok := strings.CutPrefix(name, "."+base)
	if !ok {
		return false
	}
	rest = strings.TrimPrefix(rest, BackupSuffix)
	if len(rest) < minTempDigits || len(rest) > 19 {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	// Some file systems cannot sync a directory (EINVAL): the rename is
	// done, there is nothing more to do there.
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		d.Close()
		return err
	}
	return d.Close()
}

// WriteFile writes data to path atomically (a temp file in the same
// directory, fsynced, renamed over path), for a corrected table written
// beside the real one (--fix-to): a reader never sees half of it. A new
// file gets perm; an existing regular file keeps its mode. It takes no
// lock and keeps no owner: it is not for the table Postfix reads.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return notRegular(path, fi.Mode())
		}
		perm = fi.Mode().Perm()
	}
	if err := renameio.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
