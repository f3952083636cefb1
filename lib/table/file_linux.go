package table

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// mapFile maps the first size bytes of f into memory, read-only, and
// returns them and the function that unmaps them. An empty file maps to
// nil and needs no unmapping; so does a file whose file system cannot map
// it (FUSE with direct_io, for one), which mapFile reads into memory.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	if size == 0 {
		return nil, nil, nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return readFile(f, size)
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}

// changed reports whether the file described by a at a scan's start is
// described otherwise by b: another size, modification or status-change
// time. The status-change time is what a write cannot set back (touch -r,
// rsync -t can set the modification time).
func changed(a, b os.FileInfo) bool {
	if a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime()) {
		return true
	}
	sa, okA := a.Sys().(*syscall.Stat_t)
	sb, okB := b.Sys().(*syscall.Stat_t)
	return okA && okB && sa.Ctim != sb.Ctim
}

// release lets the kernel unmap the whole pages of b, part of a mapping of
// a file, until they are read again: they stay in the page cache and come
// back, unchanged, on the next read. It is only advice.
func release(b []byte) {
	if len(b) == 0 {
		return
	}
	page := os.Getpagesize()
	skip := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & uintptr(page-1))
	if skip >= len(b) {
		return
	}
	b = b[skip:]
	if n := len(b) &^ (page - 1); n > 0 {
		_ = syscall.Madvise(b[:n], syscall.MADV_DONTNEED)
	}
}

// errNoCache is why there is no scan cache on this system: none on Linux.
var errNoCache error

// private checks that the file fi describes is the user's own and that no
// one else may write it: what a cache file and its directory must be.
func private(fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("its owner is not known")
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("owned by uid %d, not by this user (uid %d)", st.Uid, uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("group or others may write it (mode %v)", fi.Mode().Perm())
	}
	return nil
}

// ownedSafe checks that the directory or symbolic link fi describes is
// owned by the user or root, and that no one else may write the directory
// unless it is sticky (as /tmp, where no one may rename or remove
// another's entries). A link's own mode means nothing.
func ownedSafe(fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("its owner is not known")
	}
	if uid := os.Geteuid(); int(st.Uid) != uid && st.Uid != 0 {
		return fmt.Errorf("owned by uid %d, neither this user (uid %d) nor root", st.Uid, uid)
	}
	if fi.Mode()&os.ModeSymlink == 0 && fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("group or others may write it (mode %v); hint: chmod go-w it, or name another --cache-dir", fi.Mode().Perm())
	}
	return nil
}

// fileID names the file fi describes by its device and inode numbers.
func fileID(fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	}
	return ""
}

// statID is what a cache compares of the status of a file: its device,
// inode, size, modification and status change times, to the nanosecond.
func statID(fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d %d %d.%09d %d.%09d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
	}
	return ""
}
