package table

import (
	"os"
	"syscall"
)

// mapFile maps the first size bytes of f into memory, read-only, with its
// pages mapped at once (MAP_POPULATE: one system call instead of a fault
// every 16 pages), and returns them and the function that unmaps them. An
// empty file maps to nil and needs no unmapping.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	if size == 0 {
		return nil, nil, nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, nil, &os.PathError{Op: "mmap", Path: f.Name(), Err: err}
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
