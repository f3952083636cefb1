package main

// The rollover command: install a relay's new client certificate only once
// every receiver accepts it (lib/rollover), for ACME deploy hooks and for
// the retries of a timer, cron or the check's event handler.
//
// Exit status: 0 when the new certificate was installed (or nothing was
// staged, or it is live already), 1 while a receiver does not accept it yet
// (the material waits, staged), 3 on errors.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/certfile"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfix"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/receiver"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/rollover"
)

const rolloverName = "RELAY_FINGERPRINT_ROLLOVER"

type rolloverCmd struct {
	RelayPostconf *string  `name:"relay-postconf" placeholder:"CONFIG_DIR" group:"Relay" help:"Learn the files Postfix's smtp client reads its client certificate from (smtp_tls_chain_files, or a cert file that holds its key) with postconf -c CONFIG_DIR; without CONFIG_DIR, postconf's default. Required."`
	Receivers     []string `name:"receiver" sep:"none" placeholder:"HOST[:PORT]" group:"Relay" help:"A receiver that must accept the new certificate before it is installed (asked with EHLO, STARTTLS, MAIL, RCPT, RSET, QUIT; never DATA); repeatable, at least one."`
	Rcpt          string   `placeholder:"ADDR" group:"Relay" help:"Recipient proposed to the receivers: an address in a domain they relay to only for trusted clients. Default: check-relay-fingerprint@example.com (see README)."`
	MailFrom      string   `name:"mail-from" placeholder:"ADDR" group:"Relay" help:"Sender proposed to the receivers. Default: the null sender <>."`
	EHLO          string   `name:"ehlo" default:"localhost" placeholder:"NAME" group:"Relay" help:"Name to send with EHLO. Default: ${default}."`

	NewChain string `name:"new-chain" placeholder:"PATH" group:"New material" help:"The new key, certificate and chain in one PEM file, as smtp_tls_chain_files takes it."`
	NewCert  string `name:"new-cert" placeholder:"PATH" group:"New material" help:"The new certificate (and chain); with --new-key."`
	NewKey   string `name:"new-key" placeholder:"PATH" group:"New material" help:"The new certificate's private key; with --new-cert."`
	Lineage  string `placeholder:"DIR" group:"New material" help:"A certbot lineage (its deploy hook's $RENEWED_LINEAGE): privkey.pem and fullchain.pem. Without any new material, rollover completes what an earlier run staged."`

	Digest  string  `short:"d" default:"sha256" placeholder:"DIGEST" group:"General" help:"The receivers' smtpd_tls_fingerprint_digest, for the lines printed. Default: ${default}."`
	Timeout float64 `short:"t" default:"30" placeholder:"SECONDS" group:"General" help:"One deadline for the whole run. Default: ${default}."`
}

func (c *rolloverCmd) validate() (fingerprint.Digest, error) {
	if c.RelayPostconf == nil {
		return "", usagef("rollover needs --relay-postconf [CONFIG_DIR]: it writes only the files Postfix's client reads")
	}
	if len(c.Receivers) == 0 {
		return "", usagef("rollover needs at least one --receiver HOST[:PORT] to ask")
	}
	if !(c.Timeout > 0 && c.Timeout <= 86400) {
		return "", usagef("-t must be more than 0 and at most 86400 seconds, not %v", c.Timeout)
	}
	if (c.NewCert == "") != (c.NewKey == "") {
		return "", usagef("--new-cert and --new-key go together")
	}
	given := 0
	for _, s := range []string{c.NewChain, c.NewCert, c.Lineage} {
		if s != "" {
			given++
		}
	}
	if given > 1 {
		return "", usagef("give the new material one way: --new-chain, --new-cert with --new-key, or --lineage")
	}
	d, err := parseDigest(c.Digest)
	if err != nil {
		return "", err
	}
	o := receiver.Options{EHLO: c.EHLO, MailFrom: c.MailFrom, Rcpt: c.Rcpt}
	if err := o.Validate(); err != nil {
		return "", usagef("%v", err)
	}
	return d, nil
}

// Run asks the receivers about the new (or staged) certificate and installs
// it, or stages it, as lib/rollover does; it prints the outcome as a plugin
// does.
func (c *rolloverCmd) Run(e *env, code *int) error {
	digest, err := c.validate()
	if err != nil {
		return err
	}
	ctx, cancel := deadline(c.Timeout)
	defer cancel()
	res := c.run(ctx, digest)
	*code = res.State.ExitCode()
	return res.Render(e.stdout)
}

