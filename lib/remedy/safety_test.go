package remedy

// Failure cases of Update that need the system: processes killed mid-write,
// a full disk, a read-only file system, an immutable file, an unprivileged
// user. Root bypasses permission bits, so permission failures are shown by a
// helper process running as nobody, and root's own failures by a read-only
// bind mount and by chattr +i.

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A writer process replacing the table in a loop is killed with SIGKILL at
// random moments; after every kill the table must be exactly one of the two
// versions, the backup too, and temp files may be left only by a kill, to be
// removed by a later Update once stale.
func TestUpdateSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	kills := 150
	if testing.Short() {
		kills = 30
	}
	dir := t.TempDir()
	const base = "relay_clientcerts"
	table := filepath.Join(dir, base)
	a, b := contentA(), contentB()
	writeTable(t, table, a, 0o640, nobody, nobody)
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	// Kills land within about three updates of the writer's start; one
	// update here gives the scale (this sets no pass/fail deadline).
	start := time.Now()
	if _, err := Update(t.Context(), table, Options{Backup: true}, func([]byte) ([]byte, error) { return a, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := Update(t.Context(), table, Options{Backup: true}, func([]byte) ([]byte, error) { return b, nil }); err != nil {
		t.Fatal(err)
	}
	window := int64(3 * time.Since(start) / 2)
	t.Logf("one update takes about %v", time.Duration(window/3))

	var gotA, gotB, changes, tempAfterKill int
	prev, temps := b, 0
	for i := range kills {
		cmd := helper(t, "toggle", "REMEDY_TABLE="+table)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make([]byte, len("ready\n"))
		if _, err := io.ReadFull(stdout, ready); err != nil || string(ready) != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("kill %d: the writer did not start: %q, %v; stderr: %s", i, ready, err, stderr.String())
		}
		time.Sleep(time.Duration(rng.Int64N(window)))
		cmd.Process.Signal(syscall.SIGKILL)
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("kill %d: the writer ended by itself: %v; stderr: %s", i, err, stderr.String())
		}

		got := readFile(t, table)
		switch {
		case bytes.Equal(got, a):
			gotA++
		case bytes.Equal(got, b):
			gotB++
		default:
			t.Fatalf("kill %d: table is neither version (%d bytes, versions have %d and %d)", i, len(got), len(a), len(b))
		}
		if !bytes.Equal(got, prev) {
			changes++
		}
		prev = got
		if bak, err := os.ReadFile(table + BackupSuffix); err == nil {
			if !bytes.Equal(bak, a) && !bytes.Equal(bak, b) {
				t.Fatalf("kill %d: backup is neither version (%d bytes)", i, len(bak))
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		fi, st := statT(t, table)
		if fi.Mode() != 0o640 || st.Uid != nobody || st.Gid != nobody {
			t.Fatalf("kill %d: table mode %v owner %d:%d, want -rw-r----- %d:%d", i, fi.Mode(), st.Uid, st.Gid, nobody, nobody)
		}
		if n := len(tempFiles(t, dir, base)); n > temps {
			tempAfterKill++
			temps = n
		}
	}
	left := tempFiles(t, dir, base)
	t.Logf("%d kills: table was version A %d times, B %d times, changed %d times; %d kills left a temp file (%d in all)",
		kills, gotA, gotB, changes, tempAfterKill, len(left))
	if changes == 0 {
		t.Fatalf("the writer never completed an update in %d runs: the test proved nothing", kills)
	}
	if len(left) > kills {
		t.Errorf("%d temp files after %d kills, want at most one per kill: %v", len(left), kills, left)
	}

	// Once a minute old, the left-overs go with the next Update.
	old := time.Now().Add(-2 * staleAge)
	for _, name := range left {
		if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Update(t.Context(), table, Options{Backup: true}, appendEdit("final")); err != nil {
		t.Fatal(err)
	}
	if left := tempFiles(t, dir, base); len(left) != 0 {
		t.Errorf("stale temp files not removed: %v", left)
	}
}

// mountTmpfs mounts a tmpfs of the given size on a new directory, or skips
// the test when this system does not allow it.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): disk-full case not tested", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func TestUpdateDiskFull(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		oldSize, newSize int
		backup           bool
		wantErr          string
	}{
		{"new content does not fit", 8 << 10, 128 << 10, false, "replace"},
		{"new content does not fit after the backup", 8 << 10, 128 << 10, true, "replace"},
		{"backup does not fit", 40 << 10, 41 << 10, true, "back up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := mountTmpfs(t, "64k")
			table := filepath.Join(dir, "t")
			old := bytes.Repeat([]byte("AA:BB:CC old\n"), tt.oldSize/13)
			writeTable(t, table, old, 0o644, 0, 0)
			next := bytes.Repeat([]byte("DD:EE:FF new\n"), tt.newSize/13)

			res, err := Update(t.Context(), table, Options{Backup: tt.backup}, func([]byte) ([]byte, error) { return next, nil })
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "no space left on device") {
				t.Fatalf("Update of %d bytes on a 64k tmpfs: error = %v, want a %q error wrapping ENOSPC", len(next), err, tt.wantErr)
			}
			if res.Changed {
				t.Errorf("Result.Changed = true after a failure")
			}
			if got := readFile(t, table); !bytes.Equal(got, old) {
				t.Errorf("table damaged: %d bytes, want the old %d", len(got), len(old))
			}
			if bak, err := os.ReadFile(table + BackupSuffix); err == nil && !bytes.Equal(bak, old) {
				t.Errorf("backup holds %d bytes, want the old %d", len(bak), len(old))
			}
			if left := tempFiles(t, dir, "t"); len(left) != 0 {
				t.Errorf("temp files left on the full disk: %v", left)
			}
		})
	}
}

