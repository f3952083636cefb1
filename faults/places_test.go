package faults

// --fix and --fix-to where another local user may have planted something
// (issue 13, items 4 to 8): a symlink or a FIFO as the lock file, a table
// directory others can write, a symlinked table owned by someone else, a
// hard-linked table, ".." after a symlinked directory, and --fix-to a
// device or /dev/stdout. The plugin must refuse, naming what it refused (the run stays CRITICAL for the relay not listed),
// and write nothing anywhere; or, for "..", write the file the kernel
// resolves.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFixRefusesPlantedPlaces(t *testing.T) {
	t.Parallel()
	cert, _ := relayCert(t, "relay-b.test")
	const nobody = 65534
	tests := []struct {
		name string
		// setup plants something beside table and returns the path to give
		// --table (texthash:), the strings the status must show, and a file
		// that must not appear.
		setup func(t *testing.T, dir, table string) (path string, status []string, mustNotExist string)
	}{
		{"lock file a symlink", func(t *testing.T, dir, table string) (string, []string, string) {
			victim := filepath.Join(t.TempDir(), "nologin")
			if err := os.Symlink(victim, table+".lock"); err != nil {
				t.Fatal(err)
			}
			return table, []string{table + ".lock", "the lock file is a symlink"}, victim
		}},
		{"lock file a FIFO", func(t *testing.T, dir, table string) (string, []string, string) {
			mkfifo(t, table+".lock")
			return table, []string{table + ".lock", "the lock file is a named pipe"}, ""
		}},
		{"table directory group-writable", func(t *testing.T, dir, table string) (string, []string, string) {
			if err := os.Chmod(dir, 0o775); err != nil {
				t.Fatal(err)
			}
			return table, []string{"hint: chmod go-w " + dir}, table + ".lock"
		}},
		{"symlinked table owned by another user", func(t *testing.T, dir, table string) (string, []string, string) {
			link := filepath.Join(dir, "link")
			if err := os.Symlink(table, link); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(link, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			return link, []string{"refusing to write through " + link}, table + ".lock"
		}},
		{"hard-linked table", func(t *testing.T, dir, table string) (string, []string, string) {
			if err := os.Link(table, filepath.Join(dir, "other")); err != nil {
				t.Fatal(err)
			}
			return table, []string{"2 hard links"}, ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			table := writeTable(t, dir, "# relays")
			path, status, mustNotExist := tc.setup(t, dir, table)
			before := snap(t, table)
			o := plugin(t, invocation{args: fixArgs(cert, "texthash:"+path)})
			o.check(t, want{code: 2, status: append([]string{"not listed", "fix: "}, status...)}) // worst state: the relay is not listed
			assertContent(t, table, string(before.data))
			if mustNotExist != "" {
				if _, err := os.Lstat(mustNotExist); err == nil {
					t.Errorf("%s was created", mustNotExist)
				}
			}
		})
	}
}

