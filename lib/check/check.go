// Package check judges what the probes saw against the receivers'
// relay_clientcerts tables and turns it into one Monitoring Plugins
// result. Judge is a pure function of its inputs: it does no network or
// file I/O and reads no clock (the caller passes Now). Consult, beside it,
// learns what Postfix reads: the times of the compiled tables, and their
// answers to postmap -q.
//
// The rules, per relay address × relay_clientcerts list (one table, or
// several searched in order), worst state winning:
//
//	CRITICAL  none of the relay's fingerprints (for the digest and match
//	          mode) is a key of any table of the list as Postfix reads it
//	          (the compiled table, when postmap -q could be asked): that
//	          receiver refuses its mail with
//	          "454 4.7.1 ... Access denied"
//	CRITICAL  a compiled table that does not exist or that postmap -q
//	          cannot read (btree: over a hash-format .db, say), or a
//	          texthash table with a duplicate key: Postfix answers every
//	          relay 451 4.3.0
//	CRITICAL  (or WARNING) certificate validity under the critical
//	          (warning) threshold, in days
//	WARNING   the compiled table (.db, .lmdb, .cdb) is older than its
//	          source: postmap was not run, Postfix still uses the old one;
//	          a relay listed only there is lost at the next postmap; or,
//	          when postmap could not be asked, its age is unknown (equal
//	          times)
//	WARNING   keys that can never match: another digest's length, no
//	          colons, not a fingerprint at all
//	WARNING   duplicate keys, malformed lines (postmap skips them)
//	WARNING   addresses of one relay name presenting different certificates
//	UNKNOWN   a table that cannot be read, a relay that cannot be probed
//	          (configurable to CRITICAL), the plugin's own deadline
//
// The status line names the first, worst problem; the long output has a
// line per relay address × table, then the table and certificate notes.
package check

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// Match says which fingerprints of a relay's certificate count.
type Match string

// The match modes. Any is what Postfix 2.9 and later do with
// permit_tls_clientcerts: the certificate fingerprint is looked up, then
// the public-key fingerprint.
const (
	MatchAny    Match = "any"
	MatchCert   Match = "cert"
	MatchPubkey Match = "pubkey"
)

// ParseMatch accepts "any", "cert" or "pubkey".
func ParseMatch(s string) (Match, error) {
	switch m := Match(strings.ToLower(s)); m {
	case MatchAny, MatchCert, MatchPubkey:
		return m, nil
	}
	return "", fmt.Errorf("unknown match mode %q: expected any, cert or pubkey", s)
}

// Observation is one certificate as the check saw it: served by one
// address of a relay (one per key type when it serves several), presented
// by the relay's own SMTP client as its Postfix configuration names it,
// or read from a certificate file.
type Observation struct {
	Name      string              // the relay as given with -H, the certificate file's path, or where a client's configuration is ("main.cf (smtp)")
	Host      string              // the host part of Name (no port, no brackets); empty for a file
	Addr      string              // "ip:port" probed; empty for a certificate file or a client certificate
	Chain     []*x509.Certificate // leaf first; empty when Err is set
	Err       error               // why there is no certificate
	Handshake time.Duration       // TLS handshake time, for perfdata
	// KeyType names the leaf's key type ("RSA", "ECDSA") where it tells
	// this observation from another of the same address or file; empty
	// when there is only one.
	KeyType string
	// Role is what the certificate is to the relay.
	Role Role
	// Source is where a certificate read from a file stands in it
	// ("/etc/postfix/relay.pem:12"); empty for a probe.
	Source string
	// Key is the certificate's private key, when it was read with one
	// (a client certificate), so that it can be presented to a receiver.
	Key crypto.Signer
	// Fatal makes Err a verdict on the relay, CRITICAL: its SMTP client
	// presents no certificate at all, say. Otherwise Err says only that
	// the check could not look (UNKNOWN, or --unreachable's state).
	Fatal bool
}

// Role says what a certificate is to the relay. permit_tls_clientcerts
// judges the certificate the relay's SMTP client presents when it relays;
// a probe of its smtpd sees the server certificate, which may be another
// one, or the same file.
type Role int

