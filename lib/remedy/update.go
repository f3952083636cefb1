package remedy

// The write protocol of Update, for a table reached through PATH whose real
// file is TARGET = DIR/BASE:
//
//  1. PATH is resolved once through the file system, name by name, as the
//     kernel does ("/x/link/../rc" is the rc beside link's target, not
//     /x/rc), and the trust rules at the top of resolve.go are applied: no
//     directory on the way writable by its group or others, and a symlink
//     followed only when it and every directory on the way are owned by
//     root or by the user running the update. TARGET must exist and be a
//     regular file. Anything else is refused before any file is created.
//  2. The sidecar TARGET.lock is opened with O_NOFOLLOW|O_NONBLOCK|O_CREAT
//     (0644; never removed, never renamed over): a symlink planted there is
//     refused, not followed; a FIFO or anything but a regular file is
//     refused, naming it, and cannot hang the open. An exclusive flock(2) is
//     taken on that descriptor, waiting with the caller's context. Every
//     writer that uses Update locks the same sidecar, whichever path it came
//     through.
//  3. Under the lock PATH is resolved and checked again (a symlink switched
//     while we waited sends us back to step 1), TARGET is opened without
//     following symlinks, a read lease (F_SETLEASE) is taken on it where the
//     system allows, and it is read whole. The lease cannot be had while
//     another program has the file open for writing (an admin's
//     "generate > table" still running): that is refused as a
//     *ChangedError. Mode, uid, gid, identity, size and times are taken from
//     the open file, before and after the read; a difference is refused too.
//  4. A second name of TARGET left by a killed Update (step 9) is removed.
//     A TARGET with more than one hard link is refused (*HardLinkError):
//     the replace would give PATH a new inode and leave the other names with
//     the old content, so another Postfix instance sharing the file would
//     silently keep the old table. Options.BreakLinks allows it; the Result
//     then counts the links left behind.
//  5. edit(current) gives the new content. An error, or identical bytes,
//     ends here: nothing is written, not even the mtime.
//  6. Temp files of this package's naming pattern (DIR/.BASE<digits> and
//     DIR/.BASE.bak<digits>, with at least 15 digits) older than a minute
//     are left-overs of a killed writer and are removed.
//  7. With Options.Backup the bytes read go to TARGET.bak, itself replaced
//     atomically like the table (after the check of step 8).
//  8. The new content is written to DIR/.BASE<digits> (O_EXCL), chowned to
//     the table's uid and gid, then chmodded to its mode (after the chown,
//     which clears set-user-ID and set-group-ID bits), fsynced and closed.
//     Just before the rename TARGET is checked to be still the file read:
//     the lease unbroken (no program opened it for writing since), the same
//     device and inode, link count, size, mtime and ctime, and the same
//     bytes, read again. Any difference is a *ChangedError and nothing is
//     renamed: a program that writes the table without the lock (in place,
//     or by its own rename) never loses its write to ours.
//  9. Just before the rename TARGET gets a second name, DIR/.BASE<digits>;
//     the temp file is renamed over TARGET. If the file read was then found
//     opened for writing (the lease broken) or written (size, mtime) in the
//     microseconds between the check and the rename, the second name is
//     renamed back over TARGET: the replace is undone, the other program's
//     write lands in the table, and the error is a *ChangedError. Otherwise
//     the second name is removed. DIR is fsynced.
//  10. Options.After runs (also when step 5 found nothing to change), still
//     under the lock: postmap there compiles exactly what was written.
//
// A process killed at any point leaves TARGET with either the old or the new
// content, plus at most two temp names, removed by a later Update (step 6).
// The lease is held to the end, After included; a program found to have
// opened the replaced file for writing after all (it looked TARGET up
// before the rename and opened it after step 9's check, a window of
// instructions) gives a *ChangedError with Replaced set: the table holds the
// update, and that program's write went to the replaced file. Without
// leases (NFS, a table of another owner without CAP_LEASE) a program that
// opened the file before step 8 and writes only after step 9 is not seen.
//
// Write (for a corrected copy written elsewhere, --fix-to) follows the same
// steps; a PATH that does not exist yet (not a dangling symlink: that is
// refused) is created by a hard link from the temp file, which fails rather
// than replace a file another program created meanwhile.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// Options tunes Update and Write.
type Options struct {
	// Backup keeps the previous content as TARGET.bak (TARGET being the real
	// file behind the path), replacing an older backup atomically.
	Backup bool
	// BreakLinks allows replacing a file that has other hard links: they
	// keep the old content (Result.BrokenLinks counts them). Without it such
	// a file is refused with a *HardLinkError.
	BreakLinks bool
	// After, when set, runs under the lock once the table is written, or
	// found unchanged (changed is false), before the lock is released. It is
	// the place for postmap: the compiled table then always matches the
	// source it was made from, and no concurrent Update can slip a write in
	// between. Its error is returned, wrapped, with the Result.
	After func(changed bool) error

	// Test hooks: beforeCheck runs just before the check of step 8, once
	// per file renamed (backup, then table), beforeRename just after it;
	// syncDir replaces syncDir;
	// leaseBroken reports the lease's state to the hook; noLease skips the
	// lease, as on a system without leases.
	beforeCheck  func(dest string, leaseBroken func() bool)
	beforeRename func(dest string, leaseBroken func() bool)
	syncDir      func(dir string) error
	noLease      bool
}

