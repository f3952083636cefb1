package rollover

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"log"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/certfile"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfix"
)

// fake is a go-smtp receiver on 127.0.0.1 that relays for the client
// certificates whose public keys it lists, as permit_tls_clientcerts with
// pubkey fingerprints, and refuses others with 454 4.7.1.
type fake struct {
	addr string
	mu   sync.Mutex
	keys map[[32]byte]bool
}

func startFake(t *testing.T, trusted ...*postfixtest.ClientCert) *fake {
	t.Helper()
	f := &fake{keys: map[[32]byte]bool{}}
	for _, c := range trusted {
		f.trust(c)
	}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{f: f, conn: c}, nil }))
	s.Domain = "receiver.test"
	srv := postfixtest.NewCert(t, t.TempDir(), "receiver.test", postfixtest.ECDSA)
	s.TLSConfig = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srv.Cert.Raw}, PrivateKey: srv.Key}},
		ClientAuth:   tls.RequestClientCert,
	}
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return f
}

func (f *fake) trust(c *postfixtest.ClientCert) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[sha256.Sum256(c.Cert.RawSubjectPublicKeyInfo)] = true
}

type session struct {
	f    *fake
	conn *smtp.Conn
}

func (s *session) Reset()                               {}
func (s *session) Logout() error                        { return nil }
func (s *session) Mail(string, *smtp.MailOptions) error { return nil }
func (s *session) Data(io.Reader) error                 { return errors.New("no DATA expected") }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	st, ok := s.conn.TLSConnectionState()
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if ok && len(st.PeerCertificates) > 0 && s.f.keys[sha256.Sum256(st.PeerCertificates[0].RawSubjectPublicKeyInfo)] {
		return nil
	}
	return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "<" + to + ">: Relay access denied"}
}

// leafOf returns c as a certfile.Leaf, with its key.
func leafOf(c *postfixtest.ClientCert) certfile.Leaf {
	return certfile.Leaf{Chain: []*x509.Certificate{c.Cert}, Key: c.Key, Source: c.CertFile, KeySource: c.KeyFile}
}

// relay is a live chain file and its target, in a directory of its own.
type relay struct {
	dir     string
	target  Target
	reloads int
}

func newRelay(t *testing.T, live ...*postfixtest.ClientCert) *relay {
	t.Helper()
	r := &relay{dir: t.TempDir()}
	path := filepath.Join(r.dir, "smtp-client.pem")
	postfixtest.WriteChainFile(t, path, live...)
	// Not the defaults, so that keeping them shows.
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	r.target = Target{Path: path, Param: "smtp_tls_chain_files", Origins: []string{"main.cf (smtp)"}}
	return r
}

func (r *relay) run(t *testing.T, newMaterial []*postfixtest.ClientCert, receivers ...string) (*Report, error) {
	t.Helper()
	var fresh []certfile.Leaf
	for _, c := range newMaterial {
		fresh = append(fresh, leafOf(c))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Run(ctx, []Target{r.target}, Options{New: fresh, Receivers: receivers,
		Reload: func(context.Context) error { r.reloads++; return nil }})
}

// leaves returns the certificates in path, leaf by leaf, keys checked.
func leaves(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	l, err := certfile.ChainFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for _, x := range l {
		out = append(out, x.Cert())
	}
	return out
}

func same(a []*x509.Certificate, b ...*postfixtest.ClientCert) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Raw, b[i].Cert.Raw) {
			return false
		}
	}
	return true
}

func ownerOf(t *testing.T, path string) (os.FileMode, uint32, uint32) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode().Perm(), st.Uid, st.Gid
}

func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the owner tests need root (chown)")
		}
		t.Skip("needs root (chown)")
	}
}

// oldAndRenewed makes the live certificate of a relay and its renewal
// with a new key, both ECDSA, in a new directory it also returns.
func oldAndRenewed(t *testing.T) (dir string, old, renewed *postfixtest.ClientCert) {
	t.Helper()
	dir = t.TempDir()
	old = postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	renewed = postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	return dir, old, renewed
}

