package smtpfake

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
	"slices"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/testcert"
)

// TestRelayFor: the receiver relays for a listed client certificate only,
// and answers others as Postfix's defer_unauth_destination does.
func TestRelayFor(t *testing.T) {
	t.Parallel()
	server := testcert.New(t, testcert.Spec{CN: "receiver.test", DNS: []string{"receiver.test"}})
	listed := testcert.New(t, testcert.Spec{CN: "listed.test"})
	unlisted := testcert.New(t, testcert.Spec{CN: "unlisted.test"})
	r := Start(t, Server{Domain: "receiver.test", TLS: &tls.Config{Certificates: []tls.Certificate{server}, ClientAuth: tls.RequestClientCert},
		Rcpt: RelayFor(listed)})
	for _, tc := range []struct {
		name    string
		cert    *tls.Certificate
		wantErr string // "" for 250
	}{
		{"listed", &listed, ""},
		{"unlisted", &unlisted, "454 4.7.1 <a@example.com>: Relay access denied"},
		{"no certificate", nil, "454 4.7.1 <a@example.com>: Relay access denied"},
	} {
		c, err := smtp.Dial(r.Addr)
		if err != nil {
			t.Fatal(err)
		}
		cfg := &tls.Config{InsecureSkipVerify: true}
		if tc.cert != nil {
			cfg.Certificates = []tls.Certificate{*tc.cert}
		}
		if err := c.StartTLS(cfg); err != nil {
			t.Fatalf("%s: STARTTLS: %v", tc.name, err)
		}
		if err := c.Mail("relay@relay.test"); err != nil {
			t.Fatalf("%s: MAIL: %v", tc.name, err)
		}
		err = c.Rcpt("a@example.com")
		var te *textproto.Error
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: RCPT = %v, want 250", tc.name, err)
		case tc.wantErr != "" && (!errors.As(err, &te) || fmt.Sprintf("%d %s", te.Code, te.Msg) != tc.wantErr):
			t.Errorf("%s: RCPT = %v, want %q", tc.name, err, tc.wantErr)
		}
		c.Quit()
	}
	if got := r.Commands(); !slices.Contains(got, "RCPT") || !slices.Contains(got, "STARTTLS") {
		t.Errorf("Commands() = %q, want STARTTLS and RCPT among them", got)
	}
}
