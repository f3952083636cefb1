package postfix

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeCommand writes an executable shell script and returns its path. The
// script records its arguments, one a line, in the returned args file.
func fakeCommand(t *testing.T, name, body string) (path, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, name)
	argsFile = filepath.Join(dir, "args")
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '" + argsFile + "'\n" + body + "\n"
	// No fork while the script is open for writing: a child holding the
	// fd until its exec would make running it fail with ETXTBSY.
	syscall.ForkLock.RLock()
	err := os.WriteFile(path, []byte(script), 0o755)
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	return path, argsFile
}

func TestPostmapAndReloadWithFakeCommands(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 3000)
	tests := []struct {
		name     string
		reload   bool
		body     string
		config   string
		spec     string
		wantArgs string
		wantErr  []string // substrings; nil for success
		notInErr string
	}{
		{name: "postmap ok", body: "exit 0", config: "/etc/postfix-out", spec: "hash:/etc/postfix/relay_clientcerts",
			wantArgs: "-c\n/etc/postfix-out\nhash:/etc/postfix/relay_clientcerts\n"},
		{name: "postmap ok without config dir", body: "exit 0", spec: "lmdb:/x y/t",
			wantArgs: "lmdb:/x y/t\n"},
		{name: "postmap fails with stderr", body: "echo 'postmap: warning: something' >&2\necho 'postmap: fatal: open /x/t: No such file or directory' >&2\nexit 1",
			spec: "hash:/x/t", wantArgs: "hash:/x/t\n",
			wantErr: []string{"postmap hash:/x/t: exit status 1: postmap: warning: something; postmap: fatal: open /x/t: No such file or directory"}},
		{name: "postmap fails silently", body: "exit 3", spec: "hash:/x/t", wantArgs: "hash:/x/t\n",
			wantErr: []string{"postmap hash:/x/t: exit status 3"}},
		{name: "postmap fails with stdout only", body: "echo only on stdout\nexit 1", spec: "hash:/x/t",
			wantErr: []string{"exit status 1: only on stdout"}},
		{name: "long stderr is bounded, head and tail kept", body: "echo 'first line' >&2\necho " + long + " >&2\necho 'postmap: fatal: last' >&2\nexit 1",
			spec: "hash:/x/t", wantErr: []string{"first line; xxx", "xxx ... xxx", "xxx; postmap: fatal: last"}, notInErr: long[:maxDetail]},
		{name: "postmap killed by a signal", body: "kill -9 $$", spec: "hash:/x/t",
			wantErr: []string{"signal: killed"}},
		{name: "reload ok", reload: true, body: "exit 0", config: "/etc/postfix-out",
			wantArgs: "-c\n/etc/postfix-out\nreload\n"},
		{name: "reload fails with stderr", reload: true, body: "echo 'postfix/postfix-script: fatal: the Postfix mail system is not running' >&2\nexit 1",
			wantArgs: "reload\n",
			wantErr:  []string{"postfix reload: exit status 1: postfix/postfix-script: fatal: the Postfix mail system is not running"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := "postmap"
			if tt.reload {
				name = "postfix"
			}
			prog, argsFile := fakeCommand(t, name, tt.body)
			var err error
			if tt.reload {
				err = Reload(t.Context(), prog, tt.config)
			} else {
				err = Postmap(t.Context(), prog, tt.config, tt.spec)
			}
			if tt.wantErr == nil && err != nil {
				t.Fatalf("error = %v, want none", err)
			}
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, want one containing %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error = %q, want it to contain %q", err, w)
					}
				}
				if tt.notInErr != "" && strings.Contains(err.Error(), tt.notInErr) {
					t.Errorf("error of %d bytes contains the whole output", len(err.Error()))
				}
				if len(err.Error()) > maxDetail+len(prog)+200 {
					t.Errorf("error is %d bytes long, want it bounded", len(err.Error()))
				}
				var exitErr *exec.ExitError
				if !errors.As(err, &exitErr) {
					t.Errorf("error %v does not wrap an *exec.ExitError", err)
				}
			}
			if tt.wantArgs != "" {
				if got, err := os.ReadFile(argsFile); err != nil || string(got) != tt.wantArgs {
					t.Errorf("arguments = %q, %v; want %q", got, err, tt.wantArgs)
				}
			}
		})
	}
}

