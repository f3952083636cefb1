package renewal

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// issued is the day every fixture certificate was issued; each is valid
// for 90 days, as Let's Encrypt's.
var issued = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCert makes a self-signed certificate for cn with key, valid from
// notBefore for lifetime.
func newCert(t *testing.T, key crypto.Signer, cn string, notBefore time.Time, lifetime time.Duration) *x509.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: notBefore, NotAfter: notBefore.Add(lifetime)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeCert(t *testing.T, path string, c *x509.Certificate) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// world is fixtures/acme copied to a temp dir, with a certificate (and
// key) per certbot lineage and acme.sh domain.
type world struct {
	dirs  Dirs
	certs map[string]*x509.Certificate // by lineage or domain
	keys  map[string]crypto.Signer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	root := t.TempDir()
	w := &world{dirs: Dirs{Certbot: filepath.Join(root, "letsencrypt"), AcmeSh: []string{filepath.Join(root, "acme.sh")}},
		certs: map[string]*x509.Certificate{}, keys: map[string]crypto.Signer{}}
	src := filepath.Join("..", "..", "fixtures", "acme")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(root, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		data = []byte(strings.ReplaceAll(string(data), "@CONFIG@", w.dirs.Certbot))
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"reuse.example.org", "newkey.example.org", "v4.example.org", "badbool.example.org", "badinterval.example.org"} {
		w.keys[name] = newKey(t)
		w.certs[name] = newCert(t, w.keys[name], name, issued, 90*day)
		archive := filepath.Join(w.dirs.Certbot, "archive", name, "cert1.pem")
		writeCert(t, archive, w.certs[name])
		live := filepath.Join(w.dirs.Certbot, "live", name)
		if err := os.MkdirAll(live, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "archive", name, "cert1.pem"), filepath.Join(live, "cert.pem")); err != nil {
			t.Fatal(err)
		}
	}
	for dir, domain := range map[string]string{"mx.example.org": "mx.example.org", "ec.example.org_ecc": "ec.example.org", "bad.example.org": "bad.example.org"} {
		w.keys[domain] = newKey(t)
		w.certs[domain] = newCert(t, w.keys[domain], domain, issued, 90*day)
		writeCert(t, filepath.Join(w.dirs.AcmeSh[0], dir, domain+".cer"), w.certs[domain])
	}
	return w
}