// The roles. RoleServer is what a probe of -H sees, and what a
// certificate file is taken for unless it is a client's.
const (
	RoleServer Role = iota
	RoleClient
)

// String returns "server" or "client".
func (r Role) String() string {
	if r == RoleClient {
		return "client"
	}
	return "server"
}

// Leaf returns the presented certificate, or nil.
func (o Observation) Leaf() *x509.Certificate {
	if len(o.Chain) == 0 {
		return nil
	}
	return o.Chain[0]
}

// Where names the observation for people: "cliff.example.org 192.0.2.1:25",
// "[2001:db8::1]:25 ECDSA", "file /etc/ssl/cliff.pem" or "main.cf (smtp)
// client certificate /etc/postfix/relay.pem:1 RSA".
func (o Observation) Where() string {
	var w string
	switch {
	case o.Role == RoleClient && o.Source != "":
		w = strings.TrimSpace(o.Name + " client certificate " + o.Source)
	case o.Role == RoleClient:
		w = o.Name + " client"
	case o.Addr == "":
		w = "file " + o.Name
	case o.Name == o.Addr || o.Name == "" || net.ParseIP(o.Host) != nil:
		w = o.Addr
	default:
		w = o.Name + " " + o.Addr
	}
	if o.KeyType != "" {
		w += " " + o.KeyType
	}
	return w
}

// Reason says why o has no certificate, naming the relay as the admin
// gave it with -H when the error names only its address.
func (o Observation) Reason() string {
	msg := "no certificate"
	if o.Err != nil {
		msg = o.Err.Error()
	}
	switch {
	case o.Role == RoleClient && o.Name != "" && !strings.Contains(msg, o.Name):
		msg = o.Name + ": " + msg
	case o.Addr != "" && net.ParseIP(o.Host) == nil && !strings.Contains(msg, o.Host):
		msg = o.Name + ": " + msg
	}
	return msg
}

// Receiver is one relay_clientcerts table as the check sees it: its
// source read whole, and what Consult learnt of its compiled table.
type Receiver struct {
	Spec  table.Spec
	Table *table.Table // nil when Err is set
	Err   error        // why the table could not be read
	// Compiled names the compiled file that Postfix reads (PATH.db, ...)
	// and Age says how its times compare with the source's (see
	// CompiledAge); both are zero for a type without one (texthash:).
	Compiled string
	Age      Age
	// InForce, when not nil, says which observed keys the compiled table
	// holds, folded as table.Fold does: Consult asked it as Postfix opens
	// it (postmap -q). The listing verdict then follows it, as Postfix
	// does.
	InForce map[string]bool
	// QueryErr is postmap's error when it could not look keys up in the
	// compiled table: Postfix then answers every relay 451 4.3.0.
	QueryErr error
	// Group numbers the relay_clientcerts list the table belongs to:
	// receivers with the same non-zero Group, next to each other, are one list
	// ("hash:A, texthash:B" in main.cf), searched in order, and a relay is
	// listed when any of them lists it. Group 0 is a list of its own.
	Group int
}

// Stale returns the compiled file the check asks to postmap again: one
// that is missing or older than its source, or of unknown age when
// postmap -q did not answer; "" when there is none.
func (rc Receiver) Stale() string {
	switch {
	case rc.Age == AgeMissing || rc.Age == AgeOlder:
		return rc.Compiled
	case rc.Age == AgeUnknown && rc.InForce == nil && rc.QueryErr == nil:
		return rc.Compiled
	}
	return ""
}

// lookup finds the first of prints that the table lists, in the source.
func (rc Receiver) lookup(prints []Print) (*Print, table.Entry) {
	for _, p := range prints {
		if e, ok := rc.Table.Lookup(p.Value); ok {
			return &p, e
		}
	}
	return nil, table.Entry{}
}

// Len returns the number of distinct keys of the table; 0 when it was not
// read.
func (rc Receiver) Len() int {
	if rc.Table == nil {
		return 0
	}
	return rc.Table.Len()
}

