package probe

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/golden"
)

// okTimeout bounds probes that should end on their own; no test waits for it.
const okTimeout = 20 * time.Second

// shortTimeout is the deadline of the deadline tests.
const shortTimeout = 300 * time.Millisecond

func TestProbeGoSMTP(t *testing.T) {
	t.Parallel()
	for _, proto := range []Protocol{SMTP, SMTPS} {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			pki := newPKI(t, nil)
			addr := startSMTP(t, proto, pki)
			ctx, cancel := context.WithTimeout(context.Background(), okTimeout)
			defer cancel()
			res, err := Probe(ctx, addr, Options{Protocol: proto, ServerName: "relay.test"})
			if err != nil {
				t.Fatalf("Probe(%s, %v) error: %v", addr, proto, err)
			}
			pki.checkChain(t, res.Certs)
			if !res.Proven() {
				t.Errorf("Proven() = false after a completed handshake")
			}
			if !res.Certs[0].Equal(pki.leaf) || string(res.Certs[0].Raw) != string(pki.leaf.Raw) {
				t.Errorf("leaf Raw differs from the server's")
			}
			if res.Addr != addr {
				t.Errorf("Addr = %q, want %q", res.Addr, addr)
			}
			if want := []string{"relay.test ESMTP Service Ready"}; !slices.Equal(res.Banner, want) {
				t.Errorf("Banner = %q, want %q", res.Banner, want)
			}
			if proto == SMTP {
				if !slices.Contains(res.EHLO, "STARTTLS") {
					t.Errorf("EHLO = %q, want it to list STARTTLS", res.EHLO)
				}
			} else if res.EHLO != nil {
				t.Errorf("EHLO = %q, want nil for smtps (no plain-text EHLO)", res.EHLO)
			}
			if len(res.EHLOAfterTLS) == 0 || slices.Contains(res.EHLOAfterTLS, "STARTTLS") {
				t.Errorf("EHLOAfterTLS = %q, want extensions without STARTTLS", res.EHLOAfterTLS)
			}
			if res.TLSVersion != tls.VersionTLS13 {
				t.Errorf("TLSVersion = %s, want TLS 1.3", tls.VersionName(res.TLSVersion))
			}
			if res.CipherSuite == 0 {
				t.Errorf("CipherSuite = 0, want the negotiated suite")
			}
			if res.QuitErr != nil {
				t.Errorf("QuitErr = %v, want nil (go-smtp answers 221)", res.QuitErr)
			}
			tm := res.Timings
			if tm.TLS <= 0 || tm.Total < tm.Connect+tm.TLS {
				t.Errorf("Timings = %+v, want TLS > 0 and Total >= Connect+TLS", tm)
			}
		})
	}
}

// Script pieces for the fakes.
const (
	banner       = "220 fake.test ESMTP\r\n"
	ehloStartTLS = "250-fake.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
	ehloTLS      = "250-fake.test\r\n250 SIZE 1000\r\n"
)

// toTLS plays banner, EHLO with STARTTLS and STARTTLS, then the handshake.
func (f *fake) toTLS(cfg *tls.Config) {
	f.send(banner)
	f.expect("EHLO")
	f.send(ehloStartTLS)
	f.expect("STARTTLS")
	f.send("220 2.0.0 ready\r\n")
	f.startTLS(cfg)
}

// finish plays EHLO over TLS and QUIT.
func (f *fake) finish() {
	f.expect("EHLO")
	f.send(ehloTLS)
	f.expect("QUIT")
	f.send("221 2.0.0 bye\r\n")
}

type fakeCase struct {
	name    string
	proto   Protocol
	timeout time.Duration // okTimeout when zero
	script  func(f *fake, cfg *tls.Config)

	wantStage Stage // "" for success
	wantErr   error // errors.Is target; nil to skip the check
	wantCode  int   // ReplyError code; 0 to skip the check
	wantCerts bool  // Result.Certs holds the test chain despite the error
	check     func(t *testing.T, res *Result)
}