func TestFind(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	elsewhere := t.TempDir()
	copyOf := func(name string) string { // the certificate copied out, as rollover installs it
		p := filepath.Join(elsewhere, name+".pem")
		writeCert(t, p, w.certs[name])
		return p
	}
	sameKeyOlder := func(name string) (string, *x509.Certificate) { // the previous certificate of the same key
		c := newCert(t, w.keys[name], name, issued.Add(-60*day), 90*day)
		p := filepath.Join(elsewhere, name+"-old.pem")
		writeCert(t, p, c)
		return p, c
	}
	oldV4, oldV4Cert := sameKeyOlder("v4.example.org")
	// newkey.example.org was renewed with a new key; the previous
	// certificate, the one Postfix presents while rollover waits, is in
	// the archive only.
	previous := newCert(t, newKey(t), "newkey.example.org", issued.Add(-60*day), 90*day)
	writeCert(t, filepath.Join(w.dirs.Certbot, "archive", "newkey.example.org", "cert0.pem"), previous)
	previousCopy := filepath.Join(elsewhere, "previous.pem")
	writeCert(t, previousCopy, previous)
	stranger := newCert(t, newKey(t), "stranger.example.org", issued, 90*day)
	le, sh := w.dirs.Certbot, w.dirs.AcmeSh[0]
	notAfter := issued.Add(90 * day)
	tests := []struct {
		name    string
		path    string
		cert    *x509.Certificate
		client  Client
		lineage string
		reuse   bool
		next    time.Time
		rule    string
		err     string // substring of the error; "" for none
		unknown bool   // the error is ErrUnmanaged
	}{
		{name: "certbot live path, reuse_key = True, default 30 days",
			path: filepath.Join(le, "live/reuse.example.org/cert.pem"), cert: w.certs["reuse.example.org"],
			client: Certbot, lineage: "reuse.example.org", reuse: true, next: notAfter.Add(-30 * day), rule: "certbot's default: 30 days before expiry"},
		{name: "certbot archive path",
			path: filepath.Join(le, "archive/reuse.example.org/cert1.pem"), cert: w.certs["reuse.example.org"],
			client: Certbot, lineage: "reuse.example.org", reuse: true, next: notAfter.Add(-30 * day), rule: "certbot's default: 30 days before expiry"},
		{name: "certbot copy elsewhere, reuse_key unset, renew_before_expiry = 2 weeks",
			path: copyOf("newkey.example.org"), cert: w.certs["newkey.example.org"],
			client: Certbot, lineage: "newkey.example.org", reuse: false, next: notAfter.Add(-14 * day), rule: "renew_before_expiry = 2 weeks"},
		{name: "certbot 4 default, older certificate of the same key: dates of the lineage's",
			path: oldV4, cert: oldV4Cert,
			client: Certbot, lineage: "v4.example.org", reuse: false, next: notAfter.Add(-30 * day), rule: "certbot 4.1.1's default: a third of the lifetime left"},
		{name: "certbot, a copy of the lineage's previous certificate (new key since)",
			path: previousCopy, cert: previous,
			client: Certbot, lineage: "newkey.example.org", reuse: false, next: notAfter.Add(-14 * day), rule: "renew_before_expiry = 2 weeks"},
		{name: "certbot reuse_key not a boolean",
			path: filepath.Join(le, "live/badbool.example.org/cert.pem"), cert: w.certs["badbool.example.org"],
			err: `badbool.example.org.conf:6: reuse_key = "maybe": expected True or False`},
		{name: "certbot renew_before_expiry with an unknown unit",
			path: filepath.Join(le, "live/badinterval.example.org/cert.pem"), cert: w.certs["badinterval.example.org"],
			err: `badinterval.example.org.conf:1: renew_before_expiry = "3 fortnights": unknown unit "fortnights"`},
		{name: "acme.sh domain dir, key kept by default, Le_NextRenewTime",
			path: filepath.Join(sh, "mx.example.org/mx.example.org.cer"), cert: w.certs["mx.example.org"],
			client: AcmeSh, lineage: "mx.example.org", reuse: true, next: time.Unix(1769904000, 0), rule: "Le_NextRenewTime"},
		{name: "acme.sh install target Le_RealKeyPath",
			path: "/etc/postfix/acme-installed.key", cert: w.certs["mx.example.org"],
			client: AcmeSh, lineage: "mx.example.org", reuse: true, next: time.Unix(1769904000, 0), rule: "Le_NextRenewTime"},
		{name: "acme.sh _ecc copy elsewhere, Le_ForceNewDomainKey, Le_RenewalDays",
			path: copyOf("ec.example.org"), cert: w.certs["ec.example.org"],
			client: AcmeSh, lineage: "ec.example.org", reuse: false, next: time.Unix(1764806400, 0).Add(30 * day), rule: "Le_RenewalDays=30 after Le_CertCreateTime"},
		{name: "acme.sh Le_NextRenewTime not a number",
			path: filepath.Join(sh, "bad.example.org/bad.example.org.cer"), cert: w.certs["bad.example.org"],
			err: `bad.example.org.conf:2: Le_NextRenewTime="soon": expected a number`},
		{name: "no client manages it",
			path: filepath.Join(elsewhere, "stranger.pem"), cert: stranger,
			err: "not supported: lego", unknown: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, err := Find(w.dirs, tc.path, tc.cert)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Find(%s) error = %v, want one containing %q", tc.path, err, tc.err)
				}
				if got := errors.Is(err, ErrUnmanaged); got != tc.unknown {
					t.Errorf("errors.Is(err, ErrUnmanaged) = %v, want %v (%v)", got, tc.unknown, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Find(%s): %v", tc.path, err)
			}
			if info.Client != tc.client || info.Name != tc.lineage || info.ReuseKey != tc.reuse || !info.Next.Equal(tc.next) || info.NextRule != tc.rule {
				t.Errorf("Find(%s) = %s %s reuse %v next %v (%s), want %s %s reuse %v next %v (%s)", tc.path,
					info.Client, info.Name, info.ReuseKey, info.Next.UTC(), info.NextRule, tc.client, tc.lineage, tc.reuse, tc.next.UTC(), tc.rule)
			}
			if !strings.HasSuffix(info.Conf, tc.lineage+".conf") {
				t.Errorf("Conf = %s, want the %s conf", info.Conf, tc.lineage)
			}
		})
	}
}

