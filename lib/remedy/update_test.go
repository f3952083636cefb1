package remedy

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gofrs/flock"
)

const nobody = 65534

// writeTable creates a table file with content, mode and owner.
func writeTable(t *testing.T, path string, content []byte, mode fs.FileMode, uid, gid int) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func statT(t *testing.T, path string) (fs.FileInfo, *syscall.Stat_t) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi, fi.Sys().(*syscall.Stat_t)
}

// tempFiles lists the renameio temp files for base in dir.
func tempFiles(t *testing.T, dir, base string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if isTempName(e.Name(), base) {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestUpdateReplacesContentKeepingModeAndOwner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mode     fs.FileMode
		uid, gid int
	}{
		{"nobody 0640", 0o640, nobody, nobody},
		{"root and group nobody 0604", 0o604, 0, nobody},
		{"nobody 0600", 0o600, nobody, 0},
		{"root 0644", 0o644, 0, 0},
		{"setgid 02640", 0o640 | fs.ModeSetgid, nobody, nobody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			table := filepath.Join(dir, "relay_clientcerts")
			old := []byte("AA:BB old\n")
			writeTable(t, table, old, tt.mode, tt.uid, tt.gid)
			_, before := statT(t, table)

			res, err := Update(t.Context(), table, Options{}, appendEdit("CC:DD new"))
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			want := Result{Changed: true, Target: table, Path: table}
			if res != want {
				t.Errorf("Update result = %+v, want %+v", res, want)
			}
			if got, want := string(readFile(t, table)), "AA:BB old\nCC:DD new\n"; got != want {
				t.Errorf("content = %q, want %q", got, want)
			}
			fi, st := statT(t, table)
			if st.Ino == before.Ino {
				t.Errorf("inode %d unchanged: the file was written in place, not replaced", st.Ino)
			}
			if got := fi.Mode(); got != tt.mode {
				t.Errorf("mode = %v, want %v", got, tt.mode)
			}
			if int(st.Uid) != tt.uid || int(st.Gid) != tt.gid {
				t.Errorf("owner = %d:%d, want %d:%d", st.Uid, st.Gid, tt.uid, tt.gid)
			}
			if left := tempFiles(t, dir, "relay_clientcerts"); len(left) != 0 {
				t.Errorf("temp files left: %v", left)
			}
			if _, err := os.Stat(table + BackupSuffix); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("backup written without Options.Backup (stat: %v)", err)
			}
			if _, err := os.Stat(table + LockSuffix); err != nil {
				t.Errorf("lock file: %v", err)
			}
		})
	}
}

func TestUpdateUnchangedWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	table := filepath.Join(dir, "relay_clientcerts")
	writeTable(t, table, []byte("AA:BB x\n"), 0o644, nobody, nobody)
	past := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(table, past, past); err != nil {
		t.Fatal(err)
	}
	_, before := statT(t, table)

	for _, edit := range []struct {
		name string
		fn   func([]byte) ([]byte, error)
	}{
		{"same slice", func(cur []byte) ([]byte, error) { return cur, nil }},
		{"equal copy", func(cur []byte) ([]byte, error) { return bytes.Clone(cur), nil }},
	} {
		res, err := Update(t.Context(), table, Options{Backup: true}, edit.fn)
		if err != nil {
			t.Fatalf("%s: Update: %v", edit.name, err)
		}
		if want := (Result{Target: table, Path: table}); res != want {
			t.Errorf("%s: result = %+v, want %+v", edit.name, res, want)
		}
		fi, st := statT(t, table)
		if st.Ino != before.Ino || st.Mtim != before.Mtim || st.Ctim != before.Ctim || !fi.ModTime().Equal(past) {
			t.Errorf("%s: file touched: inode %d→%d, mtime %v→%v, ctime %v→%v", edit.name,
				before.Ino, st.Ino, before.Mtim, st.Mtim, before.Ctim, st.Ctim)
		}
		if _, err := os.Stat(table + BackupSuffix); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: backup written for an unchanged table (stat: %v)", edit.name, err)
		}
	}
}

func TestUpdateEditModifyingItsArgumentIsStillAChange(t *testing.T) {
	t.Parallel()
	table := filepath.Join(t.TempDir(), "t")
	writeTable(t, table, []byte("aa x\n"), 0o644, 0, 0)
	res, err := Update(t.Context(), table, Options{}, func(cur []byte) ([]byte, error) {
		cur[0] = 'b'
		return cur, nil
	})
	if err != nil || !res.Changed {
		t.Fatalf("Update = %+v, %v; want Changed and no error", res, err)
	}
	if got, want := string(readFile(t, table)), "ba x\n"; got != want {
		t.Errorf("content = %q, want %q", got, want)
	}
}

func TestUpdateEditErrorWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	table := filepath.Join(dir, "t")
	writeTable(t, table, []byte("AA:BB x\n"), 0o644, 0, 0)
	_, before := statT(t, table)
	boom := errors.New("no fingerprint to add")
	_, err := Update(t.Context(), table, Options{Backup: true}, func([]byte) ([]byte, error) {
		return []byte("would be written\n"), boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want one wrapping %v", err, boom)
	}
	if !strings.Contains(err.Error(), table) {
		t.Errorf("error %q does not name the table %s", err, table)
	}
	if got := string(readFile(t, table)); got != "AA:BB x\n" {
		t.Errorf("content = %q, want the old one", got)
	}
	if _, st := statT(t, table); st.Ino != before.Ino || st.Mtim != before.Mtim {
		t.Errorf("table touched after a failed edit")
	}
	if _, err := os.Stat(table + BackupSuffix); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("backup written after a failed edit (stat: %v)", err)
	}
}

func TestUpdateNilEdit(t *testing.T) {
	t.Parallel()
	table := filepath.Join(t.TempDir(), "t")
	writeTable(t, table, []byte("x\n"), 0o644, 0, 0)
	if _, err := Update(t.Context(), table, Options{}, nil); err == nil {
		t.Fatal("Update with a nil edit: no error")
	}
}

func TestUpdateBackup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	table := filepath.Join(dir, "t")
	writeTable(t, table, []byte("v1\n"), 0o640, nobody, nobody)
	steps := []struct{ write, wantBak string }{
		{"v2\n", "v1\n"},
		{"v3\n", "v2\n"}, // an older backup is replaced
	}
	for _, s := range steps {
		res, err := Update(t.Context(), table, Options{Backup: true}, func([]byte) ([]byte, error) { return []byte(s.write), nil })
		if err != nil {
			t.Fatalf("Update to %q: %v", s.write, err)
		}
		if res.Backup != table+BackupSuffix {
			t.Errorf("Result.Backup = %q, want %q", res.Backup, table+BackupSuffix)
		}
		if got := string(readFile(t, table+BackupSuffix)); got != s.wantBak {
			t.Errorf("after writing %q: backup = %q, want %q", s.write, got, s.wantBak)
		}
		fi, st := statT(t, table+BackupSuffix)
		if fi.Mode() != 0o640 || st.Uid != nobody || st.Gid != nobody {
			t.Errorf("backup mode %v owner %d:%d, want -rw-r----- %d:%d", fi.Mode(), st.Uid, st.Gid, nobody, nobody)
		}
	}
	if left := tempFiles(t, dir, "t"); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestUpdateBackupFailureWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	table := filepath.Join(dir, "t")
	writeTable(t, table, []byte("v1\n"), 0o644, 0, 0)
	// A non-empty directory where the backup goes cannot be renamed over.
	if err := os.MkdirAll(filepath.Join(table+BackupSuffix, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Update(t.Context(), table, Options{Backup: true}, appendEdit("v2"))
	if err == nil || !strings.Contains(err.Error(), "back up") {
		t.Fatalf("Update error = %v, want a backup error", err)
	}
	if got := string(readFile(t, table)); got != "v1\n" {
		t.Errorf("content = %q after a failed backup, want %q", got, "v1\n")
	}
	if left := tempFiles(t, dir, "t"); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestUpdateThroughSymlinks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup makes the link to replace the real file "real/t" with and
		// returns the path to give Update.
		setup func(t *testing.T, root string) string
	}{
		{"absolute symlink", func(t *testing.T, root string) string {
			return symlink(t, filepath.Join(root, "real", "t"), filepath.Join(root, "link"))
		}},
		{"relative symlink", func(t *testing.T, root string) string {
			return symlink(t, "../real/t", filepath.Join(root, "etc", "link"))
		}},
		{"chain of symlinks", func(t *testing.T, root string) string {
			symlink(t, "real/t", filepath.Join(root, "link1"))
			return symlink(t, "link1", filepath.Join(root, "link2"))
		}},
		{"symlinked directory", func(t *testing.T, root string) string {
			symlink(t, "real", filepath.Join(root, "dirlink"))
			return filepath.Join(root, "dirlink", "t")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			for _, d := range []string{"real", "etc"} {
				if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			real := filepath.Join(root, "real", "t")
			writeTable(t, real, []byte("old\n"), 0o644, 0, 0)
			path := tt.setup(t, root)
			var links = map[string]string{}
			filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type()&fs.ModeSymlink != 0 {
					links[p], _ = os.Readlink(p)
				}
				return nil
			})

			res, err := Update(t.Context(), path, Options{Backup: true}, appendEdit("new"))
			if err != nil {
				t.Fatalf("Update(%s): %v", path, err)
			}
			if res.Target != real || res.Backup != real+BackupSuffix || !res.Changed {
				t.Errorf("result = %+v, want Changed, Target %s, Backup %s.bak", res, real, real)
			}
			if got := string(readFile(t, real)); got != "old\nnew\n" {
				t.Errorf("real file content = %q, want %q", got, "old\nnew\n")
			}
			for p, dest := range links {
				fi, _ := statT(t, p)
				got, _ := os.Readlink(p)
				if fi.Mode()&fs.ModeSymlink == 0 || got != dest {
					t.Errorf("%s: mode %v → %q, want a symlink to %q", p, fi.Mode(), got, dest)
				}
			}
			if _, err := os.Stat(real + LockSuffix); err != nil {
				t.Errorf("lock not next to the real file: %v", err)
			}
		})
	}
}