// The whole cycle against two receivers: one lists the new key at once,
// the other only later.
func TestRunCycle(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	_, old, renewed := oldAndRenewed(t)
	mx1 := startFake(t, old)
	mx2 := startFake(t, old, renewed)
	r := newRelay(t, old)
	liveBefore, _ := os.ReadFile(r.target.Path)

	// A killed run's temp files are removed by the next run.
	leftovers := []string{filepath.Join(r.dir, ".smtp-client.pem.tmp123"), filepath.Join(r.dir, ".smtp-client.pem.staged.tmp456")}
	for _, l := range leftovers {
		if err := os.WriteFile(l, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// 1. mx1 does not list the new key: staged, live untouched.
	rep, err := r.run(t, []*postfixtest.ClientCert{renewed}, mx1.addr, mx2.addr)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != Waiting {
		t.Fatalf("outcome %v, want Waiting", rep.Outcome)
	}
	if got, _ := os.ReadFile(r.target.Path); !bytes.Equal(got, liveBefore) {
		t.Error("the live file changed while a receiver refuses the new key")
	}
	if r.reloads != 0 {
		t.Errorf("%d reloads, want none", r.reloads)
	}
	ref := rep.Refused()
	if len(ref) != 1 || ref[0].Receiver != mx1.addr || len(rep.Unsure()) != 0 {
		t.Errorf("refused by %v (unsure %v), want mx1 %s only", ref, rep.Unsure(), mx1.addr)
	}
	staged := r.target.StagedPath()
	if !same(leaves(t, staged), renewed) {
		t.Error("the staged file does not hold the new certificate")
	}
	if mode, uid, gid := ownerOf(t, staged); mode != 0o600 || uid != 1234 || gid != 5678 {
		t.Errorf("staged file mode %04o owner %d:%d, want 0600 1234:5678 (the live file's owner)", mode, uid, gid)
	}
	st, err := Staged(postfix.ClientTLS{Command: "smtp", ChainFiles: []string{r.target.Path}})
	if err != nil || len(st) != 1 || !bytes.Equal(st[0].Leaves[0].Cert().Raw, renewed.Cert.Raw) {
		t.Errorf("Staged = %v, %v; want the renewed certificate", st, err)
	}

	// 2. Again without material: still waiting.
	if rep, err = r.run(t, nil, mx1.addr, mx2.addr); err != nil || rep.Outcome != Waiting {
		t.Fatalf("second run: %v, %v; want Waiting", rep, err)
	}
	if got, _ := os.ReadFile(r.target.Path); !bytes.Equal(got, liveBefore) {
		t.Error("the live file changed on the second run")
	}

	// 3. mx1 lists it: the switch completes.
	mx1.trust(renewed)
	if rep, err = r.run(t, nil, mx1.addr, mx2.addr); err != nil || rep.Outcome != Installed {
		t.Fatalf("third run: %v, %v; want Installed", rep, err)
	}
	if !same(leaves(t, r.target.Path), renewed) {
		t.Error("the live file does not hold the new certificate")
	}
	if mode, uid, gid := ownerOf(t, r.target.Path); mode != 0o640 || uid != 1234 || gid != 5678 {
		t.Errorf("live file mode %04o owner %d:%d, want 0640 1234:5678 (kept)", mode, uid, gid)
	}
	if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staged file still there after the install: %v", err)
	}
	if r.reloads != 1 {
		t.Errorf("%d reloads, want 1", r.reloads)
	}
	if left, _ := filepath.Glob(filepath.Join(r.dir, ".smtp-client.pem*tmp*")); len(left) > 0 {
		t.Errorf("temp files left: %v", left)
	}

	// 4. Nothing staged now; the same material again is already live.
	if rep, err = r.run(t, nil, mx1.addr); err != nil || rep.Outcome != NothingStaged {
		t.Errorf("fourth run: %v, %v; want NothingStaged", rep, err)
	}
	if rep, err = r.run(t, []*postfixtest.ClientCert{renewed}, mx1.addr); err != nil || rep.Outcome != AlreadyLive {
		t.Errorf("the installed material again: %v, %v; want AlreadyLive", rep, err)
	}
	if r.reloads != 1 {
		t.Errorf("%d reloads, want still 1", r.reloads)
	}
}

// A receiver that cannot be asked is no acceptance.
func TestRunUnreachable(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	_, old, renewed := oldAndRenewed(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	ok := startFake(t, renewed)
	r := newRelay(t, old)
	rep, err := r.run(t, []*postfixtest.ClientCert{renewed}, ok.addr, closed)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != Waiting || len(rep.Unsure()) != 1 || len(rep.Refused()) != 0 {
		t.Fatalf("outcome %v, unsure %d, refused %d; want Waiting, 1, 0", rep.Outcome, len(rep.Unsure()), len(rep.Refused()))
	}
	if !same(leaves(t, r.target.Path), old) {
		t.Error("the live file changed though a receiver could not be asked")
	}
}

func TestRunRefusesUnsafeFiles(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	dir, old, renewed := oldAndRenewed(t)
	mx := startFake(t, old, renewed)

	linked := newRelay(t, old)
	real := linked.target.Path + ".real"
	if err := os.Rename(linked.target.Path, real); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, linked.target.Path); err != nil {
		t.Fatal(err)
	}
	if _, err := linked.run(t, []*postfixtest.ClientCert{renewed}, mx.addr); err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Errorf("symlinked live file: %v, want a refusal", err)
	}

	open := newRelay(t, old)
	if err := os.Chmod(open.dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := open.run(t, []*postfixtest.ClientCert{renewed}, mx.addr); err == nil || !strings.Contains(err.Error(), "chmod go-w") {
		t.Errorf("world-writable directory: %v, want a refusal", err)
	}

	hard := newRelay(t, old)
	if err := os.Link(hard.target.Path, hard.target.Path+".other"); err != nil {
		t.Fatal(err)
	}
	if _, err := hard.run(t, []*postfixtest.ClientCert{renewed}, mx.addr); err == nil || !strings.Contains(err.Error(), "hard links") {
		t.Errorf("hard-linked live file: %v, want a refusal", err)
	}

	readable := newRelay(t, old)
	if err := os.Chmod(readable.target.Path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readable.run(t, []*postfixtest.ClientCert{renewed}, mx.addr); err == nil || !strings.Contains(err.Error(), "chmod o-rwx") {
		t.Errorf("live file readable by others: %v, want a refusal (the new key would be readable too)", err)
	}
	if !same(leaves(t, readable.target.Path), old) {
		t.Error("a new key was written into a file others may read")
	}

	expired := postfixtest.NewClientCert(t, dir, "relay.example.org", nil, time.Now().Add(-time.Minute))
	r := newRelay(t, old)
	if _, err := r.run(t, []*postfixtest.ClientCert{expired}, mx.addr); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired new certificate: %v, want a refusal", err)
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	mainCF := postfix.ClientTLS{Command: "smtp", ChainFiles: []string{"/etc/postfix/rsa.pem", "/etc/postfix/ec.pem"}}
	service := postfix.ClientTLS{Command: "smtp", Services: []string{"relay/unix"}, Overrides: []postfix.Override{{}}, ChainFiles: []string{"/etc/postfix/ec.pem"}}
	oneFile := postfix.ClientTLS{Command: "lmtp", Pairs: []postfix.CertKey{{CertParam: "lmtp_tls_cert_file", Cert: "/etc/postfix/l.pem", KeyParam: "lmtp_tls_key_file", Key: "/etc/postfix/l.pem"}}}
	twoFiles := postfix.ClientTLS{Command: "smtp", Pairs: []postfix.CertKey{{CertParam: "smtp_tls_cert_file", Cert: "/etc/postfix/c.crt", KeyParam: "smtp_tls_key_file", Key: "/etc/postfix/c.key"}}}
	tests := []struct {
		name    string
		clients []postfix.ClientTLS
		want    []string
		err     string
	}{
		{"chain files, one shared with a service", []postfix.ClientTLS{mainCF, service}, []string{"/etc/postfix/rsa.pem", "/etc/postfix/ec.pem"}, ""},
		{"a pair in one file", []postfix.ClientTLS{oneFile}, []string{"/etc/postfix/l.pem"}, ""},
		{"a pair in two files is refused", []postfix.ClientTLS{mainCF, twoFiles}, nil, "two files: replacing both cannot be atomic"},
		{"no certificate", []postfix.ClientTLS{{Command: "smtp"}}, nil, "presents a client certificate: nothing to roll over"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Targets(tc.clients)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, g := range got {
				paths = append(paths, g.Path)
			}
			if strings.Join(paths, " ") != strings.Join(tc.want, " ") {
				t.Errorf("targets %v, want %v", paths, tc.want)
			}
		})
	}
}

func TestAssignMerge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := func(cn string, kt postfixtest.KeyType) *postfixtest.ClientCert {
		return postfixtest.NewCert(t, dir, cn, kt)
	}
	rsaOld, ecOld := c("relay.example.org", postfixtest.RSA), c("relay.example.org", postfixtest.ECDSA)
	ecNew, rsaNew := c("relay.example.org", postfixtest.ECDSA), c("relay.example.org", postfixtest.RSA)
	other, otherNew := c("other.example.org", postfixtest.ECDSA), c("renamed.example.org", postfixtest.ECDSA)
	L := func(cs ...*postfixtest.ClientCert) []certfile.Leaf {
		var out []certfile.Leaf
		for _, x := range cs {
			out = append(out, leafOf(x))
		}
		return out
	}
	tests := []struct {
		name  string
		live  [][]*postfixtest.ClientCert // per file
		fresh []*postfixtest.ClientCert
		want  [][]*postfixtest.ClientCert // per file after the merge; nil: untouched
		err   string
	}{
		{"one file, renewed", [][]*postfixtest.ClientCert{{ecOld}}, []*postfixtest.ClientCert{ecNew}, [][]*postfixtest.ClientCert{{ecNew}}, ""},
		{"one file with RSA and ECDSA, new ECDSA: RSA kept", [][]*postfixtest.ClientCert{{rsaOld, ecOld}}, []*postfixtest.ClientCert{ecNew}, [][]*postfixtest.ClientCert{{rsaOld, ecNew}}, ""},
		{"a file per key type, new ECDSA: goes to the ECDSA file", [][]*postfixtest.ClientCert{{rsaOld}, {ecOld}}, []*postfixtest.ClientCert{ecNew}, [][]*postfixtest.ClientCert{nil, {ecNew}}, ""},
		{"key type changed in a one-certificate file", [][]*postfixtest.ClientCert{{ecOld}}, []*postfixtest.ClientCert{rsaNew}, [][]*postfixtest.ClientCert{{rsaNew}}, ""},
		{"renamed, one file: replaced", [][]*postfixtest.ClientCert{{other}}, []*postfixtest.ClientCert{otherNew}, [][]*postfixtest.ClientCert{{otherNew}}, ""},
		{"renamed, two files: which one?", [][]*postfixtest.ClientCert{{other}, {ecOld}}, []*postfixtest.ClientCert{otherNew}, nil, "cannot tell which file"},
		{"two services, same name: both renewed", [][]*postfixtest.ClientCert{{ecOld}, {ecOld}}, []*postfixtest.ClientCert{ecNew}, [][]*postfixtest.ClientCert{{ecNew}, {ecNew}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			targets := make([]Target, len(tc.live))
			live := make([][]certfile.Leaf, len(tc.live))
			for i, l := range tc.live {
				targets[i] = Target{Path: filepath.Join("/x", string(rune('a'+i)))}
				live[i] = L(l...)
			}
			plan, err := assign(targets, live, L(tc.fresh...))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range targets {
				if tc.want[i] == nil {
					if plan[i] != nil {
						t.Errorf("file %d: new material %d certificates, want untouched", i, len(plan[i]))
					}
					continue
				}
				got := merge(live[i], plan[i])
				var certs []*x509.Certificate
				for _, g := range got {
					certs = append(certs, g.Cert())
				}
				if !same(certs, tc.want[i]...) {
					t.Errorf("file %d: merged %d certificates, not the wanted %d", i, len(certs), len(tc.want[i]))
				}
			}
		})
	}
}

