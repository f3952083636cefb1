// Package testfs holds the file-system helpers the tests of this module
// share: a temporary directory other users can enter, and a file's state
// taken before and compared after an operation.
//
// It is for tests only: a failure ends the test with tb.Fatal.
package testfs

import (
	"os"
	"testing"
	"time"
)

// PublicDir returns a new directory that every user (nobody, the nagios
// user) can enter, removed at the end of the test: t.TempDir gives 0700
// directories.
func PublicDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "crf-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// State is what a test compares of a file before and after: its bytes and
// modification time.
type State struct {
	Data  []byte
	MTime time.Time
}

// Stat reads the state of the file at path.
func Stat(t testing.TB, path string) State {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return State{Data: data, MTime: fi.ModTime()}
}
