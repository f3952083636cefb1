package remedy

// Tests of the protocol steps added after the adversarial review of
// issue 13: a table rewritten without the lock (item 1), ".." after a
// symlinked directory (4), the lock sidecar and directory trust (5),
// symlink trust (6), Write for --fix-to (7), hard links (8), and the chmod
// order and directory fsync (19).

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// leaseModes runs a case with and without the read lease: the status and
// content checks must hold where leases are not available.
var leaseModes = []struct {
	name    string
	noLease bool
}{{"lease", false}, {"no lease", true}}

// Another program rewrites the table without taking the lock, between the
// read and the rename (injected deterministically by the beforeCheck hook):
// Update must refuse with a *ChangedError and write nothing, so the other
// program's content stays whole.
func TestUpdateRefusesATableRewrittenMeanwhile(t *testing.T) {
	t.Parallel()
	old := tableOf("A", 1002)
	half := old[:len(old)/2-7] // cut mid-line, as a generator caught mid-write
	tests := []struct {
		name string
		// write changes the table as another program would and returns
		// what it must hold afterwards.
		write func(t *testing.T, table string) []byte
	}{
		{"truncate and write a shorter table", func(t *testing.T, table string) []byte {
			if err := os.WriteFile(table, half, 0o644); err != nil {
				t.Fatal(err)
			}
			return half
		}},
		{"same size, in place, mtime restored", func(t *testing.T, table string) []byte {
			fi, _ := statT(t, table)
			same := bytes.Replace(old, []byte("relay7."), []byte("relay8."), 1)
			if err := os.WriteFile(table, same, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(table, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			return same
		}},
		{"append a line", func(t *testing.T, table string) []byte {
			f, err := os.OpenFile(table, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("appended by another program\n")
			f.Close()
			return append(bytes.Clone(old), "appended by another program\n"...)
		}},
		{"replaced by a rename", func(t *testing.T, table string) []byte {
			next := tableOf("B", 10)
			tmp := table + ".other"
			if err := os.WriteFile(tmp, next, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, table); err != nil {
				t.Fatal(err)
			}
			return next
		}},
	}
	for _, tt := range tests {
		for _, lm := range leaseModes {
			for _, backup := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/backup %v", tt.name, lm.name, backup), func(t *testing.T) {
					t.Parallel()
					dir := t.TempDir()
					table := filepath.Join(dir, "relay_clientcerts")
					writeTable(t, table, old, 0o644, 0, 0)
					var want []byte
					done := make(chan struct{})
					opts := Options{Backup: backup, noLease: lm.noLease, beforeCheck: func(dest string, leaseBroken func() bool) {
						if dest != table {
							return
						}
						// The writer's open for writing waits while this
						// process holds the lease: run it aside until it
						// is done or has broken the lease.
						go func() {
							want = tt.write(t, table)
							close(done)
						}()
						for {
							select {
							case <-done:
								return
							default:
							}
							if leaseBroken() {
								return
							}
							time.Sleep(time.Millisecond)
						}
					}}
					afterRan := false
					opts.After = func(bool) error { afterRan = true; return nil }
					res, err := Update(t.Context(), table, opts, appendEdit("CC:DD ours"))
					var ce *ChangedError
					if !errors.As(err, &ce) || ce.Replaced || ce.Path != table {
						t.Fatalf("Update = %+v, %v; want a *ChangedError for %s, not Replaced", res, err, table)
					}
					if !strings.Contains(err.Error(), "nothing written") {
						t.Errorf("error %q does not say nothing was written", err)
					}
					if res.Changed || afterRan {
						t.Errorf("Changed %v, After ran %v; want neither", res.Changed, afterRan)
					}
					<-done
					if got := readFile(t, table); !bytes.Equal(got, want) {
						t.Errorf("table holds %d bytes, want the other program's %d: a write was lost", len(got), len(want))
					}
					if left := tempFiles(t, dir, "relay_clientcerts"); len(left) != 0 {
						t.Errorf("temp files left: %v", left)
					}
				})
			}
		}
	}
}