func (c *rolloverCmd) run(ctx context.Context, digest fingerprint.Digest) nagios.Result {
	res := nagios.Result{Name: rolloverName}
	fail := func(err error) nagios.Result {
		res.State, res.Summary = nagios.Unknown, err.Error()
		return res
	}
	var fresh []certfile.Leaf
	if c.NewChain != "" || c.NewCert != "" || c.Lineage != "" {
		l, err := rollover.Material(c.NewChain, c.NewCert, c.NewKey, c.Lineage)
		if err != nil {
			return fail(fmt.Errorf("new material: %w", err))
		}
		fresh = l
	}
	dir := *c.RelayPostconf
	clients, err := postfix.ClientCerts(ctx, "", dir)
	if err != nil {
		return fail(err)
	}
	targets, err := rollover.Targets(clients)
	if err != nil {
		return fail(err)
	}
	rep, err := rollover.Run(ctx, targets, rollover.Options{
		New:       fresh,
		Receivers: c.Receivers,
		Ask:       receiver.AllOptions{Options: receiver.Options{EHLO: c.EHLO, MailFrom: c.MailFrom, Rcpt: c.Rcpt}},
		Reload:    func(ctx context.Context) error { return postfix.Reload(ctx, "", dir) },
	})
	if err != nil {
		if rep != nil && rep.Outcome == rollover.Installed {
			res.Long = append(res.Long, "installed in "+files(rep.Files, false))
		}
		return fail(err)
	}
	switch rep.Outcome {
	case rollover.NothingStaged:
		res.Summary = "nothing staged: " + files(targets, false) + " hold the live certificate"
	case rollover.AlreadyLive:
		res.Summary = "the new certificate is live already in " + files(targets, false) + "; nothing to do"
	case rollover.Installed:
		res.Summary = fmt.Sprintf("installed %s in %s, accepted by %s; postfix reload done",
			describe(rep.New), files(rep.Files, false), strings.Join(receivers(rep.Answers), ", "))
	case rollover.Waiting:
		res.State = nagios.Warning
		var not []string
		for _, a := range append(rep.Refused(), rep.Unsure()...) {
			if !slices.Contains(not, a.Receiver) {
				not = append(not, a.Receiver)
			}
		}
		res.Summary = fmt.Sprintf("waiting: %s staged in %s, not yet accepted by %s; the live certificate stays",
			describe(rep.New), files(rep.Files, true), strings.Join(not, ", "))
	}
	res.Long = append(res.Long, answerLines(rep, digest)...)
	return res
}

// files names the targets' files (their staged files with staged).
func files(targets []rollover.Target, staged bool) string {
	var n []string
	for _, t := range targets {
		if staged {
			n = append(n, t.StagedPath())
		} else {
			n = append(n, t.Path)
		}
	}
	return strings.Join(n, ", ")
}

// describe names the new certificates: "the new certificate CN (ECDSA,
// valid until DATE)".
func describe(leaves []certfile.Leaf) string {
	var d []string
	for _, l := range leaves {
		c := l.Cert()
		d = append(d, fmt.Sprintf("%s (%s, valid until %s)", printable(label(l)), c.PublicKeyAlgorithm, c.NotAfter.UTC().Format(time.DateOnly)))
	}
	if len(d) == 1 {
		return "the new certificate " + d[0]
	}
	return "the new certificates " + strings.Join(d, ", ")
}

// label is the table label of a new certificate, as the fingerprint
// command would print it for the file.
func label(l certfile.Leaf) string {
	return check.Label(check.Observation{Name: l.Source, Chain: l.Chain})
}

// receivers lists the receivers answered, each once.
func receivers(answers []receiver.Answer) []string {
	var out []string
	for _, a := range answers {
		if !slices.Contains(out, a.Receiver) {
			out = append(out, a.Receiver)
		}
	}
	return out
}

// answerLines is the long output: one line per receiver address and new
// certificate, with the public-key line a refusing receiver needs.
func answerLines(rep *rollover.Report, digest fingerprint.Digest) []string {
	var out []string
	for _, a := range rep.Answers {
		l := rep.New[a.Cert]
		who := a.Receiver
		if a.Addr != "" && a.Addr != a.Receiver {
			who += " (" + a.Addr + ")"
		}
		switch {
		case a.Err != nil:
			out = append(out, fmt.Sprintf("%s: could not ask about %s: %v", who, label(l), a.Err))
		case a.Result.Verdict == receiver.Accepted:
			out = append(out, fmt.Sprintf("%s: accepts %s (RCPT %s)", who, label(l), a.Result.Rcpt))
		case a.Result.Verdict == receiver.Refused:
			out = append(out, fmt.Sprintf("%s: refuses %s (RCPT %s): add to its relay_clientcerts: %s %s", who, label(l), a.Result.Rcpt,
				digest.PublicKey(l.Cert()), label(l)))
		default:
			reply := "no reply"
			if a.Result.Rcpt != nil {
				reply = "RCPT " + a.Result.Rcpt.String()
			} else if a.Result.Mail != nil {
				reply = "MAIL " + a.Result.Mail.String()
			}
			out = append(out, fmt.Sprintf("%s: neither accepts nor refuses %s (%s); hint: %s", who, label(l), reply, receiver.HintOther))
		}
		if a.Result != nil && !a.Result.CertRequested {
			out = append(out, fmt.Sprintf("%s: hint: %s", who, receiver.HintNotAsked))
		}
	}
	if rep.Outcome == rollover.Waiting {
		for _, f := range rep.Files {
			out = append(out, fmt.Sprintf("a receiver that runs this plugin lists the staged certificate beside the old one with: check_relay_fingerprint --postconf --fix --keep-old --cert-file NEW.pem (NEW.pem: the certificates of %s, copied over; never its key)", f.StagedPath()))
		}
		out = append(out, "run rollover again without new material (a timer does) to complete the switch once every receiver accepts")
	}
	return out
}
