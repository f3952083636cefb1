package remedy

// How a table path is resolved, and when it is trusted (steps 1 and 2 of
// the protocol at the top of update.go).
//
// The path is walked one name at a time through the file system, as the
// kernel does: a symlink is read and its target walked in its place, and
// ".." goes up from the directory reached so far, so "/x/link/../rc" with
// link -> /x/sub/deeper is /x/sub/rc (filepath.Abs and filepath.Clean would
// say /x/rc). A relative path starts at the working directory. The walk
// gives three things:
//
//   - TARGET, the real file: no symlink in it, read, locked (TARGET.lock)
//     and replaced;
//   - PATH, the given path with its directories resolved and its last name
//     kept: a symlinked table is still named by its link, so "postmap
//     hash:PATH" puts PATH.db where Postfix looks for it;
//   - for each name looked up, the directory it was looked up in.
//
// The rules, checked on every walk (before and again under the lock):
//
//  1. No directory on the way may be writable by its group or by others
//     (StrictModes of OpenSSH), with one exception: a directory owned by
//     root with the sticky bit (/tmp) whose entry on the way is owned by
//     root or by the user running the update, as nobody else can rename
//     or remove that entry. The directory of TARGET has no exception for
//     Update (the lock, temp and backup files are made there; a table does
//     not belong in /tmp); Write, for a corrected copy, may write in such a
//     directory, a file that is new or root's or the user's.
//  2. A symlink in /proc (the way of /dev/stdout and /dev/fd/N) is never
//     followed: it leads to whatever a process has open.
//  3. When the walk follows a symlink, every symlink followed and every
//     directory on the way must be owned by root or by the user running the
//     update; a link planted by another user, or in a directory another user
//     owns, is refused, naming it.
//
// A refusal is an *UntrustedError naming the directory or link and saying
// what to change (chmod go-w DIR, or replace the link by the file).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// procSuperMagic is the file system type of /proc (statfs(2)).
const procSuperMagic = 0x9fa0

// maxLinks is the most symlinks one walk follows, as Linux's MAXSYMLINKS.
const maxLinks = 40

// UntrustedError is returned when a table is reached through a directory or
// a symlink that another user could change (see the rules at the top of
// resolve.go). Nothing was written.
type UntrustedError struct {
	// Path is the directory or symlink that breaks the rule.
	Path string
	// Reason says why, e.g. "directory writable by its group (mode 0775)".
	Reason string
	// Hint says what to change, e.g. "chmod go-w /etc/postfix".
	Hint string
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("refusing to write through %s: %s; hint: %s", e.Path, e.Reason, e.Hint)
}

// NotRegularError is returned for a table, or a lock file, that is not a
// regular file: a directory, a device, a pipe, a socket. Nothing was
// written.
type NotRegularError struct {
	Path string
	// Kind is what it is: "a directory", "a character device", ...
	Kind string
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("refusing to replace %s: it is %s, not a regular file", e.Path, e.Kind)
}

func notRegular(path string, m fs.FileMode) error {
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
	return &NotRegularError{Path: path, Kind: kind}
}

// resolved is the outcome of a walk.
type resolved struct {
	target string // the real file
	path   string // directories resolved, last name as given
	exists bool   // false: target is missing (only with missingOK)
}

// lookup is one name looked up during a walk.
type lookup struct {
	dir   string      // the directory it was looked up in
	name  string      // the full path of the entry
	entry fs.FileInfo // its Lstat
}

// walker resolves names through the file system and records what it saw.
type walker struct {
	lookups []lookup
	links   []string // symlinks followed
	hops    int
}

// resolve walks path (see the top of this file) and applies the trust
// rules. A missing last name is an error wrapping fs.ErrNotExist unless
// missingOK (Write), which also allows a root-owned sticky directory for
// the file; a symlink to a missing file is always an error.
func resolve(path string, missingOK bool) (resolved, error) {
	if path == "" {
		return resolved{}, errors.New("table: empty path")
	}
	full := path
	if !strings.HasPrefix(path, "/") {
		wd, err := os.Getwd()
		if err != nil {
			return resolved{}, fmt.Errorf("table %s: %w", path, err)
		}
		full = wd + "/" + path
	}
	full = strings.TrimRight(full, "/")
	i := strings.LastIndexByte(full, '/')
	if i < 0 {
		return resolved{}, fmt.Errorf("table %s: not a file name", path)
	}
	dirPart, base := full[:i], full[i+1:]
	if base == "" || base == "." || base == ".." {
		return resolved{}, fmt.Errorf("table %s: not a file name", path)
	}
	var w walker
	dir, err := w.walk("/", dirPart, true)
	if err != nil {
		return resolved{}, fmt.Errorf("table %s: %w", path, err)
	}
	r := resolved{path: join(dir, base)}
	r.target, r.exists, err = w.last(dir, base)
	if err != nil {
		return resolved{}, fmt.Errorf("table %s: %w", path, err)
	}
	if !r.exists && !missingOK {
		return resolved{}, fmt.Errorf("table %s: %w", path, syscall.ENOENT)
	}
	if err := w.trust(dirOf(r.target), missingOK); err != nil {
		return resolved{}, err
	}
	return r, nil
}

// last looks up base in dir, following symlinks to the real file. A
// missing base is reported by exists; a symlink to a missing file is an
// error.
func (w *walker) last(dir, base string) (target string, exists bool, err error) {
	name := join(dir, base)
	fi, err := w.lstat(dir, name)
	if errors.Is(err, fs.ErrNotExist) {
		return name, false, nil
	}
	if err != nil {
		return "", false, err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return name, true, nil
	}
	if err := w.follow(name); err != nil {
		return "", false, err
	}
	dest, _ := os.Readlink(name)
	t, err := w.walk(dir, dest, false)
	if err != nil {
		return "", false, fmt.Errorf("symlink %s -> %s: %w", name, dest, err)
	}
	return t, true, nil
}

