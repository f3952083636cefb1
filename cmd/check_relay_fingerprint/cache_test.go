package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestMain gives the tests a scan cache of their own (the default is under
// $XDG_CACHE_HOME), not the user's.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crf-cache-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestRunCache runs the check of one table again and again: parsed and
// saved, then from the cache with the same result, then after an edit of
// the same size that drops the relay's key, parsed again: CRITICAL. With
// --no-cache nothing is kept.
func TestRunCache(t *testing.T) {
	t.Parallel()
	cert := rtCert(t, "cliff.example.org", 90)
	key := rtPubkey(t, cert)
	dir := t.TempDir()
	other := "00" + key[2:]
	path := rtWrite(t, dir, "relay_clientcerts", other+" old.example.org\n"+key+" cliff.example.org\n")
	addr := rtServe(t, cert, false)
	cache := filepath.Join(dir, "cache")
	args := []string{"-H", addr, "--table", "texthash:" + path, "--cache-dir", cache, "-v"}

	// The status line without its perfdata, which has the handshake time.
	status := func(out string) string { return strings.SplitN(out, " | ", 2)[0] }
	code, first, _ := rtRun(t, args...)
	if code != 0 || !strings.Contains(first, path+": saved to the scan cache "+cache+"/scan-") {
		t.Fatalf("first check: exit %d, output\n%s\nwant OK, saved to the scan cache", code, first)
	}
	code, second, _ := rtRun(t, args...)
	if code != 0 || !strings.Contains(second, path+": from the scan cache "+cache+"/scan-") ||
		status(second) != status(first) {
		t.Fatalf("second check: exit %d, output\n%s\nwant OK from the scan cache, status line as before:\n%s", code, second, status(first))
	}

	// The relay's key edited away, the size kept.
	if err := os.WriteFile(path, []byte(other+" old.example.org\n"+other[:len(other)-2]+"FF cliff.example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, third, _ := rtRun(t, args...)
	if code != 2 || !strings.Contains(third, "not used: the file changed since; saved to the scan cache") {
		t.Errorf("after the edit: exit %d, output\n%s\nwant CRITICAL, the cache not used", code, third)
	}
	code, fourth, _ := rtRun(t, args...)
	if code != 2 || !strings.Contains(fourth, "from the scan cache") || status(fourth) != status(third) {
		t.Errorf("after the edit, again: exit %d, output\n%s\nwant CRITICAL from the cache, status line\n%s", code, fourth, status(third))
	}

	none := filepath.Join(dir, "none")
	code, out, _ := rtRun(t, "-H", addr, "--table", "texthash:"+path, "--cache-dir", none, "--no-cache", "-v")
	if code != 2 || strings.Contains(out, "scan cache") {
		t.Errorf("--no-cache: exit %d, output\n%s\nwant CRITICAL, no word of a cache", code, out)
	}
	if _, err := os.Stat(none); !os.IsNotExist(err) {
		t.Errorf("--no-cache: %s made (%v)", none, err)
	}
}

// TestRunCacheNoHome: with neither $XDG_CACHE_HOME nor $HOME, and no
// --cache-dir, there is no cache, and -v says why.
func TestRunCacheNoHome(t *testing.T) {
	// Not parallel: it changes the environment of every test.
	cert := rtCert(t, "cliff.example.org", 90)
	path := rtWrite(t, t.TempDir(), "relay_clientcerts", rtPubkey(t, cert)+" cliff.example.org\n")
	addr := rtServe(t, cert, false)
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	code, out, _ := rtRun(t, "-H", addr, "--table", "texthash:"+path, "-v")
	if want := path + ": scan cache not used: no --cache-dir, and "; code != 0 || !strings.Contains(out, want) {
		t.Errorf("without XDG_CACHE_HOME and HOME: exit %d, output\n%s\nwant OK and a line starting %q", code, out, want)
	}
}

// TestWiden: widen raises GOMAXPROCS to wideProcs, never lowers it, and
// leaves it alone when wideProcs is 0 (an admin's GOMAXPROCS, or tests).
func TestWiden(t *testing.T) {
	// Not parallel: GOMAXPROCS is the process's.
	saved, savedWide := runtime.GOMAXPROCS(0), wideProcs
	t.Cleanup(func() { runtime.GOMAXPROCS(saved); wideProcs = savedWide })
	for _, tt := range []struct{ procs, wide, want int }{
		{1, 3, 3},
		{4, 3, 4},
		{1, 0, 1},
	} {
		runtime.GOMAXPROCS(tt.procs)
		wideProcs = tt.wide
		widen()
		if got := runtime.GOMAXPROCS(0); got != tt.want {
			t.Errorf("GOMAXPROCS %d, wideProcs %d: widen gives %d, want %d", tt.procs, tt.wide, got, tt.want)
		}
	}
}

// TestRunCacheEmptyDir: --cache-dir= (a macro left empty) means the
// default directory, never the working directory (/ for a daemon).
func TestRunCacheEmptyDir(t *testing.T) {
	// Not parallel: it changes the working directory.
	cert := rtCert(t, "cliff.example.org", 90)
	dir := t.TempDir()
	path := rtWrite(t, dir, "relay_clientcerts", rtPubkey(t, cert)+" cliff.example.org\n")
	addr := rtServe(t, cert, false)
	cwd := filepath.Join(dir, "cwd")
	if err := os.Mkdir(cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(cwd)
	code, out, _ := rtRun(t, "-H", addr, "--table", "texthash:"+path, "--cache-dir=", "-v")
	if ents, _ := os.ReadDir(cwd); code != 0 || len(ents) != 0 || !strings.Contains(out, "saved to the scan cache "+os.Getenv("XDG_CACHE_HOME")) {
		t.Errorf("--cache-dir=: exit %d, %d files in the working directory; output\n%s\nwant OK, none, the default cache", code, len(ents), out)
	}
}
