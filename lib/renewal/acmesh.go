package renewal

// acme.sh's per-domain configuration, HOME/DOMAIN/DOMAIN.conf (RSA) or
// HOME/DOMAIN_ecc/DOMAIN.conf (ECDSA), shell assignments one a line:
//
//	Le_Domain='mx.example.org'
//	Le_CertCreateTime='1764806400'
//	Le_NextRenewTime='1769904000'
//	Le_RealFullChainPath='/etc/postfix/relay.pem'
//	Le_ForceNewDomainKey='1'
//
// Values may be quoted with ' or " or not at all. The keys read:
// Le_ForceNewDomainKey, Le_NextRenewTime, Le_RenewalDays,
// Le_CertCreateTime and the install targets Le_RealCertPath,
// Le_RealFullChainPath, Le_RealKeyPath. The certificate itself is
// DOMAIN.cer beside the conf.

import (
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

type acmeShConf struct {
	path   string
	values map[string]string
	lineOf map[string]int
}

func parseAcmeSh(path string, data []byte) (acmeShConf, error) {
	c := acmeShConf{path: path, values: map[string]string{}, lineOf: map[string]int{}}
	err := lines(data, func(n int, line string) error {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			return nil
		}
		t = strings.TrimPrefix(t, "export ")
		key, value, ok := strings.Cut(t, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return fmt.Errorf("%s:%d: expected a shell assignment NAME='value'", path, n)
		}
		c.values[key], c.lineOf[key] = unquote(value), n
		return nil
	})
	return c, err
}

// acmeShDefaultDays is how long after issue acme.sh renews without
// Le_NextRenewTime or Le_RenewalDays.
const acmeShDefaultDays = 60

// findAcmeSh looks for cert's domain under the acme.sh home.
func findAcmeSh(home, path string, cert *x509.Certificate) (*Info, error) {
	entries, err := sortedDir(home)
	if err != nil {
		return nil, skipped{err}
	}
	var problems []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(home, e.Name())
		domain := strings.TrimSuffix(e.Name(), "_ecc")
		conf := filepath.Join(dir, domain+".conf")
		data, err := readConf(conf)
		if err != nil {
			continue // not a domain directory (ca/, http.header ...)
		}
		byPath := under(path, dir)
		c, err := parseAcmeSh(conf, data)
		if err != nil {
			if byPath {
				return nil, err
			}
			problems = append(problems, err)
			continue
		}
		if !byPath {
			for _, k := range []string{"Le_RealCertPath", "Le_RealFullChainPath", "Le_RealKeyPath"} {
				if p := c.values[k]; p != "" && (filepath.Clean(p) == filepath.Clean(path) || realDir(p) == realDir(path)) {
					byPath = true
				}
			}
		}
		cer := filepath.Join(dir, domain+".cer")
		if !byPath {
			same, err := sameKey(cer, cert)
			if err != nil || !same {
				continue
			}
		}
		return c.info(domain, cer, cert)
	}
	if len(problems) > 0 {
		return nil, skipped{errors.Join(problems...)}
	}
	return nil, nil
}

func (c acmeShConf) info(domain, cer string, cert *x509.Certificate) (*Info, error) {
	i := &Info{Client: AcmeSh, Name: domain, Conf: c.path, ReuseKey: true,
		KeySetting: "Le_ForceNewDomainKey unset (acme.sh's default: the key is kept)"}
	switch v := c.values["Le_ForceNewDomainKey"]; v {
	case "":
	case "1":
		i.ReuseKey, i.KeySetting = false, "Le_ForceNewDomainKey='1'"
	case "0":
		i.KeySetting = "Le_ForceNewDomainKey='0'"
	default:
		return nil, fmt.Errorf("%s:%d: Le_ForceNewDomainKey=%q: expected 1 or 0", c.path, c.lineOf["Le_ForceNewDomainKey"], v)
	}
	if l, err := readLeaf(cer); err == nil {
		cert = l
	}
	num := func(key string) (int64, bool, error) {
		v := c.values[key]
		if v == "" {
			return 0, false, nil
		}
		n, ok := atoiOK(v)
		if !ok {
			return 0, false, fmt.Errorf("%s:%d: %s=%q: expected a number", c.path, c.lineOf[key], key, v)
		}
		return n, true, nil
	}
	next, ok, err := num("Le_NextRenewTime")
	if err != nil {
		return nil, err
	}
	if ok {
		i.Next, i.NextRule = time.Unix(next, 0), "Le_NextRenewTime"
		return i, nil
	}
	days, hasDays, err := num("Le_RenewalDays")
	if err != nil {
		return nil, err
	}
	if !hasDays {
		days = acmeShDefaultDays
	}
	created, ok, err := num("Le_CertCreateTime")
	if err != nil {
		return nil, err
	}
	from, fromRule := cert.NotBefore, "the certificate's issue"
	if ok {
		from, fromRule = time.Unix(created, 0), "Le_CertCreateTime"
	}
	i.Next = from.Add(time.Duration(days) * 24 * time.Hour)
	i.NextRule = fmt.Sprintf("%d days after %s", days, fromRule)
	if hasDays {
		i.NextRule = fmt.Sprintf("Le_RenewalDays=%d after %s", days, fromRule)
	}
	return i, nil
}