// walk resolves rest from the directory cur. With wantDir the result must
// be a directory; otherwise it must exist and not be a symlink.
func (w *walker) walk(cur, rest string, wantDir bool) (string, error) {
	if strings.HasPrefix(rest, "/") {
		cur = "/"
	}
	for {
		var comp string
		rest = strings.TrimLeft(rest, "/")
		comp, rest, _ = strings.Cut(rest, "/")
		switch comp {
		case "":
			if rest == "" {
				return cur, nil
			}
			continue
		case ".":
			continue
		case "..":
			// cur has no symlink in it, so its parent is textual.
			cur = dirOf(cur)
			continue
		}
		name := join(cur, comp)
		fi, err := w.lstat(cur, name)
		if err != nil {
			return "", err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if err := w.follow(name); err != nil {
				return "", err
			}
			dest, err := os.Readlink(name)
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(dest, "/") {
				cur = "/"
			}
			rest = dest + "/" + rest
			continue
		case strings.TrimLeft(rest, "/") != "" && !fi.IsDir():
			return "", &fs.PathError{Op: "lookup", Path: name, Err: syscall.ENOTDIR}
		}
		cur = name
		if strings.TrimLeft(rest, "/") == "" {
			if wantDir && !fi.IsDir() {
				return "", &fs.PathError{Op: "lookup", Path: name, Err: syscall.ENOTDIR}
			}
			return cur, nil
		}
	}
}

func (w *walker) lstat(dir, name string) (fs.FileInfo, error) {
	fi, err := os.Lstat(name)
	if err != nil {
		return nil, err
	}
	w.lookups = append(w.lookups, lookup{dir: dir, name: name, entry: fi})
	return fi, nil
}

func (w *walker) follow(link string) error {
	w.hops++
	if w.hops > maxLinks {
		return &fs.PathError{Op: "lookup", Path: link, Err: syscall.ELOOP}
	}
	// /dev/stdout, /dev/fd/N and /proc/self/fd/N lead through /proc to
	// whatever a process has open: never a table to replace.
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(dirOf(link), &sfs); err == nil && sfs.Type == procSuperMagic {
		return &UntrustedError{Path: link, Reason: "a link in /proc to a file some process has open, not a table file",
			Hint: "give the file's own path; - writes to standard output"}
	}
	w.links = append(w.links, link)
	return nil
}

// trust applies the rules at the top of this file to what the walk saw;
// targetDir is the directory of the real file.
func (w *walker) trust(targetDir string, stickyOK bool) error {
	uid := uint32(os.Geteuid())
	mine := func(st *syscall.Stat_t) bool { return st.Uid == 0 || st.Uid == uid }
	linked := len(w.links) > 0
	for _, link := range w.links {
		fi, err := os.Lstat(link)
		if err != nil {
			return fmt.Errorf("symlink %s: %w", link, err)
		}
		if st := stat(fi); !mine(st) {
			return &UntrustedError{Path: link,
				Reason: fmt.Sprintf("a symlink owned by uid %d, neither root nor the user running this (uid %d)", st.Uid, uid),
				Hint:   "give the table's real path, or chown -h root " + link}
		}
	}
	// check applies rule 1 (and 3 when linked) to dir, where the entry l
	// was looked up (l.entry is nil for the last check of the target's
	// directory, which has no sticky exception).
	check := func(dir string, l lookup) error {
		fi, err := os.Lstat(dir)
		if err != nil {
			return fmt.Errorf("directory %s: %w", dir, err)
		}
		st := stat(fi)
		perm := fi.Mode().Perm()
		if perm&0o022 != 0 {
			sticky := fi.Mode()&fs.ModeSticky != 0 && st.Uid == 0
			if sticky && l.entry != nil && !mine(stat(l.entry)) {
				return &UntrustedError{Path: l.name,
					Reason: fmt.Sprintf("it is in %s, a directory anyone can write, and belongs to uid %d, neither root nor the user running this (uid %d)", dir, stat(l.entry).Uid, uid),
					Hint:   "choose another path"}
			}
			if !sticky || l.entry == nil {
				who := "its group"
				if perm&0o002 != 0 {
					who = "anyone"
				}
				return &UntrustedError{Path: dir,
					Reason: fmt.Sprintf("directory writable by %s (mode %04o), so another user could plant files or links there", who, perm),
					Hint:   "chmod go-w " + dir}
			}
		}
		if linked && !mine(st) {
			return &UntrustedError{Path: dir,
				Reason: fmt.Sprintf("a symlink is followed through this directory, owned by uid %d, neither root nor the user running this (uid %d)", st.Uid, uid),
				Hint:   "give the table's real path, or chown root " + dir}
		}
		return nil
	}
	for _, l := range w.lookups {
		if err := check(l.dir, l); err != nil {
			return err
		}
	}
	if stickyOK {
		// Write may create its file in /tmp: its name is made by link(2),
		// which never follows or replaces what another user planted, and
		// an existing file there was checked above to be root's or ours.
		if fi, err := os.Lstat(targetDir); err == nil && fi.Mode()&fs.ModeSticky != 0 && stat(fi).Uid == 0 {
			return nil
		}
	}
	return check(targetDir, lookup{})
}

func stat(fi fs.FileInfo) *syscall.Stat_t {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st
	}
	return &syscall.Stat_t{Uid: ^uint32(0)}
}

// join and dirOf work on paths without "." or ".." names.
func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

func dirOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}