func symlink(t *testing.T, oldname, newname string) string {
	t.Helper()
	if err := os.Symlink(oldname, newname); err != nil {
		t.Fatal(err)
	}
	return newname
}

func TestUpdateRefusesWhatIsNotARegularFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) (path, target string)
		wantErr string
		wantIs  error
	}{
		{"directory", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "t")
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return p, p
		}, "it is a directory", nil},
		{"named pipe", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "t")
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			return p, p
		}, "it is a named pipe", nil},
		{"symlink to a device", func(t *testing.T, dir string) (string, string) {
			return symlink(t, "/dev/null", filepath.Join(dir, "t")), "/dev/null"
		}, "refusing to replace /dev/null: it is a character device", nil},
		{"socket", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "t")
			l, err := net.Listen("unix", p)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return p, p
		}, "it is a socket", nil},
		{"missing file", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "t")
			return p, p
		}, "no such file", fs.ErrNotExist},
		{"dangling symlink", func(t *testing.T, dir string) (string, string) {
			return symlink(t, "nowhere", filepath.Join(dir, "t")), filepath.Join(dir, "nowhere")
		}, "no such file", fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path, target := tt.setup(t, dir)
			called := false
			_, err := Update(t.Context(), path, Options{Backup: true}, func(cur []byte) ([]byte, error) {
				called = true
				return []byte("x\n"), nil
			})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Update(%s) error = %v, want one containing %q", path, err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Update(%s) error = %v, want errors.Is %v", path, err, tt.wantIs)
			}
			if called {
				t.Errorf("edit called")
			}
			for _, p := range []string{target + LockSuffix, target + BackupSuffix} {
				if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s created (lstat: %v)", p, err)
				}
			}
		})
	}
}

func TestUpdateWaitsForTheLockWithinContext(t *testing.T) {
	t.Parallel()
	table := filepath.Join(t.TempDir(), "t")
	writeTable(t, table, []byte("old\n"), 0o644, 0, 0)
	lk := flock.New(table + LockSuffix)
	if err := lk.Lock(); err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := Update(ctx, table, Options{}, appendEdit("new"))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "wait for lock") {
		t.Fatalf("Update with the lock held elsewhere: error = %v, want a lock wait ending in context.DeadlineExceeded", err)
	}
	if got := string(readFile(t, table)); got != "old\n" {
		t.Errorf("content = %q, want %q", got, "old\n")
	}
}

// The lock is on the sidecar, never on the table that is renamed over: a
// lock on the table would stay on the old inode, and the next writer would
// lock the new one while the first still runs.
func TestUpdateDoesNotLockTheTableItself(t *testing.T) {
	t.Parallel()
	table := filepath.Join(t.TempDir(), "t")
	writeTable(t, table, []byte("old\n"), 0o644, 0, 0)
	lk := flock.New(table)
	if err := lk.Lock(); err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := Update(ctx, table, Options{}, appendEdit("new")); err != nil {
		t.Fatalf("Update with a flock held on the table file itself: %v", err)
	}
}