// Result tells what Update did.
type Result struct {
	// Changed is false when edit returned the current bytes: nothing was
	// written then, not even the mtime.
	Changed bool
	// Target is the real file behind the path (no symlink in it), the one
	// that was read, locked (Target.lock) and replaced. The symlinks stay as
	// they are.
	Target string
	// Path is the path as given with its directories resolved through the
	// file system and its last name kept, so a symlinked table is still
	// named by its link. It names the same file as Target: give it to
	// postmap, which puts PATH.db where Postfix looks for it.
	Path string
	// Backup is the path of the backup written, or empty.
	Backup string
	// BrokenLinks is, with Options.BreakLinks, the number of other hard
	// links of the replaced file, which keep the old content.
	BrokenLinks int
}

// ChangedError is returned when a program that does not take the lock
// changed the table between its read and its replacement. Unless Replaced,
// nothing was written: run the update again.
type ChangedError struct {
	// Path is the real file.
	Path string
	// What says what was seen, e.g. "its size changed from 120 to 80 bytes".
	What string
	// Replaced is true when the change was seen only after the rename: the
	// table holds the update, and the other program's write went to the
	// replaced file.
	Replaced bool
}

func (e *ChangedError) Error() string {
	if e.Replaced {
		return fmt.Sprintf("%s was replaced, but another program wrote to it at the same moment without the lock (%s): its write may be lost; hint: check the table by hand", e.Path, e.What)
	}
	return fmt.Sprintf("%s changed while it was being updated (%s): another program writes it without the lock %s; nothing written; hint: run the fix again once that program is done", e.Path, e.What, e.Path+LockSuffix)
}

// HardLinkError is returned for a table with more than one hard link when
// Options.BreakLinks is not set. Nothing was written.
type HardLinkError struct {
	Path  string
	Links int
}

func (e *HardLinkError) Error() string {
	return fmt.Sprintf("refusing to replace %s: it has %d hard links, and replacing it would leave the other %d with the old content; hint: make the other names symlinks to %s, or allow breaking the links", e.Path, e.Links, e.Links-1, e.Path)
}

// Update rewrites the table at path with the bytes edit returns for its
// current content, following the protocol at the top of update.go. It
// follows trusted symlinks to the real file and replaces that file, leaving
// the links alone; it refuses directories, devices, pipes and sockets
// (*NotRegularError), untrusted directories and links (*UntrustedError),
// hard-linked files (*HardLinkError, unless Options.BreakLinks), a table
// changed meanwhile by a program that ignores the lock (*ChangedError), and
// a path that does not exist (the error then wraps fs.ErrNotExist). edit
// runs under an exclusive lock on a sidecar file, with the content read
// under that lock, so concurrent Updates of one table never lose each
// other's changes. edit must not keep its argument. When edit fails or
// returns the same bytes, nothing is written. Otherwise the new content
// replaces the file atomically, with the file's mode and owner kept: a
// process that cannot give the new file the old owner gets an error and the
// table is left alone. Waiting for the lock ends with ctx; ctx is checked
// again just before writing. The caller needs write access to the directory
// of the real file (lock file, temp file, rename).
func Update(ctx context.Context, path string, opts Options, edit func(current []byte) ([]byte, error)) (Result, error) {
	if edit == nil {
		return Result{}, fmt.Errorf("update %s: no edit function", path)
	}
	return replace(ctx, path, opts, nil, edit)
}

