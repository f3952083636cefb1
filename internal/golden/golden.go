// Package golden compares test output with golden files, the one way this
// module's tests do it: one scenario per file under fixtures/, regenerated
// only on request with the -update flag (go test ./pkg -run TestX -update),
// then reviewed as a diff like any other change.
//
// It does not normalise anything: a test makes its output stable (fixed
// certificates, volatile values replaced) before it compares.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under fixtures/ instead of comparing with them")

// Updating reports whether the test run was given -update: golden files
// are then written, not compared (a test may also make its missing fixture
// inputs then).
func Updating() bool { return *update }

// Compare fails t when got differs from the content of the file at path,
// showing both, or, with -update, writes got to path (making its
// directory). A missing file is a failure that says how to make it.
func Compare(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run '%s' -update to create it, then review it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -run '%s' -update to accept, then review the diff)\ngot:\n%s\nwant:\n%s", path, t.Name(), got, want)
	}
}
