package probe

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
)

// keyPKI returns a test PKI whose leaf has a fresh key of type kt.
func keyPKI(t *testing.T, kt KeyType) *testPKI {
	t.Helper()
	var key crypto.Signer
	var err error
	switch kt {
	case KeyRSA:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case KeyEd25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case KeyECDSA:
		// newPKI's default
	default:
		t.Fatalf("keyPKI: no test key of type %s", kt)
	}
	if err != nil {
		t.Fatal(err)
	}
	return newPKI(t, key)
}

// barrierListener hands out connections only once n are open, so a
// ProbeAll that ran its handshakes one after the other would wait for the
// deadline: concurrency is tested without timing anything.
type barrierListener struct {
	net.Listener
	n       int
	mu      sync.Mutex
	pending []net.Conn
}

func (l *barrierListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) == 0 {
		for range l.n {
			c, err := l.Listener.Accept()
			if err != nil {
				return nil, err
			}
			l.pending = append(l.pending, c)
		}
	}
	c := l.pending[0]
	l.pending = l.pending[1:]
	return c, nil
}

const notAskedEd25519 = "Ed25519 not asked (Go's TLS client cannot ask for Ed25519 apart from ECDSA, and the server serves ECDSA)"

func TestProbeAll(t *testing.T) {
	t.Parallel()
	rsaPKI, ecPKI, edPKI := keyPKI(t, KeyRSA), keyPKI(t, KeyECDSA), keyPKI(t, KeyEd25519)
	pkis := map[KeyType]*testPKI{KeyRSA: rsaPKI, KeyECDSA: ecPKI, KeyEd25519: edPKI}
	tests := []struct {
		name      string
		proto     Protocol
		certs     []KeyType // the server's, in its order of preference
		tls13Only bool
		failTLS12 bool      // the server fails every TLS 1.2-only ClientHello with internal_error
		want      []KeyType // Results' leaves, default handshake first
		status    []string  // KeyTypes as strings
		complete  bool
	}{
		{name: "RSA and ECDSA", certs: []KeyType{KeyRSA, KeyECDSA},
			want:   []KeyType{KeyRSA, KeyECDSA},
			status: []string{"RSA found", "ECDSA found", notAskedEd25519}},
		{name: "RSA and ECDSA, smtps", proto: SMTPS, certs: []KeyType{KeyRSA, KeyECDSA},
			want:   []KeyType{KeyRSA, KeyECDSA},
			status: []string{"RSA found", "ECDSA found", notAskedEd25519}},
		{name: "ECDSA preferred", certs: []KeyType{KeyECDSA, KeyRSA},
			want:   []KeyType{KeyECDSA, KeyRSA},
			status: []string{"RSA found", "ECDSA found", notAskedEd25519}},
		{name: "RSA only", certs: []KeyType{KeyRSA},
			want:     []KeyType{KeyRSA},
			status:   []string{"RSA found", "ECDSA none", "Ed25519 none"},
			complete: true},
		{name: "ECDSA only", certs: []KeyType{KeyECDSA},
			want:   []KeyType{KeyECDSA},
			status: []string{"RSA none", "ECDSA found", notAskedEd25519}},
		{name: "RSA and Ed25519", certs: []KeyType{KeyRSA, KeyEd25519},
			want:     []KeyType{KeyRSA, KeyEd25519},
			status:   []string{"RSA found", "ECDSA none", "Ed25519 found"},
			complete: true},
		{name: "RSA, ECDSA and Ed25519", certs: []KeyType{KeyRSA, KeyECDSA, KeyEd25519},
			want:   []KeyType{KeyRSA, KeyECDSA},
			status: []string{"RSA found", "ECDSA found", notAskedEd25519}},
		{name: "TLS 1.3 only", certs: []KeyType{KeyRSA, KeyECDSA}, tls13Only: true,
			want: []KeyType{KeyRSA},
			status: []string{"RSA found",
				"ECDSA not asked (the server refuses TLS 1.2, and Go's TLS client cannot ask for a key type in TLS 1.3)",
				"Ed25519 not asked (the server refuses TLS 1.2, and Go's TLS client cannot ask for a key type in TLS 1.3)"}},
		{name: "restricted handshakes fail", certs: []KeyType{KeyRSA}, failTLS12: true,
			want: []KeyType{KeyRSA},
			status: []string{"RSA found",
				"ECDSA failed (TLS handshake with ADDR: remote error: tls: internal error)",
				"Ed25519 failed (TLS handshake with ADDR: remote error: tls: internal error)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := &tls.Config{}
			for _, kt := range tc.certs {
				cfg.Certificates = append(cfg.Certificates, pkis[kt].cert)
			}
			if tc.tls13Only {
				cfg.MinVersion = tls.VersionTLS13
			}
			if tc.failTLS12 {
				cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
					if !slices.Contains(h.SupportedVersions, tls.VersionTLS13) {
						return nil, errors.New("no TLS 1.2 here")
					}
					return nil, nil
				}
			}
			addr := serveSMTP(t, tc.proto, cfg, &barrierListener{Listener: listen(t), n: 3})
			ctx, cancel := context.WithTimeout(context.Background(), okTimeout)
			defer cancel()
			s, err := ProbeAll(ctx, addr, Options{Protocol: tc.proto, ServerName: "relay.test"})
			if err != nil {
				t.Fatalf("ProbeAll(%s): %v", addr, err)
			}
			var got []KeyType
			for i, r := range s.Results {
				if !r.Proven() {
					t.Errorf("Results[%d] not proven: %+v", i, r)
					continue
				}
				kt := KeyTypeOf(r.Certs[0])
				got = append(got, kt)
				pkis[kt].checkChain(t, r.Certs)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Results' leaves = %v, want %v", got, tc.want)
			}
			if len(s.Results) > 0 && s.Results[0].Asked != "" {
				t.Errorf("Results[0].Asked = %q, want the default handshake first", s.Results[0].Asked)
			}
			var status []string
			for _, k := range s.KeyTypes {
				status = append(status, strings.ReplaceAll(k.String(), addr, "ADDR"))
			}
			if !slices.Equal(status, tc.status) {
				t.Errorf("KeyTypes:\n got %q\nwant %q", status, tc.status)
			}
			if s.Complete() != tc.complete {
				t.Errorf("Complete() = %v, want %v", s.Complete(), tc.complete)
			}
		})
	}
}

