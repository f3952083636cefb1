package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfix"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/probe"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/rollover"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// Default thresholds on days of certificate validity left. Let's Encrypt
// renews 30 days before expiry: a certificate with under 14 days left has
// missed its renewal, and its fingerprint will change any day now.
const (
	defaultWarningDays  = "14"
	defaultCriticalDays = "7"
)

type checkCmd struct {
	targetFlags `embed:""`

	Tables      []string `name:"table" sep:"none" placeholder:"[TYPE:]PATH" group:"Matching" help:"A receiver's relay_clientcerts as main.cf names it (hash:/etc/postfix/relay_clientcerts, texthash:, lmdb:, cdb:, btree:, or a bare path); the source text is read. Repeatable."`
	Postconf    *string  `placeholder:"CONFIG_DIR" group:"Matching" help:"On a receiver: take the tables and the digest from postconf (postconf -c CONFIG_DIR -x -h relay_clientcerts smtpd_tls_fingerprint_digest); without CONFIG_DIR, postconf's default."`
	Match       string   `enum:"any,cert,pubkey" default:"any" group:"Matching" help:"Which fingerprints count: cert, pubkey, or any (Postfix 2.9+ looks up both). Default: ${default}."`
	Warning     string   `short:"w" default:"${warning_days}" placeholder:"DAYS|RANGE" group:"Thresholds" help:"WARNING when a certificate has fewer than DAYS days left; a value with ':' or '@' is a Monitoring Plugins range. Default: ${default}."`
	Critical    string   `short:"c" default:"${critical_days}" placeholder:"DAYS|RANGE" group:"Thresholds" help:"CRITICAL when a certificate has fewer than DAYS days left; a range as for -w. Default: ${default}."`
	Unreachable string   `enum:"unknown,critical" default:"unknown" group:"Thresholds" help:"State for a relay that cannot be probed: unknown or critical. Default: ${default}."`

	receiverFlags `embed:""`
	fixFlags      `embed:""`
}

// parseDays reads -w/-c: a bare number N means "fewer than N days", the
// range "N:"; anything with ':' or '@' is a range as the guidelines define.
func parseDays(flag, s string) (*nagios.Range, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if !strings.ContainsAny(s, ":@") {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return nil, usagef("%s %q: expected a number of days or a range such as 14: or @0:7", flag, s)
		}
		s += ":"
	}
	r, err := nagios.ParseRange(s)
	if err != nil {
		return nil, usagef("%s: %v", flag, err)
	}
	return &r, nil
}

func (c *checkCmd) Run(e *env, code *int) error {
	if err := c.validateAll(); err != nil {
		return err
	}
	if msg, skip := c.skipEvent(); skip {
		*code = exitOK
		return writeResult(e.stdout, nagios.Result{Name: "RELAY_FINGERPRINT", Summary: msg}, c.Output == "json")
	}
	cfg, specs, err := c.config()
	if err != nil {
		return err
	}
	ctx, cancel := deadline(c.Timeout)
	defer cancel()

	// The relays answer while the receiver's configuration and tables
	// are read.
	e.busy("probing the relays and reading the tables")
	var g gathered
	done := make(chan struct{})
	go func() { defer close(done); g.run(ctx, c) }()
	rs, err := c.receiverSide(ctx, &cfg, specs)
	if err != nil {
		cancel() // the probes are of no use any more
		<-done
		return err
	}
	<-done
	if g.err != nil {
		return g.err
	}
	e.busy("asking the compiled tables (postmap -q)")
	check.Consult(ctx, "", rs.configDir, rs.recv, observedKeys(cfg.Digest, g.obs))
	cfg.Now = time.Now()
	v := check.Judge(cfg, plain(g.obs), rs.recv, g.answers...)
	v.Prepend(nagios.Unknown, rs.unknown...)
	v.Prepend(nagios.Critical, rs.critical...)
	g.judgeRenewals(&v, cfg, rs.recv, c.CertbotDir)
	res := v.Result
	res.Long = append(res.Long, g.notes...)

	var fixed bytes.Buffer // a corrected table (--fix-to -) or a diff (--diff)
	fixState := nagios.OK
	if c.fixFlags.any() {
		e.busy("fixing the tables (lock, write, postmap, reload)")
		fixState = c.remediate(ctx, cfg, g.obs, rs.recv, &res, &fixed, rs.configDir)
	}
	if c.Verbose > 0 {
		res.Long = append(res.Long, verboseLines(cfg, g.obs, c.Verbose)...)
	}
	e.busy("writing the output")
	if err := c.print(e, cfg, g.obs, rs.recv, v, res, g.answers, fixed.Bytes()); err != nil {
		return err
	}
	*code = res.State.ExitCode()
	if c.EventState != nil {
		// As an event handler the exit status is the remediation's own:
		// Nagios logs a non-zero one as the helper failing. The status
		// line still says what the check found.
		*code = fixState.ExitCode()
	}
	return nil
}

