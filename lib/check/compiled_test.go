package check

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// TestCompare: the age of a compiled file by both of its times.
func TestCompare(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t1, t2 := t0.Add(time.Second), t0.Add(2*time.Second)
	tests := []struct {
		name    string
		src, db fileTimes
		want    Age
	}{
		{"postmap after the edit", fileTimes{t0, t0}, fileTimes{t1, t1}, AgeNewer},
		{"edited after postmap", fileTimes{t1, t1}, fileTimes{t0, t0}, AgeOlder},
		// cp -p, rsync -a, tar, mv of a backup: an old mtime, a new ctime.
		{"source restored with an old mtime", fileTimes{t0, t2}, fileTimes{t1, t1}, AgeOlder},
		{"compiled file restored with an old mtime", fileTimes{t1, t1}, fileTimes{t0, t2}, AgeOlder},
		// rsync -t of both, tar: equal times say nothing.
		{"equal mtimes", fileTimes{t1, t0}, fileTimes{t1, t2}, AgeUnknown},
		{"equal ctimes", fileTimes{t0, t1}, fileTimes{t2, t1}, AgeUnknown},
		{"all equal", fileTimes{t1, t1}, fileTimes{t1, t1}, AgeUnknown},
		{"no ctime known: mtime alone is not enough", fileTimes{mtime: t0}, fileTimes{mtime: t1}, AgeUnknown},
		{"no ctime known, older", fileTimes{mtime: t1}, fileTimes{mtime: t0}, AgeOlder},
	}
	for _, tt := range tests {
		if got := compare(tt.src, tt.db); got != tt.want {
			t.Errorf("%s: compare(%v, %v) = %v, want %v", tt.name, tt.src, tt.db, got, tt.want)
		}
	}
}

// postmapRig is a table with its own Postfix configuration directory,
// compiled by the real postmap(1).
type postmapRig struct {
	postmap, cfg, src string
}

func newPostmapRig(t *testing.T) *postmapRig {
	t.Helper()
	p, err := exec.LookPath("postmap")
	if err != nil {
		p = "/usr/sbin/postmap"
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("postmap(1) not found (install Postfix); CI needs it")
			}
			t.Skip("postmap(1) not found; install Postfix to run this test")
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return &postmapRig{postmap: p, cfg: dir, src: filepath.Join(dir, "relay_clientcerts")}
}

