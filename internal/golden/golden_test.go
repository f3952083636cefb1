package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeT records failures instead of failing the real test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()                           {}
func (f *fakeT) Name() string                      { return "TestX" }
func (f *fakeT) Errorf(format string, args ...any) { f.failed = true }
func (f *fakeT) Fatalf(format string, args ...any) { f.failed = true }

func TestCompare(t *testing.T) {
	if Updating() {
		t.Skip("-update given: this test checks comparison")
	}
	path := filepath.Join(t.TempDir(), "x.golden")
	if err := os.WriteFile(path, []byte("want\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, got string
		fail            bool
	}{
		{"equal", path, "want\n", false},
		{"different", path, "got\n", true},
		{"missing final newline", path, "want", true},
		{"missing file", path + ".missing", "want\n", true},
	}
	for _, tt := range tests {
		f := &fakeT{TB: t}
		Compare(f, tt.path, []byte(tt.got))
		if f.failed != tt.fail {
			t.Errorf("%s: Compare failed = %v, want %v", tt.name, f.failed, tt.fail)
		}
	}
}