func TestUpdateCancelledContextWritesNothing(t *testing.T) {
	t.Parallel()
	table := filepath.Join(t.TempDir(), "t")
	writeTable(t, table, []byte("old\n"), 0o644, 0, 0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Update(ctx, table, Options{}, appendEdit("new")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a cancelled context: error = %v, want context.Canceled", err)
	}
	if got := string(readFile(t, table)); got != "old\n" {
		t.Errorf("content = %q, want %q", got, "old\n")
	}
}

// While Update waits for the lock of the file a symlink points to, the link
// is switched to another file: the write must go to the new target.
func TestUpdateFollowsASymlinkSwitchedWhileWaiting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	t1, t2 := filepath.Join(dir, "t1"), filepath.Join(dir, "t2")
	writeTable(t, t1, []byte("one\n"), 0o644, 0, 0)
	writeTable(t, t2, []byte("two\n"), 0o644, 0, 0)
	link := symlink(t, "t1", filepath.Join(dir, "link"))
	lk := flock.New(t1 + LockSuffix)
	if err := lk.Lock(); err != nil {
		t.Fatal(err)
	}

	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome)
	go func() {
		res, err := Update(t.Context(), link, Options{}, appendEdit("new"))
		done <- outcome{res, err}
	}()
	time.Sleep(50 * time.Millisecond) // let Update reach the lock (the outcome is the same if not)
	symlink(t, "t2", filepath.Join(dir, "link.new"))
	if err := os.Rename(filepath.Join(dir, "link.new"), link); err != nil {
		t.Fatal(err)
	}
	lk.Unlock()
	got := <-done
	if got.err != nil || got.res.Target != t2 {
		t.Fatalf("Update = %+v, %v; want Target %s", got.res, got.err, t2)
	}
	if c := string(readFile(t, t1)); c != "one\n" {
		t.Errorf("old target content = %q, want it untouched", c)
	}
	if c := string(readFile(t, t2)); c != "two\nnew\n" {
		t.Errorf("new target content = %q, want %q", c, "two\nnew\n")
	}
}

func TestUpdateRemovesStaleTempFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	table := filepath.Join(dir, "t")
	writeTable(t, table, []byte("old\n"), 0o644, 0, 0)
	old := time.Now().Add(-2 * staleAge)
	files := []struct {
		name     string
		stale    bool
		wantGone bool
	}{
		{".t8872364823519027341", true, true},
		{".t.bak421234567890123", true, true},
		{".t123412345678901234", false, false},    // recent: maybe another writer's
		{".tx1234123456789012345", true, false},   // not our pattern
		{".t.bak", true, false},                   // not our pattern
		{".t", true, false},                       // not our pattern
		{"t.orig", true, false},                   // not our pattern
		{".t1231234567890123.db", true, false},    // not our pattern
		{".other1234561234567890", true, false},   // another table's
		{".t5555123456789012.dir/", true, false},  // a directory, even if named like ours
		{".t.bak77123456789012345x", true, false}, // not our pattern
		{".t000000000000000", true, true},         // 15 digits, zeros are digits too
		{".t.bak999999999999999", true, true},     // backup temp
		{".t9999999999999999999", false, false},   // recent
		{".t20240101", true, false},               // a person's dated copy
		{".t20240101123045", true, false},         // dated to the second: 14 digits
		{".t.bak20240101", true, false},           // a person's dated copy of the backup
		{".t12345678901234567890", true, false},   // 20 digits: more than an int64 has
	}
	for _, f := range files {
		p := filepath.Join(dir, strings.TrimSuffix(f.name, "/"))
		var err error
		if strings.HasSuffix(f.name, "/") {
			err = os.Mkdir(p, 0o755)
		} else {
			err = os.WriteFile(p, []byte("junk"), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.stale {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := Update(t.Context(), table, Options{Backup: true}, appendEdit("new")); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		_, err := os.Lstat(filepath.Join(dir, strings.TrimSuffix(f.name, "/")))
		if gone := errors.Is(err, fs.ErrNotExist); gone != f.wantGone {
			t.Errorf("%s (stale %v): gone = %v, want %v", f.name, f.stale, gone, f.wantGone)
		}
	}
}

func TestUpdateConcurrentGoroutinesLoseNothing(t *testing.T) {
	t.Parallel()
	const workers, each = 8, 25
	table := filepath.Join(t.TempDir(), "t")
	writeTable(t, table, []byte("# header\n"), 0o644, 0, 0)
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := Update(t.Context(), table, Options{}, appendEdit(appendLine(string(rune('a'+w)), i))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Update: %v", err)
	}
	var want []string
	for w := range workers {
		for i := range each {
			want = append(want, appendLine(string(rune('a'+w)), i))
		}
	}
	checkEachLineOnce(t, readFile(t, table), "# header", want)
}

// Processes and goroutines append to one table at the same time: the lock
// must work across processes, and every Update must see the lines added by
// the others (content re-read under the lock).
func TestUpdateConcurrentProcessesLoseNothing(t *testing.T) {
	t.Parallel()
	const procs, goroutines, each = 3, 2, 30
	table := filepath.Join(t.TempDir(), "t")
	writeTable(t, table, []byte("# header\n"), 0o644, 0, 0)
	var want []string
	var cmds []*helperProc
	for p := range procs {
		id := "proc" + string(rune('a'+p))
		cmd := helper(t, "append", "REMEDY_TABLE="+table, "REMEDY_ID="+id, "REMEDY_COUNT="+strconv.Itoa(each))
		c := startHelper(t, cmd)
		cmds = append(cmds, c)
		for i := range each {
			want = append(want, appendLine(id, i))
		}
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		id := "goroutine" + string(rune('a'+g))
		for i := range each {
			want = append(want, appendLine(id, i))
		}
		wg.Go(func() {
			for i := range each {
				// A refusal writes nothing and is run again, as an event
				// handler does: a process another test forks meanwhile
				// holds a copy of this one's temp file open for writing
				// until its exec, and the read lease sees a writer.
				for try := 1; ; try++ {
					_, err := Update(t.Context(), table, Options{}, appendEdit(appendLine(id, i)))
					var ce *ChangedError
					if errors.As(err, &ce) && !ce.Replaced && try < 20 {
						continue
					}
					if err != nil {
						t.Errorf("Update: %v", err)
					}
					break
				}
			}
		})
	}
	wg.Wait()
	for _, c := range cmds {
		c.wait(t)
	}
	checkEachLineOnce(t, readFile(t, table), "# header", want)
}

func checkEachLineOnce(t *testing.T, content []byte, header string, want []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(content), "\n"), "\n")
	if len(lines) == 0 || lines[0] != header {
		t.Fatalf("first line = %q, want %q", lines[0], header)
	}
	count := map[string]int{}
	for _, l := range lines[1:] {
		count[l]++
	}
	for _, w := range want {
		if count[w] != 1 {
			t.Errorf("line %q present %d times, want once", w, count[w])
		}
		delete(count, w)
	}
	for l := range count {
		t.Errorf("unexpected line %q", l)
	}
	if len(lines)-1 != len(want) {
		t.Errorf("%d lines after the header, want %d", len(lines)-1, len(want))
	}
}