func TestParseInterval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30 days", 30 * day, false},
		{"30", 30 * day, false},
		{"2 weeks", 14 * day, false},
		{"1w 2d", 9 * day, false},
		{"1 week, 2 days", 9 * day, false},
		{"12 hours", 12 * time.Hour, false},
		{"45 DAYS", 45 * day, false},
		{"", 0, true},
		{"days", 0, true},
		{"3 fortnights", 0, true},
		{"2147483647 weeks", 0, true},
		{"36500 days 36500 days", 0, true},
	} {
		got, err := parseInterval(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseInterval(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// Certbot reads reuse_key from [renewalparams] only, renew_before_expiry
// from the top level only, and takes only True or False: a setting
// elsewhere changes nothing in what certbot does, and so nothing in the
// prediction (a reuse_key = True at the top level still makes a new key).
func TestCertbotSections(t *testing.T) {
	const day = 24 * time.Hour
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cert := newCert(t, newKey(t), "mx.example.org", issued, 90*day)
	notAfter := issued.Add(90 * day)
	tests := []struct {
		name  string
		conf  string
		reuse bool
		next  time.Time
		err   string
	}{
		{"reuse_key in [renewalparams]", "version = 2.1.0\n[renewalparams]\nreuse_key = True\n", true, notAfter.Add(-30 * day), ""},
		{"reuse_key at the top level: ignored by certbot", "version = 2.1.0\nreuse_key = True\n[renewalparams]\nkey_type = ecdsa\n", false, notAfter.Add(-30 * day), ""},
		{"reuse_key in a subsection: ignored by certbot", "version = 2.1.0\n[renewalparams]\nkey_type = ecdsa\n[[webroot_map]]\nreuse_key = True\n", false, notAfter.Add(-30 * day), ""},
		{"renew_before_expiry in [renewalparams]: ignored by certbot", "version = 2.1.0\n[renewalparams]\nrenew_before_expiry = 5 days\nreuse_key = False\n", false, notAfter.Add(-30 * day), ""},
		{"inline comments", "renew_before_expiry = 10 days # shorter\n[renewalparams] # params\nreuse_key = True # keep it\n", true, notAfter.Add(-10 * day), ""},
		{"reuse_key = yes: certbot refuses it", "[renewalparams]\nreuse_key = yes\n", false, time.Time{}, `:2: reuse_key = "yes": expected True or False`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCertbot("/etc/letsencrypt/renewal/mx.example.org.conf", []byte(tc.conf))
			if err != nil {
				t.Fatal(err)
			}
			c.cert = "/nonexistent/cert.pem"
			info, err := c.info("mx.example.org", cert)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.ReuseKey != tc.reuse || !info.Next.Equal(tc.next) {
				t.Errorf("reuse %v, next %s (%s); want %v, %s", info.ReuseKey, info.Next, info.NextRule, tc.reuse, tc.next)
			}
		})
	}
}