// validateAll checks the flags that kong cannot.
func (c *checkCmd) validateAll() error {
	if err := c.targetFlags.validate(); err != nil {
		return err
	}
	if len(c.Tables) == 0 && c.Postconf == nil && len(c.Receivers) == 0 {
		return usageError{errNoTable.Error()}
	}
	if err := c.receiverFlags.check(&c.targetFlags); err != nil {
		return err
	}
	return c.validateFix()
}

// gathered is what the relay side gave: the certificates observed, the
// receivers' answers about the client certificates, notes.
type gathered struct {
	obs     []observed
	answers []check.Answer
	notes   []string
	err     error
	// entries are where the relay's Postfix takes its client
	// certificates from (--relay-postconf); staged is what rollover
	// stages beside them; renewals what receivers said of each client
	// certificate's twin and of the staged ones (see renew.go).
	entries  []postfix.ClientTLS
	staged   []rollover.Staging
	renewals renewalAnswers
}

func (g *gathered) run(ctx context.Context, c *checkCmd) {
	if g.obs, g.notes, g.entries, g.err = gather(ctx, &c.targetFlags); g.err != nil {
		return
	}
	g.stage()
	g.answers, g.renewals, g.err = c.receiverFlags.ask(ctx, &c.targetFlags, g.obs, g.staged)
	for _, o := range g.obs {
		for _, k := range o.served {
			// Ed25519 beside ECDSA cannot be asked for, and does not stop
			// the fix from replacing (see seenAll): said with -v only.
			quiet := k.KeyType == probe.KeyEd25519 && k.Status == probe.NotAsked && c.Verbose == 0
			if k.Status != probe.Found && k.Status != probe.Absent && !quiet {
				g.notes = append(g.notes, fmt.Sprintf("[OK] %s: %s", o.Where(), k))
			}
		}
	}
}

// receiverSide is what the receiver's side gave: its tables, its
// configuration directory, and what postconf says is wrong.
type receiverSide struct {
	recv              []check.Receiver
	configDir         string
	critical, unknown []string
}

// receiverSide reads postconf (--postconf) and the tables. A usage
// error stops the check; other problems are reported beside what could
// be judged.
func (c *checkCmd) receiverSide(ctx context.Context, cfg *check.Config, specs []groupSpec) (receiverSide, error) {
	var rs receiverSide
	pc, pcErr := c.postconf(ctx, cfg, &specs)
	var ue usageError
	if errors.As(pcErr, &ue) {
		return rs, pcErr
	}
	if cfg.Digest == "" {
		cfg.Digest = fingerprint.SHA256
	}
	specs = uniqueSpecs(specs)
	if err := c.checkFixTo(specs); err != nil {
		return rs, err
	}
	switch {
	case pcErr != nil:
		rs.unknown = append(rs.unknown, pcErr.Error())
	case pc != nil && len(pc.Tables) == 0 && len(c.Tables) == 0:
		rs.unknown = append(rs.unknown, "postconf: relay_clientcerts is empty: this Postfix relays for no client certificate")
	}
	if pc != nil {
		rs.configDir = pc.ConfigDir
		problems, err := postfix.Receiver(ctx, "", pc.ConfigDir)
		if err != nil {
			rs.unknown = append(rs.unknown, err.Error())
		}
		for _, p := range problems {
			rs.critical = append(rs.critical, "postconf: "+p.String())
		}
	}
	rs.recv = readReceivers(specs)
	return rs, nil
}

