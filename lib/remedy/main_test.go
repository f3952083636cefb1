package remedy

import (
	"bytes"
	"context"
	"fmt"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testfs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// helperEnv names the environment variable that turns the test binary into
// a helper process (see runHelper).
const helperEnv = "REMEDY_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

// runHelper is the body of a helper process, started by startHelper with the
// mode and its parameters in the environment:
//
//	toggle  REMEDY_TABLE: print "ready", then replace the table by contentA
//	        or contentB, whichever it is not, with Backup, until killed
//	append  REMEDY_TABLE, REMEDY_ID, REMEDY_COUNT: append the lines
//	        appendLine(ID, 0..COUNT-1), one Update each
//	once    REMEDY_TABLE, REMEDY_LINE: append REMEDY_LINE with one Update
//
// Errors go to stderr with exit status 1.
func runHelper(mode string) int {
	table := os.Getenv("REMEDY_TABLE")
	ctx := context.Background()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	switch mode {
	case "toggle":
		a, b := contentA(), contentB()
		fmt.Println("ready")
		for {
			_, err := Update(ctx, table, Options{Backup: true}, func(cur []byte) ([]byte, error) {
				if bytes.Equal(cur, a) {
					return b, nil
				}
				return a, nil
			})
			if err != nil {
				return fail(err)
			}
		}
	case "append":
		n, err := strconv.Atoi(os.Getenv("REMEDY_COUNT"))
		if err != nil {
			return fail(err)
		}
		for i := range n {
			if _, err := Update(ctx, table, Options{}, appendEdit(appendLine(os.Getenv("REMEDY_ID"), i))); err != nil {
				return fail(err)
			}
		}
		return 0
	case "once":
		if _, err := Update(ctx, table, Options{}, appendEdit(os.Getenv("REMEDY_LINE"))); err != nil {
			return fail(err)
		}
		return 0
	}
	return fail(fmt.Errorf("unknown helper mode %q", mode))
}

// helper returns a command running this test binary as a helper process.
func helper(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + mode}, env...)...)
	return cmd
}

// helperProc is a started helper process.
type helperProc struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

func startHelper(t *testing.T, cmd *exec.Cmd) *helperProc {
	t.Helper()
	p := &helperProc{cmd: cmd}
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	return p
}

// wait waits for the helper and fails the test if it failed.
func (p *helperProc) wait(t *testing.T) {
	t.Helper()
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("helper %v: %v; stderr: %s", p.cmd.Env[len(os.Environ()):], err, p.stderr.String())
	}
}

// publicTestBinary copies this test binary to a directory every user can
// enter (the go build directory is 0700), for helperAs.
func publicTestBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	copyExe := filepath.Join(publicDir(t), "remedy.test")
	// No fork while the copy is open for writing (ETXTBSY at its exec).
	syscall.ForkLock.RLock()
	err = os.WriteFile(copyExe, data, 0o755)
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	return copyExe
}

// helperAs is helper run from exe (see publicTestBinary) with another uid
// and gid.
func helperAs(t *testing.T, exe string, uid, gid uint32, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := helper(t, mode, env...)
	cmd.Path = exe
	cmd.Args[0] = exe
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	return cmd
}

// publicDir returns a new directory that every user can enter (t.TempDir
// gives 0700 directories), removed at the end of the test.
func publicDir(t *testing.T) string { return testfs.PublicDir(t) }

// appendEdit returns an edit function appending line and "\n".
func appendEdit(line string) func([]byte) ([]byte, error) {
	return func(cur []byte) ([]byte, error) {
		out := bytes.Clone(cur)
		return append(out, line+"\n"...), nil
	}
}

func appendLine(id string, i int) string {
	return fmt.Sprintf("%s:%04d %s-label-%d", id, i, id, i)
}

// contentA and contentB are two table versions of different sizes, large
// enough that writing one takes a while, so that kills land mid-write.
func contentA() []byte { return tableOf("A", 6000) }
func contentB() []byte { return tableOf("B", 7000) }

func tableOf(tag string, n int) []byte {
	var b strings.Builder
	b.WriteString("# relay_clientcerts version " + tag + "\n")
	for i := range n {
		fmt.Fprintf(&b, "%s%02X:%02X:%02X:%02X:%02X:%02X relay%d.example.org\n", tag, i>>24&255, i>>16&255, i>>8&255, i&255, (i*7)&255, (i*13)&255, i)
	}
	return []byte(b.String())
}

// isCI reports whether the tests run under CI, where a missing external
// program is a failure rather than a skip.
func isCI() bool { return os.Getenv("CI") != "" }
