package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

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
	obs, err := gather(ctx, &c.targetFlags)
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
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
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
			fmt.Fprintf(e.stderr, "error: %v\n", o.Err)
			continue
		}
		fmt.Fprintf(&b, "# %s: %s, %s, valid until %s\n", o.Where(), leaf.Subject, cfg.Digest,
			leaf.NotAfter.UTC().Format(time.DateOnly))
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