// keyNotes returns the notes on the table's keys that can never match
// under digest d (another digest's length, no colons, not a fingerprint):
// the first maxNotes of them, and how many there are.
func keyNotes(t *table.Table, d fingerprint.Digest) (first []string, n int) {
	for _, e := range t.Entries {
		g, ok := fingerprint.Guess(e.Key)
		if ok && g == d {
			continue
		}
		if n++; len(first) == maxNotes {
			continue
		}
		var note string
		switch {
		case ok && g != "":
			note = fmt.Sprintf("%s:%d: key is a %s fingerprint, the receiver uses %s: it can never match", t.Path, e.Line, g, d)
		case ok:
			note = fmt.Sprintf("%s:%d: key %q has %d bytes, which fits no digest: it can never match", t.Path, e.Line, e.Key, (len(e.Key)+1)/3)
		case isBareHex(e.Key):
			note = fmt.Sprintf("%s:%d: key %q has no colons: it can never match; hint: write hex pairs joined by colons", t.Path, e.Line, e.Key)
		default:
			note = fmt.Sprintf("%s:%d: key %q is not a fingerprint: it can never match", t.Path, e.Line, e.Key)
		}
		first = append(first, note)
	}
	return first, n
}

// inForce finds the first of prints that Postfix sees: in InForce when
// the compiled table was queried, else in the source.
func (rc Receiver) inForce(prints []Print) *Print {
	if rc.InForce == nil {
		p, _ := rc.lookup(prints)
		return p
	}
	for _, p := range prints {
		if rc.InForce[table.Fold(p.Value)] {
			return &p
		}
	}
	return nil
}

// Config holds the policy: what to compare and where the thresholds are.
type Config struct {
	Digest fingerprint.Digest
	Match  Match
	Days   nagios.Thresholds // on days of certificate validity left
	// Unreachable is the state for a relay that could not be probed:
	// nagios.Unknown by default, nagios.Critical on request.
	Unreachable nagios.State
	Now         time.Time
}

// Fingerprints returns the fingerprints of c that count under m, in the
// order Postfix looks them up.
func (cfg Config) Fingerprints(c *x509.Certificate) []Print {
	var p []Print
	if cfg.Match != MatchPubkey {
		p = append(p, Print{Kind: "cert", Value: cfg.Digest.Cert(c)})
	}
	if cfg.Match != MatchCert {
		p = append(p, Print{Kind: "pubkey", Value: cfg.Digest.PublicKey(c)})
	}
	return p
}

// Print is one fingerprint of a certificate.
type Print struct {
	Kind  string // "cert" or "pubkey"
	Value string
}

// kindName names the fingerprint as people compare it: openssl x509
// -fingerprint prints the certificate's, which is not the public key's.
func (p Print) kindName() string {
	if p.Kind == "pubkey" {
		return "public-key"
	}
	return "certificate"
}

// Listing is the verdict for one observation × one table.
type Listing struct {
	Obs, Table int         // indexes into the inputs
	Matched    *Print      // the fingerprint found, nil when unlisted
	Entry      table.Entry // the entry that matched
	Want       Print       // the fingerprint to add when unlisted (or to add for stability)
}

// Verdict is the judgement in structured form, for the remediation step
// and for JSON output; Result renders it for people.
type Verdict struct {
	Result   nagios.Result
	Listings []Listing
	Unlisted int // observation × table pairs with no match

	problems []problem // for the status line
	ok       string    // the status line when there is no problem
}

// summarize writes the status line: the worst problem first, then a
// count of the rest.
func (v *Verdict) summarize() {
	slices.SortStableFunc(v.problems, func(a, b problem) int {
		return cmpState(a.state, b.state)
	})
	r := &v.Result
	switch {
	case len(v.problems) == 0:
		r.Summary = v.ok
	case len(v.problems) == 1:
		r.Summary = v.problems[0].text
	default:
		more := "problems"
		if len(v.problems) == 2 {
			more = "problem"
		}
		r.Summary = fmt.Sprintf("%s (and %d more %s)", v.problems[0].text, len(v.problems)-1, more)
	}
}

