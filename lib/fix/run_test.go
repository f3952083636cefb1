package fix

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testcert"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/remedy"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	ca := testcert.New(t, testcert.Spec{CN: "fix test CA", CA: true, Serial: big.NewInt(1), NotAfter: time.Now().Add(365 * 24 * time.Hour)})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Leaf)
	return &testCA{ca.Leaf, ca.PrivateKey.(crypto.Signer), pool}
}

// leaf describes a certificate for testCA.issue.
type leaf struct {
	dns      []string
	ips      []net.IP
	eku      []x509.ExtKeyUsage // nil: no extension at all
	rsa      bool               // an RSA key instead of ECDSA P-256
	notAfter time.Time          // zero: 90 days from now
}

func (ca *testCA) issue(t *testing.T, l leaf) *x509.Certificate {
	t.Helper()
	var key crypto.Signer
	if l.rsa {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	}
	if l.notAfter.IsZero() {
		l.notAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	cn := ""
	if len(l.dns) > 0 {
		cn = l.dns[0]
	}
	parent := tls.Certificate{Leaf: ca.cert, PrivateKey: ca.key}
	return testcert.New(t, testcert.Spec{CN: cn, DNS: l.dns, IPs: l.ips, Key: key, NotAfter: l.notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, EKU: l.eku, NoEKU: l.eku == nil, Parent: &parent}).Leaf
}

var tlsEKU = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}

// TestVerify: the trust gate of the fix. The name is the relay's, never
// the certificate's; the chain must reach the given roots; the
// certificate must be valid now and allowed for TLS.
func TestVerify(t *testing.T) {
	t.Parallel()
	ca, other := newCA(t), newCA(t)
	cliff := ca.issue(t, leaf{dns: []string{"cliff.example.org"}, ips: []net.IP{net.IPv4(127, 0, 0, 1)}, eku: tlsEKU})
	for _, tc := range []struct {
		name  string
		cert  *x509.Certificate
		host  string
		roots *x509.CertPool
		want  string // "" verifies; else a part of the error
	}{
		{"its name", cliff, "cliff.example.org", ca.pool, ""},
		{"its name, other case", cliff, "CLIFF.example.org", ca.pool, ""},
		{"its IP address", cliff, "127.0.0.1", ca.pool, ""},
		{"another name", cliff, "mallory.example.org", ca.pool, "not trusted"},
		{"another IP address", cliff, "127.0.0.2", ca.pool, "not trusted"},
		{"a parent domain", cliff, "example.org", ca.pool, "not trusted"},
		{"another CA", cliff, "cliff.example.org", other.pool, "unknown authority"},
		{"expired", ca.issue(t, leaf{dns: []string{"cliff.example.org"}, eku: tlsEKU, notAfter: time.Now().Add(-time.Minute)}),
			"cliff.example.org", ca.pool, "expired"},
		{"server auth only", ca.issue(t, leaf{dns: []string{"cliff.example.org"}, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}),
			"cliff.example.org", ca.pool, ""},
		{"client auth only", ca.issue(t, leaf{dns: []string{"cliff.example.org"}, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}),
			"cliff.example.org", ca.pool, ""},
		{"no extended key usage", ca.issue(t, leaf{dns: []string{"cliff.example.org"}}), "cliff.example.org", ca.pool, ""},
		// Issue 13 item 3: ExtKeyUsageAny let a certificate made for mail
		// signing (S/MIME) through.
		{"email protection only", ca.issue(t, leaf{dns: []string{"cliff.example.org"}, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}),
			"cliff.example.org", ca.pool, "key usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify([]*x509.Certificate{tc.cert}, tc.host, tc.roots, time.Now())
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Verify(%s) = %v, want nil", tc.host, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Verify(%s) = %v, want an error with %q", tc.host, err, tc.want)
			}
		})
	}
	if err := Verify(nil, "cliff.example.org", ca.pool, time.Now()); err == nil {
		t.Error("Verify(no chain) = nil, want an error")
	}
}