func TestPostmapRefusesBadSpecs(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"", "-v", "-q"} {
		prog, argsFile := fakeCommand(t, "postmap", "exit 0")
		if err := Postmap(t.Context(), prog, "", spec); err == nil {
			t.Errorf("Postmap(%q): no error", spec)
		}
		if _, err := os.Stat(argsFile); err == nil {
			t.Errorf("Postmap(%q) ran the command", spec)
		}
	}
}

func TestPostmapMissingCommand(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, prog, want string }{
		{"bare name not found", "postmap-missing-for-test", "postmap-missing-for-test: command not found in PATH or in /usr/sbin"},
		{"path not found", "/nonexistent/dir/postmap", "/nonexistent/dir/postmap hash:/x/t: fork/exec /nonexistent/dir/postmap: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Postmap(t.Context(), tt.prog, "", "hash:/x/t")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Postmap(%q) error = %v, want one containing %q", tt.prog, err, tt.want)
			}
		})
	}
}

func TestPostmapHonorsContext(t *testing.T) {
	t.Parallel()
	prog, _ := fakeCommand(t, "postmap", "exec sleep 30")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := Postmap(ctx, prog, "", "hash:/x/t")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Postmap of a hanging command: error = %v, want context.DeadlineExceeded", err)
	}
}

// Event handlers often run with a PATH without /usr/sbin.
func TestCommandFallsBackToSbin(t *testing.T) {
	// Not parallel: changes PATH.
	want := "/usr/sbin/postmap"
	if _, err := os.Stat(want); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI needs the postfix package)", err)
		}
		t.Skip(err)
	}
	t.Setenv("PATH", t.TempDir())
	if got, err := Find("postmap", ""); err != nil || got != want {
		t.Fatalf("command(postmap) with an empty PATH = %q, %v; want %q", got, err, want)
	}
}

// realPostfixCommand returns the path of a Postfix program, failing under CI
// when it is missing.
func realPostfixCommand(t *testing.T, name string) string {
	t.Helper()
	p, err := Find(name, "")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI needs the postfix package)", err)
		}
		t.Skip(err)
	}
	return p
}