// Write writes data to path under the rules of Update, for a corrected
// table written elsewhere than the table itself (--fix-to). A path that
// does not exist is created as a new regular file with mode perm (and the
// caller's owner); an existing regular file is replaced as Update does,
// under its lock, with its owner and mode kept. It never replaces a
// symlink (a trusted one is followed to its file), a device or a pipe:
// "/dev/stdout" is refused with a *NotRegularError, or as a symlink to a
// missing file when stdout is a pipe. When path already holds data, nothing
// is written.
func Write(ctx context.Context, path string, data []byte, perm fs.FileMode, opts Options) (Result, error) {
	perm &= fs.ModePerm
	return replace(ctx, path, opts, &perm, func([]byte) ([]byte, error) { return data, nil })
}

// replace runs the protocol; create, when set, allows a missing path to be
// created with that mode.
func replace(ctx context.Context, path string, opts Options, create *fs.FileMode, edit func([]byte) ([]byte, error)) (Result, error) {
	for attempt := 1; ; attempt++ {
		r, err := resolve(path, create != nil)
		if err != nil {
			return Result{}, err
		}
		if r.exists {
			fi, err := os.Lstat(r.target)
			if err != nil {
				return Result{}, fmt.Errorf("table %s: %w", path, err)
			}
			if !fi.Mode().IsRegular() {
				return Result{}, notRegular(r.target, fi.Mode())
			}
		}
		res, retarget, err := updateLocked(ctx, path, r, opts, create, edit)
		if !retarget {
			return res, err
		}
		if attempt == maxRetarget {
			return Result{Target: r.target, Path: r.path}, fmt.Errorf("update %s: its symlink target kept changing while waiting for the lock", path)
		}
	}
}

// meta is what a replacement keeps of the file it replaces.
type meta struct {
	mode     fs.FileMode
	uid, gid int
}

// updateLocked runs steps 2 to 10 of the protocol. retarget reports that
// the path resolved to another file once the lock was held.
func updateLocked(ctx context.Context, path string, r resolved, opts Options, create *fs.FileMode, edit func([]byte) ([]byte, error)) (res Result, retarget bool, err error) {
	res.Target, res.Path = r.target, r.path
	unlock, err := lock(ctx, r.target+LockSuffix)
	if err != nil {
		return res, false, err
	}
	defer unlock()

	again, err := resolve(path, create != nil)
	if err != nil {
		return res, false, err
	}
	if again != r {
		return res, true, nil
	}
	if !r.exists {
		return res, false, createNew(ctx, &res, *create, opts, edit)
	}

	removeOwnLinks(r.target)
	snap, err := openTable(r.target, !opts.noLease)
	if err != nil {
		return res, false, err
	}
	defer snap.close()
	if n := int(snap.st.Nlink); n > 1 {
		if !opts.BreakLinks {
			return res, false, &HardLinkError{Path: r.target, Links: n}
		}
		res.BrokenLinks = n - 1
	}
	next, err := edit(bytes.Clone(snap.data))
	if err != nil {
		res.BrokenLinks = 0
		return res, false, fmt.Errorf("edit %s: %w", r.target, err)
	}
	if bytes.Equal(snap.data, next) {
		res.BrokenLinks = 0
		return res, false, after(opts, res)
	}
	if err := ctx.Err(); err != nil {
		res.BrokenLinks = 0
		return res, false, fmt.Errorf("update %s: %w", r.target, err)
	}

	dir, base := filepath.Split(r.target)
	removeStale(dir, base, time.Now())
	// oldLink keeps the file read reachable through the rename, so that a
	// replace found too late to be safe can be undone (step 9).
	var oldLink string
	defer func() {
		if oldLink != "" {
			os.Remove(oldLink)
		}
	}()
	check := func(dest string) error {
		if opts.beforeCheck != nil {
			opts.beforeCheck(dest, snap.leaseBroken)
		}
		if err := snap.check(); err != nil {
			return err
		}
		if dest == r.target {
			if oldLink, err = linkTemp(r.target); err != nil {
				return err
			}
		}
		if opts.beforeRename != nil {
			opts.beforeRename(dest, snap.leaseBroken)
		}
		return nil
	}
	if opts.Backup {
		bak := r.target + BackupSuffix
		if err := writeAtomic(bak, snap.data, snap.meta(), check); err != nil {
			res.BrokenLinks = 0
			return res, false, wrapWrite("back up "+r.target, err)
		}
		res.Backup = bak
	}
	if err := writeAtomic(r.target, next, snap.meta(), check); err != nil {
		res.BrokenLinks = 0
		return res, false, wrapWrite("replace "+r.target, err)
	}
	res.Changed = true
	late := snap.changedSinceCheck()
	if late != nil && os.Rename(oldLink, r.target) == nil {
		// The other program's write went, or is about to go, to the file
		// read: put it back in place, ours is dropped.
		oldLink = ""
		res.Changed, res.BrokenLinks = false, 0
		late = &ChangedError{Path: r.target, What: late.(*ChangedError).What + ", so the replace was undone"}
	}
	if err := syncDirOf(opts, dir); err != nil {
		return res, false, fmt.Errorf("replaced %s but could not sync its directory: %w", r.target, err)
	}
	if late != nil {
		return res, false, late
	}
	err = after(opts, res)
	// Once more at the end, the lease still held: a program that found the
	// replaced file just before the rename has written, or waits, by now.
	if late := snap.changedSinceCheck(); late != nil && err == nil {
		err = late
	}
	return res, false, err
}

