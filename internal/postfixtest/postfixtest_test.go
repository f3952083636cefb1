package postfixtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// line renders one relay_clientcerts entry.
func line(fp, label string) string { return fmt.Sprintf("%s %s\n", fp, label) }

const refusal = "454 4.7.1 <" + Recipient + ">: Recipient address rejected: Access denied"

// verdict is one relay attempt against a table.
type verdict struct {
	name        string
	table       string
	client      *ClientCert
	implicitTLS bool
	want        int
}

func checkVerdicts(t *testing.T, in *Instance, cases []verdict) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			in.SetTable(t, []byte(tc.table))
			reload := time.Since(start)
			start = time.Now()
			got, transcript := in.Swaks(t, tc.client, tc.implicitTLS)
			t.Logf("SetTable (postmap+reload) %v, swaks %v", reload.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			if got != tc.want {
				t.Fatalf("table:\n%sRCPT reply %d, want %d; transcript:\n%s", tc.table, got, tc.want, transcript)
			}
			if tc.want == 454 && !strings.Contains(transcript, refusal) {
				t.Errorf("refusal is not %q; transcript:\n%s", refusal, transcript)
			}
		})
	}
}

// TestReceiver proves the harness and Postfix's own behaviour on a sha256
// receiver whose smtpd presents a chosen certificate.
func TestReceiver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	server := NewClientCert(t, dir, "mx.relay.test", nil, time.Time{})
	start := time.Now()
	in := Start(t, Options{ServerCert: server})
	t.Logf("Start %v (%s, %s)", time.Since(start).Round(time.Millisecond), in.SMTPAddr, in.SMTPSAddr)
	if in.Digest != "sha256" {
		t.Errorf("Digest = %q, want sha256", in.Digest)
	}
	if !in.ServerCert.Equal(server.Cert) {
		t.Errorf("ServerCert is %v, want the chosen %v", in.ServerCert.Subject, server.Cert.Subject)
	}

	a := NewClientCert(t, dir, "a.relay.test", nil, time.Time{})
	b := NewClientCert(t, dir, "b.relay.test", nil, time.Time{})
	aRenewed := NewClientCert(t, dir, "a.relay.test", a.Key, time.Now().Add(48*time.Hour))
	if a.PubkeyFingerprint("sha256") != aRenewed.PubkeyFingerprint("sha256") || a.Fingerprint("sha256") == aRenewed.Fingerprint("sha256") {
		t.Fatal("renewal with the same key must keep the public key and change the certificate")
	}

	t.Run("verdicts", func(t *testing.T) {
		checkVerdicts(t, in, []verdict{
			{"listed certificate", line(a.Fingerprint("sha256"), "a"), a, false, 250},
			{"unlisted certificate", line(a.Fingerprint("sha256"), "a"), b, false, 454},
			{"no client certificate", line(a.Fingerprint("sha256"), "a"), nil, false, 454},
			{"empty table", "", a, false, 454},
			{"listed among others", line(b.Fingerprint("sha256"), "b") + line(a.Fingerprint("sha256"), "a"), a, false, 250},
			{"listed public key", line(a.PubkeyFingerprint("sha256"), "a"), a, false, 250},
			{"renewed, same key, public key listed", line(a.PubkeyFingerprint("sha256"), "a"), aRenewed, false, 250},
			{"renewed, same key, old certificate listed", line(a.Fingerprint("sha256"), "a"), aRenewed, false, 454},
			{"md5 fingerprint on a sha256 receiver", line(a.Fingerprint("md5"), "a"), a, false, 454},
			// postmap folds hash keys to lower case and smtpd folds the lookup:
			// case does not matter to Postfix.
			{"lower-case fingerprint listed", line(strings.ToLower(a.Fingerprint("sha256")), "a"), a, false, 250},
			{"fingerprint without colons", line(strings.ReplaceAll(a.Fingerprint("sha256"), ":", ""), "a"), a, false, 454},
			{"implicit TLS, listed", line(a.Fingerprint("sha256"), "a"), a, true, 250},
			{"implicit TLS, unlisted", line(a.Fingerprint("sha256"), "a"), b, true, 454},
		})
	})

	t.Run("plaintext client with a listed certificate it cannot present", func(t *testing.T) {
		in.SetTable(t, []byte(line(a.Fingerprint("sha256"), "a")))
		got, tr := SwaksAt(t, in.SMTPAddr, a, Plaintext)
		if got != 454 || strings.Contains(tr, " -> STARTTLS") {
			t.Fatalf("RCPT reply %d, want 454 without STARTTLS; transcript:\n%s", got, tr)
		}
	})

	t.Run("table edited without postmap keeps the old verdict", func(t *testing.T) {
		in.SetTable(t, []byte(line(a.Fingerprint("sha256"), "a")))
		if got, tr := in.Swaks(t, a, false); got != 250 {
			t.Fatalf("listed: RCPT reply %d, want 250; transcript:\n%s", got, tr)
		}
		in.WriteTable(t, []byte(line(b.Fingerprint("sha256"), "b")))
		in.Reload(t) // fresh smtpd processes: only the stale .db can explain a 250
		if got, tr := in.Swaks(t, a, false); got != 250 {
			t.Fatalf("source edited, no postmap: RCPT reply %d, want the old 250; transcript:\n%s", got, tr)
		}
		in.Postmap(t)
		in.Reload(t)
		if got, tr := in.Swaks(t, a, false); got != 454 {
			t.Fatalf("after postmap: RCPT reply %d, want 454; transcript:\n%s", got, tr)
		}
	})

	t.Run("postconf digest then reload", func(t *testing.T) {
		in.SetTable(t, []byte(line(a.Fingerprint("md5"), "a")))
		in.Postconf(t, "smtpd_tls_fingerprint_digest=md5")
		in.Reload(t)
		got, tr := in.Swaks(t, a, false)
		in.Postconf(t, "smtpd_tls_fingerprint_digest=sha256")
		in.Reload(t)
		if got != 250 {
			t.Fatalf("md5 listed on a receiver switched to md5: RCPT reply %d, want 250; transcript:\n%s", got, tr)
		}
		if got, tr := in.Swaks(t, a, false); got != 454 {
			t.Fatalf("md5 listed on a receiver switched back to sha256: RCPT reply %d, want 454; transcript:\n%s", got, tr)
		}
	})

	t.Run("posttls-finger", func(t *testing.T) {
		for _, digest := range []string{"md5", "sha1", "sha256", "sha512"} {
			for _, implicit := range []bool{false, true} {
				name := fmt.Sprintf("%s implicitTLS=%v", digest, implicit)
				t.Run(name, func(t *testing.T) {
					finger, addr := PosttlsFinger, in.SMTPAddr
					if implicit {
						finger, addr = PosttlsFingerSMTPS, in.SMTPSAddr
					}
					start := time.Now()
					cert, pkey := finger(t, in.ConfigDir, addr, digest)
					t.Logf("posttls-finger %v", time.Since(start).Round(time.Millisecond))
					if want := Fingerprint(digest, in.ServerCert.Raw); cert != want {
						t.Errorf("fingerprint=%s, want %s (Go, %s of leaf.Raw)", cert, want, digest)
					}
					if want := Fingerprint(digest, in.ServerCert.RawSubjectPublicKeyInfo); pkey != want {
						t.Errorf("pkey_fingerprint=%s, want %s (Go, %s of leaf.RawSubjectPublicKeyInfo)", pkey, want, digest)
					}
				})
			}
		}
	})

	t.Run("maillog", func(t *testing.T) {
		log := in.Maillog()
		for _, want := range []string{in.SyslogName + "/master[", "NOQUEUE: reject: RCPT", in.SyslogName + "/smtps/smtpd["} {
			if !strings.Contains(log, want) {
				t.Errorf("maillog lacks %q:\n%s", want, log)
			}
		}
	})
}

