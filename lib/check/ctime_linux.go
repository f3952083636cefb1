package check

import (
	"os"
	"syscall"
	"time"
)

// times returns the modification and status-change times of fi.
func times(fi os.FileInfo) fileTimes {
	t := fileTimes{mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		t.ctime = time.Unix(st.Ctim.Unix())
	}
	return t
}