// Add adds a problem found beside the judgement (what the next renewal
// will do, say): a long line of state s, and, unless s is OK, a place in
// the status line by its state.
func (v *Verdict) Add(s nagios.State, text string) {
	v.Result.Raise(s)
	v.Result.Long = append(v.Result.Long, "["+s.String()+"] "+text)
	if s != nagios.OK {
		v.problems = append(v.problems, problem{s, text})
		v.summarize()
	}
}

const maxNotes = 10 // per table and kind, in the long output

// Judge compares every observation with every receiver's table, and
// judges what receivers answered when asked (see Answer).
//
// When obs holds the relay's client certificates (RoleClient), they are
// what permit_tls_clientcerts judges: the certificates its smtpd serves
// are then only compared with them, not with the tables.
func Judge(cfg Config, obs []Observation, recv []Receiver, answers ...Answer) Verdict {
	j := judge{cfg: cfg, v: Verdict{Result: nagios.Result{Name: "RELAY_FINGERPRINT"}}}
	j.run(obs, recv, answers)
	return j.v
}

type judge struct {
	cfg      Config
	v        Verdict
	problems []problem // for the status line, worst first after sorting
	long     []string
}

type problem struct {
	state nagios.State
	text  string
}

func (j *judge) add(s nagios.State, summary, long string) {
	j.v.Result.Raise(s)
	if s != nagios.OK && summary != "" {
		j.problems = append(j.problems, problem{s, summary})
	}
	if long != "" {
		j.long = append(j.long, "["+s.String()+"] "+long)
	}
}

