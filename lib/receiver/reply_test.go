package receiver

import (
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/smtpreply"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		reply string // as the server sends it, CRLF added
		want  Verdict
		enh   string
	}{
		{"250 2.1.5 Ok", Accepted, "2.1.5"},
		{"251 User not local; will forward", Accepted, ""},
		// Postfix 3.7 defer_unauth_destination and reject_unauth_destination.
		{"454 4.7.1 <a@example.com>: Relay access denied", Refused, "4.7.1"},
		{"554 5.7.1 <a@example.com>: Relay access denied", Refused, "5.7.1"},
		// Postfix's generic defer / reject in smtpd_relay_restrictions.
		{"454 4.7.1 <a@example.com>: Recipient address rejected: Access denied", Refused, "4.7.1"},
		{"554 5.7.1 <a@example.com>: Recipient address rejected: Access denied", Refused, "5.7.1"},
		{"554 <a@example.com>: Recipient address rejected: Access denied", Refused, ""},
		// Other MTAs.
		{"550 5.7.1 <a@example.com>... Relaying denied", Refused, "5.7.1"},
		{"550 relay not permitted", Refused, ""},
		{"550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain", Refused, "5.7.54"},
		{"454-4.7.1 <a@example.com>:\r\n454 4.7.1 Relay access denied", Refused, "4.7.1"},
		// Neither: the reply says nothing about the certificate.
		{"550 5.1.1 <a@local.test>: Recipient address rejected: User unknown in local recipient table", Other, "5.1.1"},
		{"451 4.3.0 <a@example.com>: Temporary lookup failure", Other, "4.3.0"},
		{"554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", Other, "5.7.1"},
		{"450 4.1.2 <a@example.invalid>: Recipient address rejected: Domain not found", Other, "4.1.2"},
		{"550 5.1.0 Access denied for sender", Other, "5.1.0"}, // not a policy code
		{"450 4.7.1 Access denied", Refused, "4.7.1"},
		{"354 go ahead", Other, ""},
		{"550 4.7.1 wrong class", Other, ""}, // an enhanced code of another class is text
	}
	for _, tc := range cases {
		rep, err := readReply(smtpreply.NewReader(strings.NewReader(tc.reply+"\r\n"), maxLineLen, maxLines))
		if err != nil {
			t.Fatalf("%q: %v", tc.reply, err)
		}
		if got := classify(rep); got != tc.want {
			t.Errorf("classify(%q) = %v, want %v", tc.reply, got, tc.want)
		}
		if rep.Enhanced != tc.enh {
			t.Errorf("%q: Enhanced = %q, want %q", tc.reply, rep.Enhanced, tc.enh)
		}
	}
}

func TestReadReplyErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, err string }{
		{"", "connection closed by server"},
		{"250-a\r\n", "connection closed by server"},
		{"250-a\r\n251 b\r\n", "reply code changed from 250 to 251"},
		{"hello\r\n", `malformed reply line "hello"`},
		{"650 x\r\n", "malformed reply line"},
		{"250x\r\n", "malformed reply line"},
		{"250 " + strings.Repeat("x", maxLineLen) + "\r\n", "reply line longer than 4096 bytes"},
		{strings.Repeat("250-x\r\n", maxLines+1), "reply longer than 100 lines"},
	}
	for _, tc := range cases {
		_, err := readReply(smtpreply.NewReader(strings.NewReader(tc.in), maxLineLen, maxLines))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("readReply(%.30q) = %v, want %q", tc.in, err, tc.err)
		}
	}
}
