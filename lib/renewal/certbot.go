package renewal

// certbot's renewal configuration, CONFIG/renewal/NAME.conf, as certbot
// 2.x writes it (configobj syntax: "key = value", "[section]", "#"
// comments):
//
//	# renew_before_expiry = 30 days
//	version = 2.1.0
//	archive_dir = /etc/letsencrypt/archive/mx.example.org
//	cert = /etc/letsencrypt/live/mx.example.org/cert.pem
//	...
//	[renewalparams]
//	reuse_key = True
//
// The keys read, where certbot reads them: version, cert, archive_dir,
// renew_before_expiry at the top level, before the first section;
// reuse_key in [renewalparams] only (not in a subsection such as
// [[webroot_map]]). Elsewhere certbot ignores them, and so does this
// reader: a reuse_key = True at the top level keeps no key. A quoted value
// loses its quotes; an unquoted one its inline "# comment".

import (
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// certbotConf is what is read from one renewal configuration.
type certbotConf struct {
	path        string
	version     string
	cert        string
	archive     string
	renewBefore string // "" when unset
	renewLine   int
	reuseKey    string // "" when unset
	reuseLine   int
}

func parseCertbot(path string, data []byte) (certbotConf, error) {
	c := certbotConf{path: path}
	section := "" // "" at the top level; "[renewalparams]", "[[webroot_map]]"
	err := lines(data, func(n int, line string) error {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			return nil
		}
		if t[0] == '[' {
			section, _, _ = strings.Cut(t, "#")
			section = strings.TrimSpace(section)
			return nil
		}
		key, value, ok := strings.Cut(t, "=")
		if !ok {
			return fmt.Errorf("%s:%d: expected \"key = value\", a [section] or a # comment", path, n)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if v := unquote(value); v != value {
			value = v
		} else if v, _, ok := strings.Cut(value, "#"); ok {
			value = strings.TrimSpace(v)
		}
		switch {
		case section == "" && key == "version":
			c.version = value
		case section == "" && key == "cert":
			c.cert = value
		case section == "" && key == "archive_dir":
			c.archive = value
		case section == "" && key == "renew_before_expiry":
			c.renewBefore, c.renewLine = value, n
		case section == "[renewalparams]" && key == "reuse_key":
			c.reuseKey, c.reuseLine = value, n
		}
		return nil
	})
	return c, err
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// findCertbot looks for cert's lineage under config.
func findCertbot(config, path string, cert *x509.Certificate) (*Info, error) {
	entries, err := sortedDir(filepath.Join(config, "renewal"))
	if err != nil {
		return nil, skipped{err}
	}
	var problems []error
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".conf")
		if !ok || e.IsDir() {
			continue
		}
		conf := filepath.Join(config, "renewal", e.Name())
		byPath := under(path, filepath.Join(config, "live", name), filepath.Join(config, "archive", name))
		data, err := readConf(conf)
		var c certbotConf
		if err == nil {
			c, err = parseCertbot(conf, data)
		}
		if err != nil {
			if byPath {
				return nil, err
			}
			problems = append(problems, err)
			continue
		}
		if c.cert == "" {
			c.cert = filepath.Join(config, "live", name, "cert.pem")
		}
		if c.archive == "" {
			c.archive = filepath.Join(config, "archive", name)
		}
		if !byPath {
			same, err := sameKey(c.cert, cert)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: cert = %s: %w", conf, c.cert, err))
				continue
			}
			if !same && !inArchive(c.archive, cert) {
				continue
			}
		}
		return c.info(name, cert)
	}
	if len(problems) > 0 {
		return nil, skipped{errors.Join(problems...)}
	}
	return nil, nil
}