func TestProbeAllErrors(t *testing.T) {
	t.Parallel()
	// A closed port: the default handshake's error is ProbeAll's.
	l := listen(t)
	addr := l.Addr().String()
	l.Close()
	s, err := ProbeAll(context.Background(), addr, Options{})
	var e *Error
	if !errors.As(err, &e) || e.Stage != StageConnect {
		t.Errorf("ProbeAll(closed port) error = %v, want *Error at stage connect", err)
	}
	if s == nil || len(s.Results) != 1 || s.Results[0].Addr != addr || s.Complete() {
		t.Errorf("ProbeAll(closed port) = %+v, want the default Result alone, incomplete", s)
	}
	for _, k := range s.KeyTypes {
		if k.Status != Failed || !errors.As(k.Err, &e) {
			t.Errorf("ProbeAll(closed port): %s, want failed with an *Error", k)
		}
	}

	if _, err := ProbeAll(context.Background(), addr, Options{KeyType: KeyRSA}); err == nil {
		t.Errorf("ProbeAll with Options.KeyType set: no error")
	}
	for _, kt := range []KeyType{KeyEd25519, KeyDSA, "rsa"} {
		_, err := Probe(context.Background(), addr, Options{KeyType: kt})
		if want := "cannot ask for a " + string(kt) + " certificate: Go's TLS client can ask only for RSA or ECDSA"; err == nil || err.Error() != want {
			t.Errorf("Probe(KeyType %q) error = %v, want %q", kt, err, want)
		}
	}
}

// TestProbeKeyType: a restricted handshake gets the certificate of that key
// type from a server holding several, in TLS 1.2.
func TestProbeKeyType(t *testing.T) {
	t.Parallel()
	rsaPKI, ecPKI := keyPKI(t, KeyRSA), keyPKI(t, KeyECDSA)
	cfg := &tls.Config{Certificates: []tls.Certificate{rsaPKI.cert, ecPKI.cert}}
	addr := serveSMTP(t, SMTP, cfg, listen(t))
	for _, tc := range []struct {
		ask  KeyType
		want *testPKI
	}{{"", rsaPKI}, {KeyRSA, rsaPKI}, {KeyECDSA, ecPKI}} {
		ctx, cancel := context.WithTimeout(context.Background(), okTimeout)
		res, err := Probe(ctx, addr, Options{KeyType: tc.ask})
		cancel()
		if err != nil {
			t.Fatalf("Probe(KeyType %q): %v", tc.ask, err)
		}
		tc.want.checkChain(t, res.Certs)
		if res.Asked != tc.ask {
			t.Errorf("Asked = %q, want %q", res.Asked, tc.ask)
		}
		if tc.ask != "" && res.TLSVersion != tls.VersionTLS12 {
			t.Errorf("Probe(KeyType %q): %s, want TLS 1.2", tc.ask, tls.VersionName(res.TLSVersion))
		}
	}
}

// BenchmarkProbeAll compares one default Probe with ProbeAll against a
// go-smtp server holding an RSA and an ECDSA certificate: the three
// handshakes run at once, so ProbeAll should cost about one handshake of
// wall time (each handshake's CPU is still spent).
func BenchmarkProbeAll(b *testing.B) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	rsaPKI, ecPKI := newPKI(b, rsaKey), newPKI(b, nil)
	cfg := &tls.Config{Certificates: []tls.Certificate{rsaPKI.cert, ecPKI.cert}}
	addr := serveSMTP(b, SMTP, cfg, listen(b))
	for _, all := range []bool{false, true} {
		b.Run(fmt.Sprintf("all=%v", all), func(b *testing.B) {
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), okTimeout)
				var err error
				if all {
					_, err = ProbeAll(ctx, addr, Options{})
				} else {
					_, err = Probe(ctx, addr, Options{})
				}
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzParseCertificateMsg: the diagnostic reader of sniff.go takes bytes
// from a hostile server; it must never panic, and what it accepts must be
// certificates.
func FuzzParseCertificateMsg(f *testing.F) {
	pki := newPKI(f, nil)
	msg := func(ders ...[]byte) []byte {
		var list []byte
		for _, d := range ders {
			list = append(list, byte(len(d)>>16), byte(len(d)>>8), byte(len(d)))
			list = append(list, d...)
		}
		return append([]byte{byte(len(list) >> 16), byte(len(list) >> 8), byte(len(list))}, list...)
	}
	f.Add(msg(pki.leaf.Raw, pki.ca.Raw))
	f.Add(msg())
	f.Add([]byte{0, 0, 3, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := parseCertificateMsg(b)
		if err == nil && (len(certs) == 0 || slices.Contains(certs, nil)) {
			t.Errorf("parseCertificateMsg(%x) = %d certificates, no error", b, len(certs))
		}
	})
}