func TestProbeFakes(t *testing.T) {
	t.Parallel()
	tests := []fakeCase{
		{
			name: "multi-line banner",
			script: func(f *fake, cfg *tls.Config) {
				f.send("220-fake.test ESMTP\r\n220-no UCE\r\n220 \r\n")
				f.expect("EHLO")
				f.send(ehloStartTLS)
				f.expect("STARTTLS")
				f.send("220 2.0.0 ready\r\n")
				f.startTLS(cfg)
				f.finish()
			},
			check: func(t *testing.T, res *Result) {
				if want := []string{"fake.test ESMTP", "no UCE", ""}; !slices.Equal(res.Banner, want) {
					t.Errorf("Banner = %q, want %q", res.Banner, want)
				}
			},
		},
		{
			name: "lowercase starttls, bare LF, code-only line",
			script: func(f *fake, cfg *tls.Config) {
				f.send("220\n")
				f.expect("EHLO")
				f.send("250-fake.test\n250-size 1000\n250 starttls\n")
				f.expect("STARTTLS")
				f.send("220\n")
				f.startTLS(cfg)
				f.expect("EHLO")
				f.send("250\n")
				f.expect("QUIT")
				f.send("221\n")
			},
			check: func(t *testing.T, res *Result) {
				if want := []string{"SIZE 1000", "STARTTLS"}; !slices.Equal(res.EHLO, want) {
					t.Errorf("EHLO = %q, want %q", res.EHLO, want)
				}
				if len(res.EHLOAfterTLS) != 0 {
					t.Errorf("EHLOAfterTLS = %q, want none", res.EHLOAfterTLS)
				}
			},
		},
		{
			name: "QUIT unanswered is not a failure",
			script: func(f *fake, cfg *tls.Config) {
				f.toTLS(cfg)
				f.expect("EHLO")
				f.send(ehloTLS)
				f.expect("QUIT")
			},
			check: func(t *testing.T, res *Result) {
				var e *Error
				if !errors.As(res.QuitErr, &e) || e.Stage != StageQUIT || !errors.Is(e, errServerClosed) {
					t.Errorf("QuitErr = %v, want connection closed at stage QUIT", res.QuitErr)
				}
			},
		},
		{
			name: "TLS 1.0 only, as an old relay",
			script: func(f *fake, cfg *tls.Config) {
				cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS10
				f.toTLS(cfg)
				f.finish()
			},
			check: func(t *testing.T, res *Result) {
				if res.TLSVersion != tls.VersionTLS10 {
					t.Errorf("TLSVersion = %s, want TLS 1.0", tls.VersionName(res.TLSVersion))
				}
			},
		},
		{
			name:  "smtps",
			proto: SMTPS,
			script: func(f *fake, cfg *tls.Config) {
				f.startTLS(cfg)
				f.send(banner)
				f.finish()
			},
		},
		{
			name:      "banner refused",
			script:    func(f *fake, _ *tls.Config) { f.send("554 5.3.2 no service for you\r\n") },
			wantStage: StageBanner, wantCode: 554,
		},
		{
			name:      "garbage banner",
			script:    func(f *fake, _ *tls.Config) { f.send("SSH-2.0-OpenSSH_9.6\r\n") },
			wantStage: StageBanner, wantErr: errProtocol,
		},
		{
			name:      "code changes within a reply",
			script:    func(f *fake, _ *tls.Config) { f.send("220-fake.test\r\n250 hi\r\n") },
			wantStage: StageBanner, wantErr: errProtocol,
		},
		{
			name: "endless line",
			script: func(f *fake, _ *tls.Config) {
				chunk := strings.Repeat("x", 1024)
				f.send("220 ")
				for {
					f.send(chunk)
				}
			},
			wantStage: StageBanner, wantErr: errProtocol,
		},
		{
			name: "10000 continuation lines",
			script: func(f *fake, _ *tls.Config) {
				for range 10000 {
					f.send("220-more\r\n")
				}
				f.send(banner)
			},
			wantStage: StageBanner, wantErr: errProtocol,
		},
		{
			name:      "close before banner",
			script:    func(f *fake, _ *tls.Config) {},
			wantStage: StageBanner, wantErr: errServerClosed,
		},
		{
			name:      "close mid-line",
			script:    func(f *fake, _ *tls.Config) { f.send("220 fake") },
			wantStage: StageBanner, wantErr: errServerClosed,
		},
		{
			name: "close at EHLO",
			script: func(f *fake, _ *tls.Config) {
				f.send(banner)
				f.expect("EHLO")
			},
			wantStage: StageEHLO, wantErr: errServerClosed,
		},
		{
			name: "EHLO refused 500",
			script: func(f *fake, _ *tls.Config) {
				f.send(banner)
				f.expect("EHLO")
				f.send("500 5.5.1 command unrecognized\r\n")
				f.drain()
			},
			wantStage: StageEHLO, wantCode: 500,
		},
		{
			name: "EHLO refused 550",
			script: func(f *fake, _ *tls.Config) {
				f.send(banner)
				f.expect("EHLO")
				f.send("550-5.7.1 go away\r\n550 5.7.1 really\r\n")
				f.drain()
			},
			wantStage: StageEHLO, wantCode: 550,
		},
		{
			name: "no STARTTLS offered",
			script: func(f *fake, _ *tls.Config) {
				f.send(banner)
				f.expect("EHLO")
				f.send("250-fake.test\r\n250-STARTTLSX\r\n250 SIZE\r\n")
				f.drain()
			},
			wantStage: StageEHLO, wantErr: ErrNoSTARTTLS,
		},
		{
			name: "STARTTLS only in the EHLO greeting line",
			script: func(f *fake, _ *tls.Config) {
				f.send(banner)
				f.expect("EHLO")
				f.send("250-STARTTLS\r\n250-XSTARTTLS\r\n250 8BITMIME STARTTLS\r\n")
				f.drain()
			},
			wantStage: StageEHLO, wantErr: ErrNoSTARTTLS,
		},
		{
			name: "mixed-case StartTLS with trailing space",
			script: func(f *fake, cfg *tls.Config) {
				f.send(banner)
				f.expect("EHLO")
				f.send("250-fake.test\r\n250 StartTLS \r\n")
				f.expect("STARTTLS")
				f.send("220 2.0.0 ready\r\n")
				f.startTLS(cfg)
				f.finish()
			},
		},
		{
			name: "close at STARTTLS",
			script: func(f *fake, _ *tls.Config) {
				f.send(banner)
				f.expect("EHLO")
				f.send(ehloStartTLS)
				f.expect("STARTTLS")
			},
			wantStage: StageSTARTTLS, wantErr: errServerClosed,
		},
		{
			name: "STARTTLS refused",
			script: func(f *fake, _ *tls.Config) {
				f.send(banner)
				f.expect("EHLO")
				f.send(ehloStartTLS)
				f.expect("STARTTLS")
				f.send("454 4.7.0 TLS not available due to local problem\r\n")
				f.drain()
			},
			wantStage: StageSTARTTLS, wantCode: 454,
		},
		{
			name: "data after STARTTLS reply",
			script: func(f *fake, _ *tls.Config) {
				f.send(banner)
				f.expect("EHLO")
				f.send(ehloStartTLS)
				f.expect("STARTTLS")
				f.send("220 2.0.0 ready\r\n250 injected\r\n")
				f.drain()
			},
			wantStage: StageSTARTTLS, wantErr: errProtocol,
		},
		{
			// One byte is enough to be read later as if it came over TLS
			// (issue 13 item 19: "n > 1" passed every other case).
			name: "one byte after STARTTLS reply",
			script: func(f *fake, _ *tls.Config) {
				f.send(banner)
				f.expect("EHLO")
				f.send(ehloStartTLS)
				f.expect("STARTTLS")
				f.send("220 2.0.0 ready\r\n2")
				f.drain()
			},
			wantStage: StageSTARTTLS, wantErr: errProtocol,
		},
		{
			name: "close after STARTTLS reply",
			script: func(f *fake, _ *tls.Config) {
				f.send(banner)
				f.expect("EHLO")
				f.send(ehloStartTLS)
				f.expect("STARTTLS")
				f.send("220 2.0.0 ready\r\n")
				// Close once the ClientHello is in: closing before it
				// arrives races it, and the client may see a reset.
				f.readRecord()
			},
			wantStage: StageTLS, wantErr: errServerClosed,
		},
		{
			name: "TLS server without certificate",
			script: func(f *fake, _ *tls.Config) {
				f.toTLS(&tls.Config{})
			},
			wantStage: StageTLS,
		},
		{
			name: "plain text instead of TLS",
			script: func(f *fake, _ *tls.Config) {
				f.send(banner)
				f.expect("EHLO")
				f.send(ehloStartTLS)
				f.expect("STARTTLS")
				f.send("220 2.0.0 ready\r\n")
				_, _ = f.r.Peek(5) // the ClientHello is on its way
				f.send("500 5.5.1 what is this\r\n")
				f.drain()
			},
			wantStage: StageTLS,
		},
		{
			name:  "smtps against plain SMTP",
			proto: SMTPS,
			script: func(f *fake, _ *tls.Config) {
				f.send(banner)
				f.drain()
			},
			wantStage: StageTLS,
		},
		{
			name: "close after TLS keeps the chain",
			script: func(f *fake, cfg *tls.Config) {
				f.toTLS(cfg)
				f.expect("EHLO")
			},
			wantStage: StageEHLOAfterTLS, wantErr: errServerClosed, wantCerts: true,
		},
		{
			name: "EHLO after TLS refused",
			script: func(f *fake, cfg *tls.Config) {
				f.toTLS(cfg)
				f.expect("EHLO")
				f.send("421 4.7.0 fake.test closing\r\n")
			},
			wantStage: StageEHLOAfterTLS, wantCode: 421, wantCerts: true,
		},

		// Deadlines.
		{
			name:      "silent server",
			timeout:   shortTimeout,
			script:    func(f *fake, _ *tls.Config) { f.drain() },
			wantStage: StageBanner, wantErr: context.DeadlineExceeded,
		},
		{
			name:    "one byte at a time",
			timeout: shortTimeout,
			script: func(f *fake, _ *tls.Config) {
				for {
					f.send("2")
					time.Sleep(50 * time.Millisecond)
				}
			},
			wantStage: StageBanner, wantErr: context.DeadlineExceeded,
		},
		{
			name:    "hang mid-handshake",
			timeout: shortTimeout,
			script: func(f *fake, _ *tls.Config) {
				f.send(banner)
				f.expect("EHLO")
				f.send(ehloStartTLS)
				f.expect("STARTTLS")
				f.send("220 2.0.0 ready\r\n")
				f.drain()
			},
			wantStage: StageTLS, wantErr: context.DeadlineExceeded,
		},
		{
			name:      "smtps hang mid-handshake",
			proto:     SMTPS,
			timeout:   shortTimeout,
			script:    func(f *fake, _ *tls.Config) { f.drain() },
			wantStage: StageTLS, wantErr: context.DeadlineExceeded,
		},
		{
			name:    "hang at EHLO after TLS keeps the chain",
			timeout: shortTimeout,
			script: func(f *fake, cfg *tls.Config) {
				f.toTLS(cfg)
				f.drain()
			},
			wantStage: StageEHLOAfterTLS, wantErr: context.DeadlineExceeded, wantCerts: true,
		},
		{
			name:    "hang at QUIT is not a failure",
			timeout: shortTimeout,
			script: func(f *fake, cfg *tls.Config) {
				f.toTLS(cfg)
				f.expect("EHLO")
				f.send(ehloTLS)
				f.drain()
			},
			check: func(t *testing.T, res *Result) {
				var e *Error
				if !errors.As(res.QuitErr, &e) || e.Stage != StageQUIT || !errors.Is(e, context.DeadlineExceeded) {
					t.Errorf("QuitErr = %v, want a timeout at stage QUIT", res.QuitErr)
				}
			},
		},
	}

	var mu sync.Mutex
	golden := map[string]string{}
	t.Run("cases", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				msg := runFake(t, tc)
				mu.Lock()
				golden[tc.name] = msg
				mu.Unlock()
			})
		}
	})
	var b strings.Builder
	b.WriteString("# Error() of each failing fake in TestProbeFakes; ADDR is the fake's address.\n")
	b.WriteString("# Regenerate with: go test ./lib/probe -run TestProbeFakes -update\n")
	for _, tc := range tests {
		if tc.wantStage != "" {
			fmt.Fprintf(&b, "%s\n\t%s\n", tc.name, golden[tc.name])
		}
	}
	checkGolden(t, "errors.golden", b.String())
}