// A program has the table open for writing (a generator still running, as
// in "generate > relay_clientcerts"): the lease cannot be had, Update
// refuses before reading, and the generator's whole output stays.
func TestUpdateRefusesATableOpenForWriting(t *testing.T) {
	t.Parallel()
	table := filepath.Join(t.TempDir(), "relay_clientcerts")
	full := tableOf("A", 1002)
	writeTable(t, table, nil, 0o644, 0, 0)
	w, err := os.OpenFile(table, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(full[:len(full)/2])
	_, err = Update(t.Context(), table, Options{}, appendEdit("CC:DD ours"))
	var ce *ChangedError
	if !errors.As(err, &ce) || ce.Replaced || !strings.Contains(err.Error(), "open for writing") {
		t.Errorf("Update while another program writes the table: %v; want a *ChangedError saying it is open for writing", err)
	}
	w.Write(full[len(full)/2:])
	w.Close()
	if got := readFile(t, table); !bytes.Equal(got, full) {
		t.Errorf("table holds %d bytes, want the generator's %d", len(got), len(full))
	}
}

// A steady appender that ignores the lock ("echo line >> table", one open
// per line) runs while Updates append lines of their own: no line of either
// may be lost silently. A *ChangedError before the rename is retried, as an
// admin would; one seen after the rename (Replaced) is a loud report, and
// only then may an appended line be missing.
//
// Only with the lease: without one, an append can land on the replaced
// file between the last check and the rename, unseen (the window the
// protocol comment names); the checks of that mode are covered
// deterministically by TestUpdateRefusesATableRewrittenMeanwhile.
func TestUpdateWithASteadyAppenderLosesNothing(t *testing.T) {
	t.Parallel()
	for _, lm := range leaseModes[:1] {
		t.Run(lm.name, func(t *testing.T) {
			t.Parallel()
			const appends, updates = 1500, 150
			table := filepath.Join(t.TempDir(), "t")
			writeTable(t, table, []byte("# header\n"), 0o644, 0, 0)
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := range appends {
					f, err := os.OpenFile(table, os.O_WRONLY|os.O_APPEND, 0)
					if err != nil {
						t.Error(err)
						return
					}
					f.WriteString(appendLine("appender", i) + "\n")
					f.Close()
					if i%8 == 0 {
						time.Sleep(50 * time.Microsecond) // pace, so Updates get through too
					}
				}
			})
			var want []string
			refused, replaced := 0, 0
			for i := range updates {
				line := appendLine("update", i)
				want = append(want, line)
				for {
					_, err := Update(t.Context(), table, Options{noLease: lm.noLease}, appendEdit(line))
					var ce *ChangedError
					if errors.As(err, &ce) && !ce.Replaced {
						refused++
						continue
					}
					if errors.As(err, &ce) {
						replaced++
						t.Logf("reported: %v", err)
					} else if err != nil {
						t.Fatalf("Update: %v", err)
					}
					break
				}
			}
			wg.Wait()
			t.Logf("%d updates, %d appends: %d refused and retried, %d reported after the rename", updates, appends, refused, replaced)
			lines := strings.Split(strings.TrimSuffix(string(readFile(t, table)), "\n"), "\n")
			count := map[string]int{}
			for _, l := range lines[1:] {
				count[l]++
			}
			for _, w := range want {
				if count[w] != 1 {
					t.Errorf("update line %q present %d times, want once", w, count[w])
				}
			}
			missing := 0
			for i := range appends {
				switch count[appendLine("appender", i)] {
				case 0:
					missing++
				case 1:
				default:
					t.Errorf("appended line %d present more than once", i)
				}
			}
			if missing > replaced {
				t.Errorf("%d appended lines lost, %d of them silently (only %d updates reported a late change)", missing, missing-replaced, replaced)
			}
		})
	}
}

