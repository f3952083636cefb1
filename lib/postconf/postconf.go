// Package postconf asks a Postfix installation, through postconf(1), for
// the settings the check must agree with: which relay_clientcerts tables
// smtpd uses and which digest it fingerprints with.
//
// It runs `postconf [-c DIR] -x -h relay_clientcerts
// smtpd_tls_fingerprint_digest`: -x expands $config_directory and
// friends, -h prints values only, and postconf applies the default that
// follows compatibility_level (md5 below 3.6, sha256 from it), so the
// answer is the running server's. It does not read main.cf itself.
package postconf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Settings is what the check takes from Postfix.
type Settings struct {
	ConfigDir string   // as given, "" for postconf's default
	Tables    []string // relay_clientcerts, split into table names ("hash:/etc/postfix/relay_clientcerts")
	Digest    string   // smtpd_tls_fingerprint_digest, lower-case
}

// Query runs postconf (bin, "" for "postconf" from PATH) for configDir
// ("" for postconf's default) and parses its answer.
func Query(ctx context.Context, bin, configDir string) (Settings, error) {
	if bin == "" {
		bin = "postconf"
		if p, err := exec.LookPath(bin); err == nil {
			bin = p
		} else if p, err := exec.LookPath("/usr/sbin/postconf"); err == nil {
			bin = p
		} else {
			return Settings{}, errors.New("postconf not found in PATH or /usr/sbin: is Postfix installed on this host? hint: run the check on the receiver, or give --table and -d instead of --postconf")
		}
	}
	args := []string{}
	if configDir != "" {
		args = append(args, "-c", configDir)
	}
	args = append(args, "-x", "-h", "relay_clientcerts", "smtpd_tls_fingerprint_digest")
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 500 {
			msg = msg[:500] + "..."
		}
		if ctx.Err() != nil {
			return Settings{}, fmt.Errorf("timeout running %s: %w", bin, ctx.Err())
		}
		if msg == "" {
			return Settings{}, fmt.Errorf("%s %s: %v", bin, strings.Join(args, " "), err)
		}
		return Settings{}, fmt.Errorf("%s %s: %v: %s", bin, strings.Join(args, " "), err, msg)
	}
	s, err := Parse(stdout.String())
	if err != nil {
		return Settings{}, fmt.Errorf("%s %s: %w", bin, strings.Join(args, " "), err)
	}
	s.ConfigDir = configDir
	return s, nil
}

// Parse reads postconf -h's two lines: relay_clientcerts, then
// smtpd_tls_fingerprint_digest. Table names are separated by commas or
// whitespace outside braces, as Postfix splits them (maps_create with
// mystrtokq): "inline:{ k1=v1, k2=v2 }" stays one name.
func Parse(out string) (Settings, error) {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		return Settings{}, fmt.Errorf("expected 2 lines of output (relay_clientcerts, smtpd_tls_fingerprint_digest), got %d", len(lines))
	}
	s := Settings{
		Tables: splitList(lines[0]),
		Digest: strings.ToLower(strings.TrimSpace(lines[1])),
	}
	if s.Digest == "" {
		return Settings{}, errors.New("smtpd_tls_fingerprint_digest is empty")
	}
	return s, nil
}

// splitList splits a Postfix list of table names at commas and whitespace
// that are not inside braces; a name with unbalanced braces runs to the end.
func splitList(s string) []string {
	names := []string{}
	depth, start := 0, -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '{':
			depth++
		case c == '}' && depth > 0:
			depth--
		case depth == 0 && strings.IndexByte(", \t\r\n", c) >= 0:
			if start >= 0 {
				names = append(names, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		names = append(names, s[start:])
	}
	return names
}
