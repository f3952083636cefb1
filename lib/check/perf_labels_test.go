package check_test

import (
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
)

// Perfdata labels are unique as rendered, not only as built (issue 13 item
// 9): tables /x/a=b and /x/a_b both gave entries_/x/a_b, and one address
// observed twice repeated its handshake label.
func TestJudgePerfdataLabelsUniqueAsRendered(t *testing.T) {
	t.Parallel()
	c := newCert(t, certSpec{})
	text := lines(fingerprint.SHA256.PublicKey(c) + " cliff")
	recv := []check.Receiver{
		receiver(t, "texthash:/etc/postfix/a=b", text),
		receiver(t, "texthash:/etc/postfix/a_b", text),
	}
	obs := []check.Observation{relay(relayName, relayAddr, c), relay(relayName, relayAddr, c)}
	r := check.Judge(baseConfig(t), obs, recv).Result
	seen := map[string]string{}
	for _, p := range r.Perf {
		s := p.String()
		label := s[:strings.IndexByte(s, '=')]
		if other, ok := seen[label]; ok {
			t.Errorf("perfdata %s and %s share the label %s", other, s, label)
		}
		seen[label] = s
	}
	for _, want := range []string{"entries_/etc/postfix/a%3Db", "entries_/etc/postfix/a_b"} {
		if _, ok := seen[want]; !ok {
			t.Errorf("no perfdata label %s in %v", want, r.Perf)
		}
	}
}
