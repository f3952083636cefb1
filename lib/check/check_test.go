package check_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/probe"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

const (
	relayName = "cliff.example.org"
	relayAddr = "192.0.2.1:25"
	relayAt   = relayName + " " + relayAddr // Observation.Where of the relay
	tablePath = "/etc/postfix/relay_clientcerts"
	tableSpec = "texthash:" + tablePath
)

// TestJudge runs Judge on one scenario per case and checks the state, the
// status line, the long output and the performance data.
func TestJudge(t *testing.T) {
	t.Parallel()
	sha := fingerprint.SHA256
	keyA := newKey(t)
	certA := newCert(t, certSpec{key: keyA, serial: 1})
	certA2 := newCert(t, certSpec{key: keyA, serial: 2, notBefore: now.Add(-day), notAfter: now.Add(89 * day)}) // renewed, same key
	certB := newCert(t, certSpec{cn: "relay2.example.org"})
	certNoDNS := newCert(t, certSpec{cn: "cn-only.example.org", dns: []string{}})
	certWarn := newCert(t, certSpec{notAfter: now.Add(10 * day)})
	certCrit := newCert(t, certSpec{notAfter: now.Add(3 * day)})
	certExpired := newCert(t, certSpec{notAfter: now.Add(-2 * day)})
	certExpiredMinutes := newCert(t, certSpec{notAfter: now.Add(-30 * 60e9)})
	certFuture := newCert(t, certSpec{notBefore: now.Add(day), notAfter: now.Add(90 * day)})

	keyFP, certFP := sha.PublicKey(certA), sha.Cert(certA)
	listA := receiver(t, tableSpec, lines("# our relays", keyFP+" "+relayName))
	listB := receiver(t, tableSpec, lines(sha.PublicKey(certB)+" relay2.example.org"))
	listIn := func(spec string, certs ...*x509.Certificate) check.Receiver {
		var l []string
		for _, c := range certs {
			l = append(l, sha.PublicKey(c)+" "+c.Subject.CommonName)
		}
		return receiver(t, spec, lines(l...))
	}
	listAll := func(certs ...*x509.Certificate) check.Receiver { return listIn(tableSpec, certs...) }
	connRefused := &probe.Error{Stage: probe.StageConnect, Addr: relayAddr, Err: syscall.ECONNREFUSED}
	timeout := &probe.Error{Stage: probe.StageBanner, Addr: relayAddr, Err: context.DeadlineExceeded}

	tests := []struct {
		name     string
		cfg      func(*check.Config) // changes to baseConfig; nil for none
		obs      []check.Observation
		recv     []check.Receiver
		state    nagios.State
		summary  string   // prefix of the status-line summary
		inSum    []string // more substrings of the summary
		notSum   []string // substrings the summary must not have
		long     []string // each a substring of some long-output line
		notLong  []string // substrings no long-output line may have
		unlisted int
	}{
		{
			name:    "listed by public key",
			obs:     []check.Observation{relay(relayName, relayAddr, certA)},
			recv:    []check.Receiver{listA},
			state:   nagios.OK,
			summary: relayAt + " listed in 1 table, valid 60 days or more",
			long:    []string{"[OK] " + relayAt + " in " + tableSpec + ": listed by pubkey fingerprint at " + tablePath + ":2"},
			notLong: []string{"hint:"},
		},
		{
			name:    "listed by certificate: OK with a hint to list the public key",
			obs:     []check.Observation{relay(relayName, relayAddr, certA)},
			recv:    []check.Receiver{receiver(t, tableSpec, lines(certFP+" "+relayName))},
			state:   nagios.OK,
			summary: relayAt + " listed",
			long: []string{
				"listed by cert fingerprint at " + tablePath + ":1",
				"hint: listed by certificate only", keyFP + " " + relayName,
			},
		},
		{
			// The fingerprint command prints both lines; pasting them must
			// not draw a hint to add a line that is already there.
			name:    "listed by certificate and public key: no hint",
			obs:     []check.Observation{relay(relayName, relayAddr, certA)},
			recv:    []check.Receiver{receiver(t, tableSpec, lines(keyFP+" "+relayName, certFP+" "+relayName))},
			state:   nagios.OK,
			notLong: []string{"hint:"},
		},
		{
			name:    "renewed with the same key, listed by public key",
			obs:     []check.Observation{relay(relayName, relayAddr, certA2)},
			recv:    []check.Receiver{listA},
			state:   nagios.OK,
			summary: relayAt + " listed in 1 table, valid 89 days or more",
		},
		{
			name:     "renewed with the same key, listed by the old certificate",
			obs:      []check.Observation{relay(relayName, relayAddr, certA2)},
			recv:     []check.Receiver{receiver(t, tableSpec, lines(certFP+" "+relayName))},
			state:    nagios.Critical,
			summary:  relayAt + " presents sha256 public-key fingerprint " + keyFP + ", not listed in " + tableSpec,
			long:     []string{"add: " + keyFP + " " + relayName},
			unlisted: 1,
		},
		{
			name:     "match cert: a public-key listing does not count",
			cfg:      func(c *check.Config) { c.Match = check.MatchCert },
			obs:      []check.Observation{relay(relayName, relayAddr, certA)},
			recv:     []check.Receiver{listA},
			state:    nagios.Critical,
			summary:  relayAt + " presents sha256 certificate fingerprint " + certFP + ", not listed in " + tableSpec,
			long:     []string{"not listed (sha256 cert " + certFP + ")", "add: " + certFP + " " + relayName},
			notLong:  []string{keyFP},
			unlisted: 1,
		},
		{
			name:    "match cert: a certificate listing counts, without hint",
			cfg:     func(c *check.Config) { c.Match = check.MatchCert },
			obs:     []check.Observation{relay(relayName, relayAddr, certA)},
			recv:    []check.Receiver{receiver(t, tableSpec, lines(certFP+" "+relayName))},
			state:   nagios.OK,
			long:    []string{"listed by cert fingerprint"},
			notLong: []string{"hint:"},
		},
		{
			name:     "match pubkey: a certificate listing does not count",
			cfg:      func(c *check.Config) { c.Match = check.MatchPubkey },
			obs:      []check.Observation{relay(relayName, relayAddr, certA)},
			recv:     []check.Receiver{receiver(t, tableSpec, lines(certFP+" "+relayName))},
			state:    nagios.Critical,
			summary:  relayAt + " presents sha256 public-key fingerprint " + keyFP,
			long:     []string{"not listed (sha256 pubkey " + keyFP + ")", "add: " + keyFP + " " + relayName},
			unlisted: 1,
		},
		{
			name:  "match pubkey: a public-key listing counts",
			cfg:   func(c *check.Config) { c.Match = check.MatchPubkey },
			obs:   []check.Observation{relay(relayName, relayAddr, certA)},
			recv:  []check.Receiver{listA},
			state: nagios.OK,
			long:  []string{"listed by pubkey fingerprint"},
		},
		{
			name:    "unlisted: CRITICAL naming relay, address, fingerprint and table",
			obs:     []check.Observation{relay(relayName, relayAddr, certA)},
			recv:    []check.Receiver{listB},
			state:   nagios.Critical,
			summary: relayAt + " presents sha256 public-key fingerprint " + keyFP + ", not listed in " + tableSpec,
			long: []string{
				"[CRITICAL] " + relayAt + " in " + tableSpec + ": not listed (sha256 cert " + certFP + ", pubkey " + keyFP + "); add: " + keyFP + " " + relayName,
			},
			unlisted: 1,
		},
		{
			name:     "unlisted relay given as an IP address: label from the certificate",
			obs:      []check.Observation{relay("192.0.2.7", "192.0.2.7:25", certA)},
			recv:     []check.Receiver{listB},
			state:    nagios.Critical,
			summary:  "192.0.2.7:25 presents sha256 public-key fingerprint " + keyFP,
			long:     []string{"add: " + keyFP + " " + relayName},
			unlisted: 1,
		},
		{
			name:     "unlisted relay whose certificate has no DNS name: label from the common name",
			obs:      []check.Observation{relay("192.0.2.7", "192.0.2.7:25", certNoDNS)},
			recv:     []check.Receiver{listB},
			state:    nagios.Critical,
			long:     []string{"add: " + sha.PublicKey(certNoDNS) + " cn-only.example.org"},
			unlisted: 1,
		},
		{
			name:     "unlisted in one of two tables",
			obs:      []check.Observation{relay(relayName, relayAddr, certA)},
			recv:     []check.Receiver{listA, receiver(t, "hash:/srv/mx2/relay_clientcerts", lines(sha.PublicKey(certB)+" relay2"))},
			state:    nagios.Critical,
			summary:  relayAt + " presents sha256 public-key fingerprint " + keyFP + ", not listed in hash:/srv/mx2/relay_clientcerts",
			long:     []string{"[OK] " + relayAt + " in " + tableSpec, "[CRITICAL] " + relayAt + " in hash:/srv/mx2/relay_clientcerts"},
			unlisted: 1,
		},
		{
			name:  "lower-case key matches",
			obs:   []check.Observation{relay(relayName, relayAddr, certA)},
			recv:  []check.Receiver{receiver(t, tableSpec, lines(strings.ToLower(keyFP)+" "+relayName))},
			state: nagios.OK,
		},
		{
			name:  "mixed-case key matches",
			obs:   []check.Observation{relay(relayName, relayAddr, certA)},
			recv:  []check.Receiver{receiver(t, tableSpec, lines(strings.ToLower(keyFP[:30])+keyFP[30:]+" "+relayName))},
			state: nagios.OK,
		},
		{
			name:    "md5 key for a sha256 receiver: CRITICAL, and a note that it can never match",
			obs:     []check.Observation{relay(relayName, relayAddr, certA)},
			recv:    []check.Receiver{receiver(t, tableSpec, lines(fingerprint.MD5.PublicKey(certA)+" "+relayName))},
			state:   nagios.Critical,
			summary: relayAt + " presents sha256 public-key fingerprint " + keyFP,
			long: []string{
				"add: " + keyFP + " " + relayName,
				"[WARNING] " + tablePath + ":1: key is a md5 fingerprint, the receiver uses sha256: it can never match",
			},
			unlisted: 1,
		},
		{
			name:  "md5 receiver, md5 key",
			cfg:   func(c *check.Config) { c.Digest = fingerprint.MD5 },
			obs:   []check.Observation{relay(relayName, relayAddr, certA)},
			recv:  []check.Receiver{receiver(t, tableSpec, lines(fingerprint.MD5.PublicKey(certA)+" "+relayName))},
			state: nagios.OK,
		},
		{
			name:     "md5 receiver, sha256 key: CRITICAL naming the md5 fingerprint",
			cfg:      func(c *check.Config) { c.Digest = fingerprint.MD5 },
			obs:      []check.Observation{relay(relayName, relayAddr, certA)},
			recv:     []check.Receiver{listA},
			state:    nagios.Critical,
			summary:  relayAt + " presents md5 public-key fingerprint " + fingerprint.MD5.PublicKey(certA),
			long:     []string{"key is a sha256 fingerprint, the receiver uses md5: it can never match"},
			unlisted: 1,
		},
		{
			name:     "key without colons: can never match",
			obs:      []check.Observation{relay(relayName, relayAddr, certA)},
			recv:     []check.Receiver{receiver(t, tableSpec, lines(strings.ReplaceAll(keyFP, ":", "")+" "+relayName))},
			state:    nagios.Critical,
			long:     []string{tablePath + ":1: key \"" + strings.ReplaceAll(keyFP, ":", "") + "\" has no colons: it can never match; hint: write hex pairs joined by colons"},
			unlisted: 1,
		},
		{
			name:    "key that is not a fingerprint",
			obs:     []check.Observation{relay(relayName, relayAddr, certA)},
			recv:    []check.Receiver{receiver(t, tableSpec, lines(keyFP+" "+relayName, "relay2.example.org OK"))},
			state:   nagios.Warning,
			summary: tablePath + ":2: key \"relay2.example.org\" is not a fingerprint: it can never match",
		},
		{
			name:    "fingerprint-shaped key of no digest's length",
			obs:     []check.Observation{relay(relayName, relayAddr, certA)},
			recv:    []check.Receiver{receiver(t, tableSpec, lines(keyFP+" "+relayName, "AB:CD:EF short"))},
			state:   nagios.Warning,
			summary: tablePath + ":2: key \"AB:CD:EF\" has 3 bytes, which fits no digest: it can never match",
		},
		{
			name:    "malformed line: WARNING from the table's warnings",
			obs:     []check.Observation{relay(relayName, relayAddr, certA)},
			recv:    []check.Receiver{receiver(t, tableSpec, lines(keyFP+" "+relayName, "JUNK"))},
			state:   nagios.Warning,
			summary: tablePath + ":2: expected format: key whitespace value",
			long:    []string{"[OK] " + relayAt, "[WARNING] " + tablePath + ":2: expected format"},
		},
		{
			name:    "duplicate key in a hash table: WARNING",
			obs:     []check.Observation{relay(relayName, relayAddr, certA)},
			recv:    []check.Receiver{receiver(t, "hash:"+tablePath, lines(keyFP+" "+relayName, strings.ToLower(keyFP)+" again"))},
			state:   nagios.Warning,
			summary: tablePath + ":2: duplicate entry",
			long:    []string{"listed by pubkey fingerprint at " + tablePath + ":1"},
		},
		{
			// Postfix refuses a texthash table with a duplicate key whole:
			// every relay gets 451 4.3.0 (proved by the e2e tests).
			name:    "duplicate key in a texthash table: CRITICAL",
			obs:     []check.Observation{relay(relayName, relayAddr, certA)},
			recv:    []check.Receiver{receiver(t, "texthash:"+tablePath, lines(keyFP+" "+relayName, strings.ToLower(keyFP)+" again"))},
			state:   nagios.Critical,
			summary: "texthash:" + tablePath + ": duplicate key",
			inSum:   []string{"451 4.3.0"},
		},
		{
			name: "several table notes: counted in the summary, capped in the long output",
			obs:  []check.Observation{relay(relayName, relayAddr, certA)},
			recv: []check.Receiver{receiver(t, tableSpec, lines(keyFP+" "+relayName,
				"k1 v", "k2 v", "k3 v", "k4 v", "k5 v", "k6 v", "k7 v", "k8 v", "k9 v", "k10 v", "k11 v", "k12 v"))},
			state:   nagios.Warning,
			summary: tableSpec + ": 12 entries or lines need attention (" + tablePath + ":2: key \"k1\" is not a fingerprint",
			long:    []string{"k10", tableSpec + ": and 2 more"},
			notLong: []string{"k11", "k12"},
		},
		{
			name:    "expiry under the warning threshold",
			obs:     []check.Observation{relay(relayName, relayAddr, certWarn)},
			recv:    []check.Receiver{listAll(certWarn)},
			state:   nagios.Warning,
			summary: relayAt + ": certificate expires in 10 days (2026-03-11 12:00 UTC)",
			long:    []string{"[OK] " + relayAt + " in " + tableSpec, "[WARNING] " + relayAt + ": certificate expires in 10 days"},
		},
		{
			name:    "expiry under the critical threshold",
			obs:     []check.Observation{relay(relayName, relayAddr, certCrit)},
			recv:    []check.Receiver{listAll(certCrit)},
			state:   nagios.Critical,
			summary: relayAt + ": certificate expires in 3 days (2026-03-04 12:00 UTC)",
		},
		{
			name:    "expired certificate",
			obs:     []check.Observation{relay(relayName, relayAddr, certExpired)},
			recv:    []check.Receiver{listAll(certExpired)},
			state:   nagios.Critical,
			summary: relayAt + ": certificate expired 2 days ago (2026-02-27 12:00 UTC)",
		},
		{
			name:    "certificate expired minutes ago: not \"0 hours\"",
			obs:     []check.Observation{relay(relayName, relayAddr, certExpiredMinutes)},
			recv:    []check.Receiver{listAll(certExpiredMinutes)},
			state:   nagios.Critical,
			summary: relayAt + ": certificate expired",
			notSum:  []string{"0 hours"},
		},
		{
			name:    "certificate not yet valid",
			obs:     []check.Observation{relay(relayName, relayAddr, certFuture)},
			recv:    []check.Receiver{listAll(certFuture)},
			state:   nagios.Warning,
			summary: relayAt + ": certificate not valid before 2026-03-02 12:00 UTC",
		},
		{
			name: "warning range with @: alert inside",
			cfg: func(c *check.Config) {
				c.Days = nagios.Thresholds{Warning: mustRange(t, "@0:30")}
			},
			obs:     []check.Observation{relay(relayName, relayAddr, certWarn)},
			recv:    []check.Receiver{listAll(certWarn)},
			state:   nagios.Warning,
			summary: relayAt + ": certificate expires in 10 days",
		},
		{
			name: "warning range with @: outside is OK",
			cfg: func(c *check.Config) {
				c.Days = nagios.Thresholds{Warning: mustRange(t, "@0:30")}
			},
			obs:   []check.Observation{relay(relayName, relayAddr, certA)},
			recv:  []check.Receiver{listA},
			state: nagios.OK,
		},
		{
			// The status line names the relay, not only its address.
			name:    "unreachable relay: UNKNOWN",
			obs:     []check.Observation{unreachable(relayName, relayAddr, connRefused)},
			recv:    []check.Receiver{listA},
			state:   nagios.Unknown,
			summary: relayName + ": connect to " + relayAddr + ": connection refused",
			long:    []string{"[UNKNOWN] " + relayName + ": connect to " + relayAddr},
		},
		{
			// Config documents UNKNOWN as the default: its zero value must
			// not turn an unreachable relay into OK.
			name:    "unreachable relay: UNKNOWN with the zero Config.Unreachable",
			cfg:     func(c *check.Config) { c.Unreachable = 0 },
			obs:     []check.Observation{unreachable(relayName, relayAddr, connRefused)},
			recv:    []check.Receiver{listA},
			state:   nagios.Unknown,
			summary: relayName + ": connect to " + relayAddr,
		},
		{
			name:    "unreachable relay: CRITICAL on request",
			cfg:     func(c *check.Config) { c.Unreachable = nagios.Critical },
			obs:     []check.Observation{unreachable(relayName, relayAddr, connRefused)},
			recv:    []check.Receiver{listA},
			state:   nagios.Critical,
			summary: relayName + ": connect to " + relayAddr + ": connection refused",
		},
		{
			name:    "the plugin's deadline: UNKNOWN even when unreachable is CRITICAL",
			cfg:     func(c *check.Config) { c.Unreachable = nagios.Critical },
			obs:     []check.Observation{unreachable(relayName, relayAddr, timeout)},
			recv:    []check.Receiver{listA},
			state:   nagios.Unknown,
			summary: relayName + ": timeout during banner from " + relayAddr,
		},
		{
			name:    "wrapped deadline error: UNKNOWN",
			cfg:     func(c *check.Config) { c.Unreachable = nagios.Critical },
			obs:     []check.Observation{unreachable(relayName, relayAddr, fmt.Errorf("lookup %s: %w", relayName, context.DeadlineExceeded))},
			recv:    []check.Receiver{listA},
			state:   nagios.Unknown,
			summary: "lookup " + relayName,
		},
		{
			name:    "unreachable relay given by address: named once",
			obs:     []check.Observation{unreachable("192.0.2.1", relayAddr, connRefused)},
			recv:    []check.Receiver{listA},
			state:   nagios.Unknown,
			summary: "connect to " + relayAddr + ": connection refused",
		},
		{
			name:    "DNS failure names the relay already: named once",
			obs:     []check.Observation{unreachable(relayName, relayName+":25", errors.New("DNS lookup of "+relayName+": no such host"))},
			recv:    []check.Receiver{listA},
			state:   nagios.Unknown,
			summary: "DNS lookup of " + relayName + ": no such host",
		},
		{
			name:    "certificate file, listed",
			obs:     []check.Observation{certFile("/etc/letsencrypt/live/cliff/cert.pem", certA)},
			recv:    []check.Receiver{listA},
			state:   nagios.OK,
			summary: "file /etc/letsencrypt/live/cliff/cert.pem listed in 1 table",
			long:    []string{"[OK] file /etc/letsencrypt/live/cliff/cert.pem in " + tableSpec},
		},
		{
			name:     "certificate file, unlisted: label from the certificate",
			obs:      []check.Observation{certFile("/etc/letsencrypt/live/cliff/cert.pem", certA)},
			recv:     []check.Receiver{listB},
			state:    nagios.Critical,
			summary:  "file /etc/letsencrypt/live/cliff/cert.pem presents sha256 public-key fingerprint " + keyFP,
			long:     []string{"add: " + keyFP + " " + relayName},
			unlisted: 1,
		},
		{
			name:    "certificate file that cannot be read: UNKNOWN even when unreachable is CRITICAL",
			cfg:     func(c *check.Config) { c.Unreachable = nagios.Critical },
			obs:     []check.Observation{{Name: "/nonexistent.pem", Err: errors.New("certificate file: open /nonexistent.pem: no such file or directory")}},
			recv:    []check.Receiver{listA},
			state:   nagios.Unknown,
			summary: "certificate file: open /nonexistent.pem",
		},
		{
			name: "unreadable table: UNKNOWN",
			obs:  []check.Observation{relay(relayName, relayAddr, certA)},
			recv: []check.Receiver{{
				Spec: table.Spec{Type: "hash", Path: "/srv/missing"},
				Err:  errors.New("read table source: open /srv/missing: no such file or directory"),
			}},
			state:   nagios.Unknown,
			summary: "read table source: open /srv/missing",
			long:    []string{"[UNKNOWN] read table source: open /srv/missing"},
		},
		{
			name: "unreadable table and an unlisted relay: CRITICAL first",
			obs:  []check.Observation{relay(relayName, relayAddr, certA)},
			recv: []check.Receiver{
				{Spec: table.Spec{Path: "/srv/missing"}, Err: errors.New("read table source: open /srv/missing: no such file or directory")},
				listB,
			},
			state:    nagios.Critical,
			summary:  relayAt + " presents sha256 public-key fingerprint " + keyFP,
			inSum:    []string{"(and 1 more problem)"},
			unlisted: 1,
		},
		{
			name: "stale compiled table: WARNING, run postmap",
			obs:  []check.Observation{relay(relayName, relayAddr, certA)},
			recv: []check.Receiver{func() check.Receiver {
				r := receiver(t, "hash:"+tablePath, lines(keyFP+" "+relayName))
				r.Compiled, r.Age = tablePath+".db", check.AgeOlder
				return r
			}()},
			state:   nagios.Warning,
			summary: "hash:" + tablePath + ": " + tablePath + ".db is older than its source",
			inSum:   []string{"run postmap hash:" + tablePath},
		},
		{
			name: "one relay_clientcerts list: listed in its second table is OK",
			obs:  []check.Observation{relay(relayName, relayAddr, certA)},
			recv: func() []check.Receiver {
				a, b := listB, listA
				a.Group, b.Group = 1, 1
				b.Spec.Path = "/etc/postfix/more"
				return []check.Receiver{a, b}
			}(),
			state: nagios.OK,
			// Regression: "listed in 2 tables", when only one lists it.
			summary: relayName + " " + relayAddr + " listed in 1 relay_clientcerts list of 2 tables",
			long:    []string{"in " + tableSpec + ", texthash:/etc/postfix/more: listed by pubkey fingerprint"},
		},
		{
			name: "one relay_clientcerts list: listed in none is CRITICAL naming the list",
			obs:  []check.Observation{relay(relayName, relayAddr, certA)},
			recv: func() []check.Receiver {
				a, b := listB, listB
				a.Group, b.Group = 1, 1
				b.Spec.Path = "/etc/postfix/more"
				return []check.Receiver{a, b}
			}(),
			state:    nagios.Critical,
			inSum:    []string{"not listed in " + tableSpec + ", texthash:/etc/postfix/more"},
			unlisted: 1,
		},
		{
			// Added to the source, postmap not run: Postfix reads the old
			// compiled table and refuses the relay (e2e).
			name: "stale compiled table without the relay: CRITICAL although the source lists it",
			obs:  []check.Observation{relay(relayName, relayAddr, certA)},
			recv: func() []check.Receiver {
				r := receiver(t, "hash:"+tablePath, lines(keyFP+" "+relayName))
				r.Compiled, r.Age, r.InForce = tablePath+".db", check.AgeOlder, map[string]bool{}
				return []check.Receiver{r}
			}(),
			state:    nagios.Critical,
			inSum:    []string{"listed in the source " + tablePath + " but not in " + tablePath + ".db", "run postmap hash:" + tablePath},
			unlisted: 1,
		},
		{
			name: "stale compiled table that still lists the relay: WARNING, the next postmap drops it",
			obs:  []check.Observation{relay(relayName, relayAddr, certA)},
			recv: func() []check.Receiver {
				r := receiver(t, "hash:"+tablePath, lines("# emptied"))
				r.Compiled, r.Age, r.InForce = tablePath+".db", check.AgeOlder, map[string]bool{table.Fold(keyFP): true}
				return []check.Receiver{r}
			}(),
			state: nagios.Warning,
			long:  []string{"only in " + tablePath + ".db", "the next postmap drops it"},
		},
		{
			// Postfix answers 451 4.3.0 to every relay without it (e2e).
			name: "missing compiled table: CRITICAL, run postmap",
			obs:  []check.Observation{relay(relayName, relayAddr, certA)},
			recv: []check.Receiver{func() check.Receiver {
				r := receiver(t, "lmdb:"+tablePath, lines(keyFP+" "+relayName))
				r.Compiled, r.Age = tablePath+".lmdb", check.AgeMissing
				return r
			}()},
			state:   nagios.Critical,
			summary: "lmdb:" + tablePath + ": " + tablePath + ".lmdb does not exist",
			inSum:   []string{"run postmap lmdb:" + tablePath},
		},
		{
			// Issue 15 item 2: main.cf says btree: over a hash-format .db;
			// Postfix answers 451 4.3.0 Temporary lookup failure.
			name: "compiled table postmap cannot read: CRITICAL with postmap's message",
			obs:  []check.Observation{relay(relayName, relayAddr, certA)},
			recv: []check.Receiver{func() check.Receiver {
				r := receiver(t, "btree:"+tablePath, lines(keyFP+" "+relayName))
				r.Compiled, r.Age = tablePath+".db", check.AgeNewer
				r.QueryErr = errors.New("postmap: fatal: open database " + tablePath + ".db: Invalid argument")
				return r
			}()},
			state:   nagios.Critical,
			summary: "btree:" + tablePath + ": postmap cannot look keys up",
			inSum:   []string{"open database " + tablePath + ".db: Invalid argument", "451 4.3.0"},
		},
		{
			// Issue 13 item 17: rsync -t, tar: equal times are no proof.
			name: "compiled table of unknown age, postmap not asked: WARNING, run postmap",
			obs:  []check.Observation{relay(relayName, relayAddr, certA)},
			recv: []check.Receiver{func() check.Receiver {
				r := receiver(t, "hash:"+tablePath, lines(keyFP+" "+relayName))
				r.Compiled, r.Age = tablePath+".db", check.AgeUnknown
				return r
			}()},
			state:   nagios.Warning,
			summary: "hash:" + tablePath + ": " + tablePath + ".db is not newer than its source",
			inSum:   []string{"run postmap hash:" + tablePath},
		},
		{
			name: "compiled table of unknown age that postmap -q answered: OK",
			obs:  []check.Observation{relay(relayName, relayAddr, certA)},
			recv: []check.Receiver{func() check.Receiver {
				r := receiver(t, "hash:"+tablePath, lines(keyFP+" "+relayName))
				r.Compiled, r.Age, r.InForce = tablePath+".db", check.AgeUnknown, map[string]bool{table.Fold(keyFP): true}
				return r
			}()},
			state: nagios.OK,
		},
		{
			name: "two addresses of one name present different certificates: WARNING",
			obs: []check.Observation{
				relay(relayName, relayAddr, certA),
				relay(relayName, "[2001:db8::1]:25", certA2),
			},
			recv:    []check.Receiver{listA},
			state:   nagios.Warning,
			summary: relayName + ": addresses present different certificates ([2001:db8::1]:25 differs from " + relayAddr + ")",
		},
		{
			name: "two addresses of one name present the same certificate: OK",
			obs: []check.Observation{
				relay(relayName, relayAddr, certA),
				relay(relayName, "[2001:db8::1]:25", certA),
			},
			recv:    []check.Receiver{listA},
			state:   nagios.OK,
			summary: "all 2 relay certificates listed in 1 table",
		},
		{
			name: "worst state wins: CRITICAL beats WARNING beats UNKNOWN, worst named first",
			obs: []check.Observation{
				unreachable("mx0.example.org", "192.0.2.10:25", connRefused),
				relay("mx1.example.org", "192.0.2.11:25", certWarn),
				relay("mx2.example.org", "192.0.2.12:25", certB),
			},
			recv:     []check.Receiver{listAll(certWarn)},
			state:    nagios.Critical,
			summary:  "mx2.example.org 192.0.2.12:25 presents sha256 public-key fingerprint " + sha.PublicKey(certB),
			inSum:    []string{"(and 2 more problems)"},
			long:     []string{"[UNKNOWN] mx0.example.org: connect to", "[WARNING] mx1.example.org 192.0.2.11:25: certificate expires in 10 days", "[CRITICAL] mx2.example.org"},
			unlisted: 1,
		},
		{
			name: "worst state wins: WARNING beats UNKNOWN",
			obs: []check.Observation{
				unreachable("mx0.example.org", "192.0.2.10:25", connRefused),
				relay("mx1.example.org", "192.0.2.11:25", certWarn),
			},
			recv:    []check.Receiver{listAll(certWarn)},
			state:   nagios.Warning,
			summary: "mx1.example.org 192.0.2.11:25: certificate expires in 10 days",
			inSum:   []string{"(and 1 more problem)"},
		},
		{
			name: "all listed in several tables",
			obs: []check.Observation{
				relay(relayName, relayAddr, certA),
				relay("relay2.example.org", "192.0.2.2:25", certB),
			},
			recv:    []check.Receiver{listAll(certA, certB), listIn("hash:/srv/mx2/relay_clientcerts", certB, certA)},
			state:   nagios.OK,
			summary: "all 2 relay certificates listed in 2 tables, valid 60 days or more",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig(t)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			v := check.Judge(cfg, tt.obs, tt.recv)
			r := v.Result
			out := render(t, r)
			if r.State != tt.state {
				t.Errorf("State = %v, want %v; output:\n%s", r.State, tt.state, out)
			}
			if r.Name != "RELAY_FINGERPRINT" {
				t.Errorf("Name = %q, want RELAY_FINGERPRINT", r.Name)
			}
			if !strings.HasPrefix(r.Summary, tt.summary) {
				t.Errorf("Summary = %q, want it to start with %q", r.Summary, tt.summary)
			}
			for _, s := range tt.inSum {
				if !strings.Contains(r.Summary, s) {
					t.Errorf("Summary = %q, want it to contain %q", r.Summary, s)
				}
			}
			for _, s := range tt.notSum {
				if strings.Contains(r.Summary, s) {
					t.Errorf("Summary = %q, want it without %q", r.Summary, s)
				}
			}
			for _, s := range tt.long {
				if !containsLine(r.Long, s) {
					t.Errorf("no long-output line contains %q; long output:\n%s", s, strings.Join(r.Long, "\n"))
				}
			}
			for _, s := range tt.notLong {
				if containsLine(r.Long, s) {
					t.Errorf("a long-output line contains %q; long output:\n%s", s, strings.Join(r.Long, "\n"))
				}
			}
			for _, l := range r.Long {
				if !hasStatePrefix(l) {
					t.Errorf("long-output line %q does not start with [STATE]", l)
				}
			}
			if v.Unlisted != tt.unlisted {
				t.Errorf("Unlisted = %d, want %d", v.Unlisted, tt.unlisted)
			}
			checkPerf(t, r.Perf)
			if strings.Count(out, "|") != 1 {
				t.Errorf("output has %d '|', want 1 (before the perfdata):\n%s", strings.Count(out, "|"), out)
			}
		})
	}
}

