package faults

import (
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/check-relay-fingerprint/check_relay_fingerprint/internal/golden"
)

// TestBadFlags: every bad flag value is a usage error: exit 3, one status
// line "RELAY_FINGERPRINT UNKNOWN - usage: ..." naming the flag, a hint,
// nothing on stderr, and nothing written, although the run asks for --fix
// of a table that needs it. The exact output is kept in
// fixtures/faults/usage/NAME.golden (-update rewrites it).
func TestBadFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		flags []string
		names string // the flag the message must name
	}{
		{"warning-abc", []string{"-w", "abc"}, "-w"},
		{"critical-reversed-range", []string{"-c", "1:0"}, "-c"},
		{"timeout-negative", []string{"-t", "-1"}, "-t"},
		{"timeout-negative-long", []string{"--timeout=-1"}, "-t"},
		{"timeout-zero", []string{"-t", "0"}, "-t"},
		{"timeout-nan", []string{"--timeout=NaN"}, "-t"},
		{"timeout-inf", []string{"--timeout=Inf"}, "-t"},
		{"timeout-overflow", []string{"--timeout=1e300"}, "-t"},
		{"port-70000", []string{"-p", "70000"}, "-p"},
		{"host-empty", []string{"-H", ""}, "-H"},
		{"host-open-bracket", []string{"-H", "[::1"}, "-H"},
		{"host-port-zero", []string{"-H", "127.0.0.1:0"}, "-H"},
		{"table-regexp", []string{"--table", "regexp:/x"}, "--table"},
		{"table-empty", []string{"--table", ""}, "--table"},
		{"digest-sha3", []string{"-d", "sha3"}, "-d"},
		{"match-foo", []string{"--match", "foo"}, "--match"},
		{"protocol-smtpx", []string{"-P", "smtpx"}, "--protocol"},
		{"fix-trust-maybe", []string{"--fix-trust", "maybe"}, "--fix-trust"},
		{"ehlo-with-space", []string{"-H", "127.0.0.1:1", "--ehlo", "a b"}, "--ehlo"},
		{"unknown-flag", []string{"--bogus"}, "--bogus"},
		{"fix-and-diff", []string{"--diff"}, "--diff"},
	}
	cert, _ := relayCert(t, "relay.test")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			table := writeTable(t, dir, "# needs a fix", otherFP+" other.test")
			before := snap(t, table)
			args := append([]string{"--cert-file", cert, "--table", "texthash:" + table, "--fix", "--fix-trust", "any"}, tc.flags...)
			o := plugin(t, invocation{args: args})
			o.check(t, want{code: 3, status: []string{"usage: ", tc.names}, out: []string{"hint: check_relay_fingerprint --help"}})
			before.unchanged(t, false)
			if t.Failed() {
				return // a golden file records right behaviour only
			}
			got := strings.NewReplacer(dir, "$DIR", filepath.Dir(cert), "$CERTDIR").Replace(o.stdout)
			golden(t, filepath.Join(fixtures, "usage", tc.name+".golden"), got)
		})
	}
}

// golden compares got with the golden file, or writes it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	goldenfile.Compare(t, path, []byte(got))
}
