package probe

import (
	"context"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
)

// opensslCert writes a self-signed certificate for relay.test whose key is
// made by `openssl genpkey genArgs...` and returns the key and certificate
// files.
func opensslCert(t *testing.T, genArgs []string) (key, crt string) {
	t.Helper()
	postfixtest.Require(t, "openssl")
	dir := t.TempDir()
	key, crt = filepath.Join(dir, "key.pem"), filepath.Join(dir, "crt.pem")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %q: %v\n%s", args, err, out)
		}
	}
	if genArgs[0] == "-algorithm" && genArgs[1] == "DSA" { // parameters first
		params := filepath.Join(dir, "params.pem")
		run("genpkey", "-genparam", "-out", params, "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:2048")
		genArgs = []string{"-paramfile", params}
	}
	run(append([]string{"genpkey", "-out", key}, genArgs...)...)
	run("req", "-x509", "-new", "-key", key, "-subj", "/CN=relay.test", "-days", "1", "-out", crt)
	return key, crt
}

// opensslServer serves a certificate made by opensslCert(genArgs) with
// `openssl s_server` on 127.0.0.1 (with extra server arguments), and
// returns its address.
func opensslServer(t *testing.T, genArgs, serverArgs []string) string {
	t.Helper()
	key, crt := opensslCert(t, genArgs)
	// s_server buffers its "ACCEPT" line in a pipe: take a free port, then
	// wait until it listens.
	l := listen(t)
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "openssl", append([]string{"s_server", "-accept", addr, "-cert", crt, "-key", key, "-quiet"}, serverArgs...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	for range 200 { // a start guard, not a timed test
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("openssl s_server does not listen on %s", addr)
	return ""
}

// startTLSFront is a STARTTLS SMTP server whose TLS is spoken by the server
// at tlsAddr: after "220 ready" it relays the bytes both ways.
func startTLSFront(t *testing.T, tlsAddr string) string {
	return startFake(t, func(f *fake) {
		f.send(banner)
		f.expect("EHLO")
		f.send(ehloStartTLS)
		f.expect("STARTTLS")
		f.send("220 2.0.0 ready\r\n")
		back, err := net.Dial("tcp", tlsAddr)
		if err != nil {
			panic(errStopScript)
		}
		defer back.Close()
		go func() {
			_, _ = io.Copy(back, f.r)
			back.Close()
		}()
		_, _ = io.Copy(f.Conn, back)
	})
}

// TestProbeUnsupportedKey: a server whose key Go's TLS client does not
// support (OpenSSL serves RSA-PSS and, at security level 0, DSA) is reported
// as such, the key type named and the chain kept unproven, not as "handshake
// failure" or "connection closed by server" (issue 13 item 13).
func TestProbeUnsupportedKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		gen        []string
		serverArgs []string
		want       KeyType
	}{
		{"RSA-PSS", []string{"-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"}, nil, KeyRSAPSS},
		{"DSA", []string{"-algorithm", "DSA"}, []string{"-cipher", "ALL:@SECLEVEL=0"}, KeyDSA},
		{"Ed448", []string{"-algorithm", "ED448"}, nil, KeyEd448},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tlsAddr := opensslServer(t, tc.gen, tc.serverArgs)
			for _, p := range []struct {
				proto Protocol
				addr  string
			}{{SMTPS, tlsAddr}, {SMTP, startTLSFront(t, tlsAddr)}} {
				ctx, cancel := context.WithTimeout(context.Background(), okTimeout)
				res, err := Probe(ctx, p.addr, Options{Protocol: p.proto})
				cancel()
				t.Logf("Probe(%v): %v", p.proto, err)
				var uk *UnsupportedKeyError
				var e *Error
				if !errors.As(err, &e) || e.Stage != StageTLS || !errors.As(err, &uk) || uk.KeyType != tc.want {
					t.Fatalf("Probe(%s, %v) error = %v, want an UnsupportedKeyError for %s at stage TLS", p.addr, p.proto, err, tc.want)
				}
				want := "TLS handshake with " + p.addr + ": the server's certificate has a"
				if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), " "+string(tc.want)+" key, which Go's TLS client does not support (Postfix, with OpenSSL, does): ") {
					t.Errorf("Probe(%s, %v) error = %q", p.addr, p.proto, err)
				}
				if len(res.Certs) != 1 || res.Certs[0].Subject.CommonName != "relay.test" || KeyTypeOf(res.Certs[0]) != tc.want || res.Proven() {
					t.Errorf("Probe(%s, %v): Certs %d, want the server's one certificate, unproven", p.addr, p.proto, len(res.Certs))
				}
			}
		})
	}
}

// TestProbeUnsupportedKeyPostfix: the same against a real Postfix relay
// whose only certificate has an RSA-PSS key.
func TestProbeUnsupportedKeyPostfix(t *testing.T) {
	t.Parallel()
	key, crt := opensslCert(t, []string{"-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"})
	in := postfixtest.Start(t, postfixtest.Options{})
	in.Postconf(t, "smtpd_tls_chain_files="+key+" "+crt, "smtpd_tls_cert_file=", "smtpd_tls_key_file=")
	in.Reload(t)
	for _, p := range []struct {
		proto Protocol
		addr  string
	}{{SMTP, in.SMTPAddr}, {SMTPS, in.SMTPSAddr}} {
		ctx, cancel := context.WithTimeout(context.Background(), okTimeout)
		res, err := Probe(ctx, p.addr, Options{Protocol: p.proto})
		cancel()
		t.Logf("Probe(%v): %v", p.proto, err)
		var uk *UnsupportedKeyError
		if !errors.As(err, &uk) || uk.KeyType != KeyRSAPSS {
			t.Errorf("Probe(%s, %v) error = %v, want an UnsupportedKeyError for RSA-PSS\nmaillog:\n%s", p.addr, p.proto, err, in.Maillog())
		}
		if len(res.Certs) != 1 || KeyTypeOf(res.Certs[0]) != KeyRSAPSS || res.Proven() {
			t.Errorf("Probe(%s, %v): Certs %d, want the relay's RSA-PSS certificate, unproven", p.addr, p.proto, len(res.Certs))
		}
	}
}