// ".." after a symlinked directory is resolved as the kernel does: with
// link -> /x/sub/deeper, /x/link/../rc is /x/sub/rc, not /x/rc.
func TestUpdateDotDotAfterASymlinkedDirectory(t *testing.T) {
	t.Parallel()
	x := t.TempDir()
	if err := os.MkdirAll(filepath.Join(x, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	symlink(t, filepath.Join(x, "sub", "deeper"), filepath.Join(x, "link"))
	real, decoy := filepath.Join(x, "sub", "rc"), filepath.Join(x, "rc")
	writeTable(t, real, []byte("real\n"), 0o644, 0, 0)
	writeTable(t, decoy, []byte("decoy\n"), 0o644, 0, 0)

	res, err := Update(t.Context(), x+"/link/../rc", Options{}, appendEdit("new"))
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if res.Target != real || res.Path != real {
		t.Errorf("Target %s, Path %s; want both %s", res.Target, res.Path, real)
	}
	if got := string(readFile(t, real)); got != "real\nnew\n" {
		t.Errorf("%s = %q, want %q", real, got, "real\nnew\n")
	}
	if got := string(readFile(t, decoy)); got != "decoy\n" {
		t.Errorf("%s = %q: written through a textually cleaned path", decoy, got)
	}
	if _, err := os.Stat(real + LockSuffix); err != nil {
		t.Errorf("lock not beside %s: %v", real, err)
	}
	if _, err := os.Lstat(decoy + LockSuffix); err == nil {
		t.Errorf("lock made beside the decoy %s", decoy)
	}
}

// The same, relative to the working directory (not parallel: Chdir).
func TestUpdateDotDotRelative(t *testing.T) {
	x := t.TempDir()
	if err := os.MkdirAll(filepath.Join(x, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	symlink(t, "sub/deeper", filepath.Join(x, "link"))
	writeTable(t, filepath.Join(x, "sub", "rc"), []byte("real\n"), 0o644, 0, 0)
	writeTable(t, filepath.Join(x, "rc"), []byte("decoy\n"), 0o644, 0, 0)
	t.Chdir(x)
	res, err := Update(t.Context(), "link/../rc", Options{}, appendEdit("new"))
	if err != nil || res.Target != filepath.Join(x, "sub", "rc") {
		t.Fatalf("Update(link/../rc) = %+v, %v; want Target %s", res, err, filepath.Join(x, "sub", "rc"))
	}
	if got := string(readFile(t, filepath.Join(x, "rc"))); got != "decoy\n" {
		t.Errorf("decoy = %q", got)
	}
}

// A symlinked table is still named by its link in Result.Path (postmap
// puts the .db beside the link, where Postfix looks), while Target is the
// real file.
func TestUpdateResultPathKeepsTheLastName(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(root, "real", "t")
	writeTable(t, real, []byte("old\n"), 0o644, 0, 0)
	symlink(t, "real", filepath.Join(root, "dirlink"))
	link := symlink(t, filepath.Join(root, "dirlink", "t"), filepath.Join(root, "rc"))
	res, err := Update(t.Context(), root+"/dirlink/../rc", Options{}, appendEdit("new"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Target != real || res.Path != link {
		t.Errorf("Target %s, Path %s; want %s, %s", res.Target, res.Path, real, link)
	}
}

// The lock sidecar is never followed, never blocks, and must be a regular
// file.
func TestUpdateLockFileIsOpenedSafely(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		plant   func(t *testing.T, lockPath, elsewhere string)
		wantErr string
	}{
		{"symlink to a missing file", func(t *testing.T, lockPath, elsewhere string) {
			symlink(t, elsewhere, lockPath)
		}, "the lock file is a symlink"},
		{"symlink to an existing file", func(t *testing.T, lockPath, elsewhere string) {
			if err := os.WriteFile(elsewhere, []byte("keep\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			symlink(t, elsewhere, lockPath)
		}, "the lock file is a symlink"},
		{"FIFO", func(t *testing.T, lockPath, _ string) {
			if err := syscall.Mkfifo(lockPath, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "the lock file is a named pipe"},
		{"directory", func(t *testing.T, lockPath, _ string) {
			if err := os.Mkdir(lockPath, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "the lock file is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, other := t.TempDir(), t.TempDir()
			table := filepath.Join(dir, "relay_clientcerts")
			writeTable(t, table, []byte("old\n"), 0o644, 0, 0)
			elsewhere := filepath.Join(other, "nologin")
			tt.plant(t, table+LockSuffix, elsewhere)
			before, _ := os.ReadFile(elsewhere)
			_, err := Update(t.Context(), table, Options{}, appendEdit("new"))
			var ue *UntrustedError
			if !errors.As(err, &ue) || ue.Path != table+LockSuffix || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Update = %v; want an *UntrustedError naming %s and saying %q", err, table+LockSuffix, tt.wantErr)
			}
			if got := string(readFile(t, table)); got != "old\n" {
				t.Errorf("table = %q, want it untouched", got)
			}
			after, err := os.ReadFile(elsewhere)
			if (before == nil) != errors.Is(err, fs.ErrNotExist) || !bytes.Equal(before, after) {
				t.Errorf("the link's target %s was created or changed (%q → %q, %v)", elsewhere, before, after, err)
			}
		})
	}
}

// Directories another user could write are refused, as OpenSSH's
// StrictModes does, naming the directory and what to chmod.
func TestUpdateRefusesWritableDirectories(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		dirMode  fs.FileMode // of the table's directory
		upMode   fs.FileMode // of the directory above it
		wantDeny string      // "table" or "up" or "" (allowed)
	}{
		{"table directory 0755", 0o755, 0o755, ""},
		{"table directory group-writable", 0o775, 0o755, "table"},
		{"table directory world-writable", 0o757, 0o755, "table"},
		{"table directory sticky and world-writable", 0o777 | fs.ModeSticky, 0o755, "table"},
		{"directory above group-writable", 0o755, 0o775, "up"},
		{"directory above root-owned sticky /tmp-like", 0o755, 0o777 | fs.ModeSticky, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := filepath.Join(t.TempDir(), "up")
			dir := filepath.Join(up, "postfix")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			table := filepath.Join(dir, "t")
			writeTable(t, table, []byte("old\n"), 0o644, 0, 0)
			for p, m := range map[string]fs.FileMode{dir: tt.dirMode, up: tt.upMode} {
				if err := os.Chmod(p, m); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Update(t.Context(), table, Options{}, appendEdit("new"))
			if tt.wantDeny == "" {
				if err != nil {
					t.Fatalf("Update: %v", err)
				}
				return
			}
			deny := map[string]string{"table": dir, "up": up}[tt.wantDeny]
			var ue *UntrustedError
			if !errors.As(err, &ue) || ue.Path != deny || !strings.Contains(err.Error(), "hint: chmod go-w "+deny) {
				t.Fatalf("Update = %v; want an *UntrustedError naming %s with hint chmod go-w", err, deny)
			}
			if got := string(readFile(t, table)); got != "old\n" {
				t.Errorf("table = %q, want it untouched", got)
			}
			if _, err := os.Lstat(table + LockSuffix); err == nil {
				t.Errorf("lock file created before the refusal")
			}
		})
	}
}

// A symlink is followed only when it and every directory on the way are
// owned by root or by the user running the update (root here).
func TestUpdateSymlinkTrust(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup returns the path to update and the path the refusal must
		// name ("" when the update must go through).
		setup func(t *testing.T, root, real string) (path, deny string)
	}{
		{"link owned by root", func(t *testing.T, root, real string) (string, string) {
			return symlink(t, real, filepath.Join(root, "link")), ""
		}},
		{"link owned by nobody", func(t *testing.T, root, real string) (string, string) {
			l := symlink(t, real, filepath.Join(root, "link"))
			lchown(t, l, nobody)
			return l, l
		}},
		{"link in a directory owned by nobody", func(t *testing.T, root, real string) (string, string) {
			d := mkdirOwned(t, filepath.Join(root, "theirs"), nobody)
			return symlink(t, real, filepath.Join(d, "link")), d
		}},
		{"link to a file in a directory owned by nobody", func(t *testing.T, root, _ string) (string, string) {
			d := mkdirOwned(t, filepath.Join(root, "theirs"), nobody)
			writeTable(t, filepath.Join(d, "t"), []byte("old\n"), 0o644, 0, 0)
			return symlink(t, filepath.Join(d, "t"), filepath.Join(root, "link")), d
		}},
		{"symlinked directory owned by nobody on the way", func(t *testing.T, root, _ string) (string, string) {
			l := symlink(t, filepath.Join(root, "real"), filepath.Join(root, "dirlink"))
			lchown(t, l, nobody)
			return filepath.Join(l, "t"), l
		}},
		{"no symlink, table directory owned by nobody", func(t *testing.T, root, _ string) (string, string) {
			d := mkdirOwned(t, filepath.Join(root, "theirs"), nobody)
			p := filepath.Join(d, "t")
			writeTable(t, p, []byte("old\n"), 0o644, 0, 0)
			return p, ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			if err := os.Mkdir(filepath.Join(root, "real"), 0o755); err != nil {
				t.Fatal(err)
			}
			real := filepath.Join(root, "real", "t")
			writeTable(t, real, []byte("old\n"), 0o644, 0, 0)
			path, deny := tt.setup(t, root, real)
			res, err := Update(t.Context(), path, Options{}, appendEdit("new"))
			if deny == "" {
				if err != nil || !res.Changed {
					t.Fatalf("Update(%s) = %+v, %v; want it written", path, res, err)
				}
				return
			}
			var ue *UntrustedError
			if !errors.As(err, &ue) || ue.Path != deny {
				t.Fatalf("Update(%s) = %v; want an *UntrustedError naming %s", path, err, deny)
			}
			if got := string(readFile(t, real)); got != "old\n" {
				t.Errorf("real file = %q, want it untouched", got)
			}
		})
	}
}

func lchown(t *testing.T, p string, uid int) {
	t.Helper()
	if err := os.Lchown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
}

func mkdirOwned(t *testing.T, p string, uid int) string {
	t.Helper()
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
	return p
}

// A table with other hard links is refused unless BreakLinks, which counts
// the links left with the old content.
func TestUpdateHardLinks(t *testing.T) {
	t.Parallel()
	for _, breakLinks := range []bool{false, true} {
		t.Run(fmt.Sprintf("BreakLinks %v", breakLinks), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			table, other := filepath.Join(dir, "t"), filepath.Join(dir, "other")
			writeTable(t, table, []byte("old\n"), 0o644, 0, 0)
			if err := os.Link(table, other); err != nil {
				t.Fatal(err)
			}
			res, err := Update(t.Context(), table, Options{BreakLinks: breakLinks}, appendEdit("new"))
			if !breakLinks {
				var he *HardLinkError
				if !errors.As(err, &he) || he.Links != 2 || he.Path != table {
					t.Fatalf("Update = %+v, %v; want a *HardLinkError with 2 links", res, err)
				}
				if got := string(readFile(t, table)); got != "old\n" {
					t.Errorf("table = %q, want it untouched", got)
				}
				return
			}
			if err != nil || !res.Changed || res.BrokenLinks != 1 {
				t.Fatalf("Update = %+v, %v; want Changed with BrokenLinks 1", res, err)
			}
			if got := string(readFile(t, other)); got != "old\n" {
				t.Errorf("other link = %q, want the old content", got)
			}
			// Unchanged: no link broken, none reported.
			res, err = Update(t.Context(), other, Options{BreakLinks: true}, func(b []byte) ([]byte, error) { return b, nil })
			if err != nil || res.BrokenLinks != 0 {
				t.Errorf("unchanged Update = %+v, %v; want BrokenLinks 0", res, err)
			}
		})
	}
}

// The set-user-ID and set-group-ID bits of an executable table survive a
// change of owner: chmod comes after chown, which clears them.
func TestUpdateKeepsSetIDBitsAcrossChown(t *testing.T) {
	t.Parallel()
	for _, mode := range []fs.FileMode{0o755 | fs.ModeSetgid, 0o755 | fs.ModeSetuid | fs.ModeSetgid} {
		table := filepath.Join(t.TempDir(), "t")
		writeTable(t, table, []byte("old\n"), mode, nobody, nobody)
		if fi, _ := statT(t, table); fi.Mode() != mode {
			t.Fatalf("test setup: mode %v, want %v", fi.Mode(), mode)
		}
		if _, err := Update(t.Context(), table, Options{}, appendEdit("new")); err != nil {
			t.Fatal(err)
		}
		if fi, st := statT(t, table); fi.Mode() != mode || st.Uid != nobody {
			t.Errorf("mode %v owner %d after the update, want %v %d", fi.Mode(), st.Uid, mode, nobody)
		}
	}
}

// The directory is fsynced after the rename, and a failure there is
// reported (the table is replaced).
func TestUpdateSyncsTheDirectoryAfterTheRename(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	table := filepath.Join(dir, "t")
	writeTable(t, table, []byte("old\n"), 0o644, 0, 0)
	var calls []string
	opts := Options{syncDir: func(d string) error {
		calls = append(calls, fmt.Sprintf("%s holding %q", filepath.Clean(d), readFile(t, table)))
		return syscall.EIO
	}}
	res, err := Update(t.Context(), table, opts, appendEdit("new"))
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "could not sync its directory") || !res.Changed {
		t.Errorf("Update with a failing directory sync = %+v, %v; want Changed and the EIO reported", res, err)
	}
	want := fmt.Sprintf("%s holding %q", filepath.Clean(dir), "old\nnew\n")
	if len(calls) != 1 || calls[0] != want {
		t.Errorf("directory syncs: %q, want one after the rename: %q", calls, want)
	}
}

// Write, for --fix-to: a new regular file, or a regular file replaced under
// the rules of Update; never a device, a pipe, or a symlink itself.
func TestWrite(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	pipeLink := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), w.Fd())

	tests := []struct {
		name string
		// setup returns the path to write and the real file that must hold
		// the data ("" when Write must refuse).
		setup   func(t *testing.T, dir string) (path, real string)
		wantErr string
		wantAs  any
	}{
		{"new file", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "fixed")
			return p, p
		}, "", nil},
		{"existing file of another owner", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "fixed")
			writeTable(t, p, []byte("old\n"), 0o640, nobody, nobody)
			return p, p
		}, "", nil},
		{"trusted symlink to a file", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "real")
			writeTable(t, p, []byte("old\n"), 0o644, 0, 0)
			return symlink(t, "real", filepath.Join(dir, "link")), p
		}, "", nil},
		{"new file in a /tmp-like directory", func(t *testing.T, dir string) (string, string) {
			sticky(t, dir)
			p := filepath.Join(dir, "fixed")
			return p, p
		}, "", nil},
		{"file of another user in a /tmp-like directory", func(t *testing.T, dir string) (string, string) {
			sticky(t, dir)
			p := filepath.Join(dir, "fixed")
			writeTable(t, p, []byte("theirs\n"), 0o644, nobody, nobody)
			return p, ""
		}, "belongs to uid 65534", new(*UntrustedError)},
		{"char device", func(t *testing.T, dir string) (string, string) {
			return "/dev/null", ""
		}, "refusing to replace /dev/null: it is a character device", new(*NotRegularError)},
		{"symlink to a char device", func(t *testing.T, dir string) (string, string) {
			return symlink(t, "/dev/null", filepath.Join(dir, "out")), ""
		}, "it is a character device", new(*NotRegularError)},
		{"stdout that is a pipe, like /dev/stdout", func(t *testing.T, dir string) (string, string) {
			return symlink(t, pipeLink, filepath.Join(dir, "stdout")), ""
		}, "hint: give the file's own path; - writes to standard output", new(*UntrustedError)},
		{"stdout redirected to a file, like /dev/stdout", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "output")
			writeTable(t, p, []byte("old\n"), 0o644, 0, 0)
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return symlink(t, fmt.Sprintf("/proc/self/fd/%d", f.Fd()), filepath.Join(dir, "stdout")), ""
		}, "a link in /proc", new(*UntrustedError)},
		{"dangling symlink", func(t *testing.T, dir string) (string, string) {
			return symlink(t, filepath.Join(dir, "missing"), filepath.Join(dir, "out")), ""
		}, "no such file", nil},
		{"symlink owned by nobody", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "real")
			writeTable(t, p, []byte("old\n"), 0o644, 0, 0)
			l := symlink(t, p, filepath.Join(dir, "link"))
			lchown(t, l, nobody)
			return l, ""
		}, "a symlink owned by uid 65534", new(*UntrustedError)},
		{"hard-linked file", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "fixed")
			writeTable(t, p, []byte("old\n"), 0o644, 0, 0)
			if err := os.Link(p, filepath.Join(dir, "other")); err != nil {
				t.Fatal(err)
			}
			return p, ""
		}, "2 hard links", new(*HardLinkError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path, real := tt.setup(t, dir)
			var before fs.FileInfo
			if real != "" {
				before, _ = os.Lstat(real)
			}
			pathBefore, _ := os.Lstat(path)
			res, err := Write(t.Context(), path, []byte("a 1\n"), 0o640, Options{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Write(%s) = %v; want an error saying %q", path, err, tt.wantErr)
				}
				if tt.wantAs != nil && !errors.As(err, tt.wantAs) {
					t.Errorf("Write(%s) = %v (%T); want %T", path, err, err, tt.wantAs)
				}
				if after, _ := os.Lstat(path); after == nil || pathBefore == nil || after.Mode() != pathBefore.Mode() || !os.SameFile(after, pathBefore) {
					t.Errorf("%s changed: %v → %v", path, pathBefore, after)
				}
				return
			}
			if err != nil || !res.Changed || res.Target != real {
				t.Fatalf("Write(%s) = %+v, %v; want Changed, Target %s", path, res, err, real)
			}
			if got := string(readFile(t, real)); got != "a 1\n" {
				t.Errorf("%s = %q", real, got)
			}
			fi, st := statT(t, real)
			switch {
			case before == nil:
				if fi.Mode() != 0o640 || st.Uid != 0 {
					t.Errorf("new file mode %v owner %d, want -rw-r----- 0", fi.Mode(), st.Uid)
				}
			default:
				bst := before.Sys().(*syscall.Stat_t)
				if fi.Mode() != before.Mode() || st.Uid != bst.Uid || st.Gid != bst.Gid {
					t.Errorf("mode %v owner %d:%d, want %v %d:%d kept", fi.Mode(), st.Uid, st.Gid, before.Mode(), bst.Uid, bst.Gid)
				}
				if _, err := os.Stat(real + LockSuffix); err != nil {
					t.Errorf("replaced without the lock: %v", err)
				}
			}
			if path != real {
				if fi, _ := os.Lstat(path); fi.Mode()&fs.ModeSymlink == 0 {
					t.Errorf("%s is no longer a symlink: %v", path, fi.Mode())
				}
			}
			if left := tempFiles(t, dir, filepath.Base(real)); len(left) != 0 {
				t.Errorf("temp files left: %v", left)
			}
		})
	}
}