// TestMD5Receiver proves that the digest option reaches smtpd: an md5
// receiver matches md5 fingerprints only. It runs beside TestReceiver, so it
// also proves two instances coexist.
func TestMD5Receiver(t *testing.T) {
	t.Parallel()
	in := Start(t, Options{Digest: "md5"})
	if in.ServerCert.Subject.CommonName != ServerHostname {
		t.Errorf("generated server certificate CN %q, want %q", in.ServerCert.Subject.CommonName, ServerHostname)
	}
	a := NewClientCert(t, "", "a.relay.test", nil, time.Time{})
	checkVerdicts(t, in, []verdict{
		{"md5 certificate listed", line(a.Fingerprint("md5"), "a"), a, false, 250},
		{"md5 public key listed", line(a.PubkeyFingerprint("md5"), "a"), a, false, 250},
		{"sha256 certificate listed", line(a.Fingerprint("sha256"), "a"), a, false, 454},
		{"md5 certificate listed, implicit TLS", line(a.Fingerprint("md5"), "a"), a, true, 250},
	})

	t.Run("stopped", func(t *testing.T) {
		in.Stop(t)
		in.Stop(t) // idempotent, and Cleanup stops again
		for _, addr := range []string{in.SMTPAddr, in.SMTPSAddr} {
			if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
				c.Close()
				t.Errorf("dial %s after Stop: connected, want refused", addr)
			}
		}
	})
}