// write writes the source.
func (r *postmapRig) write(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(r.src, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// compile runs postmap on the source, as hash:.
func (r *postmapRig) compile(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(r.postmap, "-c", r.cfg, "hash:"+r.src).CombinedOutput(); err != nil {
		t.Fatalf("postmap hash:%s: %v: %s", r.src, err, out)
	}
}

// receiver reads the source as spec type typ.
func (r *postmapRig) receiver(t *testing.T, typ string) Receiver {
	t.Helper()
	tb, err := table.Read(r.src)
	if err != nil {
		t.Fatal(err)
	}
	return Receiver{Spec: table.Spec{Type: typ, Path: r.src}, Table: tb}
}

// setTimesAfter sets the modification time of path to mtime, and again
// until its status-change time is past ref's: the file system's clock
// ticks every few milliseconds.
func setTimesAfter(t *testing.T, path string, mtime time.Time, ref string) {
	t.Helper()
	fi, err := os.Stat(ref)
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		now, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if times(now).ctime.After(times(fi).ctime) {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s: its status-change time does not pass %s's", path, ref)
}

// TestConsult asks real compiled tables, as the plugin does.
func TestConsult(t *testing.T) {
	t.Parallel()
	const (
		key   = "AB:CD:EF:01"
		other = "01:23:45:67"
	)
	ctx := context.Background()
	old := time.Now().Add(-24 * time.Hour)

	t.Run("current", func(t *testing.T) {
		r := newPostmapRig(t)
		r.write(t, key+" relay\n")
		if err := os.Chtimes(r.src, old, old); err != nil {
			t.Fatal(err)
		}
		r.compile(t)
		recv := []Receiver{r.receiver(t, "hash")}
		Consult(ctx, r.postmap, r.cfg, recv, []string{strings.ToLower(key), other})
		rc := recv[0]
		if rc.QueryErr != nil || !rc.InForce[table.Fold(key)] || rc.InForce[other] || rc.Stale() != "" || rc.Compiled != r.src+".db" {
			t.Errorf("got %+v; want InForce {%s}, no error, nothing stale", rc, key)
		}
	})

	// Issue 13 item 2: mv relay_clientcerts.bak relay_clientcerts, cp -p,
	// rsync -a: the source lists the relay with an mtime older than the
	// .db's; the .db, which Postfix reads, does not.
	t.Run("source restored with an old mtime", func(t *testing.T) {
		r := newPostmapRig(t)
		r.write(t, other+" someone\n")
		r.compile(t)
		r.write(t, key+" relay\n")
		setTimesAfter(t, r.src, old, r.src+".db")
		for _, postmap := range []string{r.postmap, filepath.Join(t.TempDir(), "no-postmap")} {
			recv := []Receiver{r.receiver(t, "hash")}
			Consult(ctx, postmap, r.cfg, recv, []string{key})
			if recv[0].Age != AgeOlder {
				t.Errorf("postmap %s: Age = %v, want older (by ctime)", postmap, recv[0].Age)
			}
			if postmap == r.postmap && (recv[0].InForce == nil || recv[0].InForce[key]) {
				t.Errorf("postmap -q: InForce = %v, want the compiled table's answer: not listed", recv[0].InForce)
			}
		}
	})

	t.Run("equal times without postmap: not fresh", func(t *testing.T) {
		r := newPostmapRig(t)
		r.write(t, key+" relay\n")
		r.compile(t)
		for _, p := range []string{r.src, r.src + ".db"} {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
		recv := []Receiver{r.receiver(t, "hash")}
		Consult(ctx, filepath.Join(t.TempDir(), "no-postmap"), r.cfg, recv, []string{key})
		if rc := recv[0]; rc.Age != AgeUnknown || rc.Stale() != r.src+".db" {
			t.Errorf("Age = %v, Stale() = %q; want unknown, %s.db", rc.Age, rc.Stale(), r.src)
		}
	})

	// Issue 15 item 2: main.cf says btree: over a hash-format .db.
	t.Run("btree: over a hash .db", func(t *testing.T) {
		r := newPostmapRig(t)
		r.write(t, key+" relay\n")
		r.compile(t)
		recv := []Receiver{r.receiver(t, "btree")}
		Consult(ctx, r.postmap, r.cfg, recv, []string{key})
		if err := recv[0].QueryErr; err == nil || !strings.Contains(err.Error(), "open database "+r.src+".db") {
			t.Errorf("QueryErr = %v, want postmap's \"open database %s.db\"", err, r.src)
		}
		res := Judge(Config{Digest: fingerprint.SHA256, Match: MatchAny}, nil, recv).Result
		if res.State != nagios.Critical || !strings.Contains(res.Summary, "open database "+r.src+".db") {
			t.Errorf("Judge: %v %q, want CRITICAL with postmap's message", res.State, res.Summary)
		}
	})

	t.Run("no main.cf: postmap says nothing of the table", func(t *testing.T) {
		r := newPostmapRig(t)
		r.write(t, key+" relay\n")
		r.compile(t)
		recv := []Receiver{r.receiver(t, "hash")}
		Consult(ctx, r.postmap, t.TempDir(), recv, []string{key})
		if rc := recv[0]; rc.QueryErr != nil || rc.InForce != nil {
			t.Errorf("got QueryErr %v, InForce %v; want neither", rc.QueryErr, rc.InForce)
		}
	})

	t.Run("missing compiled table: not asked", func(t *testing.T) {
		r := newPostmapRig(t)
		r.write(t, key+" relay\n")
		recv := []Receiver{r.receiver(t, "lmdb")}
		Consult(ctx, r.postmap, r.cfg, recv, []string{key})
		if rc := recv[0]; rc.Age != AgeMissing || rc.Stale() != r.src+".lmdb" || rc.QueryErr != nil {
			t.Errorf("got %+v; want %s.lmdb missing", rc, r.src)
		}
	})
}
