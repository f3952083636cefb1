package postfix

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

func TestSplitList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"hash:/etc/postfix/relay_clientcerts", []string{"hash:/etc/postfix/relay_clientcerts"}},
		{"hash:/a, texthash:/b  lmdb:/c", []string{"hash:/a", "texthash:/b", "lmdb:/c"}},
		{"", []string{}},
		{" ,\t, \r\n", []string{}},
		{"inline:{ AB:CD=relay1, { EF:01 = relay 2 } }, hash:/a", []string{"inline:{ AB:CD=relay1, { EF:01 = relay 2 } }", "hash:/a"}},
		{"hash:/a inline:{ x=y, hash:/b", []string{"hash:/a", "inline:{ x=y, hash:/b"}},
		{"hash:/a} hash:/b", []string{"hash:/a}", "hash:/b"}},
		{"permit_mynetworks,permit_tls_clientcerts,check_client_access { inline:{ a=b } },reject", []string{"permit_mynetworks", "permit_tls_clientcerts", "check_client_access", "{ inline:{ a=b } }", "reject"}},
	} {
		if got := SplitList(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     map[string]string
		err      string
	}{
		{"values", "relay_clientcerts = hash:/a, texthash:/b\nsmtpd_tls_fingerprint_digest = SHA256\n",
			map[string]string{"relay_clientcerts": "hash:/a, texthash:/b", "smtpd_tls_fingerprint_digest": "SHA256"}, ""},
		{"empty value", "smtp_tls_chain_files =\nsmtp_tls_cert_file = \r\n", map[string]string{"smtp_tls_chain_files": "", "smtp_tls_cert_file": ""}, ""},
		{"value with = and braces", "x = { a = b }\n", map[string]string{"x": "{ a = b }"}, ""},
		{"no output", "", map[string]string{}, ""},
		{"not a setting", "hash:/a\n", nil, `output line 1: expected "name = value", got "hash:/a"`},
		{"space in name", "a b = c\n", nil, "output line 1"},
	} {
		got, err := parseValues(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: parseValues(%q) error = %v, want one containing %q", tc.name, tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: parseValues(%q) = %q, %v; want %q", tc.name, tc.in, got, err, tc.want)
		}
	}
	s, err := settingsOf(map[string]string{"relay_clientcerts": "hash:/a inline:{ x=y, z=w }", "smtpd_tls_fingerprint_digest": " SHA256"})
	if want := (Settings{Tables: []string{"hash:/a", "inline:{ x=y, z=w }"}, Digest: "sha256"}); err != nil || !reflect.DeepEqual(s, want) {
		t.Errorf("settingsOf = %#v, %v; want %#v", s, err, want)
	}
	if _, err := settingsOf(map[string]string{"relay_clientcerts": "hash:/a"}); err == nil || !strings.Contains(err.Error(), "digest is empty") {
		t.Errorf("settingsOf without a digest: error = %v", err)
	}
}

// TestPostconfReal asks the real postconf about a config directory
// at two compatibility levels: the digest default must follow it.
func TestPostconfReal(t *testing.T) {
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
		writeConfig(t, dir, mainCf, "")
		got, err := Postconf(context.Background(), bin, dir)
		if err != nil {
			t.Fatal(err)
		}
		want := Settings{ConfigDir: dir, Tables: []string{"hash:" + dir + "/relay_clientcerts", "texthash:" + dir + "/more"}, Digest: tc.digest}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("level %s: got %#v, want %#v", tc.level, got, want)
		}
	}
	if _, err := Postconf(context.Background(), bin, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Query of a missing config directory: no error")
	}
}

// TestPostconfFailingCommand runs stand-ins for postconf that fail: the error
// names the command line and its status, and quotes stderr only when there
// is some.
func TestPostconfFailingCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body, want string }{
		{"silent", "exit 1", "-x relay_clientcerts smtpd_tls_fingerprint_digest: exit status 1"},
		{"stderr", "echo 'postconf: fatal: open /x/main.cf: No such file or directory' >&2; exit 1",
			"smtpd_tls_fingerprint_digest: exit status 1: postconf: fatal: open /x/main.cf: No such file or directory"},
		{"not postconf's output", "echo hash:/a", `output line 1: expected "name = value", got "hash:/a"`},
		{"no digest", "echo relay_clientcerts = hash:/a", "smtpd_tls_fingerprint_digest is empty"},
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
			_, err = Postconf(context.Background(), bin, "")
			if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
				t.Fatalf("Query with a postconf doing %q: error = %v, want one ending %q", tc.body, err, tc.want)
			}
		})
	}
}
