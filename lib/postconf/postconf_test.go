package postconf

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     Settings
		err      string
	}{
		{"one table", "hash:/etc/postfix/relay_clientcerts\nsha256\n",
			Settings{Tables: []string{"hash:/etc/postfix/relay_clientcerts"}, Digest: "sha256"}, ""},
		{"several, commas and spaces", "hash:/a, texthash:/b  lmdb:/c\nMD5\n",
			Settings{Tables: []string{"hash:/a", "texthash:/b", "lmdb:/c"}, Digest: "md5"}, ""},
		{"none", "\nsha256\n", Settings{Tables: []string{}, Digest: "sha256"}, ""},
		{"separators only", " ,\t, \nsha256\n", Settings{Tables: []string{}, Digest: "sha256"}, ""},
		{"inline table is one name", "inline:{ AB:CD=relay1, { EF:01 = relay 2 } }, hash:/a\nsha256\n",
			Settings{Tables: []string{"inline:{ AB:CD=relay1, { EF:01 = relay 2 } }", "hash:/a"}, Digest: "sha256"}, ""},
		{"unbalanced brace runs to the end", "hash:/a inline:{ x=y, hash:/b\nsha256\n",
			Settings{Tables: []string{"hash:/a", "inline:{ x=y, hash:/b"}, Digest: "sha256"}, ""},
		{"stray closing brace", "hash:/a} hash:/b\nsha256\n",
			Settings{Tables: []string{"hash:/a}", "hash:/b"}, Digest: "sha256"}, ""},
		{"CR and spaces around digest", "hash:/a\r\n SHA256 \r\n", Settings{Tables: []string{"hash:/a"}, Digest: "sha256"}, ""},
		{"short", "sha256\n", Settings{}, "expected 2 lines"},
		{"no digest", "hash:/a\n\n", Settings{}, "digest is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestQueryRealPostconf asks the real postconf about a config directory
// at two compatibility levels: the digest default must follow it.
func TestQueryRealPostconf(t *testing.T) {
	bin, err := exec.LookPath("postconf")
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/postconf")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("postconf is missing under CI: .ci/run must install postfix")
		}
		t.Skip("postconf not installed")
	}
	for _, tc := range []struct{ level, digest string }{{"0", "md5"}, {"3.6", "sha256"}} {
		dir := t.TempDir()
		mainCf := "compatibility_level = " + tc.level + "\nrelay_clientcerts = hash:${config_directory}/relay_clientcerts, texthash:$config_directory/more\n"
		if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(mainCf), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := Query(context.Background(), bin, dir)
		if err != nil {
			t.Fatal(err)
		}
		want := Settings{ConfigDir: dir, Tables: []string{"hash:" + dir + "/relay_clientcerts", "texthash:" + dir + "/more"}, Digest: tc.digest}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("level %s: got %#v, want %#v", tc.level, got, want)
		}
	}
	if _, err := Query(context.Background(), bin, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Query of a missing config directory: no error")
	}
}

// TestQueryFailingCommand runs stand-ins for postconf that fail: the error
// names the command line and its status, and quotes stderr only when there
// is some.
func TestQueryFailingCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body, want string }{
		{"silent", "exit 1", "-x -h relay_clientcerts smtpd_tls_fingerprint_digest: exit status 1"},
		{"stderr", "echo 'postconf: fatal: open /x/main.cf: No such file or directory' >&2; exit 1",
			"smtpd_tls_fingerprint_digest: exit status 1: postconf: fatal: open /x/main.cf: No such file or directory"},
		{"one line of output", "echo hash:/a", "expected 2 lines of output (relay_clientcerts, smtpd_tls_fingerprint_digest), got 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bin := filepath.Join(t.TempDir(), "postconf")
			// No fork while the script is open for writing: a child
			// holding the fd until its exec would make running the
			// script fail with ETXTBSY (text file busy; Go issue 22315).
			syscall.ForkLock.RLock()
			err := os.WriteFile(bin, []byte("#!/bin/sh\n"+tc.body+"\n"), 0o755)
			syscall.ForkLock.RUnlock()
			if err != nil {
				t.Fatal(err)
			}
			_, err = Query(context.Background(), bin, "")
			if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
				t.Fatalf("Query with a postconf doing %q: error = %v, want one ending %q", tc.body, err, tc.want)
			}
		})
	}
}