// fakePostfix records the hooks' calls and fails them on demand.
type fakePostfix struct {
	calls               []string
	postmapErr, reloadE error
	stale               bool
}

func (f *fakePostfix) hooks() Hooks {
	return Hooks{
		Update: func(ctx context.Context, path string, backup bool, after func(bool) error, edit func([]byte) ([]byte, error)) (string, error) {
			r, err := remedy.Update(ctx, path, remedy.Options{Backup: backup, After: after}, edit)
			return r.Backup, err
		},
		Stale: func(table.Spec) bool { return f.stale },
		Postmap: func(_ context.Context, s table.Spec) error {
			f.calls = append(f.calls, "postmap "+s.String())
			return f.postmapErr
		},
		Reload: func(context.Context) error { f.calls = append(f.calls, "reload"); return f.reloadE },
	}
}

// receiver writes content as a table of type typ and reads it.
func receiver(t *testing.T, dir, name, typ, content string, group int) check.Receiver {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := table.ParseSpec(typ + ":" + path)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := table.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return check.Receiver{Spec: spec, Table: tbl, Group: group}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRunTrust: Run verifies each certificate for the name of the relay
// that presented it (issue 13 item 18: the hostname check of the fix, fast).
func TestRunTrust(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	cliff := ca.issue(t, leaf{dns: []string{"cliff.example.org"}, eku: tlsEKU})
	smime := ca.issue(t, leaf{dns: []string{"cliff.example.org"}, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}})
	relay := func(name string, c *x509.Certificate) Relay {
		return Relay{Name: name, Label: name, Certs: []Cert{{Where: name + " 192.0.2.1:25", Chain: []*x509.Certificate{c}, Proven: true}}, Complete: true}
	}
	for _, tc := range []struct {
		name    string
		relay   Relay
		any     bool
		refused string // "" when written; else a part of the refusal
	}{
		{"valid for the relay's name", relay("cliff.example.org", cliff), false, ""},
		{"valid for another name", relay("mallory.example.org", cliff), false, "mallory.example.org 192.0.2.1:25: certificate of mallory.example.org not trusted"},
		{"valid for another name; trust any", relay("mallory.example.org", cliff), true, ""},
		{"not for TLS", relay("cliff.example.org", smime), false, "key usage"},
		{"not proven by a handshake", Relay{Name: "cliff.example.org", Label: "cliff.example.org",
			Certs: []Cert{{Where: "cliff", Chain: []*x509.Certificate{cliff}}}, Complete: true}, true, "did not complete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			rc := receiver(t, dir, "relay_clientcerts", "texthash", "# relays\n", 0)
			f := &fakePostfix{}
			rep := Run(context.Background(), Request{Relays: []Relay{tc.relay}, Receivers: []check.Receiver{rc}, Config: any256,
				TrustAny: tc.any, Roots: ca.pool, Mode: Write, Hooks: f.hooks()})
			tr := rep.Tables[0]
			got := read(t, rc.Spec.Path)
			if tc.refused == "" {
				if tr.Refused != nil || tr.Err != nil || !tr.Changed || !strings.Contains(got, pk(tc.relay.Certs[0].Leaf())) {
					t.Errorf("refused %v, err %v, changed %v, table %q: want the key written", tr.Refused, tr.Err, tr.Changed, got)
				}
				return
			}
			var ue *UntrustedError
			if !errors.As(tr.Refused, &ue) || !strings.Contains(tr.Refused.Error(), tc.refused) {
				t.Errorf("Refused = %v, want an *UntrustedError with %q", tr.Refused, tc.refused)
			}
			if tr.Changed || got != "# relays\n" || tr.Err != nil {
				t.Errorf("refused, yet changed %v, err %v, table %q", tr.Changed, tr.Err, got)
			}
		})
	}
}