// errProtocol stands for any *protocolError in fakeCase.wantErr.
var errProtocol = errors.New("a *protocolError")

// runFake probes a fake running tc.script and checks the outcome; it returns
// the error message with the address replaced by ADDR.
func runFake(t *testing.T, tc fakeCase) string {
	pki := newPKI(t, nil)
	addr := startFake(t, func(f *fake) { tc.script(f, pki.serverConfig()) })
	timeout := tc.timeout
	if timeout == 0 {
		timeout = okTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := Probe(ctx, addr, Options{Protocol: tc.proto})
	if res == nil {
		t.Fatalf("Probe(%s) returned a nil Result", tc.name)
	}
	if tc.check != nil {
		tc.check(t, res)
	}
	if tc.wantStage == "" {
		if err != nil {
			t.Fatalf("Probe error: %v, want success", err)
		}
		pki.checkChain(t, res.Certs)
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Probe error = %v (%T), want *Error at stage %q", err, err, tc.wantStage)
	}
	if e.Stage != tc.wantStage || e.Addr != addr {
		t.Errorf("error %q: Stage, Addr = %q, %q, want %q, %q", err, e.Stage, e.Addr, tc.wantStage, addr)
	}
	switch want := tc.wantErr.(type) {
	case nil:
	case error:
		if want == errProtocol {
			var pe *protocolError
			if !errors.As(err, &pe) {
				t.Errorf("error %q: want a *protocolError in its chain", err)
			}
		} else if !errors.Is(err, want) {
			t.Errorf("error %q: want errors.Is(err, %q)", err, want)
		}
	}
	if tc.wantErr != context.DeadlineExceeded && errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q: a timeout, want the server's misbehavior reported before the deadline", err)
	}
	if tc.wantCode != 0 {
		var re *ReplyError
		if !errors.As(err, &re) || re.Code != tc.wantCode {
			t.Errorf("error %q: want a ReplyError with code %d", err, tc.wantCode)
		}
	}
	if tc.wantCerts {
		pki.checkChain(t, res.Certs)
	} else if tc.wantStage != StageEHLOAfterTLS && tc.wantStage != StageQUIT && len(res.Certs) != 0 {
		t.Errorf("Certs has %d entries, want none before the handshake succeeded", len(res.Certs))
	}
	return strings.ReplaceAll(err.Error(), addr, "ADDR")
}

