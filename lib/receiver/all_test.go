package receiver

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/probe"
)

func TestAskAll(t *testing.T) {
	t.Parallel()
	a, b := newCert(t, "a.relay.test"), newCert(t, "b.relay.test")
	trustsA := startFake(t, fakeOpts{tls: serverTLS(t, tls.RequestClientCert, 0), trusted: []tls.Certificate{a}})
	trustsB := startFake(t, fakeOpts{tls: serverTLS(t, tls.RequestClientCert, 0), trusted: []tls.Certificate{b}})
	_, portB, _ := net.SplitHostPort(trustsB.addr)

	errNX := errors.New("no such host")
	resolve := func(_ context.Context, host, network string) ([]netip.Addr, error) {
		switch host {
		case "mx-b.test":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		case "127.0.0.1":
			return []netip.Addr{netip.MustParseAddr(host)}, nil
		}
		return nil, &probe.Error{Stage: probe.StageResolve, Addr: host, Err: errNX}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	receivers := []string{trustsA.addr, "mx-b.test:" + portB, "gone.test"}
	answers, err := AskAll(ctx, receivers, []tls.Certificate{a, b}, AllOptions{Resolve: resolve})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		receiver, addr string
		cert           int
		verdict        Verdict
		err            error
	}
	want := []row{
		{trustsA.addr, trustsA.addr, 0, Accepted, nil},
		{trustsA.addr, trustsA.addr, 1, Refused, nil},
		{"mx-b.test:" + portB, trustsB.addr, 0, Refused, nil},
		{"mx-b.test:" + portB, trustsB.addr, 1, Accepted, nil},
		{"gone.test", "gone.test:25", 0, Other, errNX},
		{"gone.test", "gone.test:25", 1, Other, errNX},
	}
	if len(answers) != len(want) {
		t.Fatalf("got %d answers, want %d: %+v", len(answers), len(want), answers)
	}
	for i, w := range want {
		g := answers[i]
		var verdict Verdict
		if g.Result != nil {
			verdict = g.Result.Verdict
		}
		if g.Receiver != w.receiver || g.Addr != w.addr || g.Cert != w.cert || verdict != w.verdict {
			t.Errorf("answer %d = {%s %s cert %d %v}, want {%s %s cert %d %v}", i, g.Receiver, g.Addr, g.Cert, verdict, w.receiver, w.addr, w.cert, w.verdict)
		}
		if w.err == nil && g.Err != nil || w.err != nil && !errors.Is(g.Err, w.err) {
			t.Errorf("answer %d: Err = %v, want %v", i, g.Err, w.err)
		}
		if w.err != nil && g.Result != nil {
			t.Errorf("answer %d: Result set for a name that did not resolve", i)
		}
	}

	for _, bad := range []struct {
		receiver string
		opts     AllOptions
		err      string
	}{
		{"[::1", AllOptions{}, "receiver [::1: missing ']'"},
		{"mx.test:0", AllOptions{}, "receiver mx.test:0: invalid port"},
		{"mx.test", AllOptions{Options: Options{Rcpt: "a b"}}, "recipient: invalid address"},
	} {
		_, err := AskAll(ctx, []string{bad.receiver}, []tls.Certificate{a}, bad.opts)
		if err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("AskAll(%q) error = %v, want %q", bad.receiver, err, bad.err)
		}
	}
}

// TestAskAllControl asks with the control question: a receiver that relays
// for anyone accepts it, one that relays for listed certificates refuses it.
// The answers also show the SNI sent: the name for a receiver given by name.
func TestAskAllControl(t *testing.T) {
	t.Parallel()
	a := newCert(t, "a.relay.test")
	var mu sync.Mutex
	var sni []string
	sniTLS := func() *tls.Config {
		c := serverTLS(t, tls.RequestClientCert, 0)
		c.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			mu.Lock()
			sni = append(sni, h.ServerName)
			mu.Unlock()
			return nil, nil
		}
		return c
	}
	trustsA := startFake(t, fakeOpts{tls: sniTLS(), trusted: []tls.Certificate{a}})
	open := startFake(t, fakeOpts{tls: sniTLS(), rcpt: func(*smtp.Conn) error { return nil }})
	_, portOpen, _ := net.SplitHostPort(open.addr)
	resolve := func(_ context.Context, host, _ string) ([]netip.Addr, error) {
		if host == "open.test" {
			host = "127.0.0.1"
		}
		return []netip.Addr{netip.MustParseAddr(host)}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	answers, err := AskAll(ctx, []string{trustsA.addr, "open.test:" + portOpen}, []tls.Certificate{a},
		AllOptions{Resolve: resolve, Control: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		addr    string
		cert    int
		verdict Verdict
		sent    bool
	}{
		{trustsA.addr, -1, Refused, false},
		{trustsA.addr, 0, Accepted, true},
		{open.addr, -1, Accepted, false},
		{open.addr, 0, Accepted, true},
	}
	if len(answers) != len(want) {
		t.Fatalf("got %d answers, want %d", len(answers), len(want))
	}
	for i, w := range want {
		g := answers[i]
		if g.Err != nil {
			t.Errorf("answer %d: %v", i, g.Err)
			continue
		}
		if g.Addr != w.addr || g.Cert != w.cert || g.Result.Verdict != w.verdict || g.Result.CertSent != w.sent {
			t.Errorf("answer %d = {%s cert %d %v sent %v}, want {%s cert %d %v sent %v}",
				i, g.Addr, g.Cert, g.Result.Verdict, g.Result.CertSent, w.addr, w.cert, w.verdict, w.sent)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(sni)
	if want := []string{"", "", "open.test", "open.test"}; !slices.Equal(sni, want) {
		t.Errorf("SNI sent %q, want %q", sni, want)
	}
}
