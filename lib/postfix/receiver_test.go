package postfix

import (
	"maps"
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
)

// good is a receiver on which permit_tls_clientcerts works.
var good = map[string]string{
	"smtpd_tls_ask_ccert": "yes", "smtpd_tls_req_ccert": "no",
	"smtpd_tls_security_level": "may", "smtpd_use_tls": "no", "smtpd_enforce_tls": "no", "smtpd_tls_wrappermode": "no",
	"smtpd_relay_restrictions":     "permit_mynetworks, permit_tls_clientcerts, defer_unauth_destination",
	"smtpd_recipient_restrictions": "",
}

func with(base map[string]string, kv ...string) map[string]string {
	m := maps.Clone(base)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestJudge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		v    map[string]string
		want []string // Param: start of Text
	}{
		{"works", good, nil},
		{"ask_ccert no", with(good, "smtpd_tls_ask_ccert", "no"),
			[]string{"smtpd_tls_ask_ccert: smtpd_tls_ask_ccert = no: Postfix never asks for a client certificate, so permit_tls_clientcerts never matches; set smtpd_tls_ask_ccert = yes"}},
		{"req_ccert with encrypt asks", with(good, "smtpd_tls_ask_ccert", "no", "smtpd_tls_req_ccert", "yes", "smtpd_tls_security_level", "encrypt"), nil},
		{"req_ccert at may does not ask", with(good, "smtpd_tls_ask_ccert", "no", "smtpd_tls_req_ccert", "yes"), []string{"smtpd_tls_ask_ccert: smtpd_tls_ask_ccert = no"}},
		{"req_ccert with legacy enforce asks", with(good, "smtpd_tls_ask_ccert", "no", "smtpd_tls_req_ccert", "yes", "smtpd_tls_security_level", "", "smtpd_enforce_tls", "yes"), nil},
		{"level none", with(good, "smtpd_tls_security_level", "none"),
			[]string{"smtpd_tls_security_level: smtpd_tls_security_level = none: smtpd offers no STARTTLS"}},
		{"level empty, no legacy", with(good, "smtpd_tls_security_level", ""),
			[]string{"smtpd_tls_security_level: smtpd_tls_security_level is empty and smtpd_use_tls = no"}},
		{"level empty, legacy use_tls", with(good, "smtpd_tls_security_level", "", "smtpd_use_tls", "yes"), nil},
		{"level empty, legacy enforce_tls", with(good, "smtpd_tls_security_level", "", "smtpd_enforce_tls", "yes"), nil},
		{"wrappermode beats level none", with(good, "smtpd_tls_security_level", "none", "smtpd_tls_wrappermode", "yes"), nil},
		{"permit after reject_unauth_destination", with(good, "smtpd_relay_restrictions", "permit_mynetworks,reject_unauth_destination,permit_tls_clientcerts"),
			[]string{"smtpd_relay_restrictions: smtpd_relay_restrictions = permit_mynetworks,reject_unauth_destination,permit_tls_clientcerts: reject_unauth_destination refuses relaying before permit_tls_clientcerts is reached (comes after it), so listed relays are refused; put permit_tls_clientcerts before reject_unauth_destination in smtpd_relay_restrictions"}},
		{"permit only in recipient list, relay list defers first", with(good, "smtpd_relay_restrictions", "permit_mynetworks permit_sasl_authenticated defer_unauth_destination",
			"smtpd_recipient_restrictions", "permit_tls_clientcerts, reject_unauth_destination"),
			[]string{"smtpd_relay_restrictions: smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination: defer_unauth_destination refuses relaying before permit_tls_clientcerts is reached (is not in this list)"}},
		{"empty relay list (compatibility_level 0), permit in recipient list", with(good, "smtpd_relay_restrictions", "",
			"smtpd_recipient_restrictions", "permit_mynetworks, check_client_access { inline:{ 10.0.0.1=REJECT } }, reject_rbl_client zen.example, permit_tls_clientcerts, reject_unauth_destination"), nil},
		{"plain reject before the permit", with(good, "smtpd_relay_restrictions", "check_client_access hash:/x, reject, permit_tls_clientcerts"),
			[]string{"smtpd_relay_restrictions: smtpd_relay_restrictions = check_client_access hash:/x, reject, permit_tls_clientcerts: reject refuses"}},
		{"permit in a check table argument does not count", with(good, "smtpd_relay_restrictions", "check_client_access inline:{permit_tls_clientcerts=OK}, defer_unauth_destination"),
			[]string{"smtpd_relay_restrictions: smtpd_relay_restrictions = check_client_access inline:{permit_tls_clientcerts=OK}, defer_unauth_destination: defer_unauth_destination refuses relaying before permit_tls_clientcerts is reached (is not in this list)"}},
		{"permit before reject: open but not our problem", with(good, "smtpd_relay_restrictions", "permit, reject"),
			[]string{"smtpd_relay_restrictions: permit_tls_clientcerts is in neither smtpd_relay_restrictions nor smtpd_recipient_restrictions, so relay_clientcerts is never consulted; add permit_tls_clientcerts to smtpd_relay_restrictions before defer_unauth_destination"}},
		{"in neither list, no rule refuses", with(good, "smtpd_relay_restrictions", "permit_mynetworks"),
			[]string{"smtpd_relay_restrictions: permit_tls_clientcerts is in neither"}},
		{"everything wrong", with(good, "smtpd_tls_ask_ccert", "no", "smtpd_tls_security_level", "none", "smtpd_relay_restrictions", "permit_mynetworks, defer_unauth_destination"),
			[]string{"smtpd_tls_security_level: smtpd_tls_security_level = none", "smtpd_tls_ask_ccert: smtpd_tls_ask_ccert = no", "smtpd_relay_restrictions: smtpd_relay_restrictions = permit_mynetworks, defer_unauth_destination: defer_unauth_destination refuses"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := judge(tc.v)
			if len(got) != len(tc.want) {
				t.Fatalf("judge = %q, want %d problems %q", got, len(tc.want), tc.want)
			}
			for i, p := range got {
				if s := p.Param + ": " + p.Text; !strings.HasPrefix(s, tc.want[i]) {
					t.Errorf("problem %d = %q, want it to start %q", i, s, tc.want[i])
				}
			}
		})
	}
}