// checkGolden compares got with fixtures/probe/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Compare(t, filepath.Join("..", "..", "fixtures", "probe", name), []byte(got))
}

func TestProbeRSAKeyExchange(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pki := newPKI(t, key)
	addr := startFake(t, func(f *fake) {
		cfg := pki.serverConfig()
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}
		f.toTLS(cfg)
		f.finish()
	})
	ctx, cancel := context.WithTimeout(context.Background(), okTimeout)
	defer cancel()
	res, err := Probe(ctx, addr, Options{})
	if err != nil {
		t.Fatalf("Probe against a relay offering only TLS_RSA_WITH_AES_128_CBC_SHA: %v", err)
	}
	pki.checkChain(t, res.Certs)
	if res.CipherSuite != tls.TLS_RSA_WITH_AES_128_CBC_SHA {
		t.Errorf("CipherSuite = %s, want TLS_RSA_WITH_AES_128_CBC_SHA", tls.CipherSuiteName(res.CipherSuite))
	}
}

func TestProbeCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background()) // no deadline: only AfterFunc can end the read
	defer cancel()
	addr := startFake(t, func(f *fake) {
		f.send(banner)
		f.expect("EHLO")
		cancel()
		f.drain()
	})
	_, err := Probe(ctx, addr, Options{})
	var e *Error
	if !errors.As(err, &e) || e.Stage != StageEHLO || !errors.Is(err, context.Canceled) {
		t.Fatalf("Probe error = %v, want canceled at stage EHLO", err)
	}
	if want := "canceled during EHLO with " + addr; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
}

