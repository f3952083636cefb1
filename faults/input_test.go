package faults

// Hostile and odd input: tables, certificate files and flag values. Bad
// input must give a clear message naming the file (and line), and nothing
// may be written.

import (
	"bytes"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testfs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const fixtures = "../fixtures/faults"

// relayCert is the certificate the table tests list, written as PEM into a
// fresh directory.
func relayCert(t *testing.T, name string) (path, fp string) {
	t.Helper()
	c := newCert(t, certSpec{name: name})
	path = filepath.Join(t.TempDir(), name+".pem")
	writePEM(t, path, c)
	return path, pubkeyFP(c)
}

// loadTable copies fixtures/faults/tables/name into a fresh directory as
// relay_clientcerts, with @FP@ and @fp@ replaced by fp in upper and lower
// case, and returns its path.
func loadTable(t *testing.T, name, fp string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures, "tables", name))
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte("@FP@"), []byte(fp))
	data = bytes.ReplaceAll(data, []byte("@fp@"), []byte(strings.ToLower(fp)))
	path := filepath.Join(t.TempDir(), "relay_clientcerts")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tableCase is an odd table and what the check must say of it.
type tableCase struct {
	file string // under fixtures/faults/tables
	want want   // "TABLE" is replaced by the table's path
}

var tableCases = []tableCase{
	// Odd but fine: postmap reads these as intended.
	{"crlf.table", want{code: 0, status: []string{"listed in 1 table"}}},
	{"no-final-newline.table", want{code: 0, status: []string{"listed in 1 table"}}},
	{"tabs.table", want{code: 0, status: []string{"listed in 1 table"}}},
	{"continuation.table", want{code: 0, status: []string{"listed in 1 table"}}},
	{"comments-and-blanks.table", want{code: 0, status: []string{"listed in 1 table"}}},
	{"lowercase.table", want{code: 0, status: []string{"listed in 1 table"}}},
	// Refused outright: UNKNOWN, naming file and line.
	{"nul.table", want{code: 3, status: []string{"TABLE:2: NUL byte"}}},
	// Lines postmap skips or warns about: WARNING (README, States), naming
	// file and line.
	{"invalid-utf8.table", want{code: 1, status: []string{"TABLE:2: non-UTF-8 input"}}},
	// texthash refuses a table with a duplicate key whole (451 4.3.0 for
	// every relay, proved by the e2e tests): CRITICAL.
	{"duplicate.table", want{code: 2, status: []string{"duplicate key", "TABLE:2: duplicate entry", "451 4.3.0"}}},
	{"missing-value.table", want{code: 1, status: []string{"TABLE:2: expected format: key whitespace value"}}},
	{"unbalanced-quote.table", want{code: 1, status: []string{"TABLE:2: unbalanced '\"'"}}},
	{"md5-key.table", want{code: 1, status: []string{"TABLE:2: key is a md5 fingerprint"}}},
	// The relay's only line is lost: CRITICAL, and the line is named.
	{"leading-space.table", want{code: 2, status: []string{"not listed in texthash:TABLE"}, out: []string{"TABLE:1: logical line must not start with whitespace"}}},
	{"bom.table", want{code: 2, status: []string{"not listed in texthash:TABLE"}, out: []string{"TABLE:1: key \"\\ufeff", "is not a fingerprint"}}},
	{"empty.table", want{code: 2, status: []string{"not listed in texthash:TABLE"}}},
}

func TestOddTables(t *testing.T) {
	t.Parallel()
	cert, fp := relayCert(t, "relay.test")
	for _, tc := range tableCases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			table := loadTable(t, tc.file, fp)
			before := snap(t, table)
			o := plugin(t, invocation{args: []string{"--cert-file", cert, "--table", "texthash:" + table}})
			o.check(t, withTable(tc.want, table))
			before.unchanged(t, false)
		})
	}
}

// withTable replaces TABLE in w's strings with path.
func withTable(w want, path string) want {
	r := strings.NewReplacer("TABLE", path)
	w.status = replaceAll(r, w.status)
	w.out = replaceAll(r, w.out)
	return w
}