func TestMaterial(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	chain := filepath.Join(dir, "chain.pem")
	postfixtest.WriteChainFile(t, chain, c)
	lineage := filepath.Join(dir, "live", "relay.example.org")
	if err := os.MkdirAll(lineage, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(lineage, "fullchain.pem"), c.CertPEM, 0o644)
	os.WriteFile(filepath.Join(lineage, "privkey.pem"), c.KeyPEM, 0o600)
	tests := []struct {
		name                     string
		chain, cert, key, lineag string
		err                      string
	}{
		{"chain file", chain, "", "", "", ""},
		{"cert and key", "", c.CertFile, c.KeyFile, "", ""},
		{"certbot lineage", "", "", "", lineage, ""},
		{"chain file without a key", c.CertFile, "", "", "", "no private key"},
		{"cert without key", "", c.CertFile, "", "", "needs its key"},
		{"two ways", chain, "", "", lineage, "one way"},
		{"none", "", "", "", "", "one way"},
		{"lineage without files", "", "", "", dir, "fullchain.pem"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Material(tc.chain, tc.cert, tc.key, tc.lineag)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !bytes.Equal(got[0].Cert().Raw, c.Cert.Raw) || got[0].Key == nil {
				t.Errorf("got %d leaves, want the certificate with its key", len(got))
			}
		})
	}
}