func (j *judge) run(obs []Observation, recv []Receiver, answers []Answer) {
	r := &j.v.Result
	probed, failed := 0, 0
	minDays := math.Inf(1)
	clients := slices.ContainsFunc(obs, func(o Observation) bool { return o.Role == RoleClient })
	addrs := map[string]bool{} // an address serving several certificates is one relay

	for _, rc := range recv {
		if rc.Err != nil {
			j.add(nagios.Unknown, rc.Err.Error(), rc.Err.Error())
		}
	}

	for oi, o := range obs {
		if o.Addr != "" && !addrs[o.Addr] {
			addrs[o.Addr] = true
			probed++
		}
		leaf := o.Leaf()
		if leaf == nil {
			if o.Addr != "" {
				failed++
			}
			msg := o.Reason()
			state := j.cfg.Unreachable
			if state == nagios.OK {
				state = nagios.Unknown // the zero Config: UNKNOWN, as documented
			}
			switch {
			case o.Fatal:
				state = nagios.Critical
			case o.Addr == "" || errors.Is(o.Err, context.DeadlineExceeded):
				// A certificate file we cannot read is bad input, and the
				// plugin's own deadline says nothing about the relay.
				state = nagios.Unknown
			}
			j.add(state, msg, msg)
			continue
		}
		if clients && o.Role == RoleServer && o.Addr != "" {
			j.serverNote(o, obs)
			continue
		}
		prints := j.cfg.Fingerprints(leaf)
		want := prints[len(prints)-1] // pubkey when it counts: stable across key-reusing renewals
		for _, g := range groups(recv) {
			j.listing(oi, o, prints, want, recv, g)
		}
		days := daysBetween(j.cfg.Now, leaf.NotAfter)
		minDays = math.Min(minDays, days)
		if s := j.cfg.Days.Check(days); s != nagios.OK {
			what := fmt.Sprintf("certificate expires in %s (%s)", formatDays(days), leaf.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
			if days < 0 {
				what = fmt.Sprintf("certificate expired %s ago (%s)", formatDays(-days), leaf.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
			}
			j.add(s, o.Where()+": "+what, o.Where()+": "+what)
		} else if leaf.NotBefore.After(j.cfg.Now) {
			what := "certificate not valid before " + leaf.NotBefore.UTC().Format("2006-01-02 15:04 MST")
			j.add(nagios.Warning, o.Where()+": "+what, o.Where()+": "+what)
		}
	}

	j.differing(obs)
	anyone := anyone(answers)
	for _, a := range answers {
		j.answer(a, obs, anyone)
	}
	for _, rc := range recv {
		if rc.Table != nil {
			j.tableNotes(rc)
		}
	}

	j.v.ok = j.okSummary(obs, recv, answers, minDays)
	j.v.problems = j.problems
	j.v.summarize()
	r.Long = j.long

	// Perfdata.
	r.Perf = append(r.Perf,
		nagios.Perf{Label: "relays", Value: float64(probed), Min: ptr(0)},
		nagios.Perf{Label: "unreachable", Value: float64(failed), Min: ptr(0)},
		nagios.Perf{Label: "unlisted", Value: float64(j.v.Unlisted), Min: ptr(0)},
	)
	if !math.IsInf(minDays, 1) {
		r.Perf = append(r.Perf, nagios.Perf{Label: "min_days_left", Value: math.Round(minDays*100) / 100,
			Warn: j.cfg.Days.Warning, Crit: j.cfg.Days.Critical})
	}
	for _, o := range obs {
		if o.Addr != "" && o.Leaf() != nil {
			r.Perf = append(r.Perf, nagios.Perf{Label: "handshake_" + strings.ReplaceAll(o.Where(), " ", "_"),
				Value: math.Round(o.Handshake.Seconds()*1e6) / 1e6, UOM: "s", Min: ptr(0)})
		}
	}
	paths := map[string]int{}
	for _, rc := range recv {
		if rc.Table != nil {
			paths[rc.Spec.Path]++
		}
	}
	for _, rc := range recv {
		if rc.Table != nil {
			// Labels must be unique: a file read as two table types is
			// named by its type too.
			name := rc.Spec.Path
			if paths[name] > 1 {
				name = rc.Spec.String()
			}
			r.Perf = append(r.Perf, nagios.Perf{Label: "entries_" + name, Value: float64(rc.Len()), Min: ptr(0)})
		}
	}
	// The same relay address given twice, say, would repeat a label: the
	// JSON document and the status line get the same unique labels.
	r.Perf = nagios.UniqueLabels(r.Perf)
}

func cmpState(a, b nagios.State) int {
	if a == b {
		return 0
	}
	if nagios.Worst(a, b) == a {
		return -1
	}
	return 1
}

func ptr(v float64) *float64 { return &v }

func formatDays(d float64) string {
	if d < 1.0/24 {
		m := int(d * 24 * 60)
		if m == 1 {
			return "1 minute"
		}
		return fmt.Sprintf("%d minutes", m)
	}
	if d < 1 {
		h := int(d * 24)
		if h == 1 {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", h)
	}
	n := int(d)
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

func (j *judge) okSummary(obs []Observation, recv []Receiver, answers []Answer, minDays float64) string {
	tables := "1 table"
	if len(recv) != 1 {
		tables = fmt.Sprintf("%d tables", len(recv))
	}
	if n := len(groups(recv)); n != len(recv) {
		// A list counts as one: a relay is listed in one of its tables.
		lists := "1 relay_clientcerts list"
		if n != 1 {
			lists = fmt.Sprintf("%d relay_clientcerts lists", n)
		}
		tables = fmt.Sprintf("%s of %s", lists, tables)
	}
	// The judged observations: the client certificates when known.
	judged := obs
	if slices.ContainsFunc(obs, func(o Observation) bool { return o.Role == RoleClient }) {
		judged = slices.DeleteFunc(slices.Clone(obs), func(o Observation) bool { return o.Role != RoleClient })
	}
	what, n := "relay certificates", len(judged)
	if n == 0 {
		return "nothing to judge"
	}
	if judged[0].Role == RoleClient {
		what = "client certificates"
	}
	var parts []string
	if len(recv) > 0 {
		switch n {
		case 1:
			parts = append(parts, fmt.Sprintf("%s listed in %s", judged[0].Where(), tables))
		default:
			parts = append(parts, fmt.Sprintf("all %d %s listed in %s", n, what, tables))
		}
	}
	if asked := receiversAsked(answers); asked > 0 {
		whom := "1 receiver"
		if asked != 1 {
			whom = fmt.Sprintf("%d receivers", asked)
		}
		switch n {
		case 1:
			parts = append(parts, fmt.Sprintf("%s may relay through %s", judged[0].Where(), whom))
		default:
			parts = append(parts, fmt.Sprintf("all %d %s may relay through %s", n, what, whom))
		}
	}
	s := strings.Join(parts, "; ")
	if !math.IsInf(minDays, 1) {
		s += fmt.Sprintf(", valid %s or more", formatDays(minDays))
	}
	return s
}

// differing warns when the addresses of one relay name present different
// certificates: a half-finished renewal, or a relay that is several.
func (j *judge) differing(obs []Observation) {
	type addr struct {
		addr  string
		certs []*x509.Certificate
	}
	byName := map[string][]addr{}
	var names []string
	for _, o := range obs {
		if o.Addr == "" || o.Leaf() == nil {
			continue
		}
		list, ok := byName[o.Name]
		if !ok {
			names = append(names, o.Name)
		}
		if i := len(list) - 1; i >= 0 && list[i].addr == o.Addr {
			list[i].certs = append(list[i].certs, o.Leaf())
		} else {
			list = append(list, addr{o.Addr, []*x509.Certificate{o.Leaf()}})
		}
		byName[o.Name] = list
	}
	same := func(a, b []*x509.Certificate) bool {
		return len(a) == len(b) && !slices.ContainsFunc(a, func(c *x509.Certificate) bool {
			return !slices.ContainsFunc(b, c.Equal)
		})
	}
	for _, name := range names {
		list := byName[name]
		var other []string
		for _, a := range list[1:] {
			if !same(list[0].certs, a.certs) {
				other = append(other, a.addr)
			}
		}
		if len(other) > 0 {
			text := fmt.Sprintf("%s: addresses present different certificates (%s differs from %s)",
				name, strings.Join(other, ", "), list[0].addr)
			j.add(nagios.Warning, text, text)
		}
	}
}

// serverNote says, for a certificate the relay's smtpd serves when its
// client certificates are known, whether the client presents the same
// key: if not, a probe of the smtpd from elsewhere tells nothing about
// relaying.
func (j *judge) serverNote(o Observation, obs []Observation) {
	key := o.Leaf().RawSubjectPublicKeyInfo
	for _, c := range obs {
		if c.Role == RoleClient && c.Leaf() != nil && bytes.Equal(c.Leaf().RawSubjectPublicKeyInfo, key) {
			j.long = append(j.long, fmt.Sprintf("[OK] %s: its smtpd serves the key that %s presents", o.Where(), c.Where()))
			return
		}
	}
	j.long = append(j.long, fmt.Sprintf("[OK] %s: its smtpd serves %s %s, a key no client certificate of this relay has: a probe of its smtpd tells nothing about relaying (not judged)",
		o.Where(), j.cfg.Digest, j.cfg.Digest.PublicKey(o.Leaf())))
}

// tableNotes warns about what in a table can never match or postmap skips.
func (j *judge) tableNotes(rc Receiver) {
	spec := rc.Spec.String()
	switch stale := rc.Stale(); {
	case rc.QueryErr != nil:
		text := fmt.Sprintf("%s: postmap cannot look keys up in the table as Postfix opens it: %v: Postfix answers every relay 451 4.3.0 (lookup failure)", spec, rc.QueryErr)
		j.add(nagios.Critical, text, text)
	case rc.Age == AgeMissing:
		// Postfix answers "451 4.3.0 Temporary lookup failure" to every
		// client while the compiled table is missing.
		text := fmt.Sprintf("%s: %s does not exist: Postfix answers every relay 451 4.3.0 (lookup failure); run postmap %s", spec, stale, spec)
		if h := rc.Spec.TexthashHint(); h != "" {
			text += "; " + h
		}
		j.add(nagios.Critical, text, text)
	case rc.Age == AgeOlder:
		text := fmt.Sprintf("%s: %s is older than its source: Postfix still uses the old table; run postmap %s", spec, stale, spec)
		j.add(nagios.Warning, text, text)
	case stale != "":
		text := fmt.Sprintf("%s: %s is not newer than its source (equal times, as rsync, tar or cp -p leave them) and postmap could not be asked: Postfix may use an old table; run postmap %s", spec, stale, spec)
		j.add(nagios.Warning, text, text)
	}
	if rc.Spec.Type == "texthash" {
		for _, w := range rc.Table.Warnings {
			if w.Kind == table.WarnDuplicate {
				// texthash loads the file at start-up and refuses it whole
				// on a duplicate key: every lookup then fails (451 4.3.0).
				text := fmt.Sprintf("%s: duplicate key (%s): Postfix refuses a texthash table with duplicates and answers every relay 451 4.3.0", spec, w)
				j.add(nagios.Critical, text, text)
				break
			}
		}
	}
	first, notes := keyNotes(rc.Table, j.cfg.Digest)
	warns := rc.Table.Warnings
	n := len(warns) + notes
	if n == 0 {
		return
	}
	// note returns note i: the warnings first, then the keys' notes.
	note := func(i int) string {
		if i < len(warns) {
			return warns[i].String()
		}
		return first[i-len(warns)]
	}
	summary := fmt.Sprintf("%s: %d entries or lines need attention (%s)", spec, n, note(0))
	if n == 1 {
		summary = note(0)
	}
	j.v.Result.Raise(nagios.Warning)
	j.problems = append(j.problems, problem{nagios.Warning, summary})
	for i := range n {
		if i == maxNotes {
			j.long = append(j.long, fmt.Sprintf("[WARNING] %s: and %d more", spec, n-maxNotes))
			break
		}
		j.long = append(j.long, "[WARNING] "+note(i))
	}
}

// daysBetween returns the days from a to b, without the overflow of
// time.Duration (292 years): a certificate may be valid to 9999.
func daysBetween(a, b time.Time) float64 {
	secs := b.Unix() - a.Unix()
	nanos := b.Nanosecond() - a.Nanosecond()
	return (float64(secs) + float64(nanos)/1e9) / 86400
}

func isBareHex(s string) bool {
	if len(s) < 2 || len(s)%2 != 0 {
		return false
	}
	_, ok := fingerprint.Guess(insertColons(s))
	return ok
}

func insertColons(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(s[i : i+2])
	}
	return b.String()
}

// Label returns the table label for an observation: the relay's name as
// given with -H when it is a name, else the certificate's first DNS name
// or common name that is one printable word (the relay chooses those: a
// line break would put a line of its choosing into the table lines printed
// for the admin), else the address or the file's path.
func Label(o Observation) string {
	if o.Host != "" && net.ParseIP(o.Host) == nil {
		return o.Host
	}
	if c := o.Leaf(); c != nil {
		for _, n := range append(slices.Clip(c.DNSNames), c.Subject.CommonName) {
			if isWord(n) {
				return n
			}
		}
	}
	if o.Host != "" {
		return o.Host
	}
	return o.Name
}

// isWord reports whether s can stand as a table label on its own: valid
// UTF-8, printable, no whitespace, not starting a comment.
func isWord(s string) bool {
	if s == "" || s[0] == '#' || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// Prepend puts problems found outside the judgement (what postconf says
// of the receiver, say) before the verdict's own: each text gets a long
// line of state s at the top, the result is raised to s, and the status
// line starts with the first text.
func (v *Verdict) Prepend(s nagios.State, texts ...string) {
	if len(texts) == 0 {
		return
	}
	r := &v.Result
	r.Raise(s)
	long := make([]string, 0, len(texts)+len(r.Long))
	for _, t := range texts {
		long = append(long, "["+s.String()+"] "+t)
	}
	r.Long = append(long, r.Long...)
	summary := texts[0]
	if n := len(texts) - 1; n == 1 {
		summary += " (and 1 more problem)"
	} else if n > 1 {
		summary += fmt.Sprintf(" (and %d more problems)", n)
	}
	r.Summary = summary + "; " + r.Summary
}