// info computes what the renewal of c will do. The dates come from the
// lineage's current certificate when it can be read, else from cert.
func (c certbotConf) info(name string, cert *x509.Certificate) (*Info, error) {
	i := &Info{Client: Certbot, Name: name, Conf: c.path}
	switch v := strings.ToLower(c.reuseKey); v {
	case "":
		i.KeySetting = "reuse_key unset (certbot's default: a new key at every renewal)"
	case "true": // certbot takes only True or False, in any case
		i.ReuseKey, i.KeySetting = true, "reuse_key = "+c.reuseKey
	case "false":
		i.KeySetting = "reuse_key = " + c.reuseKey
	default:
		return nil, fmt.Errorf("%s:%d: reuse_key = %q: expected True or False (certbot refuses anything else and skips the lineage)", c.path, c.reuseLine, c.reuseKey)
	}
	if certs, err := readLeaf(c.cert); err == nil {
		cert = certs
	}
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	switch {
	case c.renewBefore != "":
		d, err := parseInterval(c.renewBefore)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: renew_before_expiry = %q: %w", c.path, c.renewLine, c.renewBefore, err)
		}
		i.Next, i.NextRule = cert.NotAfter.Add(-d), "renew_before_expiry = "+c.renewBefore
	case major(c.version) >= 4 && lifetime < 10*24*time.Hour:
		i.Next, i.NextRule = cert.NotAfter.Add(-lifetime/2), "certbot "+c.version+"'s default: half the lifetime left"
	case major(c.version) >= 4:
		i.Next, i.NextRule = cert.NotAfter.Add(-lifetime/3), "certbot "+c.version+"'s default: a third of the lifetime left"
	default:
		i.Next, i.NextRule = cert.NotAfter.Add(-30*24*time.Hour), "certbot's default: 30 days before expiry"
	}
	return i, nil
}

// inArchive reports whether an earlier certificate of the lineage
// (archive/NAME/certN.pem) is cert or has its key: the one Postfix still
// presents while rollover waits with the renewed one staged.
func inArchive(archive string, cert *x509.Certificate) bool {
	old, _ := filepath.Glob(filepath.Join(archive, "cert*.pem"))
	for _, f := range old {
		if same, err := sameKey(f, cert); err == nil && same {
			return true
		}
	}
	return false
}

func readLeaf(path string) (*x509.Certificate, error) {
	certs, err := readCerts(path)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// major returns the major version of "4.1.0", 0 when there is none.
func major(v string) int {
	m, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(m)
	if err != nil {
		return 0
	}
	return n
}

// maxInterval bounds renew_before_expiry, far beyond any certificate's
// lifetime.
const maxInterval = 100 * 365 * 24 * time.Hour

var intervalPart = regexp.MustCompile(`^\s*([0-9]+)\s*([A-Za-z]*)\s*,?`)

// parseInterval reads certbot's renew_before_expiry: one or more "NUMBER
// UNIT" ("30 days", "2 weeks", "1w 2d", "12 hours"); a bare number is days.
func parseInterval(s string) (time.Duration, error) {
	units := map[string]time.Duration{
		"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
		"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
		"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
		"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour, "": 24 * time.Hour,
		"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
	}
	var total time.Duration
	rest := s
	for strings.TrimSpace(rest) != "" {
		m := intervalPart.FindStringSubmatch(rest)
		if m == nil {
			return 0, fmt.Errorf("expected a number and a unit, such as \"30 days\"")
		}
		u, ok := units[strings.ToLower(m[2])]
		if !ok {
			return 0, fmt.Errorf("unknown unit %q: expected seconds, minutes, hours, days or weeks", m[2])
		}
		n, err := strconv.ParseInt(m[1], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", m[1], err)
		}
		if time.Duration(n) > maxInterval/u || total+time.Duration(n)*u > maxInterval {
			return 0, fmt.Errorf("longer than %d days: no certificate lives that long", maxInterval/(24*time.Hour))
		}
		total += time.Duration(n) * u
		rest = rest[len(m[0]):]
	}
	if total == 0 && strings.TrimSpace(s) == "" {
		return 0, fmt.Errorf("empty")
	}
	return total, nil
}