func TestProbeConnect(t *testing.T) {
	t.Parallel()
	// A port that was just free: nothing listens there.
	l := listen(t)
	closedAddr := l.Addr().String()
	l.Close()

	tests := []struct {
		name    string
		timeout time.Duration
		addr    string
		opts    Options
		wantErr error
		wantMsg string
	}{
		{"refused", okTimeout, closedAddr, Options{}, nil, "connect to " + closedAddr + ": connection refused"},
		{"deadline already passed", -time.Second, closedAddr, Options{}, context.DeadlineExceeded, "timeout during connect to " + closedAddr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			_, err := Probe(ctx, tc.addr, tc.opts)
			var e *Error
			if !errors.As(err, &e) || e.Stage != StageConnect {
				t.Fatalf("Probe(%s) error = %v, want *Error at stage connect", tc.addr, err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q: want errors.Is(err, %v)", err, tc.wantErr)
			}
			if err.Error() != tc.wantMsg {
				t.Errorf("Error() = %q, want %q", err, tc.wantMsg)
			}
		})
	}
}

func TestProbeInvalidOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"EHLO with CRLF", Options{EHLO: "a\r\nMAIL FROM:<x>"}, `invalid EHLO name "a\r\nMAIL FROM:<x>": space or control character`},
		{"EHLO with space", Options{EHLO: "a b"}, `invalid EHLO name "a b": space or control character`},
		{"unknown protocol", Options{Protocol: 7}, "invalid protocol Protocol(7)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := Probe(context.Background(), "127.0.0.1:1", tc.opts)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Probe(%+v) error = %v, want %q", tc.opts, err, tc.want)
			}
			if res == nil {
				t.Errorf("Probe(%+v) Result = nil, want non-nil", tc.opts)
			}
		})
	}
}