func containsLine(long []string, s string) bool {
	for _, l := range long {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func hasStatePrefix(l string) bool {
	for _, p := range []string{"[OK] ", "[WARNING] ", "[CRITICAL] ", "[UNKNOWN] "} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// TestJudgeLongOutputPerRelayAndTable checks that the long output has one
// line per relay address × table, in input order, and nothing else when
// all is well.
func TestJudgeLongOutputPerRelayAndTable(t *testing.T) {
	t.Parallel()
	sha := fingerprint.SHA256
	c1, c2 := newCert(t, certSpec{cn: "mx1.example.org"}), newCert(t, certSpec{cn: "mx2.example.org"})
	text := lines(sha.PublicKey(c1)+" mx1", sha.Cert(c2)+" mx2")
	specs := []string{"texthash:/a", "hash:/b", "/c"}
	var recv []check.Receiver
	for _, s := range specs {
		recv = append(recv, receiver(t, s, text))
	}
	obs := []check.Observation{
		relay("mx1.example.org", "192.0.2.1:25", c1),
		relay("mx2.example.org", "192.0.2.2:25", c2),
		relay("mx2.example.org", "[2001:db8::2]:25", c2),
	}
	cfg := baseConfig(t)
	cfg.Match = check.MatchCert // no renewal hints: exactly one line each
	v := check.Judge(cfg, obs, recv)

	var want []string
	for _, o := range obs {
		for _, s := range specs {
			want = append(want, "[OK] "+o.Where()+" in "+s+": listed by ")
		}
	}
	want[0] = strings.Replace(want[0], "[OK]", "[CRITICAL]", 1) // c1 is listed by its public key only
	want[1] = strings.Replace(want[1], "[OK]", "[CRITICAL]", 1)
	want[2] = strings.Replace(want[2], "[OK]", "[CRITICAL]", 1)
	for i := range 3 {
		want[i] = strings.TrimSuffix(want[i], "listed by ") + "not listed"
	}
	if len(v.Result.Long) != len(want) {
		t.Fatalf("long output has %d lines, want %d (3 addresses × 3 tables):\n%s", len(v.Result.Long), len(want), strings.Join(v.Result.Long, "\n"))
	}
	for i, l := range v.Result.Long {
		if !strings.HasPrefix(l, want[i]) {
			t.Errorf("long line %d = %q, want prefix %q", i, l, want[i])
		}
	}
	if len(v.Listings) != 9 {
		t.Fatalf("len(Listings) = %d, want 9", len(v.Listings))
	}
	for i, l := range v.Listings {
		if l.Obs != i/3 || l.Table != i%3 {
			t.Errorf("Listings[%d] = obs %d table %d, want obs %d table %d", i, l.Obs, l.Table, i/3, i%3)
		}
		if wantMatched := l.Obs > 0; (l.Matched != nil) != wantMatched {
			t.Errorf("Listings[%d].Matched = %v, want matched %v", i, l.Matched, wantMatched)
		}
		if l.Want.Kind != "cert" {
			t.Errorf("Listings[%d].Want.Kind = %q under --match cert, want cert", i, l.Want.Kind)
		}
	}
	if v.Unlisted != 3 {
		t.Errorf("Unlisted = %d, want 3", v.Unlisted)
	}
}

// TestJudgeListings checks the structured verdict that remediation uses.
func TestJudgeListings(t *testing.T) {
	t.Parallel()
	sha := fingerprint.SHA256
	c := newCert(t, certSpec{})
	listed := receiver(t, tableSpec, lines("# comment", sha.Cert(c)+" cliff"))
	unlisted := receiver(t, tableSpec, lines("# empty"))
	v := check.Judge(baseConfig(t), []check.Observation{relay(relayName, relayAddr, c)}, []check.Receiver{listed, unlisted})
	if len(v.Listings) != 2 {
		t.Fatalf("len(Listings) = %d, want 2", len(v.Listings))
	}
	l := v.Listings[0]
	if l.Matched == nil || l.Matched.Kind != "cert" || l.Matched.Value != sha.Cert(c) || l.Entry.Line != 2 || l.Entry.Value != "cliff" {
		t.Errorf("Listings[0] = %+v (Matched %+v), want matched by cert %s at line 2", l, l.Matched, sha.Cert(c))
	}
	if want := (check.Print{Kind: "pubkey", Value: sha.PublicKey(c)}); l.Want != want || v.Listings[1].Want != want {
		t.Errorf("Want = %+v and %+v, want %+v (the public key under --match any)", l.Want, v.Listings[1].Want, want)
	}
	if v.Listings[1].Matched != nil {
		t.Errorf("Listings[1].Matched = %+v, want nil", v.Listings[1].Matched)
	}
}

// TestJudgePerfdata checks the performance data of a mixed scenario item
// by item.
func TestJudgePerfdata(t *testing.T) {
	t.Parallel()
	sha := fingerprint.SHA256
	c1 := newCert(t, certSpec{cn: "mx1.example.org", notAfter: now.Add(20*day + 6*60*60e9)})
	c2 := newCert(t, certSpec{cn: "mx2.example.org", notAfter: now.Add(40 * day)})
	obs := []check.Observation{
		relay("mx1.example.org", "192.0.2.1:25", c1),
		relay("192.0.2.2", "192.0.2.2:25", c2),
		unreachable("mx3.example.org", "192.0.2.3:25", errors.New("connect to 192.0.2.3:25: connection refused")),
		certFile("/etc/ssl/my relay.pem", c2),
	}
	recv := []check.Receiver{
		receiver(t, "texthash:/etc/postfix/relay_clientcerts", lines(sha.PublicKey(c1)+" mx1", "dup v", "DUP v")),
		{Spec: table.Spec{Path: "/missing"}, Err: errors.New("read table source: open /missing: no such file or directory")},
	}
	cfg := baseConfig(t)
	cfg.Days.Critical = mustRange(t, "@0:5")
	r := check.Judge(cfg, obs, recv).Result
	checkPerf(t, r.Perf)
	var got []string
	for _, p := range r.Perf {
		got = append(got, p.String())
	}
	want := []string{
		"relays=3;;;0",
		"unreachable=1;;;0",
		"unlisted=2;;;0",
		"min_days_left=20.25;14:;@5",
		"handshake_mx1.example.org_192.0.2.1:25=0.0015s;;;0",
		"handshake_192.0.2.2:25=0.0015s;;;0",
		"entries_/etc/postfix/relay_clientcerts=2;;;0",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("perfdata:\n got %s\nwant %s", strings.Join(got, " "), strings.Join(want, " "))
	}
}

// TestJudgeNoThresholds checks that Days without ranges never alerts on
// validity and that the perfdata then has no warn or crit.
func TestJudgeNoThresholds(t *testing.T) {
	t.Parallel()
	c := newCert(t, certSpec{notAfter: now.Add(2 * day)})
	cfg := baseConfig(t)
	cfg.Days = nagios.Thresholds{}
	r := check.Judge(cfg, []check.Observation{relay(relayName, relayAddr, c)},
		[]check.Receiver{receiver(t, tableSpec, lines(fingerprint.SHA256.PublicKey(c)+" x"))}).Result
	if r.State != nagios.OK {
		t.Errorf("State = %v, want OK without thresholds; output:\n%s", r.State, render(t, r))
	}
	for _, p := range r.Perf {
		if p.Label == "min_days_left" && (p.Warn != nil || p.Crit != nil || p.Value != 2) {
			t.Errorf("perfdata %s, want min_days_left=2 without warn and crit", p)
		}
	}
}

// TestJudgeFarNotAfter: a certificate valid to 9999 has its days counted
// in full, not cut at time.Duration's 292 years (issue 13 item 12).
func TestJudgeFarNotAfter(t *testing.T) {
	t.Parallel()
	notAfter := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	c := newCert(t, certSpec{notAfter: notAfter})
	r := check.Judge(baseConfig(t), []check.Observation{relay(relayName, relayAddr, c)},
		[]check.Receiver{receiver(t, tableSpec, lines(fingerprint.SHA256.PublicKey(c)+" x"))}).Result
	want := math.Round(float64(notAfter.Unix()-now.Unix())/86400*100) / 100 // 2 911 502.5 days
	found := false
	for _, p := range r.Perf {
		if p.Label == "min_days_left" {
			found = true
			if p.Value != want {
				t.Errorf("perfdata %s, want min_days_left=%v", p, want)
			}
		}
	}
	if !found || r.State != nagios.OK {
		t.Errorf("State %v, min_days_left found %v; want OK with it:\n%s", r.State, found, render(t, r))
	}
}

func TestParseMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want check.Match
		err  bool
	}{
		{"any", check.MatchAny, false},
		{"cert", check.MatchCert, false},
		{"PUBKEY", check.MatchPubkey, false},
		{"", "", true},
		{"fingerprint", "", true},
	}
	for _, tt := range tests {
		got, err := check.ParseMatch(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseMatch(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !strings.Contains(err.Error(), "any, cert or pubkey") {
			t.Errorf("ParseMatch(%q) error %q does not list the modes", tt.in, err)
		}
	}
}

func TestObservationWhere(t *testing.T) {
	t.Parallel()
	tests := []struct {
		o    check.Observation
		want string
	}{
		{check.Observation{Name: "cliff.example.org", Host: "cliff.example.org", Addr: "192.0.2.1:25"}, "cliff.example.org 192.0.2.1:25"},
		{check.Observation{Name: "cliff.example.org:587", Host: "cliff.example.org", Addr: "192.0.2.1:587"}, "cliff.example.org:587 192.0.2.1:587"},
		{check.Observation{Name: "192.0.2.1", Host: "192.0.2.1", Addr: "192.0.2.1:25"}, "192.0.2.1:25"},
		{check.Observation{Name: "[2001:db8::1]:2525", Host: "2001:db8::1", Addr: "[2001:db8::1]:2525"}, "[2001:db8::1]:2525"},
		{check.Observation{Name: "/etc/ssl/cert.pem"}, "file /etc/ssl/cert.pem"},
	}
	for _, tt := range tests {
		if got := tt.o.Where(); got != tt.want {
			t.Errorf("%+v.Where() = %q, want %q", tt.o, got, tt.want)
		}
	}
}

func TestLabel(t *testing.T) {
	t.Parallel()
	withDNS := newCert(t, certSpec{cn: "cn.example.org", dns: []string{"san.example.org", "other.example.org"}})
	cnOnly := newCert(t, certSpec{cn: "cn.example.org", dns: []string{}})
	nothing := newCert(t, certSpec{cn: "", dns: []string{}})
	evil := "x\nAA:BB:CC evil.example.org"
	injected := newCert(t, certSpec{cn: evil, dns: []string{evil, "san.example.org"}})
	allBad := newCert(t, certSpec{cn: "two words", dns: []string{evil, "#comment", "tab\there"}})
	tests := []struct {
		name string
		o    check.Observation
		want string
	}{
		{"relay name", relay("cliff.example.org:587", "192.0.2.1:587", withDNS), "cliff.example.org"},
		{"IP: first DNS name", relay("192.0.2.1", "192.0.2.1:25", withDNS), "san.example.org"},
		{"IP: common name", relay("192.0.2.1", "192.0.2.1:25", cnOnly), "cn.example.org"},
		{"IP: no name in the certificate", relay("192.0.2.1", "192.0.2.1:25", nothing), "192.0.2.1"},
		{"file: first DNS name", certFile("/etc/ssl/c.pem", withDNS), "san.example.org"},
		{"file: no name in the certificate", certFile("/etc/ssl/c.pem", nothing), "/etc/ssl/c.pem"},
		// A relay chooses the names in its certificate: a line break there
		// would put a line of its choosing into the table lines printed
		// for the admin to paste. Such names are passed over.
		{"IP: DNS name with a line break skipped", relay("192.0.2.1", "192.0.2.1:25", injected), "san.example.org"},
		{"IP: only unusable names", relay("192.0.2.1", "192.0.2.1:25", allBad), "192.0.2.1"},
		{"file: only unusable names", certFile("/etc/ssl/c.pem", allBad), "/etc/ssl/c.pem"},
	}
	for _, tt := range tests {
		if got := check.Label(tt.o); got != tt.want {
			t.Errorf("%s: Label = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestJudgePerfdataCertFileError checks that a certificate file that
// cannot be read is not counted as an unreachable relay: "unreachable"
// must never exceed "relays".
func TestJudgePerfdataCertFileError(t *testing.T) {
	t.Parallel()
	c := newCert(t, certSpec{})
	obs := []check.Observation{
		relay(relayName, relayAddr, c),
		{Name: "/etc/ssl/missing.pem", Err: errors.New("certificate file: open /etc/ssl/missing.pem: no such file or directory")},
	}
	r := check.Judge(baseConfig(t), obs, []check.Receiver{receiver(t, tableSpec, lines(fingerprint.SHA256.PublicKey(c)+" x"))}).Result
	perf := map[string]float64{}
	for _, p := range r.Perf {
		perf[p.Label] = p.Value
	}
	if perf["relays"] != 1 || perf["unreachable"] != 0 {
		t.Errorf("relays=%v unreachable=%v, want relays=1 unreachable=0 (a certificate file is no relay); output:\n%s",
			perf["relays"], perf["unreachable"], render(t, r))
	}
	if r.State != nagios.Unknown {
		t.Errorf("State = %v, want UNKNOWN for an unreadable certificate file", r.State)
	}
}

// TestJudgePerfdataSamePathTwice: one file named by two table types (two
// receivers' views of it) must not give two perfdata items one label.
func TestJudgePerfdataSamePathTwice(t *testing.T) {
	t.Parallel()
	c := newCert(t, certSpec{})
	text := lines(fingerprint.SHA256.PublicKey(c) + " cliff")
	recv := []check.Receiver{
		receiver(t, "texthash:/etc/postfix/relay_clientcerts", text),
		receiver(t, "hash:/etc/postfix/relay_clientcerts", text),
		receiver(t, "texthash:/etc/postfix/other", text),
	}
	r := check.Judge(baseConfig(t), []check.Observation{relay(relayName, relayAddr, c)}, recv).Result
	checkPerf(t, r.Perf)
	var labels []string
	for _, p := range r.Perf {
		if strings.HasPrefix(p.Label, "entries_") {
			labels = append(labels, p.Label)
		}
	}
	want := []string{"entries_texthash:/etc/postfix/relay_clientcerts", "entries_hash:/etc/postfix/relay_clientcerts", "entries_/etc/postfix/other"}
	if strings.Join(labels, " ") != strings.Join(want, " ") {
		t.Errorf("entries labels %q, want %q", labels, want)
	}
}

func TestObservationReason(t *testing.T) {
	t.Parallel()
	refused := errors.New("connect to 192.0.2.1:25: connection refused")
	tests := []struct {
		name string
		o    check.Observation
		want string
	}{
		{"by name", unreachable("cliff.example.org", "192.0.2.1:25", refused), "cliff.example.org: connect to 192.0.2.1:25: connection refused"},
		{"by name with a port", unreachable("cliff.example.org:587", "192.0.2.1:587", refused), "cliff.example.org:587: connect to 192.0.2.1:25: connection refused"},
		{"by address", unreachable("192.0.2.1", "192.0.2.1:25", refused), "connect to 192.0.2.1:25: connection refused"},
		{"error names the relay", unreachable("cliff.example.org", "cliff.example.org:25", errors.New("DNS lookup of cliff.example.org: no such host")), "DNS lookup of cliff.example.org: no such host"},
		{"file", check.Observation{Name: "/etc/ssl/c.pem", Err: errors.New("/etc/ssl/c.pem: no PEM certificate")}, "/etc/ssl/c.pem: no PEM certificate"},
		{"no error", unreachable("cliff.example.org", "192.0.2.1:25", nil), "cliff.example.org: no certificate"},
	}
	for _, tt := range tests {
		if got := tt.o.Reason(); got != tt.want {
			t.Errorf("%s: Reason() = %q, want %q", tt.name, got, tt.want)
		}
	}
}