// TestLongLines: a physical line of 1 MiB, ending included, is the most a
// table may have.
func TestLongLines(t *testing.T) {
	t.Parallel()
	cert, fp := relayCert(t, "relay.test")
	const limit = 1 << 20
	tests := []struct {
		name string
		line int // bytes of the comment line, "\n" included
		want want
	}{
		{"1 MiB line", limit, want{code: 0, status: []string{"listed in 1 table"}}},
		{"1 MiB + 1 line", limit + 1, want{code: 3, status: []string{"TABLE:2: line of 1048577 bytes is over the limit"}}},
		{"10 MiB line", 10 * limit, want{code: 3, status: []string{"TABLE:2: line of 10485760 bytes is over the limit"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			table := writeTable(t, t.TempDir(), fp+" relay.test", "#"+strings.Repeat("x", tc.line-2))
			o := plugin(t, invocation{args: []string{"--cert-file", cert, "--table", "texthash:" + table}})
			o.check(t, withTable(tc.want, table))
		})
	}
}

// TestHugeTable: 50 MB of valid entries must work, in memory proportional
// to the file.
func TestHugeTable(t *testing.T) {
	t.Parallel()
	cert, fp := relayCert(t, "relay.test")
	dir := t.TempDir()
	table := filepath.Join(dir, "relay_clientcerts")
	size := writeBigTable(t, table, 50<<20, fp+" relay.test")
	o := plugin(t, invocation{args: []string{"--cert-file", cert, "--table", "texthash:" + table}})
	// About 2 bytes of memory per byte of table were measured: the file
	// read whole, its lines and entries (RELIABILITY.md).
	o.check(t, want{code: 0, status: []string{"listed in 1 table"}, rss: maxRSS + size})
	t.Logf("%d MB table: %v, peak RSS %.0f MiB (%.1f per byte of table)", size>>20, o.wall, mib(o.rss), float64(o.rss)/float64(size))
}

// TestHugeTableFix: --fix of a 10 MB table works, in memory proportional
// to the file.
func TestHugeTableFix(t *testing.T) {
	t.Parallel()
	cert, fp := relayCert(t, "relay-b.test")
	dir := t.TempDir()
	table := filepath.Join(dir, "relay_clientcerts")
	size := writeBigTable(t, table, 10<<20, otherFP+" other.test")
	old, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	o := plugin(t, invocation{args: []string{"--cert-file", cert, "--table", "texthash:" + table, "--fix", "--fix-trust", "any"}})
	// About 16 bytes of memory per byte of table were measured (RELIABILITY.md).
	o.check(t, want{code: 2, status: []string{"fix: 0 replaced, 1 added"}, rss: maxRSS + 20*size})
	assertContent(t, table, string(old)+fp+" relay-b.test\n")
	t.Logf("%d MB table fixed: %v, peak RSS %.0f MiB (%.1f per byte of table)", size>>20, o.wall, mib(o.rss), float64(o.rss)/float64(size))
}

// writeBigTable writes a table of about size bytes of distinct valid
// entries, with extra in its middle, and returns its size.
func writeBigTable(t testing.TB, path string, size int64, extra string) int64 {
	t.Helper()
	var b bytes.Buffer
	b.Grow(int(size) + 4096)
	b.WriteString("# a big relay_clientcerts\n")
	var sum [32]byte
	for i := 0; int64(b.Len()) < size; i++ {
		if i == 1000 {
			b.WriteString(extra + "\n")
		}
		sum[0], sum[1], sum[2], sum[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		b.WriteString(colonHex(sum))
		b.WriteString(" relay-")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(".test\n")
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return int64(b.Len())
}

// TestUnreadableTables: a table that cannot be read is UNKNOWN, named, and
// must not hang the check (a FIFO without a writer blocks open(2)).
func TestUnreadableTables(t *testing.T) {
	t.Parallel()
	cert, _ := relayCert(t, "relay.test")
	tests := []struct {
		name  string
		make  func(t *testing.T, path string)
		asUID int // run as this user (root reads files of any mode)
		want  string
	}{
		{"missing", func(*testing.T, string) {}, 0, "TABLE: no such file or directory"},
		{"directory", func(t *testing.T, p string) { mkdir(t, p) }, 0, "TABLE: is a directory"},
		{"FIFO", func(t *testing.T, p string) { mkfifo(t, p) }, 0, "TABLE: not a regular file"},
		{"character device", func(t *testing.T, p string) { symlink(t, "/dev/zero", p) }, 0, "not a regular file"},
		{"dangling symlink", func(t *testing.T, p string) { symlink(t, p+".gone", p) }, 0, "no such file or directory"},
		{"symlink loop", func(t *testing.T, p string) { symlink(t, p, p) }, 0, "too many levels of symbolic links"},
		{"no read permission", func(t *testing.T, p string) { writeFile(t, p, otherFP+" other.test\n", 0o000) }, nobody, "TABLE: permission denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := publicDir(t)
			table := filepath.Join(dir, "relay_clientcerts")
			tc.make(t, table)
			c := cert
			if tc.asUID != 0 {
				if os.Geteuid() != 0 {
					t.Skip("needs root to run the plugin as another user")
				}
				c = filepath.Join(dir, "relay.pem")
				copyFile(t, cert, c)
			}
			o := plugin(t, invocation{args: []string{"--cert-file", c, "--table", "texthash:" + table}, uid: tc.asUID})
			o.check(t, want{code: 3, status: []string{strings.ReplaceAll(tc.want, "TABLE", table)}})
		})
	}
}

// TestBadCertFiles: a --cert-file that is not one certificate file is
// UNKNOWN, named, and must not hang.
func TestBadCertFiles(t *testing.T) {
	t.Parallel()
	garbage := "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHHIG...\n-----END CERTIFICATE-----\n"
	bad := "# a comment\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		want string
	}{
		{"missing", func(*testing.T, string) {}, "CERT: no such file or directory"},
		{"directory", func(t *testing.T, p string) { mkdir(t, p) }, "CERT is a directory"},
		{"FIFO", func(t *testing.T, p string) { mkfifo(t, p) }, "CERT"},
		{"empty", func(t *testing.T, p string) { writeFile(t, p, "", 0o644) }, "CERT: no PEM certificate"},
		{"PEM with a broken body", func(t *testing.T, p string) { writeFile(t, p, garbage, 0o644) }, "damaged PEM certificate block"},
		{"PEM that is no certificate", func(t *testing.T, p string) { writeFile(t, p, bad, 0o644) }, "CERT:2: x509: "},
		{"character device", func(t *testing.T, p string) { symlink(t, "/dev/zero", p) }, "is not a regular file"},
		{"5 MB file", func(t *testing.T, p string) { writeFile(t, p, strings.Repeat("#\n", 5<<19), 0o644) }, "CERT: larger than 4194304 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cert := filepath.Join(dir, "cert.pem")
			tc.make(t, cert)
			table := writeTable(t, dir, otherFP+" other.test")
			o := plugin(t, invocation{args: []string{"--cert-file", cert, "--table", "texthash:" + table}})
			o.check(t, want{code: 3, status: []string{strings.ReplaceAll(tc.want, "CERT", cert)}})
		})
	}
}

