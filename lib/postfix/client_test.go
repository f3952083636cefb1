package postfix

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
)

// masterM and masterP are postconf -M and -P outputs of a relay: a
// default smtp, a relay service with its own certificate, an lmtp service,
// a service whose overrides leave the certificates alone, and an smtpd.
const masterM = `smtp       inet  n       -       y       -       -       smtpd
smtp       unix  -       -       y       -       -       smtp
relay      unix  -       -       y       -       -       smtp -o syslog_name=postfix/$service_name
out2       unix  -       -       n       -       -       smtp -o smtp_tls_chain_files=$out2_chain -o {smtp_tls_cert_file = /x y.pem}
lmtp       unix  -       -       y       -       -       lmtp
dovecot    unix  -       -       n       -       -       /usr/lib/postfix/sbin/lmtp -o lmtp_tls_cert_file=/l.pem
none       unix  -       -       n       -       -       smtp -o smtp_tls_security_level=none
maildrop   unix  -       n       n       -       -       pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
`

const masterP = `relay/unix/syslog_name = postfix/$service_name
out2/unix/smtp_tls_chain_files = $out2_chain
out2/unix/smtp_tls_cert_file = /x y.pem
dovecot/unix/lmtp_tls_cert_file = /l.pem
none/unix/smtp_tls_security_level = none
`

func TestParseServices(t *testing.T) {
	t.Parallel()
	got, err := parseServices(masterM, masterP)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range got {
		lines = append(lines, strings.TrimSpace(s.String()+" "+s.Command+" "+fmtOverrides(s.Overrides)))
	}
	want := []string{
		"smtp/inet smtpd", "smtp/unix smtp", "relay/unix smtp syslog_name=postfix/$service_name",
		"out2/unix smtp smtp_tls_chain_files=$out2_chain|smtp_tls_cert_file=/x y.pem", "lmtp/unix lmtp",
		"dovecot/unix lmtp lmtp_tls_cert_file=/l.pem", "none/unix smtp smtp_tls_security_level=none", "maildrop/unix pipe",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("parseServices =\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	for _, tc := range []struct{ name, m, p, err string }{
		{"short -M line", "smtp inet n - y - -\n", "", "postconf -M: output line 1: expected"},
		{"-P without value", masterM, "relay/unix/syslog_name\n", "postconf -P: output line 1: expected"},
		{"-P of an unknown service", masterM, "ghost/unix/x = y\n", "service ghost/unix is not in postconf -M's output"},
	} {
		if _, err := parseServices(tc.m, tc.p); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error = %v, want one containing %q", tc.name, err, tc.err)
		}
	}
}

func fmtOverrides(o []Override) string {
	var s []string
	for _, x := range o {
		s = append(s, x.String())
	}
	return strings.Join(s, "|")
}

