//go:build !linux

package table

import (
	"io"
	"os"
)

// mapFile reads the first size bytes of f into memory: elsewhere than on
// Linux, Scan copies the file as Read does, and nothing needs unmapping.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, err
	}
	return data, nil, nil
}

// release does nothing: elsewhere than on Linux, Scan's data is no
// mapping.
func release([]byte) {}