// nobody is the uid and gid of user nobody on Debian.
const nobody = 65534

// publicDir returns a fresh directory that user nobody can enter.
func publicDir(t *testing.T) string { return testfs.PublicDir(t) }

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mkfifo(t *testing.T, p string) {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, p, content string, mode os.FileMode) {
	t.Helper()
	// No fork while the file is open for writing: a child holding the fd
	// until its exec would make running a script fail with ETXTBSY.
	syscall.ForkLock.RLock()
	err := os.WriteFile(p, []byte(content), mode)
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBadCAFile: a --ca-file that cannot be read refuses the fix, names
// the flag, writes nothing, and must not hang on a FIFO.
func TestBadCAFile(t *testing.T) {
	t.Parallel()
	cert, _ := relayCert(t, "relay.test")
	tests := []struct {
		name string
		make func(t *testing.T, path string)
	}{
		{"missing", func(*testing.T, string) {}},
		{"directory", func(t *testing.T, p string) { mkdir(t, p) }},
		{"FIFO", func(t *testing.T, p string) { mkfifo(t, p) }},
		{"empty", func(t *testing.T, p string) { writeFile(t, p, "", 0o644) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ca := filepath.Join(dir, "ca.pem")
			tc.make(t, ca)
			table := writeTable(t, dir, otherFP+" other.test")
			before := snap(t, table)
			o := plugin(t, invocation{args: []string{"--cert-file", cert, "--table", "texthash:" + table, "--fix", "--ca-file", ca}})
			o.check(t, want{code: 2, status: []string{"fix refused: --ca-file", ca}})
			before.unchanged(t, true)
		})
	}
}