// wrapWrite adds context to a write error, leaving a *ChangedError as it is
// (its message names the file and says nothing was written).
func wrapWrite(what string, err error) error {
	var ce *ChangedError
	if errors.As(err, &ce) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// createNew writes a file that did not exist (Write), with the caller's
// owner and mode perm.
func createNew(ctx context.Context, res *Result, perm fs.FileMode, opts Options, edit func([]byte) ([]byte, error)) error {
	data, err := edit(nil)
	if err != nil {
		return fmt.Errorf("edit %s: %w", res.Target, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write %s: %w", res.Target, err)
	}
	dir, base := filepath.Split(res.Target)
	f, tmp, err := createTemp(dir, base)
	if err != nil {
		return fmt.Errorf("write %s: %w", res.Target, err)
	}
	defer os.Remove(tmp)
	err = writeClose(f, data, func() error { return f.Chmod(perm) })
	if err == nil && opts.beforeCheck != nil {
		opts.beforeCheck(res.Target, func() bool { return false })
	}
	if err == nil {
		// link(2) fails if the name exists: a file another program created
		// meanwhile is never replaced.
		err = os.Link(tmp, res.Target)
		if errors.Is(err, fs.ErrExist) {
			return &ChangedError{Path: res.Target, What: "it was created by another program meanwhile"}
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", res.Target, err)
	}
	res.Changed = true
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("wrote %s but could not remove %s: %w", res.Target, tmp, err)
	}
	if err := syncDirOf(opts, dir); err != nil {
		return fmt.Errorf("wrote %s but could not sync its directory: %w", res.Target, err)
	}
	return after(opts, *res)
}

// after runs opts.After, still under the lock.
func after(opts Options, res Result) error {
	if opts.After == nil {
		return nil
	}
	if err := opts.After(res.Changed); err != nil {
		if res.Changed {
			return fmt.Errorf("%s was replaced, then: %w", res.Target, err)
		}
		return err
	}
	return nil
}

// lock opens the sidecar lock file safely (step 2) and takes an exclusive
// flock on it, waiting with ctx. unlock closes it.
func lock(ctx context.Context, lockPath string) (unlock func(), err error) {
	fd, err := syscall.Open(lockPath, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o644)
	if errors.Is(err, syscall.ELOOP) {
		return nil, &UntrustedError{Path: lockPath, Reason: "the lock file is a symlink, which is never followed",
			Hint: "remove " + lockPath + " (it is created again as a plain file)"}
	}
	if errors.Is(err, syscall.EISDIR) {
		return nil, &UntrustedError{Path: lockPath, Reason: "the lock file is a directory, not a regular file",
			Hint: "remove " + lockPath + " (it is created again as a plain file)"}
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", lockPath, &fs.PathError{Op: "open", Path: lockPath, Err: err})
	}
	f := os.NewFile(uintptr(fd), lockPath)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		nr := notRegular(lockPath, fi.Mode()).(*NotRegularError)
		return nil, &UntrustedError{Path: lockPath, Reason: "the lock file is " + nr.Kind + ", not a regular file",
			Hint: "remove " + lockPath + " (it is created again as a plain file)"}
	}
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", lockPath, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock %s (another update holds it): %w", lockPath, ctx.Err())
		case <-time.After(lockRetryDelay):
		}
	}
}

const (
	fSetLease = syscall.F_SETLEASE
	fGetLease = syscall.F_GETLEASE
)

// snapshot is the table as read under the lock (step 3), kept open so that
// its lease and status can be checked up to the rename and after it.
type snapshot struct {
	path   string
	f      *os.File
	st     syscall.Stat_t
	data   []byte
	leased bool
}