// print writes the result: plugin output and the diff, or one JSON
// document; with --fix-to - the table goes to stdout, the status to
// stderr.
func (c *checkCmd) print(e *env, cfg check.Config, obs []observed, recv []check.Receiver, v check.Verdict, res nagios.Result, answers []check.Answer, fixed []byte) error {
	status := e.stdout
	if c.FixTo == "-" {
		status = e.stderr
		if _, err := e.stdout.Write(fixed); err != nil {
			return err
		}
	}
	if c.Output == "json" {
		// One JSON document and nothing else: the diff goes inside it.
		var diff string
		if c.Diff {
			diff = string(fixed)
		}
		return writeCheckJSON(status, cfg, obs, recv, v, res, answers, diff)
	}
	if err := res.Render(status); err != nil || !c.Diff {
		return err
	}
	_, err := e.stdout.Write(fixed)
	return err
}

// plain returns the observations without the probes' details.
func plain(obs []observed) []check.Observation {
	out := make([]check.Observation, len(obs))
	for i, o := range obs {
		out[i] = o.Observation
	}
	return out
}

// config turns the flags into the judgement's policy and the tables to
// read. Each --table is a receiver's relay_clientcerts: one table, or a
// list as main.cf writes it ("hash:/a, texthash:/b"), searched in order
// as Postfix does.
func (c *checkCmd) config() (check.Config, []groupSpec, error) {
	var cfg check.Config
	var err error
	if cfg.Days.Warning, err = parseDays("-w", c.Warning); err != nil {
		return cfg, nil, err
	}
	if cfg.Days.Critical, err = parseDays("-c", c.Critical); err != nil {
		return cfg, nil, err
	}
	if cfg.Match, err = check.ParseMatch(c.Match); err != nil {
		return cfg, nil, usagef("--match: %v", err)
	}
	cfg.Unreachable = nagios.Unknown
	if c.Unreachable == "critical" {
		cfg.Unreachable = nagios.Critical
	}
	if c.Digest != "" {
		if cfg.Digest, err = parseDigest(c.Digest); err != nil {
			return cfg, nil, err
		}
	}
	specs := make([]groupSpec, 0, len(c.Tables))
	for i, t := range c.Tables {
		list, err := table.ParseList(t)
		if err != nil {
			return cfg, nil, usagef("--table %s: %v", t, err)
		}
		for _, s := range list {
			specs = append(specs, groupSpec{s, i + 1})
		}
	}
	return cfg, specs, nil
}

// postconf, with --postconf, adds the receiver's relay_clientcerts list
// to specs and takes its digest. A -d or --table that disagrees with
// postconf is a usage error: the check must judge what the running
// server does. Other errors do not stop the check: they are reported as
// UNKNOWN beside what could be judged.
func (c *checkCmd) postconf(ctx context.Context, cfg *check.Config, specs *[]groupSpec) (*postfix.Settings, error) {
	if c.Postconf == nil {
		return nil, nil
	}
	s, err := postfix.Postconf(ctx, "", *c.Postconf)
	if err != nil {
		if errors.Is(err, postfix.ErrNotFound) {
			err = fmt.Errorf("%w; hint: run the check on the receiver, or give --table and -d instead of --postconf", err)
		}
		return nil, err
	}
	d, err := fingerprint.ParseDigest(s.Digest)
	if err != nil {
		return &s, fmt.Errorf("postconf smtpd_tls_fingerprint_digest: %w", err)
	}
	if cfg.Digest != "" && cfg.Digest != d {
		return &s, usagef("-d %s disagrees with postconf: smtpd_tls_fingerprint_digest = %s, which is what the receiver fingerprints with; drop -d", cfg.Digest, d)
	}
	cfg.Digest = d
	group := len(c.Tables) + 1
	var theirs []table.Spec
	for _, t := range s.Tables {
		sp, err := table.ParseSpec(t)
		if err != nil {
			return &s, fmt.Errorf("postconf relay_clientcerts %s: %w", t, err)
		}
		theirs = append(theirs, sp)
		*specs = append(*specs, groupSpec{sp, group})
	}
	for _, gs := range *specs {
		if gs.group < group && !slices.Contains(theirs, gs.spec) {
			return &s, usagef("--table %s is not in postconf's relay_clientcerts (%s): Postfix does not read it; drop --table, or drop --postconf", gs.spec, strings.Join(s.Tables, ", "))
		}
	}
	return &s, nil
}

