package postconf

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
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
		{"short", "sha256\n", Settings{}, "expected 2 lines"},
		{"no digest", "hash:/a\n\n", Settings{}, "digest is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
