// Package renewal finds the ACME client that renews a certificate and reads
// what its next renewal will do: when it is due, and whether it makes a new
// private key. Predict turns that, and how a receiver lists the
// certificate, into a warning given before the renewal that would stop the
// relay's mail.
//
// Supported ACME clients, and what is read:
//   - certbot: CONFIG/renewal/NAME.conf (CONFIG is /etc/letsencrypt by
//     default) for the lineage NAME whose files are CONFIG/live/NAME/ (usually
//     symlinks into CONFIG/archive/NAME/). reuse_key = True keeps the key
//     (the default is False: a new key at every renewal);
//     renew_before_expiry ("30 days", "2 weeks", "1w 2d") says when the
//     renewal is due; unset, certbot before 4.0 renews 30 days before expiry
//     and certbot 4.0 and later with a third of the lifetime left (half of
//     it under 10 days), taken from the conf's version line. Certbot 4.1 and
//     later may renew earlier still when the CA publishes renewal
//     information (ARI): the date is the latest it happens.
//   - acme.sh: HOME/DOMAIN/DOMAIN.conf, or HOME/DOMAIN_ecc/DOMAIN.conf for an
//     ECDSA certificate (HOME is ~/.acme.sh, or --config-home). acme.sh keeps
//     the key unless Le_ForceNewDomainKey is 1 (--always-force-new-domain-key);
//     the renewal is due at Le_NextRenewTime, else Le_RenewalDays after
//     Le_CertCreateTime, else 60 days after the certificate's issue.
//
// Not supported (Find says so and Predict gives only a note): lego,
// dehydrated, getssl, uacme, OpenBSD's acme-client, Caddy, Traefik,
// cert-manager, win-acme, and any other client.
//
// A certificate is matched to a lineage by path (a file under
// CONFIG/live/NAME/ or CONFIG/archive/NAME/, under an acme.sh domain
// directory, or one of acme.sh's Le_Real*Path install targets) or, for a
// copy elsewhere (the chain file rollover installs for Postfix), by its
// content: the lineage's current certificate is the same certificate, or has
// the same public key.
//
// How a receiver lists the certificate comes from its table, or, for a
// receiver asked with lib/receiver (one run by someone else), from asking
// it about the certificate and its Twin (the same key in another
// certificate, as a renewal that keeps the key makes): ListingOf.
//
// It reads files only; it runs no ACME client and talks to no server.
package renewal

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/certfile"
)

// Client names an ACME client.
type Client string

// The supported clients.
const (
	Certbot Client = "certbot"
	AcmeSh  Client = "acme.sh"
)

// Unsupported lists the ACME clients Find does not read, for messages.
const Unsupported = "lego, dehydrated, getssl, uacme, acme-client, Caddy, Traefik, cert-manager, win-acme"

// Dirs says where the ACME clients keep their configuration.
type Dirs struct {
	// Certbot is certbot's configuration directory (--config-dir).
	Certbot string
	// AcmeSh are acme.sh's configuration homes (--config-home).
	AcmeSh []string
}

// DefaultDirs returns the clients' default directories: /etc/letsencrypt,
// and root's and $HOME's .acme.sh.
func DefaultDirs() Dirs {
	d := Dirs{Certbot: "/etc/letsencrypt", AcmeSh: []string{"/root/.acme.sh"}}
	if h := os.Getenv("HOME"); h != "" && h != "/root" {
		d.AcmeSh = append(d.AcmeSh, filepath.Join(h, ".acme.sh"))
	}
	return d
}

// Info is what the next renewal of a certificate will do.
type Info struct {
	Client Client
	// Name is certbot's lineage name, or acme.sh's main domain.
	Name string
	// Conf is the configuration file read.
	Conf string
	// ReuseKey is true when the renewal keeps the private key, so the
	// public-key fingerprint stays valid.
	ReuseKey bool
	// KeySetting is the setting that decides ReuseKey, as found:
	// "reuse_key = False", "reuse_key unset (certbot's default: a new key)".
	KeySetting string
	// Next is when the renewal is due (it happens at the client's first
	// scheduled run after it).
	Next time.Time
	// NextRule says how Next was found: "renew_before_expiry = 30 days".
	NextRule string
}