func TestUpdateOnReadOnlyMount(t *testing.T) {
	t.Parallel()
	for _, lockExists := range []bool{false, true} {
		name := "no lock file yet"
		if lockExists {
			name = "lock file exists"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			table := filepath.Join(dir, "t")
			writeTable(t, table, []byte("old\n"), 0o644, 0, 0)
			if lockExists {
				if err := os.WriteFile(table+LockSuffix, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
				t.Skipf("cannot bind-mount here (%v): read-only file system case not tested", err)
			}
			t.Cleanup(func() {
				if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
					t.Errorf("unmount %s: %v", dir, err)
				}
			})
			if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
				t.Fatalf("remount %s read-only: %v", dir, err)
			}

			_, err := Update(t.Context(), table, Options{Backup: true}, appendEdit("new"))
			if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), "read-only file system") {
				t.Fatalf("Update on a read-only mount: error = %v, want one wrapping EROFS", err)
			}
			if got := string(readFile(t, table)); got != "old\n" {
				t.Errorf("content = %q, want %q", got, "old\n")
			}
		})
	}
}

func TestUpdateImmutableTable(t *testing.T) {
	t.Parallel()
	chattr, err := exec.LookPath("chattr")
	if err != nil {
		if isCI() {
			t.Fatal("chattr not found (install e2fsprogs)")
		}
		t.Skip("chattr not found")
	}
	dir := t.TempDir()
	table := filepath.Join(dir, "t")
	writeTable(t, table, []byte("old\n"), 0o644, 0, 0)
	if out, err := exec.Command(chattr, "+i", table).CombinedOutput(); err != nil {
		if isCI() {
			t.Fatalf("chattr +i %s: %v: %s", table, err, out)
		}
		t.Skipf("chattr +i not supported here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(chattr, "-i", table).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %s: %v: %s", table, err, out)
		}
	})

	_, err = Update(t.Context(), table, Options{}, appendEdit("new"))
	if !errors.Is(err, syscall.EPERM) || !strings.Contains(err.Error(), "replace "+table) {
		t.Fatalf("Update of an immutable file: error = %v, want a replace error wrapping EPERM", err)
	}
	if got := string(readFile(t, table)); got != "old\n" {
		t.Errorf("content = %q, want %q", got, "old\n")
	}
	if left := tempFiles(t, dir, "t"); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

// Update run by nobody, in a helper process, where permissions matter.
func TestUpdateAsUnprivilegedUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		dirMode    fs.FileMode
		tableOwner int
		tableMode  fs.FileMode
		rootLock   bool   // a lock file made by root already exists
		wantErr    string // "" for success
	}{
		{"own table", 0o755, nobody, 0o644, false, ""},
		{"lock file left by root", 0o755, nobody, 0o644, true, ""},
		{"read-only directory", 0o555, nobody, 0o644, false, "permission denied"},
		{"read-only directory with a lock file", 0o555, nobody, 0o644, true, "permission denied"},
		{"table of another owner", 0o755, 0, 0o666, false, "cannot keep the owner (uid 0, gid 0)"},
	}
	exe := publicTestBinary(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(publicDir(t), "postfix")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			table := filepath.Join(dir, "t")
			writeTable(t, table, []byte("old\n"), tt.tableMode, tt.tableOwner, tt.tableOwner)
			if tt.rootLock {
				if err := os.WriteFile(table+LockSuffix, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chown(dir, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.dirMode); err != nil {
				t.Fatal(err)
			}

			cmd := helperAs(t, exe, nobody, nobody, "once", "REMEDY_TABLE="+table, "REMEDY_LINE=new")
			out, err := cmd.CombinedOutput()
			wantContent := "old\n"
			if tt.wantErr == "" {
				wantContent = "old\nnew\n"
				if err != nil {
					t.Fatalf("Update as nobody: %v: %s", err, out)
				}
			} else if err == nil || !strings.Contains(string(out), tt.wantErr) {
				t.Fatalf("Update as nobody: %v, output %q; want a failure saying %q", err, out, tt.wantErr)
			}
			if got := string(readFile(t, table)); got != wantContent {
				t.Errorf("content = %q, want %q", got, wantContent)
			}
			fi, st := statT(t, table)
			if fi.Mode() != tt.tableMode || int(st.Uid) != tt.tableOwner || int(st.Gid) != tt.tableOwner {
				t.Errorf("table mode %v owner %d:%d, want %v %d:%d", fi.Mode(), st.Uid, st.Gid, tt.tableMode, tt.tableOwner, tt.tableOwner)
			}
			if left := tempFiles(t, dir, "t"); len(left) != 0 {
				t.Errorf("temp files left: %v", left)
			}
		})
	}
}
