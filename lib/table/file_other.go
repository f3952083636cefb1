//go:build !linux

package table

import (
	"errors"
	"os"
)

// mapFile reads the first size bytes of f into memory: elsewhere than on
// Linux, Scan copies the file as Read does, and nothing needs unmapping.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	return readFile(f, size)
}

// changed reports whether the file described by a at a scan's start is
// described otherwise by b: another size or modification time.
func changed(a, b os.FileInfo) bool {
	return a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime())
}

// release does nothing: elsewhere than on Linux, Scan's data is no
// mapping.
func release([]byte) {}

// errNoCache is why there is no scan cache on this system.
var errNoCache = errors.New("the scan cache is kept on Linux only")

// private refuses every file: elsewhere than on Linux, there is no scan
// cache.
func private(os.FileInfo) error { return errNoCache }

// fileID is "": elsewhere than on Linux, files are named by path.
func fileID(os.FileInfo) string { return "" }

// statID is "": elsewhere than on Linux, there is no scan cache.
func statID(os.FileInfo) string { return "" }

// ownedSafe refuses every directory: elsewhere than on Linux, there is no
// scan cache.
func ownedSafe(os.FileInfo) error {
	return errors.New("the scan cache is kept on Linux only")
}
