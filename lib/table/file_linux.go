package table

import (
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