func TestProbeEHLOName(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	addr := startFake(t, func(f *fake) {
		f.send(banner)
		line, _ := f.r.ReadString('\n')
		got <- line
		f.send("550 no\r\n")
		f.drain()
	})
	for _, tc := range []struct{ name, ehlo, want string }{
		{"default", "", "EHLO localhost\r\n"},
		{"set", "monitor.example.org", "EHLO monitor.example.org\r\n"},
	} {
		_, _ = Probe(context.Background(), addr, Options{EHLO: tc.ehlo})
		if line := <-got; line != tc.want {
			t.Errorf("%s: server read %q, want %q", tc.name, line, tc.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"timeout", &Error{Stage: StageTLS, Addr: "192.0.2.1:25", Err: context.DeadlineExceeded}, "timeout during TLS handshake with 192.0.2.1:25"},
		{"wrapped timeout", &Error{Stage: StageBanner, Addr: "192.0.2.1:25", Err: fmt.Errorf("x: %w", context.DeadlineExceeded)}, "timeout during banner from 192.0.2.1:25"},
		{"reply", &Error{Stage: StageSTARTTLS, Addr: "192.0.2.1:25", Err: &ReplyError{454, []string{"4.7.0 TLS not available"}}},
			"STARTTLS with 192.0.2.1:25: server replied 454 4.7.0 TLS not available"},
		{"multi-line reply", &Error{Stage: StageEHLO, Addr: "[2001:db8::1]:25", Err: &ReplyError{550, []string{"5.7.1 no", "5.7.1 really"}}},
			"EHLO with [2001:db8::1]:25: server replied 550 5.7.1 no; 5.7.1 really"},
		{"control characters", &Error{Stage: StageBanner, Addr: "192.0.2.1:25", Err: &ReplyError{554, []string{"\x1b[31mred\x00\xff"}}},
			"banner from 192.0.2.1:25: server replied 554 ?[31mred?\uFFFD"},
		{"code only", &Error{Stage: StageQUIT, Addr: "192.0.2.1:465", Err: &ReplyError{Code: 500}}, "QUIT with 192.0.2.1:465: server replied 500"},
		{"nil cause", &Error{Stage: StageConnect, Addr: "192.0.2.1:25"}, "connect to 192.0.2.1:25: unknown error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
	long := (&ReplyError{Code: 550, Lines: []string{strings.Repeat("é", 1000)}}).Error()
	if len(long) > len("server replied 550 ")+maxErrorText+len("...") || !strings.HasSuffix(long, "é...") {
		t.Errorf("ReplyError with a 2000-byte text: Error() has %d bytes ending %q, want it cut at %d bytes on a rune boundary", len(long), long[len(long)-8:], maxErrorText)
	}
}

// BenchmarkProbe probes an in-process go-smtp server; go-smtp writes with
// TCP_NODELAY, so TCP_QUICKACK should make no difference here.
func BenchmarkProbe(b *testing.B) {
	pki := newPKI(b, nil)
	for _, proto := range []Protocol{SMTP, SMTPS} {
		addr := startSMTP(b, proto, pki)
		for _, quick := range []bool{true, false} {
			b.Run(fmt.Sprintf("go-smtp/%s/quickack=%v", proto, quick), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					ctx, cancel := context.WithTimeout(context.Background(), okTimeout)
					_, err := Probe(ctx, addr, Options{Protocol: proto, noQuickACK: !quick})
					cancel()
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkProbeNagle probes a fake that writes every reply line on its own
// with Nagle's algorithm on, with and without TCP_QUICKACK on the client.
func BenchmarkProbeNagle(b *testing.B) {
	pki := newPKI(b, nil)
	cfg := pki.serverConfig()
	addr := startFake(b, func(f *fake) {
		_ = f.Conn.(*net.TCPConn).SetNoDelay(false)
		lines := func(ls ...string) {
			for _, l := range ls {
				f.send(l + "\r\n")
			}
		}
		lines("220-fake.test ESMTP", "220 hello")
		f.expect("EHLO")
		lines("250-fake.test", "250-PIPELINING", "250-SIZE 10240000", "250-STARTTLS", "250 8BITMIME")
		f.expect("STARTTLS")
		lines("220 2.0.0 ready")
		f.startTLS(cfg)
		f.expect("EHLO")
		lines("250-fake.test", "250-PIPELINING", "250-SIZE 10240000", "250 8BITMIME")
		f.expect("QUIT")
		lines("221 2.0.0 bye")
	})
	for _, quick := range []bool{true, false} {
		b.Run(fmt.Sprintf("quickack=%v", quick), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), okTimeout)
				_, err := Probe(ctx, addr, Options{noQuickACK: !quick})
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestProbeLeavesNoGoroutines runs probes that succeed, time out, are
// canceled mid-handshake and fail early, then checks that no goroutine of
// theirs outlives them (the handshake's context watcher, an AfterFunc, a
// reader). Not parallel, so that other tests' goroutines stay still; the
// servers are gone before the count.
func TestProbeLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("probes", func(t *testing.T) {
		pki := newPKI(t, nil)
		ok := startSMTP(t, SMTP, pki)
		okTLS := startSMTP(t, SMTPS, pki)
		silent := startFake(t, func(f *fake) { f.drain() })
		hangTLS := startFake(t, func(f *fake) {
			f.send(banner)
			f.expect("EHLO")
			f.send(ehloStartTLS)
			f.expect("STARTTLS")
			f.send("220 2.0.0 ready\r\n")
			f.drain()
		})
		refused := listen(t)
		refusedAddr := refused.Addr().String()
		refused.Close()
		for _, tc := range []struct {
			name   string
			addr   string
			proto  Protocol
			cancel bool // cancel once the server has received the ClientHello
			wait   time.Duration
		}{
			{"success", ok, SMTP, false, okTimeout},
			{"success smtps", okTLS, SMTPS, false, okTimeout},
			{"deadline at banner", silent, SMTP, false, shortTimeout},
			{"deadline mid-handshake", hangTLS, SMTP, false, shortTimeout},
			{"canceled mid-handshake", hangTLS, SMTP, true, okTimeout},
			{"refused", refusedAddr, SMTP, false, okTimeout},
		} {
			{
				ctx, cancel := context.WithTimeout(context.Background(), tc.wait)
				if tc.cancel {
					time.AfterFunc(shortTimeout, cancel)
				}
				_, err := Probe(ctx, tc.addr, Options{Protocol: tc.proto})
				cancel()
				if (err == nil) != strings.HasPrefix(tc.name, "success") {
					t.Fatalf("%s: Probe(%s) error = %v", tc.name, tc.addr, err)
				}
			}
		}
	})
	// The servers' own goroutines end shortly after their Cleanup; a leak
	// never does. The bound only ends a failing test.
	var n int
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if n = runtime.NumGoroutine(); n <= before {
			return
		}
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Errorf("%d goroutines after the probes returned, %d before; goroutines:\n%s", n, before, buf)
}

// TestProbeSNI checks what the server sees as SNI: the name given, and
// nothing for an empty ServerName or an IP literal (RFC 6066 forbids
// literal addresses in SNI), over IPv4 and IPv6 loopback.
func TestProbeSNI(t *testing.T) {
	t.Parallel()
	pki := newPKI(t, nil)
	for _, network := range []string{"127.0.0.1", "::1"} {
		l, err := net.Listen("tcp", net.JoinHostPort(network, "0"))
		if err != nil {
			if network == "::1" && os.Getenv("CI") == "" {
				t.Logf("no IPv6 loopback here (%v): IPv6 cases not run", err)
				continue
			}
			t.Fatal(err)
		}
		sni := make(chan string, 1)
		cfg := pki.serverConfig()
		cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			sni <- hello.ServerName
			return nil, nil
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				func() {
					defer c.Close()
					defer func() {
						if r := recover(); r != nil && r != errStopScript {
							panic(r)
						}
					}()
					_ = c.SetDeadline(time.Now().Add(30 * time.Second))
					f := &fake{Conn: c, r: bufio.NewReader(c)}
					f.toTLS(cfg)
					f.finish()
				}()
			}
		}()
		addr := l.Addr().String()
		for _, tc := range []struct{ serverName, want string }{
			{"relay.test", "relay.test"},
			{"relay.test.", "relay.test"},
			{"", ""},
			{network, ""},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), okTimeout)
			res, err := Probe(ctx, addr, Options{ServerName: tc.serverName})
			cancel()
			if err != nil {
				t.Fatalf("Probe(%s, ServerName %q): %v", addr, tc.serverName, err)
			}
			pki.checkChain(t, res.Certs)
			if got := <-sni; got != tc.want {
				t.Errorf("Probe(%s, ServerName %q): server saw SNI %q, want %q", addr, tc.serverName, got, tc.want)
			}
			if res.Addr != addr {
				t.Errorf("Result.Addr = %q, want %q", res.Addr, addr)
			}
		}
		l.Close()
		<-done
	}
}

// TestProbeCertificateWithoutKey: a server that sends a certificate but not
// the key's proof (here it signs with another key) fails the handshake. The
// chain it sent is kept for diagnosis, but TLSVersion stays 0 and the error
// is at the TLS stage, so that a caller can tell a copied certificate from
// one the server holds.
func TestProbeCertificateWithoutKey(t *testing.T) {
	t.Parallel()
	for _, maxVersion := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(maxVersion), func(t *testing.T) {
			t.Parallel()
			pki := newPKI(t, nil)
			other := newPKI(t, nil)
			stolen := pki.cert
			stolen.PrivateKey = other.cert.PrivateKey
			addr := startFake(t, func(f *fake) {
				f.toTLS(&tls.Config{Certificates: []tls.Certificate{stolen}, MaxVersion: maxVersion})
				f.finish()
			})
			ctx, cancel := context.WithTimeout(context.Background(), okTimeout)
			defer cancel()
			res, err := Probe(ctx, addr, Options{})
			var e *Error
			if !errors.As(err, &e) || e.Stage != StageTLS {
				t.Fatalf("Probe of a server without the certificate's key: error = %v, want one at stage %q", err, StageTLS)
			}
			if res.TLSVersion != 0 || res.CipherSuite != 0 {
				t.Errorf("TLSVersion, CipherSuite = %#x, %#x; want 0, 0 for a failed handshake", res.TLSVersion, res.CipherSuite)
			}
			if res.Proven() {
				t.Errorf("Proven() = true for a chain whose key the server did not prove it holds")
			}
			pki.checkChain(t, res.Certs)
		})
	}
}