// openTable opens and reads the regular file path without following a
// symlink, under a read lease where the system allows one.
func openTable(path string, lease bool) (*snapshot, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("read table: %w", err)
	}
	s := &snapshot{path: path, f: f}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	if err := syscall.Fstat(int(f.Fd()), &s.st); err != nil {
		return nil, fmt.Errorf("read table %s: %w", path, err)
	}
	if m := fs.FileMode(s.st.Mode); s.st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		fi, _ := f.Stat()
		if fi != nil {
			m = fi.Mode()
		}
		return nil, notRegular(path, m)
	}
	// A read lease is refused while anyone has the file open for writing,
	// and broken (the opener waits) when anyone opens it for writing later.
	// Where leases are not available (another owner without CAP_LEASE, NFS)
	// the status and content checks remain.
	if lease {
		_, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), fSetLease, syscall.F_RDLCK)
		switch errno {
		case 0:
			s.leased = true
		case syscall.EAGAIN:
			return nil, &ChangedError{Path: path, What: "another program has it open for writing"}
		}
	}
	if s.data, err = io.ReadAll(f); err != nil {
		return nil, fmt.Errorf("read table %s: %w", path, err)
	}
	var after syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &after); err != nil {
		return nil, fmt.Errorf("read table %s: %w", path, err)
	}
	if what := differs(&s.st, &after, true); what != "" {
		return nil, &ChangedError{Path: path, What: what + " while it was read"}
	}
	if int64(len(s.data)) != s.st.Size {
		return nil, &ChangedError{Path: path, What: fmt.Sprintf("%d bytes read, its size is %d", len(s.data), s.st.Size)}
	}
	ok = true
	return s, nil
}

// close releases the lease (a program waiting to open the file for
// writing goes on) and closes the file; it may be called again.
func (s *snapshot) close() {
	if s.f == nil {
		return
	}
	if s.leased {
		syscall.Syscall(syscall.SYS_FCNTL, s.f.Fd(), fSetLease, syscall.F_UNLCK)
		s.leased = false
	}
	s.f.Close()
	s.f = nil
}

func (s *snapshot) meta() meta {
	return meta{
		mode: fs.FileMode(s.st.Mode).Perm() | unixModeBits(s.st.Mode),
		uid:  int(s.st.Uid),
		gid:  int(s.st.Gid),
	}
}

func unixModeBits(m uint32) fs.FileMode {
	var out fs.FileMode
	if m&syscall.S_ISUID != 0 {
		out |= fs.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		out |= fs.ModeSetgid
	}
	if m&syscall.S_ISVTX != 0 {
		out |= fs.ModeSticky
	}
	return out
}

// leaseBroken reports whether a program opened the file for writing since
// the lease was taken.
func (s *snapshot) leaseBroken() bool {
	if !s.leased {
		return false
	}
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, s.f.Fd(), fGetLease, 0)
	return errno != 0 || r != syscall.F_RDLCK
}

// check is step 8: the file at s.path is still the one read, with the same
// bytes.
func (s *snapshot) check() error {
	changed := func(what string) error { return &ChangedError{Path: s.path, What: what} }
	if s.leaseBroken() {
		return changed("another program opened it for writing")
	}
	g, err := os.OpenFile(s.path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return changed(fmt.Sprintf("it cannot be opened again: %v", err))
	}
	defer g.Close()
	var now syscall.Stat_t
	if err := syscall.Fstat(int(g.Fd()), &now); err != nil {
		return changed(err.Error())
	}
	if now.Dev != s.st.Dev || now.Ino != s.st.Ino {
		return changed("another file was put in its place")
	}
	if what := differs(&s.st, &now, true); what != "" {
		return changed(what)
	}
	b, err := io.ReadAll(io.LimitReader(g, s.st.Size+1))
	if err != nil {
		return changed(fmt.Sprintf("it cannot be read again: %v", err))
	}
	if !bytes.Equal(b, s.data) {
		return changed("its content changed")
	}
	if err := syscall.Fstat(int(g.Fd()), &now); err != nil {
		return changed(err.Error())
	}
	if what := differs(&s.st, &now, true); what != "" {
		return changed(what)
	}
	if s.leaseBroken() {
		return changed("another program opened it for writing")
	}
	return nil
}