// TestRunTrustPerRelay: Run asks trust of each relay and certificate pair,
// whichever order the relays come in: a certificate verified for a is
// still not trusted for b, and the other way round.
func TestRunTrustPerRelay(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	a := ca.issue(t, leaf{dns: []string{"a.example.org"}, eku: tlsEKU})
	realB, oldA := strings.Repeat("B0:", 31)+"B0", strings.Repeat("A0:", 31)+"A0"
	relayA := Relay{Name: "a.example.org", Label: "a.example.org", Certs: []Cert{{Where: "a", Chain: []*x509.Certificate{a}, Proven: true}}, Complete: true}
	relayB := Relay{Name: "b.example.org", Label: "b.example.org", Certs: []Cert{{Where: "b", Chain: []*x509.Certificate{a}, Proven: true}}, Complete: true}
	content := realB + " b.example.org\n" + oldA + " a.example.org\n"
	want := realB + " b.example.org\n" + pk(a) + " a.example.org\n"
	for _, relays := range [][]Relay{{relayA, relayB}, {relayB, relayA}} {
		rc := receiver(t, t.TempDir(), "T", "texthash", content, 0)
		tr := Run(context.Background(), Request{Relays: relays, Receivers: []check.Receiver{rc}, Config: any256, Roots: ca.pool,
			Mode: Write, Hooks: (&fakePostfix{}).hooks()}).Tables[0]
		if got := read(t, rc.Spec.Path); got != want || tr.Refused != nil || tr.Err != nil {
			t.Errorf("relays %s, %s: table %q, want %q (refused %v, err %v)", relays[0].Name, relays[1].Name, got, want, tr.Refused, tr.Err)
		}
	}
}

// TestPlanTrustPerRelay: trust is per relay name and certificate, never
// per fingerprint across the run (issue 13 items 3 and 14).
func TestPlanTrustPerRelay(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	a := ca.issue(t, leaf{dns: []string{"a.example.org"}, eku: tlsEKU})
	m := ca.issue(t, leaf{dns: []string{"m.example.org"}, eku: tlsEKU})
	victimNamed := ca.issue(t, leaf{dns: []string{"a.example.org", "victim.example.org"}, eku: tlsEKU})
	oldA, realB, realM2, oldVictim := strings.Repeat("A0:", 31)+"A0", strings.Repeat("B0:", 31)+"B0", strings.Repeat("C0:", 31)+"C0", strings.Repeat("D0:", 31)+"D0"
	cert := func(where string, c *x509.Certificate) Cert {
		return Cert{Where: where, Chain: []*x509.Certificate{c}, Proven: true}
	}
	opts := Options{Config: any256, Trust: func(r Relay, c Cert) error { return Verify(c.Chain, r.Name, ca.pool, time.Now()) }}
	for _, tc := range []struct {
		name   string
		table  string
		relays []Relay
		want   string
		refuse bool // some change is refused
	}{
		{"b presents a's certificate: b's entry stays",
			realB + " b.example.org\n" + oldA + " a.example.org\n",
			[]Relay{
				{Name: "b.example.org", Label: "b.example.org", Certs: []Cert{cert("b", a)}, Complete: true},
				{Name: "a.example.org", Label: "a.example.org", Certs: []Cert{cert("a", a)}, Complete: true},
			},
			realB + " b.example.org\n" + pk(a) + " a.example.org\n", false},
		{"b presents a's certificate, a not in the run: refused",
			realB + " b.example.org\n" + oldA + " a.example.org\n",
			[]Relay{{Name: "b.example.org", Label: "b.example.org", Certs: []Cert{cert("b", a)}, Complete: true}},
			"", true},
		{"one name, its second address presents a's certificate: its entries stay",
			pk(m) + " m.example.org\n" + realM2 + " m.example.org\n" + oldA + " a.example.org\n",
			[]Relay{
				{Name: "m.example.org", Label: "m.example.org", Certs: []Cert{cert("m 1", m), cert("m 2", a)}, Complete: true},
				{Name: "a.example.org", Label: "a.example.org", Certs: []Cert{cert("a", a)}, Complete: true},
			},
			pk(m) + " m.example.org\n" + realM2 + " m.example.org\n" + pk(a) + " a.example.org\n", false},
		// m's second address presents a certificate that names victim and
		// is not valid for m: its names must not mark victim's entry as
		// m's, for m's own new certificate to replace.
		{"an unverified certificate lends no names",
			oldVictim + " victim.example.org\n" + realM2 + " m.example.org\n",
			[]Relay{{Name: "m.example.org", Label: "m.example.org", Certs: []Cert{cert("m 1", m), cert("m 2", victimNamed)}, Complete: true}},
			"", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl, err := table.Parse("relay_clientcerts", []byte(tc.table))
			if err != nil {
				t.Fatal(err)
			}
			changes := Plan(tbl, tc.relays, opts)
			for _, c := range changes {
				if c.Refused == nil && (c.OldKey == realB || c.OldKey == oldVictim) {
					t.Errorf("Plan: %v, want the entry of another relay left alone", c)
				}
			}
			if refused := Refused(changes); (refused != nil) != tc.refuse {
				t.Fatalf("Plan: refused %v, want refused %v (changes %v)", refused, tc.refuse, changes)
			}
			if tc.refuse {
				return
			}
			if err := Apply(tbl, changes); err != nil {
				t.Fatal(err)
			}
			if got := string(tbl.Bytes()); got != tc.want {
				t.Errorf("after %v:\ngot  %q\nwant %q", changes, got, tc.want)
			}
		})
	}
}