// Write does not replace a file another program created between the
// resolution and the link.
func TestWriteDoesNotReplaceAFileCreatedMeanwhile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "fixed")
	opts := Options{beforeCheck: func(string, func() bool) {
		if err := os.WriteFile(p, []byte("theirs\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}}
	_, err := Write(t.Context(), p, []byte("ours\n"), 0o644, opts)
	var ce *ChangedError
	if !errors.As(err, &ce) {
		t.Fatalf("Write = %v; want a *ChangedError", err)
	}
	if got := string(readFile(t, p)); got != "theirs\n" {
		t.Errorf("content %q, want the other program's", got)
	}
}

// A program opens the table for writing between the last check and the
// rename (injected by the beforeRename hook): its write goes to the file
// read, so the replace is undone, that file put back, and the update
// refused; the other program's line is in the table.
func TestUpdateUndoesAReplaceRacedByAWriter(t *testing.T) {
	t.Parallel()
	for _, lm := range leaseModes {
		t.Run(lm.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			table := filepath.Join(dir, "t")
			writeTable(t, table, []byte("old\n"), 0o644, 0, 0)
			done := make(chan struct{})
			opts := Options{noLease: lm.noLease, beforeRename: func(dest string, leaseBroken func() bool) {
				go func() {
					defer close(done)
					f, err := os.OpenFile(table, os.O_WRONLY|os.O_APPEND, 0)
					if err != nil {
						t.Error(err)
						return
					}
					f.WriteString("late line\n")
					f.Close()
				}()
				// With the lease the open waits for its release: go on once
				// it has broken the lease.
				for !leaseBroken() {
					select {
					case <-done:
						return
					case <-time.After(time.Millisecond):
					}
				}
			}}
			res, err := Update(t.Context(), table, opts, appendEdit("ours"))
			var ce *ChangedError
			if !errors.As(err, &ce) || ce.Replaced || !strings.Contains(err.Error(), "undone") || res.Changed {
				t.Fatalf("Update = %+v, %v; want a *ChangedError saying the replace was undone, not Changed", res, err)
			}
			<-done
			if got := string(readFile(t, table)); got != "old\nlate line\n" {
				t.Errorf("table = %q, want the other program's line kept and ours not written", got)
			}
			if left := tempFiles(t, dir, "t"); len(left) != 0 {
				t.Errorf("temp files left: %v", left)
			}
		})
	}
}

// A killed Update may leave the second name of step 9: it is not counted
// as a hard link of the table, and it goes.
func TestUpdateRemovesItsOwnLeftOverLink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	table := filepath.Join(dir, "t")
	writeTable(t, table, []byte("old\n"), 0o644, 0, 0)
	left := filepath.Join(dir, ".t1234567890123456")
	if err := os.Link(table, left); err != nil {
		t.Fatal(err)
	}
	if _, err := Update(t.Context(), table, Options{}, appendEdit("new")); err != nil {
		t.Fatalf("Update with a left-over second name: %v", err)
	}
	if _, err := os.Lstat(left); err == nil {
		t.Errorf("%s left", left)
	}
}

// Paths that name no file are refused with an error, never a panic.
func TestUpdateRefusesPathsThatNameNoFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{"", "/", "///", dir + "/", dir + "/.", dir + "/..", ".", ".."} {
		if _, err := Update(t.Context(), p, Options{}, appendEdit("x")); err == nil {
			t.Errorf("Update(%q): no error", p)
		}
	}
}

// sticky makes dir like /tmp: world-writable with the sticky bit.
func sticky(t *testing.T, dir string) {
	t.Helper()
	if err := os.Chmod(dir, 0o777|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
}

// Update does not take a table in a /tmp-like directory, where others may
// plant files beside it.
func TestUpdateRefusesAStickyTableDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	table := filepath.Join(dir, "t")
	writeTable(t, table, []byte("old\n"), 0o644, 0, 0)
	sticky(t, dir)
	_, err := Update(t.Context(), table, Options{}, appendEdit("new"))
	var ue *UntrustedError
	if !errors.As(err, &ue) || ue.Path != dir {
		t.Fatalf("Update in a sticky world-writable directory = %v; want an *UntrustedError naming it", err)
	}
}
