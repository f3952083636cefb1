package check

import (
	"errors"
	"fmt"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/certfile"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfix"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/probe"
)

// Clients turns where a relay's Postfix takes its client certificates
// from (postfix.ClientCerts) into observations of RoleClient, one per
// certificate, each with its key, and notes for the long output.
//
// The rules:
//   - every certificate an smtp client entry loads is judged like a probed
//     one; the client's choice among them (RSA, ECDSA) is negotiated with
//     each receiver, so each must be listed;
//   - no smtp client entry presenting any certificate at all is CRITICAL:
//     permit_tls_clientcerts can never match this relay;
//   - a master.cf service whose overrides leave it without a certificate,
//     while main.cf's client has one, is a note: mail routed through that
//     transport cannot relay by certificate, and only the admin knows
//     where it goes;
//   - an lmtp client without a certificate is passed over (LMTP delivers
//     locally, as a rule); one with certificates is judged;
//   - a file Postfix cannot load is UNKNOWN with its error (Postfix then
//     runs that client without TLS certificates).
func Clients(entries []postfix.ClientTLS) (obs []Observation, notes []string) {
	smtpCerts := 0
	var bare []postfix.ClientTLS
	for _, e := range entries {
		if e.None() {
			if e.Command == "smtp" {
				bare = append(bare, e)
			}
			continue
		}
		leaves, err := e.Load()
		if err != nil {
			obs = append(obs, Observation{Name: e.Origin(), Role: RoleClient, Err: err})
			continue
		}
		if e.Command == "smtp" {
			smtpCerts += len(leaves)
		}
		obs = append(obs, leafObservations(e.Origin(), RoleClient, leaves)...)
	}
	if smtpCerts == 0 && !hasErr(obs) {
		obs = append(obs, Observation{Name: "main.cf (smtp)", Role: RoleClient, Fatal: true,
			Err: errors.New("the relay's smtp client presents no client certificate (smtp_tls_chain_files, smtp_tls_cert_file, smtp_tls_eccert_file are empty): permit_tls_clientcerts can never match this relay; hint: set smtp_tls_chain_files to a file holding its key and certificate")})
		return obs, notes
	}
	for _, e := range bare {
		notes = append(notes, fmt.Sprintf("%s presents no client certificate: mail routed through it cannot relay by certificate", e.Origin()))
	}
	return obs, notes
}

// Leaves turns the leaves of one file or configuration into observations
// named name, with the key type where there are several and where each
// stands in its file.
func Leaves(name string, role Role, leaves []certfile.Leaf) []Observation {
	return leafObservations(name, role, leaves)
}

func leafObservations(name string, role Role, leaves []certfile.Leaf) []Observation {
	var obs []Observation
	for _, l := range leaves {
		o := Observation{Name: name, Role: role, Chain: l.Chain, Key: l.Key}
		if role == RoleClient || len(leaves) > 1 {
			o.KeyType = string(probe.KeyTypeOf(l.Cert()))
			o.Source = l.Source
		}
		obs = append(obs, o)
	}
	return obs
}

func hasErr(obs []Observation) bool {
	for _, o := range obs {
		if o.Err != nil {
			return true
		}
	}
	return false
}
