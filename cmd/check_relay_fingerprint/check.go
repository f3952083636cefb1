package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfix"
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

	fixFlags `embed:""`
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
	if err := c.validate(); err != nil {
		return err
	}
	if len(c.Tables) == 0 && c.Postconf == nil {
		return usageError{errNoTable.Error()}
	}
	if err := c.validateFix(); err != nil {
		return err
	}
	if msg, skip := c.skipEvent(); skip {
		res := nagios.Result{Name: "RELAY_FINGERPRINT", Summary: msg}
		*code = exitOK
		return writeResult(e.stdout, res, c.Output == "json")
	}
	cfg, specs, err := c.config()
	if err != nil {
		return err
	}
	if c.Postconf == nil {
		if err := c.checkFixTo(uniqueSpecs(specs)); err != nil {
			return err
		}
	}

	ctx, cancel := deadline(c.Timeout)
	defer cancel()

	// The probes and the tables are independent: read the tables while
	// the relays answer.
	var (
		obs     []observed
		gathErr error
		wg      sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		obs, gathErr = gather(ctx, &c.targetFlags)
	}()
	pc, pcErr := c.postconf(ctx, &cfg, &specs)
	if cfg.Digest == "" {
		cfg.Digest = fingerprint.SHA256
	}
	specs = uniqueSpecs(specs)
	if pcErr == nil && len(specs) > 0 {
		// With --postconf the tables are known only now.
		if err := c.checkFixTo(specs); err != nil {
			cancel() // the probes are of no use any more
			wg.Wait()
			return err
		}
	}
	recv := readReceivers(specs)
	wg.Wait()
	if gathErr != nil {
		return gathErr
	}
	configDir := ""
	if pc != nil {
		configDir = pc.ConfigDir
	}
	check.Consult(ctx, "", configDir, recv, observedKeys(cfg.Digest, obs))

	cfg.Now = time.Now()
	plain := make([]check.Observation, len(obs))
	for i, o := range obs {
		plain[i] = o.Observation
	}
	v := check.Judge(cfg, plain, recv)
	res := v.Result
	var pcMsg string
	switch {
	case pcErr != nil:
		pcMsg = pcErr.Error()
	case pc != nil && len(pc.Tables) == 0 && len(c.Tables) == 0:
		pcMsg = "postconf: relay_clientcerts is empty: this Postfix relays for no client certificate"
	}
	if pcMsg != "" {
		res.Raise(nagios.Unknown)
		res.Summary = pcMsg + "; " + res.Summary
		res.Long = append([]string{"[UNKNOWN] " + pcMsg}, res.Long...)
	}

	var fixed bytes.Buffer // a corrected table (--fix-to -) or a diff (--diff)
	fixState := nagios.OK
	if c.fixFlags.any() {
		fixState = c.remediate(ctx, cfg, obs, recv, &res, &fixed, configDir)
	}
	if c.Verbose > 0 {
		res.Long = append(res.Long, verboseLines(cfg, obs, c.Verbose)...)
	}
	status := e.stdout
	if c.FixTo == "-" {
		// The table goes to stdout for piping, the status to stderr.
		status = e.stderr
		if _, err := e.stdout.Write(fixed.Bytes()); err != nil {
			return err
		}
	}
	if c.Output == "json" {
		// One JSON document and nothing else: the diff goes inside it.
		var diff string
		if c.Diff {
			diff = fixed.String()
		}
		err = writeCheckJSON(status, cfg, obs, recv, v, res, diff)
	} else {
		err = res.Render(status)
		if err == nil && c.Diff {
			_, err = e.stdout.Write(fixed.Bytes())
		}
	}
	if err != nil {
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
		names := postfix.SplitList(t)
		if len(names) == 0 {
			names = []string{t} // let ParseSpec say what is wrong
		}
		for _, name := range names {
			s, err := table.ParseSpec(name)
			if err != nil {
				return cfg, nil, usagef("--table %s: %v", t, err)
			}
			specs = append(specs, groupSpec{s, i + 1})
		}
	}
	return cfg, specs, nil
}

// postconf, with --postconf, adds the receiver's relay_clientcerts list
// to specs and, unless -d was given, takes its digest. An error does not
// stop the check: it is reported as UNKNOWN beside what could be judged.
func (c *checkCmd) postconf(ctx context.Context, cfg *check.Config, specs *[]groupSpec) (*postfix.Settings, error) {
	if c.Postconf == nil {
		return nil, nil
	}
	s, err := postfix.Postconf(ctx, "", *c.Postconf)
	if err != nil {
		return nil, err
	}
	group := len(c.Tables) + 1
	for _, t := range s.Tables {
		sp, err := table.ParseSpec(t)
		if err != nil {
			return &s, fmt.Errorf("postconf relay_clientcerts %s: %w", t, err)
		}
		*specs = append(*specs, groupSpec{sp, group})
	}
	if cfg.Digest == "" {
		if cfg.Digest, err = fingerprint.ParseDigest(s.Digest); err != nil {
			return &s, fmt.Errorf("postconf smtpd_tls_fingerprint_digest: %w", err)
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
