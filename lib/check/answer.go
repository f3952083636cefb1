package check

import (
	"fmt"
	"strings"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
)

// Answer is what a receiver said when asked, over SMTP, whether the
// certificate of one observation may relay (MAIL FROM and RCPT TO after
// STARTTLS presenting it; never DATA). It needs no table: the receiver
// itself judges, as it will judge the relay's mail.
//
// The rules, per answer:
//
//	OK        the RCPT was accepted: this certificate may relay
//	CRITICAL  the RCPT was refused as relaying ("454 4.7.1 ... Relay access
//	          denied"): mail the relay's client sends with this certificate
//	          is deferred or bounced; the line the receiver needs is given
//	UNKNOWN   any other reply (the recipient unknown, MAIL refused, a
//	          lookup failure), or no answer: the reply and a hint are shown
//
// An answer asked without a certificate (Obs < 0) that was accepted says
// the receiver relays for this host whatever it presents: its address is in
// mynetworks, or --rcpt is in a domain it relays to for anyone
// (relay_domains, one of its own). Then the acceptance of a certificate at
// that address says nothing about permit_tls_clientcerts: UNKNOWN, never
// OK (with a --rcpt in such a domain, the relay's real mail to other
// domains is refused while every certificate "may relay").
type Answer struct {
	Receiver string        // as given with --receiver, "mx1.example.net" or "mx1.example.net:587"
	Addr     string        // the address asked, "192.0.2.25:25"
	Obs      int           // index of the observation whose certificate was presented; -1 for none
	Verdict  AnswerVerdict // what the reply means
	Reply    string        // the deciding reply, "454 4.7.1 <x@example.com>: Relay access denied"
	Hints    []string      // what the asking saw besides the reply ("the receiver did not ask for a client certificate ...")
	Err      error         // why there is no answer
}

// AnswerVerdict is what a receiver's reply means for relaying.
type AnswerVerdict string

// The verdicts.
const (
	Accepted AnswerVerdict = "accepted"
	Refused  AnswerVerdict = "refused"
	Other    AnswerVerdict = "other"
)

// where names the receiver and its address.
func (a Answer) where() string {
	if a.Addr == "" || strings.Contains(a.Receiver, a.Addr) {
		return "receiver " + a.Receiver
	}
	return "receiver " + a.Receiver + " (" + a.Addr + ")"
}

// anyone returns the receiver addresses whose control question, asked
// with no certificate, was accepted, keyed by Receiver and Addr.
func anyone(answers []Answer) map[string]bool {
	m := map[string]bool{}
	for _, a := range answers {
		if a.Obs < 0 && a.Err == nil && a.Verdict == Accepted {
			m[a.Receiver+"\x00"+a.Addr] = true
		}
	}
	return m
}

// answer judges one Answer; anyone is anyone(answers).
func (j *judge) answer(a Answer, obs []Observation, anyone map[string]bool) {
	hints := ""
	for _, h := range a.Hints {
		hints += "; hint: " + h
	}
	if a.Obs < 0 {
		if a.Err == nil && a.Verdict == Accepted {
			j.long = append(j.long, fmt.Sprintf("[OK] %s relays for this host without a client certificate (%s): what it answers for a certificate says nothing about permit_tls_clientcerts%s",
				a.where(), a.Reply, hints))
		}
		return
	}
	o := obs[a.Obs]
	switch {
	case a.Err != nil:
		text := fmt.Sprintf("%s, asked with %s: %v%s", a.where(), o.Where(), a.Err, hints)
		j.add(nagios.Unknown, fmt.Sprintf("%s, asked with %s: %v", a.where(), o.Where(), a.Err), text)
	case a.Verdict == Accepted && anyone[a.Receiver+"\x00"+a.Addr]:
		j.add(nagios.Unknown,
			fmt.Sprintf("%s relays for this host without any certificate: its acceptance of %s says nothing about the certificate", a.where(), o.Where()),
			fmt.Sprintf("%s relays for this host without any certificate (%s): its acceptance of %s says nothing about the certificate; hint: give --rcpt an address in a domain it relays to only for trusted clients (not in its relay_domains, mydestination or virtual domains); if this host is in its mynetworks, judge with --table instead%s", a.where(), a.Reply, o.Where(), hints))
	case a.Verdict == Accepted:
		j.add(nagios.OK, "", fmt.Sprintf("%s: %s may relay (%s)%s", a.where(), o.Where(), a.Reply, hints))
	case a.Verdict == Refused:
		prints := j.cfg.Fingerprints(o.Leaf())
		want := prints[len(prints)-1]
		line := want.Value + " " + Label(o)
		j.add(nagios.Critical,
			fmt.Sprintf("%s refuses %s: %s", a.where(), o.Where(), a.Reply),
			fmt.Sprintf("%s refuses %s: %s; the receiver's relay_clientcerts needs: %s%s", a.where(), o.Where(), a.Reply, line, hints))
	default:
		j.add(nagios.Unknown,
			fmt.Sprintf("%s answered %s with %s", a.where(), o.Where(), a.Reply),
			fmt.Sprintf("%s answered %s with %s: neither an acceptance nor a refusal of relaying%s", a.where(), o.Where(), a.Reply, hints))
	}
}

// receiversAsked counts the receivers that answered a certificate.
func receiversAsked(answers []Answer) int {
	seen := map[string]bool{}
	for _, a := range answers {
		if a.Obs >= 0 {
			seen[a.Receiver] = true
		}
	}
	return len(seen)
}