// A second run waits for the first one's lock, up to its deadline.
func TestRunLock(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	_, old, renewed := oldAndRenewed(t)
	mx := startFake(t, old, renewed)
	r := newRelay(t, old)
	unlock, err := lock(context.Background(), r.target.Path+LockSuffix)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = Run(ctx, []Target{r.target}, Options{New: []certfile.Leaf{leafOf(renewed)}, Receivers: []string{mx.addr},
		Reload: func(context.Context) error { return nil }})
	if err == nil || !strings.Contains(err.Error(), "another rollover holds it") {
		t.Errorf("run while another holds the lock: %v, want it to wait and give up", err)
	}
	if !same(leaves(t, r.target.Path), old) {
		t.Error("the live file changed under another run's lock")
	}
	unlock()
	if rep, err := r.run(t, []*postfixtest.ClientCert{renewed}, mx.addr); err != nil || rep.Outcome != Installed {
		t.Errorf("after the unlock: %v, %v; want Installed", rep, err)
	}
}

// A run stopped between two files (killed, or a write that failed) must
// leave the second file's material staged, so that the next run without
// new material completes the switch instead of saying "nothing staged"
// while one client keeps the old certificate for good.
func TestRunStoppedBetweenFiles(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	_, old, renewed := oldAndRenewed(t)
	mx := startFake(t, old, renewed)
	a, b := newRelay(t, old), newRelay(t, old)
	targets := []Target{a.target, b.target}
	slices.SortFunc(targets, func(x, y Target) int { return strings.Compare(x.Path, y.Path) })
	reload := func(context.Context) error { return nil }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Run(ctx, targets, Options{New: []certfile.Leaf{leafOf(renewed)}, Receivers: []string{mx.addr}, Reload: reload,
		beforeInstall: func(t Target) error {
			if t.Path == targets[1].Path {
				return errors.New("killed")
			}
			return nil
		}})
	if err == nil {
		t.Fatal("the stopped run reported no error")
	}
	if !same(leaves(t, targets[0].Path), renewed) || !same(leaves(t, targets[1].Path), old) {
		t.Fatal("the stopped run did not stop between the two files")
	}
	rep, err := Run(ctx, targets, Options{Receivers: []string{mx.addr}, Reload: reload})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != Installed || !same(leaves(t, targets[1].Path), renewed) {
		t.Errorf("the next run: outcome %v, %s holds %v; want Installed and the renewed certificate", rep.Outcome, targets[1].Path, leaves(t, targets[1].Path)[0].Subject)
	}
	for _, tg := range targets {
		if _, err := os.Lstat(tg.StagedPath()); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left behind: %v", tg.StagedPath(), err)
		}
	}
}

