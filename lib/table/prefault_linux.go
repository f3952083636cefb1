package table

import (
	"os"
	"syscall"
	"unsafe"
)

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14), which package
// syscall lacks.
const madvPopulateWrite = 23

// prefault asks the kernel to back the capacity of s, just allocated and
// about to be filled, with memory now, as writing it would, but in one
// system call instead of one page fault a page. A fault can cost
// microseconds (more in a virtual machine), and a big table takes thousands
// for its text, Lines and Entries. It is only advice and changes no byte:
// on error (a kernel older than 5.14) the faults just happen as before.
// Below 64 KiB (16 pages) the call is not worth it.
func prefault[E any](s []E) {
	p := unsafe.Pointer(unsafe.SliceData(s))
	n := uintptr(cap(s)) * unsafe.Sizeof(*new(E))
	if n < 64<<10 {
		return
	}
	page := uintptr(os.Getpagesize())
	skip := -uintptr(p) & (page - 1) // madvise starts at a page boundary
	if skip >= n {
		return
	}
	_ = syscall.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, skip)), n-skip), madvPopulateWrite)
}
