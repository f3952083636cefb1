package main

// The JSON output (--output json) is a stable interface for scripts:
// fields are only ever added, never renamed or removed. Times are RFC 3339
// in UTC; fingerprints are as in the table (upper-case hex pairs joined by
// colons).
//
// check:
//
//	{"state": "CRITICAL", "exit_code": 2, "summary": "...",
//	 "digest": "sha256", "match": "any",
//	 "relays": [{"name": "cliff.example.org", "address": "192.0.2.10:25",
//	             "file": "", "error": "",
//	             "certificate": {"subject": "...", "issuer": "...",
//	                 "not_before": "...", "not_after": "...", "days_left": 41.5,
//	                 "cert_fingerprint": "...", "pubkey_fingerprint": "..."},
//	             "handshake_seconds": 0.012}],
//	 "tables": [{"table": "hash:/etc/postfix/relay_clientcerts", "error": "",
//	             "entries": 12, "stale_compiled": ""}],
//	 "listings": [{"relay": 0, "table": 0, "listed": false, "matched": "",
//	               "line": 0, "add": "FP label"}],
//	 "long": ["[CRITICAL] ..."], "perfdata": ["relays=1;;;0", ...],
//	 "diff": "--- ...\n+++ ...\n"}
//
// "diff" is there only with --diff: the unified diff that the text output
// prints after the plugin output.
//
// fingerprint: a list of relays, each as in "relays" above, plus "label".
//
// When the run stops before judging anything (bad usage found after the
// flags were parsed, the watchdog), both commands print a document of the
// check's shape with "state" UNKNOWN, "exit_code" 3, the reason as
// "summary" and empty lists; an event handler that has nothing to do
// prints one with "state" OK. kong's own parse errors stay plain text.

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"math"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/probe"
)

type jsonCert struct {
	Subject   string  `json:"subject"`
	Issuer    string  `json:"issuer"`
	NotBefore string  `json:"not_before"`
	NotAfter  string  `json:"not_after"`
	DaysLeft  float64 `json:"days_left"`
	CertFP    string  `json:"cert_fingerprint"`
	PubkeyFP  string  `json:"pubkey_fingerprint"`
}

type jsonRelay struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	KeyType   string    `json:"key_type,omitempty"`
	Source    string    `json:"source,omitempty"`
	Address   string    `json:"address,omitempty"`
	File      string    `json:"file,omitempty"`
	Label     string    `json:"label,omitempty"`
	Error     string    `json:"error,omitempty"`
	Cert      *jsonCert `json:"certificate,omitempty"`
	Handshake float64   `json:"handshake_seconds,omitempty"`
}

type jsonTable struct {
	Table   string `json:"table"`
	Error   string `json:"error,omitempty"`
	Entries int    `json:"entries"`
	Stale   string `json:"stale_compiled,omitempty"`
}

type jsonListing struct {
	Relay   int    `json:"relay"`
	Table   int    `json:"table"`
	Listed  bool   `json:"listed"`
	Matched string `json:"matched,omitempty"`
	Line    int    `json:"line,omitempty"`
	Add     string `json:"add,omitempty"`
}

type jsonAnswer struct {
	Receiver string `json:"receiver"`
	Address  string `json:"address,omitempty"`
	Relay    int    `json:"relay"` // index into relays; -1 for the control asked without a certificate
	Verdict  string `json:"verdict,omitempty"`
	Reply    string `json:"reply,omitempty"`
	Error    string `json:"error,omitempty"`
}

type jsonCheck struct {
	State    string        `json:"state"`
	ExitCode int           `json:"exit_code"`
	Summary  string        `json:"summary"`
	Digest   string        `json:"digest"`
	Match    string        `json:"match"`
	Relays   []jsonRelay   `json:"relays"`
	Tables   []jsonTable   `json:"tables"`
	Listings []jsonListing `json:"listings"`
	Answers  []jsonAnswer  `json:"receivers,omitempty"`
	Long     []string      `json:"long"`
	Perfdata []string      `json:"perfdata"`
	Diff     string        `json:"diff,omitempty"`
}

func relayJSON(cfg check.Config, o check.Observation, now time.Time) jsonRelay {
	r := jsonRelay{Name: o.Name, Address: o.Addr, Role: o.Role.String(), Source: o.Source}
	if o.Addr == "" && o.Role == check.RoleServer {
		r.File, r.Address = o.Name, ""
	}
	if c := o.Leaf(); c != nil {
		r.KeyType = string(probe.KeyTypeOf(c))
	}
	if o.Err != nil {
		r.Error = o.Err.Error()
	}
	if c := o.Leaf(); c != nil {
		r.Label = check.Label(o)
		r.Cert = certJSON(cfg, c, now)
		if o.Addr != "" {
			r.Handshake = math.Round(o.Handshake.Seconds()*1e6) / 1e6
		}
	}
	return r
}

func certJSON(cfg check.Config, c *x509.Certificate, now time.Time) *jsonCert {
	return &jsonCert{
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		NotBefore: c.NotBefore.UTC().Format(time.RFC3339),
		NotAfter:  c.NotAfter.UTC().Format(time.RFC3339),
		DaysLeft:  math.Round(c.NotAfter.Sub(now).Hours()/24*100) / 100,
		CertFP:    cfg.Digest.Cert(c),
		PubkeyFP:  cfg.Digest.PublicKey(c),
	}
}

// newJSONCheck returns the document for res with every list present,
// empty when there is nothing in it.
func newJSONCheck(res nagios.Result) jsonCheck {
	out := jsonCheck{
		State: res.State.String(), ExitCode: res.State.ExitCode(), Summary: res.Summary,
		Relays: []jsonRelay{}, Tables: []jsonTable{}, Listings: []jsonListing{},
		Long: res.Long, Perfdata: []string{},
	}
	if out.Long == nil {
		out.Long = []string{}
	}
	for _, p := range res.Perf {
		out.Perfdata = append(out.Perfdata, p.String())
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeCheckJSON(w io.Writer, cfg check.Config, obs []observed, recv []check.Receiver, v check.Verdict, res nagios.Result, answers []check.Answer, diff string) error {
	out := newJSONCheck(res)
	out.Digest, out.Match, out.Diff = string(cfg.Digest), string(cfg.Match), diff
	for _, o := range obs {
		out.Relays = append(out.Relays, relayJSON(cfg, o.Observation, cfg.Now))
	}
	for _, rc := range recv {
		t := jsonTable{Table: rc.Spec.String(), Stale: rc.Stale()}
		if rc.Err != nil {
			t.Error = rc.Err.Error()
		}
		if rc.Err == nil {
			t.Entries = rc.Len()
		}
		out.Tables = append(out.Tables, t)
	}
	for _, l := range v.Listings {
		jl := jsonListing{Relay: l.Obs, Table: l.Table, Listed: l.Matched != nil}
		if l.Matched != nil {
			jl.Matched, jl.Line = l.Matched.Kind, l.Entry.Line
		} else {
			jl.Add = l.Want.Value + " " + check.Label(obs[l.Obs].Observation)
		}
		out.Listings = append(out.Listings, jl)
	}
	for _, a := range answers {
		ja := jsonAnswer{Receiver: a.Receiver, Address: a.Addr, Relay: a.Obs, Verdict: string(a.Verdict), Reply: a.Reply}
		if a.Err != nil {
			ja.Error, ja.Verdict = a.Err.Error(), ""
		}
		out.Answers = append(out.Answers, ja)
	}
	return writeJSON(w, out)
}