// ".." after a symlinked directory: the fix writes the table the kernel
// resolves (and the check read), not the one a textual clean names.
func TestFixDotDotAfterASymlinkedDirectory(t *testing.T) {
	t.Parallel()
	cert, fp := relayCert(t, "relay-b.test")
	x := t.TempDir()
	deeper := filepath.Join(x, "sub", "deeper")
	if err := os.MkdirAll(deeper, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(deeper, filepath.Join(x, "link")); err != nil {
		t.Fatal(err)
	}
	real := writeTable(t, filepath.Join(x, "sub"), "# real")
	decoy := writeTable(t, x, "# decoy")
	o := plugin(t, invocation{args: fixArgs(cert, "texthash:"+x+"/link/../relay_clientcerts")})
	o.check(t, want{code: 2, status: []string{"fix: 0 replaced, 1 added"}})
	assertContent(t, real, fixedTable("# real\n", fp, "relay-b.test"))
	assertContent(t, decoy, "# decoy\n")
}

// --fix-to never replaces a device or the /dev/stdout link.
func TestFixToRefusesDevices(t *testing.T) {
	t.Parallel()
	cert, _ := relayCert(t, "relay-b.test")
	tests := []struct {
		to     string
		status string
	}{
		{"/dev/null", "refusing to replace /dev/null: it is a character device"},
		{"/dev/stdout", "- writes to standard output"},
	}
	for _, tc := range tests {
		t.Run(tc.to, func(t *testing.T) {
			t.Parallel()
			table := writeTable(t, t.TempDir(), "# relays")
			before, err := os.Lstat(tc.to)
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"--cert-file", cert, "--table", "texthash:" + table, "--fix-to", tc.to, "--fix-trust", "any"}
			o := plugin(t, invocation{args: args})
			o.check(t, want{code: 2, status: []string{tc.status}})
			after, err := os.Lstat(tc.to)
			if err != nil || after.Mode().Type() != before.Mode().Type() || !os.SameFile(before, after) {
				t.Errorf("%s changed: %v → %v (%v)", tc.to, before.Mode(), after, err)
			}
			for _, p := range []string{tc.to + ".lock", "/dev/pts/.lock"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was made", p)
				}
			}
		})
	}
}

// Another program writes the table without the lock while --fix runs: a
// generator still writing it ("generate > relay_clientcerts") makes the fix
// refuse with nothing written; a steady appender ("echo line >> table")
// loses no line to the fixes that run meanwhile, each of which either adds
// its relay or refuses, saying so.
func TestFixWithAWriterThatIgnoresTheLock(t *testing.T) {
	t.Parallel()
	t.Run("generator still writing", func(t *testing.T) {
		t.Parallel()
		cert, _ := relayCert(t, "relay-b.test")
		table := writeTable(t, t.TempDir())
		w, err := os.OpenFile(table, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		head := entries(500, -1, "")
		w.WriteString(head[:len(head)/2])
		o := plugin(t, invocation{args: fixArgs(cert, "texthash:"+table)})
		o.check(t, want{code: 2, status: []string{"fix: ", "another program has it open for writing", "nothing written"}})
		w.WriteString(head[len(head)/2:])
		w.Close()
		assertContent(t, table, head)
	})
	t.Run("steady appender", func(t *testing.T) {
		t.Parallel()
		const rounds, appends = 10, 3000
		table := writeTable(t, t.TempDir(), "# relays")
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range appends {
				f, err := os.OpenFile(table, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Error(err)
					return
				}
				fmt.Fprintf(f, "# appended %d\n", i)
				f.Close()
				if i%16 == 0 {
					time.Sleep(100 * time.Microsecond) // pace: the fixes get their turn
				}
			}
		}()
		var added []string
		refused := 0
		for r := range rounds {
			name := fmt.Sprintf("relay%d.test", r)
			cert, fp := relayCert(t, name)
			for try := 1; ; try++ {
				o := plugin(t, invocation{args: fixArgs(cert, "texthash:"+table)})
				// Refused by the fix ("nothing written"), or already by the
				// check's own read of the table ("the file changed while
				// it was read"): both write nothing; run again.
				if (strings.Contains(o.stdout, "nothing written") || strings.Contains(o.stdout, "changed while it was read")) && try < 100 {
					refused++
					continue
				}
				o.check(t, want{code: 2, status: []string{"fix: 0 replaced, 1 added"}})
				added = append(added, fp+" "+name)
				break
			}
		}
		<-done
		t.Logf("%d fixes, %d refused and run again, %d lines appended meanwhile", rounds, refused, appends)
		got := string(readAll(t, table))
		for i := range appends {
			if n := strings.Count(got, fmt.Sprintf("# appended %d\n", i)); n != 1 {
				t.Errorf("appended line %d present %d times", i, n)
			}
		}
		for _, l := range added {
			if n := strings.Count(got, l+"\n"); n != 1 {
				t.Errorf("fixed line %q present %d times", l, n)
			}
		}
	})
}

func readAll(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