// changedSinceCheck is the check of step 9, after the rename: the
// replaced file (still open) was not opened for writing, nor written.
func (s *snapshot) changedSinceCheck() error {
	var now syscall.Stat_t
	what := ""
	switch {
	case s.leaseBroken():
		what = "it was opened for writing as it was replaced"
	case syscall.Fstat(int(s.f.Fd()), &now) != nil:
		what = "its status cannot be read"
	default:
		// The rename changed the link count and ctime of the replaced file;
		// its size and mtime must be as read.
		what = differs(&s.st, &now, false)
	}
	if what == "" {
		return nil
	}
	return &ChangedError{Path: s.path, What: what, Replaced: true}
}

// differs says how b differs from a in size, mtime and (withCtime) ctime
// and link count, or "".
func differs(a, b *syscall.Stat_t, withCtime bool) string {
	switch {
	case a.Size != b.Size:
		return fmt.Sprintf("its size changed from %d to %d bytes", a.Size, b.Size)
	case a.Mtim != b.Mtim:
		return "its modification time changed"
	case withCtime && a.Ctim != b.Ctim:
		return "its status change time (ctime) changed"
	case withCtime && a.Nlink != b.Nlink:
		return fmt.Sprintf("its hard link count changed from %d to %d", a.Nlink, b.Nlink)
	}
	return ""
}

// createTemp creates DIR/.BASE<digits> exclusively (the names renameio,
// used before, gave; removeStale knows them).
func createTemp(dir, base string) (*os.File, string, error) {
	for range 100 {
		name := filepath.Join(dir, "."+base+strconv.FormatInt(rand.Int64(), 10))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", fmt.Errorf("no unused temp file name in %s", dir)
}

// linkTemp makes a hard link to path under a temp name of path's
// directory (the pattern removeStale knows) and returns that name.
func linkTemp(path string) (string, error) {
	dir, base := filepath.Split(path)
	for range 100 {
		name := filepath.Join(dir, "."+base+strconv.FormatInt(rand.Int64(), 10))
		err := os.Link(path, name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, err
	}
	return "", fmt.Errorf("no unused temp file name in %s", dir)
}

// writeClose gives f its mode (setMode), writes data, fsyncs and closes f.
func writeClose(f *os.File, data []byte, setMode func() error) error {
	err := setMode()
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeAtomic replaces dest with data through a temp file in dest's
// directory, giving it m's owner and mode; check runs just before the
// rename and stops it with its error.
func writeAtomic(dest string, data []byte, m meta, check func(dest string) error) error {
	dir, base := filepath.Split(dest)
	f, tmp, err := createTemp(dir, base)
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmp)
		}
	}()
	err = writeClose(f, data, func() error {
		if err := keepOwner(f, m); err != nil {
			return err
		}
		// After the chown: a chown clears the set-user-ID and set-group-ID
		// bits.
		return f.Chmod(m.mode)
	})
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(dest); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dest); err != nil {
		return err
	}
	renamed = true
	return nil
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

func syncDirOf(opts Options, dir string) error {
	if opts.syncDir != nil {
		return opts.syncDir(dir)
	}
	return syncDir(dir)
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

// removeStale removes temp files of this package's naming pattern for base
// in dir that are older than staleAge. It runs under the table's lock, so no
// Update is writing them; errors are ignored (the files are only clutter).
func removeStale(dir, base string, now time.Time) {
	for _, e := range regularTemps(dir, base) {
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < staleAge {
			continue
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

// removeOwnLinks removes the second names of step 9 that a killed Update
// left to the table at path (temp names that are the same file), before its
// links are counted. Under the lock no Update is using them.
func removeOwnLinks(path string) {
	fi, err := os.Lstat(path)
	if err != nil || stat(fi).Nlink < 2 {
		return
	}
	dir, base := filepath.Split(path)
	for _, e := range regularTemps(dir, base) {
		if other, err := e.Info(); err == nil && os.SameFile(fi, other) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// regularTemps returns the regular files in dir named as this package names
// the temp files of base; none when dir cannot be read.
func regularTemps(dir, base string) []os.DirEntry {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []os.DirEntry
	for _, e := range entries {
		if isTempName(e.Name(), base) && e.Type().IsRegular() {
			out = append(out, e)
		}
	}
	return out
}

// minTempDigits is the fewest digits of a temp name that isTempName
// accepts. createTemp appends a random non-negative int64 in decimal, which
// has fewer than 15 digits once in about 90 000 names (such a left-over only
// stays as clutter); a name a person gives, such as a dated copy
// ".relay_clientcerts20240101" or "...20240101123045", has at most 14.
const minTempDigits = 15

// isTempName reports whether name is a temp file of createTemp for base or for
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