// TestCompatibilityLevelZero documents the trap the harness avoids: without
// compatibility_level (level 0) and without an explicit digest, Postfix
// fingerprints with md5.
func TestCompatibilityLevelZero(t *testing.T) {
	t.Parallel()
	in := Start(t, Options{CompatibilityLevel: "0", DefaultDigest: true})
	if in.Digest != "md5" {
		t.Fatalf("smtpd_tls_fingerprint_digest at level 0 = %q, want md5", in.Digest)
	}
	a := NewClientCert(t, "", "a.relay.test", nil, time.Time{})
	checkVerdicts(t, in, []verdict{
		{"md5 listed", line(a.Fingerprint("md5"), "a"), a, false, 250},
		{"sha256 listed", line(a.Fingerprint("sha256"), "a"), a, false, 454},
	})
}

func TestRcptReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		transcript string
		want       int
		ok         bool
	}{
		{"starttls accepted", " ~> MAIL FROM:<a@relay.test>\n<~  250 2.1.0 Ok\n ~> RCPT TO:<b@example.net>\n<~  250 2.1.5 Ok\n", 250, true},
		{"starttls refused", " ~> RCPT TO:<b@example.net>\r\n<~* 454 4.7.1 <b@example.net>: Recipient address rejected: Access denied\r\n", 454, true},
		{"plaintext", " -> RCPT TO:<b@example.net>\n<-  250 2.1.5 Ok\n", 250, true},
		{"plaintext refused", " -> RCPT TO:<b@example.net>\n<** 454 4.7.1 <b@example.net>: Recipient address rejected: Access denied\n", 454, true},
		{"multi-line reply", " ~> RCPT TO:<b@example.net>\n<~* 550-5.1.1 first\n<~* 550 5.1.1 last\n", 550, true},
		{"replies before RCPT only", "<-  220 banner\n ~> MAIL FROM:<a@relay.test>\n<~  250 2.1.0 Ok\n", 0, false},
		{"tls failed", "<-  220 banner\n -> STARTTLS\n<-* 454 4.7.0 TLS not available\n", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := rcptReply(tc.transcript)
			if got != tc.want || ok != tc.ok {
				t.Errorf("rcptReply(%q) = %d, %v; want %d, %v", tc.transcript, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		digest string
		data   string
		want   string
	}{
		{"md5", "abc", "90:01:50:98:3C:D2:4F:B0:D6:96:3F:7D:28:E1:7F:72"},
		{"sha1", "abc", "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D"},
		{"sha256", "abc", "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"},
	}
	for _, tc := range tests {
		t.Run(tc.digest, func(t *testing.T) {
			t.Parallel()
			if got := Fingerprint(tc.digest, []byte(tc.data)); got != tc.want {
				t.Errorf("Fingerprint(%q, %q) = %s, want %s", tc.digest, tc.data, got, tc.want)
			}
		})
	}
}

func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		Start(b, Options{})
	}
}

func BenchmarkReload(b *testing.B) {
	in := Start(b, Options{})
	for b.Loop() {
		in.Reload(b)
	}
}

func BenchmarkSwaks(b *testing.B) {
	in := Start(b, Options{})
	c := NewClientCert(b, "", "a.relay.test", nil, time.Time{})
	in.SetTable(b, []byte(line(c.Fingerprint("sha256"), "a")))
	for b.Loop() {
		if code, tr := in.Swaks(b, c, false); code != 250 {
			b.Fatalf("RCPT reply %d, want 250:\n%s", code, tr)
		}
	}
}

// recorder is a testing.TB that records Fatal and Skip and stops the
// calling goroutine, as the real ones do.
type recorder struct {
	testing.TB
	fatal, skip bool
}

func (r *recorder) Helper()           {}
func (r *recorder) Fatal(args ...any) { r.fatal = true; runtime.Goexit() }
func (r *recorder) Skip(args ...any)  { r.skip = true; runtime.Goexit() }

func TestRequireMissingProgram(t *testing.T) {
	tests := []struct {
		name      string
		ci        string
		wantFatal bool
	}{
		{"CI set: fail", "true", true},
		{"CI unset: skip", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Require(r, "postfixtest-no-such-program")
			}()
			<-done
			if r.fatal != tc.wantFatal || r.skip == tc.wantFatal {
				t.Errorf("CI=%q: Fatal %v, Skip %v; want Fatal %v, Skip %v", tc.ci, r.fatal, r.skip, tc.wantFatal, !tc.wantFatal)
			}
		})
	}
}

// TestStopStalePidFile: a stopped instance whose master.pid names a pid
// that another process has since been given. Stop must leave that process
// alone (it used to kill its whole process group).
func TestStopStalePidFile(t *testing.T) {
	t.Parallel()
	in := Start(t, Options{})
	in.Stop(t)
	other := exec.Command("sleep", "30")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = other.Process.Kill()
		_ = other.Wait()
	}()
	pidFile := filepath.Join(in.QueueDir, "pid", "master.pid")
	if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%11d\n", other.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Stop runs once: call what it runs. A zombie counts as gone.
	in.stop(t)
	if !processExists(other.Process.Pid) {
		t.Errorf("after Stop with a stale master.pid naming pid %d (sleep): gone, want it still running", other.Process.Pid)
	}
}