// KeepKey returns what to change so that the next renewal keeps the key.
func (i *Info) KeepKey() string {
	switch i.Client {
	case Certbot:
		return fmt.Sprintf("set reuse_key = True in %s (or certbot renew --cert-name %s --reuse-key)", i.Conf, i.Name)
	case AcmeSh:
		return fmt.Sprintf("remove Le_ForceNewDomainKey='1' from %s (issue without --always-force-new-domain-key)", i.Conf)
	}
	return ""
}

// ErrUnmanaged is returned by Find when no supported ACME client manages
// the certificate.
var ErrUnmanaged = errors.New("no supported ACME client (certbot, acme.sh) manages it")

// Find returns what the next renewal of cert, read from path, will do. A
// certificate no supported client manages is ErrUnmanaged (wrapped, saying
// where it looked); a configuration that matches but cannot be read is
// another error naming it. Neither is a problem of the relay: show them as
// notes.
func Find(dirs Dirs, path string, cert *x509.Certificate) (*Info, error) {
	var problems []error
	if dirs.Certbot != "" {
		info, err := findCertbot(dirs.Certbot, path, cert)
		if info != nil || err != nil && !errors.Is(err, errSkip) {
			return info, err
		}
		if errors.Is(err, errSkip) {
			problems = append(problems, err)
		}
	}
	for _, home := range dirs.AcmeSh {
		info, err := findAcmeSh(home, path, cert)
		if info != nil || err != nil && !errors.Is(err, errSkip) {
			return info, err
		}
		if errors.Is(err, errSkip) {
			problems = append(problems, err)
		}
	}
	where := []string{}
	if dirs.Certbot != "" {
		where = append(where, "certbot in "+dirs.Certbot)
	}
	for _, h := range dirs.AcmeSh {
		where = append(where, "acme.sh in "+h)
	}
	err := fmt.Errorf("%s: %w (looked for %s; not supported: %s)", path, ErrUnmanaged, strings.Join(where, ", "), Unsupported)
	if len(problems) > 0 {
		err = fmt.Errorf("%w; unreadable: %w", err, errors.Join(problems...))
	}
	return nil, err
}

// errSkip marks a configuration that could not be read while searching by
// content: the search goes on.
var errSkip = errors.New("skipped")

type skipped struct{ err error }

func (s skipped) Error() string        { return s.err.Error() }
func (s skipped) Is(target error) bool { return target == errSkip }
func (s skipped) Unwrap() error        { return s.err }

// realDir returns dir with its symlinks resolved, or dir when it cannot be.
func realDir(dir string) string {
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return r
	}
	return filepath.Clean(dir)
}

// under reports whether path (resolved) is inside one of dirs (resolved).
func under(path string, dirs ...string) bool {
	p := realDir(filepath.Dir(path))
	if r, err := filepath.EvalSymlinks(path); err == nil {
		p = filepath.Dir(r)
	}
	l := filepath.Clean(filepath.Dir(path))
	for _, d := range dirs {
		rd := realDir(d)
		if p == rd || l == filepath.Clean(d) {
			return true
		}
	}
	return false
}

// sameKey reports whether the certificate in file is cert or has its
// public key.
func sameKey(file string, cert *x509.Certificate) (bool, error) {
	certs, err := certfile.Read(file)
	if err != nil {
		return false, err
	}
	return bytes.Equal(certs[0].Raw, cert.Raw) || bytes.Equal(certs[0].RawSubjectPublicKeyInfo, cert.RawSubjectPublicKeyInfo), nil
}

// maxConf caps a configuration file read.
const maxConf = 1 << 20

// readConf reads a configuration file, refusing what is not a regular
// file or is too large.
func readConf(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() > maxConf {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxConf)
	}
	return os.ReadFile(path)
}

// lines calls fn with each line of data and its number, trailing "\r"
// removed.
func lines(data []byte, fn func(n int, line string) error) error {
	for i, l := range strings.Split(string(data), "\n") {
		if err := fn(i+1, strings.TrimSuffix(l, "\r")); err != nil {
			return err
		}
	}
	return nil
}

// sortedDir lists dir's entries by name; a missing dir has none.
func sortedDir(dir string) ([]fs.DirEntry, error) {
	e, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	slices.SortFunc(e, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return e, err
}

// dateOf formats t as the messages show it.
func dateOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// atoiOK parses a non-negative decimal number.
func atoiOK(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// readCerts reads a PEM certificate file.
var readCerts = certfile.Read
