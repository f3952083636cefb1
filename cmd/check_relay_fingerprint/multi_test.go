package main

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/probe"
)

// multiName resolves, in these tests only, to two loopback addresses:
// one relay name, two relays, as "cliff.example.org" often is.
const multiName = "multi.relay.test"

func init() {
	real := resolve
	resolve = func(ctx context.Context, r *net.Resolver, host, network string) ([]netip.Addr, error) {
		if host != multiName {
			return real(ctx, r, host, network)
		}
		if network == "ip6" {
			return nil, &probe.Error{Stage: probe.StageResolve, Addr: host, Err: errors.New("no IPv6 address")}
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}, nil
	}
}

// mxPair starts relays for cliff.example.org on 127.0.0.1 and 127.0.0.2
// at one port, presenting one certificate or two, and returns the port and
// the public-key fingerprints.
func mxPair(t *testing.T, same bool) (port string, fps [2]string) {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ = net.SplitHostPort(ln.Addr().String())
		ln2, err := net.Listen("tcp", "127.0.0.2:"+port)
		ln.Close()
		if err != nil {
			continue // the port is taken on 127.0.0.2: try another
		}
		ln2.Close()
		a, b := rtCert(t, "cliff.example.org", 90), rtCert(t, "cliff.example.org", 90)
		if same {
			b = a
		}
		if got := rtServeAt(t, "127.0.0.1:"+port, a); got == "" {
			continue
		}
		if got := rtServeAt(t, "127.0.0.2:"+port, b); got == "" {
			continue
		}
		return port, [2]string{fingerprint.SHA256.PublicKey(a.Leaf), fingerprint.SHA256.PublicKey(b.Leaf)}
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return "", fps
}

// TestRunEveryAddressOfAName: -H NAME probes every address; each must be
// listed, and addresses that disagree are a WARNING.
func TestRunEveryAddressOfAName(t *testing.T) {
	t.Parallel()
	samePort, same := mxPair(t, true)
	diffPort, diff := mxPair(t, false)
	if same[0] != same[1] || diff[0] == diff[1] {
		t.Fatal("mxPair: certificates not as asked")
	}
	dir := t.TempDir()
	table := func(name string, fps ...string) string {
		var b strings.Builder
		for _, f := range fps {
			b.WriteString(f + " cliff.example.org\n")
		}
		return "texthash:" + rtWrite(t, dir, name, b.String())
	}
	for _, tc := range []struct {
		name string
		port string
		tbl  string
		code int
		out  []string
	}{
		{"same certificate, listed: OK, one line per address", samePort, table("same", same[0]), 0,
			[]string{"127.0.0.1:" + samePort + " in ", "127.0.0.2:" + samePort + " in ", "all 2 relay certificates listed"}},
		{"different certificates, both listed: WARNING", diffPort, table("both", diff[0], diff[1]), 1,
			[]string{"addresses present different certificates"}},
		{"one address unlisted: CRITICAL naming it", diffPort, table("first", diff[0]), 2,
			[]string{multiName + ":" + diffPort + " 127.0.0.2:" + diffPort + " presents sha256 public-key fingerprint " + diff[1] + ", not listed"}},
		{"-6: no IPv6 address is UNKNOWN", samePort, table("same6", same[0]), 3,
			[]string{"DNS lookup of " + multiName + ": no IPv6 address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-H", multiName + ":" + tc.port, "--table", tc.tbl}
			if strings.HasPrefix(tc.name, "-6") {
				args = append(args, "-6")
			}
			code, out, _ := rtRun(t, args...)
			if code != tc.code {
				t.Errorf("run(%q) = %d, want %d\n%s", args, code, tc.code, out)
			}
			for _, s := range tc.out {
				if !strings.Contains(out, s) {
					t.Errorf("run(%q) output lacks %q:\n%s", args, s, out)
				}
			}
		})
	}

	// cliff1 renewed, cliff2 not yet: --fix keeps the key cliff2 presents
	// and adds cliff1's.
	path := rtWrite(t, dir, "fix", diff[1]+" cliff.example.org\n")
	code, out, _ := rtRun(t, "-H", multiName+":"+diffPort, "--table", "texthash:"+path, "--fix", "--fix-trust", "any")
	got, _ := os.ReadFile(path)
	want := diff[1] + " cliff.example.org\n" + diff[0] + " " + multiName + "\n"
	if string(got) != want {
		t.Errorf("--fix with one address renewed: exit %d, table\n%q\nwant\n%q\n%s", code, got, want, out)
	}

}
