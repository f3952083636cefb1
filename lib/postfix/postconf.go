package postfix

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Settings is what the check takes from a receiver's Postfix.
type Settings struct {
	ConfigDir string   // as given, "" for postconf's default
	Tables    []string // relay_clientcerts, split into table names ("hash:/etc/postfix/relay_clientcerts")
	Digest    string   // smtpd_tls_fingerprint_digest, lower-case
}

// Postconf runs "postconf [-c configDir] -x relay_clientcerts
// smtpd_tls_fingerprint_digest" (bin as for Find, "postconf" when empty;
// configDir "" for postconf's default) and returns the tables and digest
// smtpd uses. -x expands $config_directory and friends, and postconf
// applies the default that follows compatibility_level (md5 below 3.6,
// sha256 from it), so the answer is the running server's.
func Postconf(ctx context.Context, bin, configDir string) (Settings, error) {
	v, err := values(ctx, bin, configDir, nil, "relay_clientcerts", "smtpd_tls_fingerprint_digest")
	if err != nil {
		return Settings{}, err
	}
	s, err := settingsOf(v)
	s.ConfigDir = configDir
	return s, err
}

func settingsOf(v map[string]string) (Settings, error) {
	s := Settings{
		Tables: SplitList(v["relay_clientcerts"]),
		Digest: strings.ToLower(strings.TrimSpace(v["smtpd_tls_fingerprint_digest"])),
	}
	if s.Digest == "" {
		return s, errors.New("postconf: smtpd_tls_fingerprint_digest is empty")
	}
	return s, nil
}

// values runs "postconf [-c configDir] -x [-o name=value]... names" and
// returns each name's value, expanded: overrides are master.cf -o
// settings, applied as the service's daemon applies them before it
// expands its parameters. A name postconf does not know ("unknown
// parameter" on an older Postfix) is missing from the map; an empty value
// is "". bin is as for Find.
func values(ctx context.Context, bin, configDir string, overrides []Override, names ...string) (map[string]string, error) {
	args := configArgs(configDir, "-x")
	for _, o := range overrides {
		args = append(args, "-o", o.Name+"="+o.Value)
	}
	for _, n := range names {
		if n == "" || strings.HasPrefix(n, "-") {
			return nil, fmt.Errorf("postconf: bad parameter name %q", n)
		}
	}
	out, err := run(ctx, "postconf", bin, append(args, names...), nil, nil)
	if err != nil {
		return nil, err
	}
	v, err := parseValues(string(out))
	if err != nil {
		return nil, fmt.Errorf("postconf -x %s: %w", strings.Join(names, " "), err)
	}
	return v, nil
}

// parseValues reads postconf's "name = value" lines (an empty value
// prints as "name =").
func parseValues(out string) (map[string]string, error) {
	v := map[string]string{}
	n := 0
	for l := range strings.Lines(out) {
		n++
		l = strings.TrimRight(l, "\r\n")
		if strings.TrimSpace(l) == "" {
			continue
		}
		name, value, ok := strings.Cut(l, " =")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("output line %d: expected \"name = value\", got %q", n, l)
		}
		v[name] = strings.TrimSpace(value)
	}
	return v, nil
}