// TestUpdateAfterRunsUnderTheLock: After sees the content just written,
// runs when nothing changed too, and holds the lock while it runs (the
// postmap race of concurrent --fix runs).
func TestUpdateAfterRunsUnderTheLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "relay_clientcerts")
	if err := os.WriteFile(path, []byte("a 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		next    string
		changed bool
	}{{"changed", "a 1\nb 2\n", true}, {"unchanged", "a 1\nb 2\n", false}} {
		var ran, sawChanged bool
		var seen []byte
		_, err := Update(context.Background(), path, Options{After: func(changed bool) error {
			ran, sawChanged = true, changed
			seen, _ = os.ReadFile(path)
			other := flock.New(path + LockSuffix)
			if ok, _ := other.TryLock(); ok {
				other.Unlock()
				t.Errorf("%s: the lock was free while After ran", tc.name)
			}
			return nil
		}}, func([]byte) ([]byte, error) { return []byte(tc.next), nil })
		if err != nil || !ran || sawChanged != tc.changed || string(seen) != tc.next {
			t.Errorf("%s: err %v, ran %v, changed %v (want %v), saw %q (want %q)", tc.name, err, ran, sawChanged, tc.changed, seen, tc.next)
		}
	}
	_, err := Update(context.Background(), path, Options{After: func(bool) error { return errors.New("postmap failed") }},
		func(b []byte) ([]byte, error) { return append(b, "c 3\n"...), nil })
	if err == nil || !strings.Contains(err.Error(), "was replaced, then: postmap failed") {
		t.Errorf("After error: %v", err)
	}
}

// Write makes a new file with the mode given, and keeps the mode of a file
// it replaces.
func TestWriteModes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "fixed")
	if _, err := Write(t.Context(), p, []byte("a 1\n"), 0o640, Options{}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("new file mode %v, want 0640", fi.Mode().Perm())
	}
	os.Chmod(p, 0o600)
	if _, err := Write(t.Context(), p, []byte("b 2\n"), 0o644, Options{}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("existing file mode %v, want 0600 kept", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(p); string(b) != "b 2\n" {
		t.Errorf("content %q", b)
	}
	if _, err := Write(t.Context(), dir, []byte("x"), 0o644, Options{}); err == nil {
		t.Error("Write over a directory: no error")
	}
}