// TestPlanSeveralCertificates: a relay serving an ECDSA and an RSA
// certificate (issue 14 item 4). The table lists [ECDSA, old RSA]; the RSA
// certificate is renewed. The ECDSA line must stay: the relay's client
// may be presenting it. Regression (reported): the ECDSA line was replaced
// and mail stopped with 454.
func TestPlanSeveralCertificates(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	ecdsaCert := ca.issue(t, leaf{dns: []string{"cliff.example.org"}, eku: tlsEKU})
	oldRSA := ca.issue(t, leaf{dns: []string{"cliff.example.org"}, eku: tlsEKU, rsa: true})
	newRSA := ca.issue(t, leaf{dns: []string{"cliff.example.org"}, eku: tlsEKU, rsa: true})
	client := ca.issue(t, leaf{dns: []string{"cliff.example.org"}, eku: tlsEKU})
	tbl := pk(ecdsaCert) + " cliff.example.org\n" + pk(oldRSA) + " cliff.example.org\n"
	cert := func(where string, c *x509.Certificate) Cert {
		return Cert{Where: where, Chain: []*x509.Certificate{c}, Proven: true}
	}
	for _, tc := range []struct {
		name  string
		relay Relay
		want  string
	}{
		{"both key types seen: the old RSA line replaced",
			Relay{Label: "cliff.example.org", Certs: []Cert{cert("ECDSA", ecdsaCert), cert("RSA", newRSA)}, Complete: true},
			pk(ecdsaCert) + " cliff.example.org\n" + pk(newRSA) + " cliff.example.org\n"},
		{"both seen at two addresses each, and a client certificate",
			Relay{Label: "cliff.example.org", Certs: []Cert{cert("1 ECDSA", ecdsaCert), cert("1 RSA", newRSA),
				cert("2 ECDSA", ecdsaCert), cert("2 RSA", newRSA), cert("client", client)}, Complete: true},
			pk(ecdsaCert) + " cliff.example.org\n" + pk(newRSA) + " cliff.example.org\n" + pk(client) + " cliff.example.org\n"},
		{"only the RSA certificate could be seen: only added",
			Relay{Label: "cliff.example.org", Certs: []Cert{cert("RSA", newRSA)}, Complete: false},
			tbl + pk(newRSA) + " cliff.example.org\n"},
		{"the old RSA one still served by another address: only added",
			Relay{Label: "cliff.example.org", Certs: []Cert{cert("1 ECDSA", ecdsaCert), cert("1 RSA", newRSA), cert("2 RSA", oldRSA)}, Complete: true},
			tbl + pk(newRSA) + " cliff.example.org\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := table.Parse("relay_clientcerts", []byte(tbl))
			if err != nil {
				t.Fatal(err)
			}
			changes := Plan(tb, []Relay{tc.relay}, Options{Config: any256})
			if err := Apply(tb, changes); err != nil {
				t.Fatal(err)
			}
			if got := string(tb.Bytes()); got != tc.want {
				t.Errorf("after %v:\ngot  %q\nwant %q", changes, got, tc.want)
			}
		})
	}
}