// readReceivers reads every table's source whole; a table that cannot be
// read carries its error.
func readReceivers(specs []groupSpec) []check.Receiver {
	recv := make([]check.Receiver, len(specs))
	for i, gs := range specs {
		recv[i] = check.Receiver{Spec: gs.spec, Group: gs.group}
		recv[i].Table, recv[i].Err = table.Read(gs.spec.Path)
	}
	return recv
}

// observedKeys returns both fingerprints, in digest d, of every
// certificate observed: the keys a table is searched for.
func observedKeys(d fingerprint.Digest, obs []observed) []string {
	var keys []string
	for _, o := range obs {
		if leaf := o.Leaf(); leaf != nil {
			keys = append(keys, d.Cert(leaf), d.PublicKey(leaf))
		}
	}
	return keys
}

// verboseLines describe what each probe saw, for -v.
func verboseLines(cfg check.Config, obs []observed, level int) []string {
	var out []string
	for _, o := range obs {
		where := o.Where()
		if p := o.probe; p != nil {
			if len(p.Banner) > 0 {
				out = append(out, fmt.Sprintf("%s: banner %q", where, p.Banner[0]))
			}
			if p.TLSVersion != 0 {
				out = append(out, fmt.Sprintf("%s: %s, %s; connect %s, TLS handshake %s, total %s", where,
					tls.VersionName(p.TLSVersion), tls.CipherSuiteName(p.CipherSuite),
					round(p.Timings.Connect), round(p.Timings.TLS), round(p.Timings.Total)))
			}
			if level > 1 {
				for _, l := range p.EHLOAfterTLS {
					out = append(out, fmt.Sprintf("%s: EHLO %s", where, l))
				}
			}
		}
		if o.lateErr != nil {
			out = append(out, fmt.Sprintf("%s: after the handshake: %v", where, o.lateErr))
		}
		if c := o.Leaf(); c != nil {
			out = append(out, fmt.Sprintf("%s: subject %q, issuer %q, valid %s to %s", where,
				c.Subject.String(), c.Issuer.String(),
				c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly)))
			for _, p := range cfg.Fingerprints(c) {
				out = append(out, fmt.Sprintf("%s: %s %s fingerprint %s", where, cfg.Digest, p.Kind, p.Value))
			}
			if level > 1 {
				for i, ca := range o.Chain[1:] {
					out = append(out, fmt.Sprintf("%s: chain[%d] subject %q", where, i+1, ca.Subject.String()))
				}
			}
		}
	}
	return out
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }

// groupSpec is a table and the relay_clientcerts list it belongs to.
type groupSpec struct {
	spec  table.Spec
	group int
}

// uniqueSpecs drops tables named twice (by --table and --postconf, say),
// keeping the first.
func uniqueSpecs(specs []groupSpec) []groupSpec {
	seen := map[table.Spec]bool{}
	out := specs[:0:0]
	for _, s := range specs {
		if !seen[s.spec] {
			seen[s.spec] = true
			out = append(out, s)
		}
	}
	return out
}

// stale names the compiled file of s that --fix postmaps again even when
// the table is unchanged: one that is missing (then true), older than its
// source, or of unknown age (see check.CompiledAge).
func stale(s table.Spec) (string, bool) {
	p, age := check.CompiledAge(s)
	switch age {
	case check.AgeMissing, check.AgeOlder, check.AgeUnknown:
		return p, age == check.AgeMissing
	}
	return "", false
}