// Files only root may have planted: a live file's directory owned by
// another user (who could rename anything in it, plant FILE.staged, or
// read what the temp files hold), and a FILE.staged that is not a regular
// file of its own (a symlink to another identity's key, a FIFO).
func TestRunRefusesPlantedFiles(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	dir := t.TempDir()
	old := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	other := postfixtest.NewCert(t, dir, "relay.example.org", postfixtest.ECDSA)
	mx := startFake(t, old, other)

	owned := newRelay(t, old)
	if err := os.Chown(owned.dir, 1234, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := owned.run(t, []*postfixtest.ClientCert{other}, mx.addr); err == nil || !strings.Contains(err.Error(), "owned by uid 1234") {
		t.Errorf("directory owned by another user: %v, want a refusal", err)
	}
	if !same(leaves(t, owned.target.Path), old) {
		t.Error("the live file in a directory owned by another user was replaced")
	}

	elsewhere := filepath.Join(t.TempDir(), "other-identity.pem")
	postfixtest.WriteChainFile(t, elsewhere, other)
	linked := newRelay(t, old)
	if err := os.Symlink(elsewhere, linked.target.StagedPath()); err != nil {
		t.Fatal(err)
	}
	if rep, err := linked.run(t, nil, mx.addr); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("symlinked %s: %v, %v; want a refusal", linked.target.StagedPath(), rep, err)
	}
	if !same(leaves(t, linked.target.Path), old) {
		t.Error("the target of a symlinked staged file was installed")
	}
	if _, err := Staged(postfix.ClientTLS{Command: "smtp", ChainFiles: []string{linked.target.Path}}); err == nil {
		t.Error("Staged read a symlinked staged file")
	}
}