// TestRunWrite: the list rule, postmap and reload under the lock, and what
// the report says of each.
func TestRunWrite(t *testing.T) {
	t.Parallel()
	cliff := newCert(t, "cliff.example.org", nil)
	oldCliff := newCert(t, "cliff.example.org", nil)
	relays := []Relay{{Name: "cliff.example.org", Label: "cliff.example.org", Certs: certs(cliff), Complete: true}}
	stale := "# relays\n" + pk(oldCliff) + " cliff.example.org\n"
	fixed := "# relays\n" + pk(cliff) + " cliff.example.org\n"

	for _, tc := range []struct {
		name         string
		req          Request
		f            fakePostfix
		want         string
		calls        string
		postmap      Step
		reload       Step
		changed, err bool
	}{
		{"replaced; postmap and reload", Request{Reload: true}, fakePostfix{}, fixed, "postmap hash:T|reload", Done, Done, true, false},
		{"no reload unless asked", Request{}, fakePostfix{}, fixed, "postmap hash:T", Done, NotRun, true, false},
		{"no-postmap", Request{NoPostmap: true, Reload: true}, fakePostfix{}, fixed, "", Skipped, NotRun, true, false},
		{"postmap fails: no reload", Request{Reload: true}, fakePostfix{postmapErr: errors.New("disk full")}, fixed, "postmap hash:T", Failed, NotRun, true, false},
		{"reload fails", Request{Reload: true}, fakePostfix{reloadE: errors.New("not running")}, fixed, "postmap hash:T|reload", Done, Failed, true, false},
		{"keep old", Request{KeepOld: true}, fakePostfix{}, stale + pk(cliff) + " cliff.example.org\n", "postmap hash:T", Done, NotRun, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			rc := receiver(t, dir, "T", "hash", stale, 0)
			req := tc.req
			req.Relays, req.Receivers, req.Config, req.TrustAny, req.Mode, req.Hooks = relays, []check.Receiver{rc}, any256, true, Write, tc.f.hooks()
			tr := Run(context.Background(), req).Tables[0]
			calls := strings.ReplaceAll(strings.Join(tc.f.calls, "|"), rc.Spec.Path, "T")
			if got := read(t, rc.Spec.Path); got != tc.want || calls != tc.calls || tr.Postmap != tc.postmap || tr.Reload != tc.reload ||
				tr.Changed != tc.changed || (tr.Err != nil) != tc.err {
				t.Errorf("table %q (want %q), calls %q (want %q), postmap %v (want %v), reload %v (want %v), changed %v, err %v",
					got, tc.want, calls, tc.calls, tr.Postmap, tc.postmap, tr.Reload, tc.reload, tr.Changed, tr.Err)
			}
			if tr.Postmap == Failed && tr.PostmapErr == nil || tr.Reload == Failed && tr.ReloadErr == nil {
				t.Error("a failed step without its error")
			}
		})
	}

	t.Run("unchanged: postmap only when the compiled table is stale", func(t *testing.T) {
		t.Parallel()
		for _, isStale := range []bool{false, true} {
			rc := receiver(t, t.TempDir(), "T", "hash", fixed, 0)
			f := &fakePostfix{stale: isStale}
			tr := Run(context.Background(), Request{Relays: relays, Receivers: []check.Receiver{rc}, Config: any256, TrustAny: true,
				Mode: Write, Reload: true, Hooks: f.hooks()}).Tables[0]
			if tr.Changed || len(tr.Changes) != 0 || (len(f.calls) == 1) != isStale || tr.Reload != NotRun {
				t.Errorf("stale %v: changed %v, changes %v, calls %q, reload %v", isStale, tr.Changed, tr.Changes, f.calls, tr.Reload)
			}
		}
	})

	t.Run("a list of tables: the first readable one gets the fix", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		missing := check.Receiver{Spec: table.Spec{Type: "hash", Path: filepath.Join(dir, "gone")}, Group: 1, Err: os.ErrNotExist}
		head := receiver(t, dir, "head", "hash", "# head\n", 1)
		second := receiver(t, dir, "second", "texthash", stale, 1)
		alone := receiver(t, dir, "alone", "texthash", pk(cliff)+" cliff.example.org\n", 2)
		f := &fakePostfix{}
		rep := Run(context.Background(), Request{Relays: relays, Receivers: []check.Receiver{missing, head, second, alone}, Config: any256,
			TrustAny: true, Mode: Write, Hooks: f.hooks()})
		if len(rep.Tables) != 3 {
			t.Fatalf("%d table reports, want 3 (the unreadable one has none)", len(rep.Tables))
		}
		if got := read(t, head.Spec.Path); got != "# head\n"+pk(cliff)+" cliff.example.org\n" {
			t.Errorf("head of the list = %q: want the line appended", got)
		}
		if rep.Tables[1].ListHead == nil || *rep.Tables[1].ListHead != head.Spec || read(t, second.Spec.Path) != stale {
			t.Errorf("second of the list: ListHead %v, content %q: want it untouched, pointing at the head", rep.Tables[1].ListHead, read(t, second.Spec.Path))
		}
		if rep.Tables[2].Changed || rep.Tables[2].ListHead != nil {
			t.Errorf("a table of its own that lists the relay: %+v", rep.Tables[2])
		}
	})

	t.Run("preview writes nothing and shows a refused fix", func(t *testing.T) {
		t.Parallel()
		rc := receiver(t, t.TempDir(), "T", "texthash", stale, 0)
		// No roots given and a self-signed certificate: refused.
		rep := Run(context.Background(), Request{Relays: relays, Receivers: []check.Receiver{rc}, Config: any256, Mode: Preview})
		tr := rep.Tables[0]
		if tr.Refused == nil || tr.Err != nil || string(tr.Before) != stale || string(tr.After) != fixed || read(t, rc.Spec.Path) != stale {
			t.Errorf("refused %v, err %v, before %q, after %q, file %q", tr.Refused, tr.Err, tr.Before, tr.After, read(t, rc.Spec.Path))
		}
	})

	t.Run("a table that does not parse cleanly is left alone", func(t *testing.T) {
		t.Parallel()
		rc := receiver(t, t.TempDir(), "T", "texthash", stale+"lonely-key\n", 0)
		for _, mode := range []Mode{Preview, Write} {
			tr := Run(context.Background(), Request{Relays: relays, Receivers: []check.Receiver{rc}, Config: any256, TrustAny: true,
				Mode: mode, Hooks: (&fakePostfix{}).hooks()}).Tables[0]
			if tr.Err == nil || !strings.Contains(tr.Err.Error(), "does not parse cleanly") || !bytes.Equal([]byte(read(t, rc.Spec.Path)), []byte(stale+"lonely-key\n")) {
				t.Errorf("mode %v: err %v", mode, tr.Err)
			}
		}
	})
}