// TestClientCertsFromFixtures: the grouping of services and the reading of
// each client's parameters, with eval standing in for postconf -x -o.
func TestClientCertsFromFixtures(t *testing.T) {
	t.Parallel()
	svcs, err := parseServices(masterM, masterP)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		main map[string]string // main.cf values, as postconf -x prints them
		want []ClientTLS
	}{
		{"chain files with several pairs win over the legacy files",
			map[string]string{
				"smtp_tls_security_level": "may", "smtp_tls_chain_files": "/etc/rsa.pem, /etc/ec.key /etc/ec.crt",
				"smtp_tls_cert_file": "/ignored.pem", "smtp_tls_key_file": "/ignored.pem", "out2_chain": "/o2.pem",
				"lmtp_tls_security_level": "", "lmtp_use_tls": "yes",
			},
			[]ClientTLS{
				{Command: "smtp", Services: []string{"smtp/unix", "relay/unix"}, SecurityLevel: "may", ChainFiles: []string{"/etc/rsa.pem", "/etc/ec.key", "/etc/ec.crt"}},
				{Command: "lmtp", Services: []string{"lmtp/unix"}, SecurityLevel: "may"},
				{Command: "smtp", Services: []string{"out2/unix"}, Overrides: svcs[3].Overrides, SecurityLevel: "may", ChainFiles: []string{"/o2.pem"}},
				{Command: "lmtp", Services: []string{"dovecot/unix"}, Overrides: svcs[5].Overrides, SecurityLevel: "may",
					Pairs: []CertKey{{"lmtp_tls_cert_file", "/l.pem", "lmtp_tls_key_file", "/l.pem"}}},
				{Command: "smtp", Services: []string{"none/unix"}, Overrides: svcs[6].Overrides, SecurityLevel: "none", ChainFiles: []string{"/etc/rsa.pem", "/etc/ec.key", "/etc/ec.crt"}},
			}},
		{"legacy pairs; key files default to the certificate file; empty values; legacy levels",
			map[string]string{
				"smtp_tls_security_level": "", "smtp_enforce_tls": "yes", "smtp_tls_chain_files": "",
				"smtp_tls_cert_file": "/rsa.crt", "smtp_tls_key_file": "/rsa.key", "smtp_tls_dcert_file": "",
				"smtp_tls_dkey_file": "", "smtp_tls_eccert_file": "/ec.pem", "smtp_tls_eckey_file": "/ec.pem",
				"out2_chain": "",
			},
			[]ClientTLS{
				{Command: "smtp", Services: []string{"smtp/unix", "relay/unix"}, SecurityLevel: "encrypt", Pairs: []CertKey{
					{"smtp_tls_cert_file", "/rsa.crt", "smtp_tls_key_file", "/rsa.key"}, {"smtp_tls_eccert_file", "/ec.pem", "smtp_tls_eckey_file", "/ec.pem"}}},
				{Command: "lmtp", Services: []string{"lmtp/unix"}, SecurityLevel: "none"},
				{Command: "smtp", Services: []string{"out2/unix"}, Overrides: svcs[3].Overrides, SecurityLevel: "encrypt", Pairs: []CertKey{
					{"smtp_tls_cert_file", "/x y.pem", "smtp_tls_key_file", "/rsa.key"}, {"smtp_tls_eccert_file", "/ec.pem", "smtp_tls_eckey_file", "/ec.pem"}}},
				{Command: "lmtp", Services: []string{"dovecot/unix"}, Overrides: svcs[5].Overrides, SecurityLevel: "none",
					Pairs: []CertKey{{"lmtp_tls_cert_file", "/l.pem", "lmtp_tls_key_file", "/l.pem"}}},
				{Command: "smtp", Services: []string{"none/unix"}, Overrides: svcs[6].Overrides, SecurityLevel: "none", Pairs: []CertKey{
					{"smtp_tls_cert_file", "/rsa.crt", "smtp_tls_key_file", "/rsa.key"}, {"smtp_tls_eccert_file", "/ec.pem", "smtp_tls_eckey_file", "/ec.pem"}}},
			}},
		{"no client certificate at all", map[string]string{"smtp_tls_security_level": "may"},
			[]ClientTLS{
				{Command: "smtp", Services: []string{"smtp/unix", "relay/unix"}, SecurityLevel: "may"},
				{Command: "lmtp", Services: []string{"lmtp/unix"}, SecurityLevel: "none"},
				{Command: "smtp", Services: []string{"out2/unix"}, Overrides: svcs[3].Overrides, SecurityLevel: "may", Pairs: []CertKey{{"smtp_tls_cert_file", "/x y.pem", "smtp_tls_key_file", "/x y.pem"}}},
				{Command: "lmtp", Services: []string{"dovecot/unix"}, Overrides: svcs[5].Overrides, SecurityLevel: "none", Pairs: []CertKey{{"lmtp_tls_cert_file", "/l.pem", "lmtp_tls_key_file", "/l.pem"}}},
				{Command: "smtp", Services: []string{"none/unix"}, Overrides: svcs[6].Overrides, SecurityLevel: "none"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := clientCerts(svcs, fakeEval(tc.main))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("clientCerts =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
	if got, _ := clientCerts(svcs, fakeEval(map[string]string{"smtp_tls_cert_file": "/a.pem"})); got[0].None() || !got[1].None() {
		t.Errorf("None() of %+v / %+v: want false / true", got[0], got[1])
	}
}

// fakeEval models postconf -x -o: overrides replace main.cf values, a key
// file defaults to "$cert_file" of the same kind (evaluated after the
// overrides, as in the daemon), and "$name" values are expanded once.
func fakeEval(main map[string]string) func(string, []Override) (map[string]string, error) {
	return func(cmd string, o []Override) (map[string]string, error) {
		v := map[string]string{}
		for k, x := range main {
			v[k] = x
		}
		for _, kind := range [][2]string{{"cert_file", "key_file"}, {"dcert_file", "dkey_file"}, {"eccert_file", "eckey_file"}} {
			if _, ok := v[cmd+"_tls_"+kind[1]]; !ok {
				v[cmd+"_tls_"+kind[1]] = "$" + cmd + "_tls_" + kind[0]
			}
		}
		for _, x := range o {
			v[x.Name] = x.Value
		}
		for k, x := range v {
			if strings.HasPrefix(x, "$") {
				v[k] = v[x[1:]]
			}
		}
		return v, nil
	}
}

// TestClientCertsReal asks the real postconf about a relay's config
// directory and reads the files it names: a dual RSA+ECDSA chain file for
// the default client, a legacy pair for one service, and none for another.
func TestClientCertsReal(t *testing.T) {
	t.Parallel()
	postfixtest.Require(t, "postconf")
	dir := t.TempDir()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	r := postfixtest.NewClientCert(t, dir, "relay-rsa", rsaKey, time.Time{})
	e := postfixtest.NewClientCert(t, dir, "relay-ec", nil, time.Time{})
	other := postfixtest.NewClientCert(t, dir, "other", nil, time.Time{})
	chain := filepath.Join(dir, "chain.pem")
	if err := os.WriteFile(chain, bytes.Join([][]byte{r.KeyPEM, r.CertPEM, e.KeyPEM, e.CertPEM}, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	combined := filepath.Join(dir, "combined.pem")
	if err := os.WriteFile(combined, bytes.Join([][]byte{e.CertPEM, e.KeyPEM}, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	mainCf := "compatibility_level = 3.6\nmyhostname = relay.example\nsmtp_tls_security_level = encrypt\n" +
		"relay_chain = " + chain + "\nsmtp_tls_chain_files = $relay_chain\n" +
		"other_cert = " + other.CertFile + "\n"
	masterCf := "smtp inet n - y - - smtpd\n" +
		"smtp unix - - y - - smtp\n" +
		"relay unix - - y - - smtp\n  -o syslog_name=postfix/$service_name\n" +
		"legacy unix - - y - - smtp\n  -o smtp_tls_chain_files=\n  -o smtp_tls_cert_file=$other_cert\n  -o { smtp_tls_key_file = " + other.KeyFile + " }\n" +
		"bare unix - - y - - smtp -o smtp_tls_chain_files=\n" +
		"follow unix - - y - - smtp -o smtp_tls_chain_files= -o smtp_tls_cert_file=" + combined + "\n"
	writeConfig(t, dir, mainCf, masterCf)
	got, err := ClientCerts(t.Context(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, c := range got {
		leaves, err := c.Load()
		if err != nil {
			t.Fatalf("%s: Load: %v", c.Origin(), err)
		}
		var cns []string
		for _, l := range leaves {
			if l.Key == nil {
				t.Errorf("%s: leaf %s without its key", c.Origin(), l.Source)
			}
			cns = append(cns, l.Cert().Subject.CommonName)
		}
		summary = append(summary, c.Origin()+" "+strings.Join(c.Services, ",")+" "+c.SecurityLevel+": "+strings.Join(cns, ","))
	}
	want := []string{
		"main.cf (smtp) smtp/unix,relay/unix encrypt: relay-rsa,relay-ec",
		"master.cf service legacy/unix legacy/unix encrypt: other",
		"master.cf service bare/unix bare/unix encrypt: ",
		"master.cf service follow/unix follow/unix encrypt: relay-ec", // smtp_tls_key_file = $smtp_tls_cert_file follows the override
	}
	if strings.Join(summary, "\n") != strings.Join(want, "\n") {
		t.Errorf("ClientCerts, loaded =\n%s\nwant\n%s", strings.Join(summary, "\n"), strings.Join(want, "\n"))
	}
}

// writeConfig writes main.cf and master.cf (when not empty) into dir,
// dated an hour ago: Postfix waits, 300 ms at a time, for a
// configuration file modified within the last second to settle.
func writeConfig(t *testing.T, dir, mainCf, masterCf string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for name, content := range map[string]string{"main.cf": mainCf, "master.cf": masterCf} {
		if content == "" && name == "master.cf" {
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMarkCarriers: the transports of main.cf name the client that relayed
// mail takes, unless transport maps may route it elsewhere.
func TestMarkCarriers(t *testing.T) {
	t.Parallel()
	mk := func() []ClientTLS {
		return []ClientTLS{{Command: "smtp", Services: []string{"smtp/unix", "relay/unix"}}, {Command: "smtp", Services: []string{"certs/unix"}}}
	}
	c := mk()
	markCarriers(c, map[string]string{"default_transport": "smtp", "relay_transport": "relay:[mx.example]:25"})
	if got := strings.Join(c[0].Carries, "|"); got != "default_transport = smtp|relay_transport = relay:[mx.example]:25" || c[1].Carries != nil {
		t.Errorf("Carries = %q, %q; want both transports on the first client only", c[0].Carries, c[1].Carries)
	}
	c = mk()
	markCarriers(c, map[string]string{"default_transport": "smtp", "transport_maps": "hash:/etc/postfix/transport"})
	if c[0].Carries != nil || c[1].Carries != nil {
		t.Errorf("with transport_maps: Carries = %q, %q; want none", c[0].Carries, c[1].Carries)
	}
}