func TestJudgeReceiverServices(t *testing.T) {
	t.Parallel()
	svc := func(name, typ, cmd string, o ...Override) Service {
		return Service{Name: name, Type: typ, Command: cmd, Overrides: o}
	}
	sub := svc("submission", "inet", "smtpd", Override{"syslog_name", "postfix/submission"}, Override{"smtpd_tls_ask_ccert", "no"})
	smtps := svc("smtps", "inet", "smtpd", Override{"smtpd_tls_wrappermode", "yes"}, Override{"smtpd_relay_restrictions", "$mua_relay"})
	got := JudgeReceiver(ReceiverConfig{Main: good, Services: []ServiceValues{
		{sub, with(good, "smtpd_tls_ask_ccert", "no")},
		{smtps, with(good, "smtpd_tls_wrappermode", "yes", "smtpd_relay_restrictions", "permit_sasl_authenticated,reject")},
		{svc("127.0.0.1:10025", "inet", "smtpd", Override{"smtpd_relay_restrictions", "permit_mynetworks,reject"}), with(good, "smtpd_relay_restrictions", "permit_mynetworks,reject")},
		{svc("smtpd", "pass", "smtpd", Override{"smtpd_tls_security_level", "none"}), with(good, "smtpd_tls_security_level", "none")},
		{svc("custom", "inet", "smtpd", Override{"my_level", "none"}), with(good, "smtpd_tls_security_level", "none")},
		{svc("same", "inet", "smtpd", Override{"syslog_name", "x"}), good},
	}})
	var lines []string
	for _, p := range got {
		lines = append(lines, p.String())
	}
	want := []string{
		"master.cf service submission/inet: -o smtpd_tls_ask_ccert=no: smtpd_tls_ask_ccert = no: Postfix never asks for a client certificate, so permit_tls_clientcerts never matches; set smtpd_tls_ask_ccert = yes",
		"master.cf service smtps/inet: -o smtpd_relay_restrictions=$mua_relay: smtpd_relay_restrictions = permit_sasl_authenticated,reject: reject refuses relaying before permit_tls_clientcerts is reached (is not in this list), so listed relays are refused; put permit_tls_clientcerts before reject in smtpd_relay_restrictions",
		"master.cf service smtpd/pass: -o smtpd_tls_security_level=none: smtpd_tls_security_level = none: smtpd offers no STARTTLS, so a relay never presents a certificate and permit_tls_clientcerts never matches; set smtpd_tls_security_level = may",
		"master.cf service custom/inet (through its -o settings): smtpd_tls_security_level = none: smtpd offers no STARTTLS, so a relay never presents a certificate and permit_tls_clientcerts never matches; set smtpd_tls_security_level = may",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("JudgeReceiver =\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// main.cf's own problem is named once, not again for each service.
	got = JudgeReceiver(ReceiverConfig{Main: with(good, "smtpd_tls_ask_ccert", "no"), Services: []ServiceValues{{sub, with(good, "smtpd_tls_ask_ccert", "no")}}})
	if len(got) != 1 || got[0].Service != "" {
		t.Errorf("JudgeReceiver with main.cf's problem repeated by a service = %q, want it once, for main.cf", got)
	}
}

func TestReceiving(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    Service
		want bool
	}{
		{Service{Name: "smtp", Type: "inet", Command: "smtpd"}, true},
		{Service{Name: "smtpd", Type: "pass", Command: "smtpd"}, true},
		{Service{Name: "192.0.2.1:smtp", Type: "inet", Command: "smtpd"}, true},
		{Service{Name: "127.0.0.1:10025", Type: "inet", Command: "smtpd"}, false},
		{Service{Name: "[::1]:10025", Type: "inet", Command: "smtpd"}, false},
		{Service{Name: "localhost:10025", Type: "inet", Command: "smtpd"}, false},
		{Service{Name: "smtp", Type: "inet", Command: "postscreen"}, false},
		{Service{Name: "smtp", Type: "unix", Command: "smtp"}, false},
	} {
		if got := receiving(tc.s); got != tc.want {
			t.Errorf("receiving(%s %s) = %v, want %v", tc.s, tc.s.Command, got, tc.want)
		}
	}
}

// TestReceiverReal asks the real postconf about a receiver whose main.cf
// works and whose submission service turns client certificates off.
func TestReceiverReal(t *testing.T) {
	t.Parallel()
	postfixtest.Require(t, "postconf")
	dir := t.TempDir()
	mainCf := "compatibility_level = 3.6\nmyhostname = mx.example\n" +
		"smtpd_tls_security_level = may\nsmtpd_tls_ask_ccert = yes\n" +
		"smtpd_relay_restrictions = permit_mynetworks, permit_tls_clientcerts, defer_unauth_destination\n" +
		"mua_relay = permit_sasl_authenticated, reject\n"
	masterCf := "smtp inet n - y - - smtpd\n" +
		"submission inet n - y - - smtpd\n  -o syslog_name=postfix/submission\n  -o smtpd_tls_ask_ccert=no\n  -o smtpd_relay_restrictions=$mua_relay\n" +
		"127.0.0.1:10025 inet n - n - - smtpd -o smtpd_tls_security_level=none\n"
	writeConfig(t, dir, mainCf, masterCf)
	got, err := Receiver(t.Context(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, p := range got {
		lines = append(lines, p.String())
	}
	want := []string{
		"master.cf service submission/inet: -o smtpd_tls_ask_ccert=no: smtpd_tls_ask_ccert = no: Postfix never asks for a client certificate, so permit_tls_clientcerts never matches; set smtpd_tls_ask_ccert = yes",
		"master.cf service submission/inet: -o smtpd_relay_restrictions=$mua_relay: smtpd_relay_restrictions = permit_sasl_authenticated, reject: reject refuses relaying before permit_tls_clientcerts is reached (is not in this list), so listed relays are refused; put permit_tls_clientcerts before reject in smtpd_relay_restrictions",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Receiver =\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// The stock main.cf of compatibility level 3.6 asks for nothing; the
	// submission service's $mua_relay is now empty.
	writeConfig(t, dir, "compatibility_level = 3.6\nmyhostname = mx.example\n", "")
	got, err = Receiver(t.Context(), "", dir)
	if err != nil || len(got) != 4 || got[0].Param != "smtpd_tls_security_level" || got[1].Param != "smtpd_tls_ask_ccert" ||
		!strings.Contains(got[2].Text, "defer_unauth_destination refuses relaying before permit_tls_clientcerts") ||
		got[3].Service != "submission/inet" || !strings.HasPrefix(got[3].Text, "permit_tls_clientcerts is in neither") {
		t.Errorf("Receiver of a stock main.cf = %q, %v; want security level, ask_ccert, the relay restrictions, and submission's empty ones", got, err)
	}
}

// TestUnjudged: a receiving service with its own relay_clientcerts or
// digest (-o in master.cf) judges relays by what a check of main.cf's
// table does not read: the receiver-side check said OK while Postfix
// deferred the relay with 454 4.7.1 (review finding 4).
func TestUnjudged(t *testing.T) {
	t.Parallel()
	main := with(good, "relay_clientcerts", "hash:/etc/postfix/relay_clientcerts", "smtpd_tls_fingerprint_digest", "sha256")
	svc := func(name string, o ...Override) Service {
		return Service{Name: name, Type: "inet", Command: "smtpd", Overrides: o}
	}
	got := Unjudged(ReceiverConfig{Main: main, Services: []ServiceValues{
		{svc("smtp", Override{"relay_clientcerts", "texthash:/etc/postfix/rc25"}), with(main, "relay_clientcerts", "texthash:/etc/postfix/rc25")},
		{svc("submission", Override{"smtpd_tls_fingerprint_digest", "SHA1"}), with(main, "smtpd_tls_fingerprint_digest", "sha1")},
		{svc("same", Override{"smtpd_tls_fingerprint_digest", "SHA256"}), with(main, "smtpd_tls_fingerprint_digest", "SHA256")},
		{svc("127.0.0.1:10025", Override{"relay_clientcerts", ""}), with(main, "relay_clientcerts", "")},
	}})
	want := []string{
		`master.cf service smtp/inet: -o relay_clientcerts=texthash:/etc/postfix/rc25: relays connecting to it are judged by relay_clientcerts = texthash:/etc/postfix/rc25 with smtpd_tls_fingerprint_digest = sha256, not by main.cf's relay_clientcerts = hash:/etc/postfix/relay_clientcerts with sha256, and this check read main.cf's; hint: check that service too, without --postconf: --table "texthash:/etc/postfix/rc25" -d sha256`,
		`master.cf service submission/inet: -o smtpd_tls_fingerprint_digest=SHA1: relays connecting to it are judged by relay_clientcerts = hash:/etc/postfix/relay_clientcerts with smtpd_tls_fingerprint_digest = sha1, not by main.cf's relay_clientcerts = hash:/etc/postfix/relay_clientcerts with sha256, and this check read main.cf's; hint: check that service too, without --postconf: --table "hash:/etc/postfix/relay_clientcerts" -d sha1`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Unjudged =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestUnjudgedReal: Receiver's error names a service's own relay_clientcerts,
// as postconf -P reports it.
func TestUnjudgedReal(t *testing.T) {
	t.Parallel()
	postfixtest.Require(t, "postconf")
	dir := t.TempDir()
	mainCf := "compatibility_level = 3.6\nmyhostname = mx.example\n" +
		"smtpd_tls_security_level = may\nsmtpd_tls_ask_ccert = yes\n" +
		"smtpd_relay_restrictions = permit_tls_clientcerts, defer_unauth_destination\n" +
		"relay_clientcerts = hash:$config_directory/relay_clientcerts\n"
	masterCf := "smtp inet n - y - - smtpd\n  -o relay_clientcerts=texthash:/etc/postfix/rc25\n" +
		"127.0.0.1:10025 inet n - n - - smtpd -o relay_clientcerts=\n"
	writeConfig(t, dir, mainCf, masterCf)
	problems, err := Receiver(t.Context(), "", dir)
	if len(problems) != 0 || err == nil || !strings.HasPrefix(err.Error(), "master.cf service smtp/inet: -o relay_clientcerts=texthash:/etc/postfix/rc25: relays connecting to it are judged by relay_clientcerts = texthash:/etc/postfix/rc25") ||
		!strings.Contains(err.Error(), "not by main.cf's relay_clientcerts = hash:"+dir+"/relay_clientcerts") || strings.Contains(err.Error(), "10025") {
		t.Errorf("Receiver = %q, %v; want no problem and an error naming smtp/inet's own table only", problems, err)
	}
}

// TestJudgeRestrictionClasses: a restriction class counts as the list it
// stands for: permit_tls_clientcerts inside one was reported missing, a
// false CRITICAL for a receiver that relays (review finding 6).
func TestJudgeRestrictionClasses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		v    map[string]string
		want int // problems
	}{
		{"permit in a class", with(good, "smtpd_restriction_classes", "trusted", "trusted", "permit_tls_clientcerts",
			"smtpd_relay_restrictions", "trusted, defer_unauth_destination"), 0},
		{"nested classes", with(good, "smtpd_restriction_classes", "outer, inner", "outer", "check_client_access hash:/x, inner", "inner", "permit_tls_clientcerts",
			"smtpd_relay_restrictions", "outer defer_unauth_destination"), 0},
		{"a refusal in a class before the permit", with(good, "smtpd_restriction_classes", "strict", "strict", "reject_unauth_destination",
			"smtpd_relay_restrictions", "strict, permit_tls_clientcerts"), 1},
		{"a class naming itself", with(good, "smtpd_restriction_classes", "loop", "loop", "loop",
			"smtpd_relay_restrictions", "loop, defer_unauth_destination"), 1},
		{"not a class: a parameter of the same name is ignored", with(good, "trusted", "permit_tls_clientcerts",
			"smtpd_relay_restrictions", "trusted, defer_unauth_destination"), 1},
	} {
		if got := judge(tc.v); len(got) != tc.want {
			t.Errorf("%s: judge = %q, want %d problems", tc.name, got, tc.want)
		}
	}
}

// TestReceiverClassesReal: Receiver reads the classes through postconf.
func TestReceiverClassesReal(t *testing.T) {
	t.Parallel()
	postfixtest.Require(t, "postconf")
	dir := t.TempDir()
	writeConfig(t, dir, "compatibility_level = 3.6\nmyhostname = mx.example\n"+
		"smtpd_tls_security_level = may\nsmtpd_tls_ask_ccert = yes\n"+
		"smtpd_restriction_classes = trusted\ntrusted = permit_tls_clientcerts\n"+
		"smtpd_relay_restrictions = trusted, defer_unauth_destination\n", "smtp inet n - y - - smtpd\n")
	if got, err := Receiver(t.Context(), "", dir); len(got) != 0 || err != nil {
		t.Errorf("Receiver = %q, %v; want no problem", got, err)
	}
}