func TestPostmapReal(t *testing.T) {
	t.Parallel()
	postmap := realPostfixCommand(t, "postmap")
	config := t.TempDir()
	writeConfig(t, config, "compatibility_level = 3.6\n", "")
	dir := t.TempDir()
	table := filepath.Join(dir, "relay_clientcerts")
	if err := os.WriteFile(table, []byte("AA:BB:CC relay1\nDD:EE:FF relay2\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := Postmap(t.Context(), postmap, config, "hash:"+table); err != nil {
		t.Fatalf("Postmap: %v", err)
	}
	if fi, err := os.Stat(table + ".db"); err != nil || fi.Size() == 0 {
		t.Fatalf("%s.db after postmap: %v", table, err)
	}
	out, err := exec.Command(postmap, "-c", config, "-q", "DD:EE:FF", "hash:"+table).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "relay2" {
		t.Errorf("postmap -q DD:EE:FF = %q, %v; want relay2", out, err)
	}

	// A failure carries postmap's own message.
	missing := filepath.Join(dir, "missing")
	err = Postmap(t.Context(), postmap, config, "hash:"+missing)
	if err == nil || !strings.Contains(err.Error(), "postmap: fatal: open "+missing) {
		t.Fatalf("Postmap of a missing table: error = %v, want postmap's fatal message", err)
	}
}

// TestQueryRealPostmap looks keys up in a real compiled table: found keys
// come back, a table without them is no error, a broken table is.
func TestQueryRealPostmap(t *testing.T) {
	t.Parallel()
	if _, err := Find("postmap", ""); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("postmap missing under CI: .ci/run must install postfix")
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	writeConfig(t, dir, "compatibility_level = 3.6\n", "")
	table := filepath.Join(dir, "t")
	if err := os.WriteFile(table, []byte("AA:BB x\ncc:dd y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := Postmap(ctx, "", dir, "hash:"+table); err != nil {
		t.Fatal(err)
	}
	got, err := Query(ctx, "", dir, "hash:"+table, []string{"aa:bb", "ZZ", "CC:DD"})
	if err != nil || len(got) != 2 || !got["aa:bb"] || !got["CC:DD"] {
		t.Errorf("Query = %v, %v; want aa:bb and CC:DD", got, err)
	}
	got, err = Query(ctx, "", dir, "hash:"+table, []string{"ZZ"})
	if err != nil || len(got) != 0 {
		t.Errorf("Query of a missing key = %v, %v; want none, no error", got, err)
	}
	if _, err := Query(ctx, "", dir, "hash:"+filepath.Join(dir, "missing"), []string{"ZZ"}); err == nil {
		t.Error("Query of a missing table: no error")
	}
	if _, err := Query(ctx, "", dir, "hash:"+table, []string{"a\nb"}); err == nil {
		t.Error("Query of a key with a newline: no error")
	}
}

// TestQueryExitStatusOne: postmap -q exits 1 both when it finds none of the
// keys and when it fails. Warnings alone (main.cf's "overriding earlier
// entry" is common) still mean "none found"; anything more is an error.
func TestQueryExitStatusOne(t *testing.T) {
	t.Parallel()
	warn := "echo 'postmap: warning: /etc/postfix/main.cf, line 9: overriding earlier entry: foo=1' >&2\n"
	tests := []struct {
		name    string
		body    string
		want    map[string]bool
		wantErr string // substring; "" for success
	}{
		{"none found, silent", "cat >/dev/null\nexit 1", map[string]bool{}, ""},
		{"none found, main.cf warnings", "cat >/dev/null\n" + warn + warn + "exit 1", map[string]bool{}, ""},
		{"found, main.cf warnings", "cat >/dev/null\n" + warn + "printf 'AA:BB\\tx\\n'\nexit 0", map[string]bool{"AA:BB": true}, ""},
		{"warning then fatal", "cat >/dev/null\n" + warn + "echo 'postmap: fatal: open database /x/t.db: No such file or directory' >&2\nexit 1",
			nil, "postmap: fatal: open database /x/t.db"},
		{"error line", "cat >/dev/null\necho 'postmap: error: something' >&2\nexit 1", nil, "postmap: error: something"},
		{"unprefixed stderr", "cat >/dev/null\necho 'Segmentation fault' >&2\nexit 1", nil, "Segmentation fault"},
		{"warning, exit 2", "cat >/dev/null\n" + warn + "exit 2", nil, "exit status 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prog, _ := fakeCommand(t, "postmap", tt.body)
			got, err := Query(t.Context(), prog, "", "hash:/x/t", []string{"AA:BB", "CC:DD"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Query with a postmap doing %q = %v, %v; want an error containing %q", tt.body, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) || got["AA:BB"] != tt.want["AA:BB"] {
				t.Fatalf("Query with a postmap doing %q = %v, %v; want %v", tt.body, got, err, tt.want)
			}
		})
	}
}

// TestQueryRealPostmapWithMainCfWarnings runs the real postmap with a
// main.cf that sets a parameter twice: a key it does not hold is not found,
// not an error.
func TestQueryRealPostmapWithMainCfWarnings(t *testing.T) {
	t.Parallel()
	realPostfixCommand(t, "postmap")
	dir := t.TempDir()
	mainCf := "compatibility_level = 3.6\nsmtpd_banner = one\nsmtpd_banner = two\n"
	writeConfig(t, dir, mainCf, "")
	table := filepath.Join(dir, "t")
	if err := os.WriteFile(table, []byte("AA:BB x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Postmap(t.Context(), "", dir, "hash:"+table); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		keys []string
		want int
	}{{[]string{"ZZ"}, 0}, {[]string{"ZZ", "AA:BB"}, 1}} {
		got, err := Query(t.Context(), "", dir, "hash:"+table, tc.keys)
		if err != nil || len(got) != tc.want {
			t.Errorf("Query(%q) with main.cf warnings = %v, %v; want %d found, no error", tc.keys, got, err, tc.want)
		}
	}
	if _, err := Query(t.Context(), "", dir, "hash:"+filepath.Join(dir, "missing"), []string{"ZZ"}); err == nil || !strings.Contains(err.Error(), "fatal") {
		t.Errorf("Query of a missing table with main.cf warnings: error = %v, want postmap's fatal message", err)
	}
}