// One live file named through two paths (a symlinked directory) is one
// target: before, the second lock of the same lock file waited for ever
// on the first, and every run failed.
func TestRunOneFileTwoNames(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	_, old, renewed := oldAndRenewed(t)
	mx := startFake(t, renewed)
	r := newRelay(t, old)
	alias := filepath.Join(t.TempDir(), "alias")
	if err := os.Symlink(r.dir, alias); err != nil {
		t.Fatal(err)
	}
	other := r.target
	other.Path = filepath.Join(alias, filepath.Base(r.target.Path))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rep, err := Run(ctx, []Target{r.target, other}, Options{New: []certfile.Leaf{leafOf(renewed)}, Receivers: []string{mx.addr},
		Reload: func(context.Context) error { return nil }})
	if err != nil || rep.Outcome != Installed || len(rep.Files) != 1 {
		t.Fatalf("one file named twice: %v, %v; want Installed in one file", rep, err)
	}
	if !same(leaves(t, r.target.Path), renewed) {
		t.Error("the file was not renewed")
	}
}

// A run killed while staging, between two files: the first file's copy is
// staged, the second's not. The next run without new material switches
// both, not the first alone.
func TestRunKilledWhileStaging(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	_, old, renewed := oldAndRenewed(t)
	a, b := newRelay(t, old), newRelay(t, old)
	postfixtest.WriteChainFile(t, a.target.StagedPath(), renewed)
	mx := startFake(t, old, renewed)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := Run(ctx, []Target{a.target, b.target}, Options{Receivers: []string{mx.addr}, Reload: func(context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != Installed || !same(leaves(t, a.target.Path), renewed) || !same(leaves(t, b.target.Path), renewed) {
		t.Errorf("outcome %v, files %v; want both renewed", rep.Outcome, rep.Files)
	}
}
