package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
)

type fingerprintCmd struct {
	targetFlags `embed:""`

	Match string `enum:"any,cert,pubkey" default:"any" group:"Matching" help:"Which lines to print: cert, pubkey, or any (both, public key first). Default: ${default}."`
}

// Run prints, for every certificate seen, a comment that says where it
// came from and the table lines that list it, ready to paste into
// relay_clientcerts. A relay that cannot be probed is reported on stderr
// and makes the exit status UNKNOWN.
func (c *fingerprintCmd) Run(e *env, code *int) error {
	if err := c.validate(); err != nil {
		return err
	}
	cfg := check.Config{Digest: fingerprint.SHA256}
	var err error
	if c.Digest != "" {
		if cfg.Digest, err = parseDigest(c.Digest); err != nil {
			return err
		}
	}
	if cfg.Match, err = check.ParseMatch(c.Match); err != nil {
		return usagef("--match: %v", err)
	}
	ctx, cancel := deadline(c.Timeout)
	defer cancel()
	obs, _, _, err := gather(ctx, &c.targetFlags)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		now := time.Now()
		list := []jsonRelay{}
		failed := 0
		for _, o := range obs {
			if o.Leaf() == nil {
				failed++
			}
			list = append(list, relayJSON(cfg, o.Observation, now))
		}
		if err := writeJSON(e.stdout, list); err != nil {
			return err
		}
		*code = exitOK
		if failed > 0 {
			*code = exitUnknown
		}
		return nil
	}
	var b strings.Builder
	seen := map[string]bool{}
	failed := 0
	for _, o := range obs {
		leaf := o.Leaf()
		if leaf == nil {
			failed++
			fmt.Fprintf(e.stderr, "error: %s\n", o.Reason())
			continue
		}
		// The relay chooses its subject: a line break in it must not end
		// the comment and start a table line of its choosing.
		fmt.Fprintf(&b, "# %s\n", printable(fmt.Sprintf("%s: %s, %s, valid until %s", o.Where(), leaf.Subject, cfg.Digest,
			leaf.NotAfter.UTC().Format(time.DateOnly))))
		label := check.Label(o.Observation)
		prints := cfg.Fingerprints(leaf)
		// Public key first: it survives renewals that keep the key.
		for i := len(prints) - 1; i >= 0; i-- {
			p := prints[i]
			if seen[p.Value] {
				fmt.Fprintf(&b, "# %s fingerprint %s listed above\n", p.Kind, p.Value)
				continue
			}
			seen[p.Value] = true
			fmt.Fprintf(&b, "%s %s\n", p.Value, label)
		}
	}
	if _, err := fmt.Fprint(e.stdout, b.String()); err != nil {
		return err
	}
	*code = exitOK
	if failed > 0 {
		*code = exitUnknown
	}
	return nil
}

// printable escapes what is not printable in s (line breaks, other
// control characters, invalid UTF-8) as Go quoted strings do, so that s
// stays on one line.
func printable(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "\\x%02x", s[0])
		case unicode.IsPrint(r):
			b.WriteString(s[:size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		s = s[size:]
	}
	return b.String()
}
