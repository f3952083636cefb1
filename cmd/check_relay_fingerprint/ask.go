package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net/netip"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/certfile"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/renewal"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/rollover"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/receiver"
)

// receiverFlags ask receivers themselves whether the relay's client
// certificates may relay (lib/receiver).
type receiverFlags struct {
	Receivers []string `name:"receiver" sep:"none" placeholder:"HOST[:PORT]" group:"Receivers" help:"Ask this receiver (port 25 unless given) whether each client certificate of --relay-postconf or --client-chain may relay: STARTTLS presenting it, MAIL FROM, RCPT TO, then RSET and QUIT; never DATA, so no mail is sent. Needs no table; repeatable."`
	Rcpt      string   `placeholder:"ADDR" default:"${default_rcpt}" group:"Receivers" help:"Recipient of the RCPT TO test: an address in a domain the receiver relays to only for trusted clients, never one of its own domains (that would be accepted whatever the certificate). Default: ${default}."`
	MailFrom  string   `name:"mail-from" placeholder:"ADDR" default:"<>" group:"Receivers" help:"Sender of the MAIL FROM test. Default: ${default}, the null sender."`
	// CertbotDir is where certbot keeps its renewal configuration, for
	// the prediction of each client certificate's next renewal.
	CertbotDir string `name:"certbot-dir" placeholder:"DIR" default:"/etc/letsencrypt" group:"Receivers" help:"certbot's configuration directory (its --config-dir), read to predict what the next renewal of each client certificate does to the receivers (acme.sh is read from ~/.acme.sh). Default: ${default}."`
}

// validate refuses --receiver without a client certificate to present,
// and addresses that cannot be sent.
func (f *receiverFlags) check(t *targetFlags) error {
	if len(f.Receivers) == 0 {
		return nil
	}
	if t.RelayPostconf == nil && len(t.ClientChains) == 0 {
		return usagef("--receiver needs the client certificates to present, with their keys: give --relay-postconf [CONFIG_DIR] or --client-chain PATH")
	}
	if err := f.options(t).Validate(); err != nil {
		return usagef("--receiver: %v", err)
	}
	return nil
}

func (f *receiverFlags) options(t *targetFlags) receiver.AllOptions {
	network := "ip"
	switch {
	case t.IPv4:
		network = "ip4"
	case t.IPv6:
		network = "ip6"
	}
	return receiver.AllOptions{
		Options: receiver.Options{EHLO: t.EHLO, MailFrom: f.MailFrom, Rcpt: f.Rcpt},
		Network: network,
		Resolve: func(ctx context.Context, host, network string) ([]netip.Addr, error) {
			return resolve(ctx, nil, host, network)
		},
		Control: true,
	}
}

// ask asks every receiver about every client certificate observed with
// its key, all at once under ctx, and returns the answers for check.Judge;
// beside them it asks about each certificate's twin (same key, another
// certificate: whether the receiver lists the public key, for the renewal
// prediction) and about material rollover staged. A client certificate
// without its key (a --client-chain file holding no private key) cannot
// be presented: each receiver's answer about it is an error, so that
// nothing unasked passes for asked.
func (f *receiverFlags) ask(ctx context.Context, t *targetFlags, obs []observed, staged []rollover.Staging) ([]check.Answer, renewalAnswers, error) {
	var ra renewalAnswers
	if len(f.Receivers) == 0 {
		return nil, ra, nil
	}
	var certs []tls.Certificate
	var index []int // certs[i] is obs[index[i]]
	var keyless []check.Answer
	for i, o := range obs {
		if o.Role != check.RoleClient || o.Leaf() == nil {
			continue
		}
		if o.Key == nil {
			for _, r := range f.Receivers {
				keyless = append(keyless, check.Answer{Receiver: r, Obs: i,
					Err: errors.New("not asked: no private key goes with this certificate, and --receiver must present it; hint: give --client-chain a file holding the private key first, then its certificate (as smtp_tls_chain_files)")})
			}
			continue
		}
		certs = append(certs, certfile.Leaf{Chain: o.Chain, Key: o.Key}.TLS())
		index = append(index, i)
	}
	if len(certs) == 0 {
		return keyless, ra, nil // the check says why there is none
	}
	n := len(certs)
	now := time.Now()
	for _, i := range index {
		twin, err := renewal.Twin(certfile.Leaf{Chain: obs[i].Chain, Key: obs[i].Key, Source: obs[i].Where()}, now)
		if err != nil {
			twin = tls.Certificate{} // asked without a certificate: never taken for a listing
		}
		certs = append(certs, twin)
	}
	for si, st := range staged {
		for li, l := range st.Leaves {
			certs = append(certs, l.TLS())
			ra.stagedAt = append(ra.stagedAt, [2]int{si, li})
		}
	}
	got, err := receiver.AskAll(ctx, f.Receivers, certs, f.options(t))
	if err != nil {
		return nil, ra, usagef("--receiver: %v", err)
	}
	var answers []check.Answer
	for _, a := range got {
		ans := check.Answer{Receiver: a.Receiver, Addr: a.Addr, Obs: -1, Err: a.Err}
		if a.Cert >= 0 {
			ans.Obs = index[a.Cert%n]
		}
		if r := a.Result; r != nil && a.Err == nil {
			ans.Verdict = check.Other
			switch r.Verdict {
			case receiver.Accepted:
				ans.Verdict = check.Accepted
			case receiver.Refused:
				ans.Verdict = check.Refused
			}
			switch {
			case r.Rcpt != nil:
				ans.Reply = r.Rcpt.String()
			case r.Mail != nil:
				ans.Reply = "MAIL FROM: " + r.Mail.String()
			}
			ans.Hints = r.Hints()
		} else if a.Result != nil {
			ans.Hints = a.Result.Hints()
		}
		switch {
		case a.Cert < n:
			answers = append(answers, ans)
		case a.Cert < 2*n:
			ra.twins = append(ra.twins, ans)
		default:
			ans.Obs = a.Cert - 2*n // index into stagedAt
			ra.staged = append(ra.staged, ans)
		}
	}
	return append(answers, keyless...), ra, nil
}
