//go:build !linux

package check

import "os"

// times returns the modification time of fi; its status-change time is
// left zero, so that a compiled file is never found newer by its
// modification time alone.
func times(fi os.FileInfo) fileTimes {
	return fileTimes{mtime: fi.ModTime()}
}
