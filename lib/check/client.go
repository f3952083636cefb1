package check

import (
	"errors"
	"fmt"
	"slices"
	"strings"

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
//     permit_tls_clientcerts can never match this relay. An entry that
//     never starts TLS (smtp_tls_security_level = none, or empty with
//     smtp_use_tls = no, Postfix's default, and no smtp_tls_policy_maps
//     or smtp_tls_per_site that could raise it) presents none, whatever
//     files it names: its certificates are not judged, nor presented to
//     receivers;
//   - a client without a certificate, while another has one, is a note:
//     mail routed through that transport cannot relay by certificate, and
//     only the admin knows where it goes; unless default_transport or
//     relay_transport names it and no transport_maps can route elsewhere
//     (postfix.ClientTLS.Carries): then relayed mail takes it, CRITICAL;
//   - an lmtp client without a certificate is passed over (LMTP delivers
//     locally, as a rule); one with certificates is judged;
//   - a file Postfix cannot load is UNKNOWN with its error (Postfix then
//     runs that client without TLS certificates).
func Clients(entries []postfix.ClientTLS) (obs []Observation, notes []string) {
	smtpCerts := 0
	var bare []postfix.ClientTLS
	for _, e := range entries {
		if e.None() || e.NoTLS() {
			if e.Command == "smtp" {
				bare = append(bare, e)
			}
			continue
		}
		switch {
		case e.SecurityLevel == "none":
			notes = append(notes, fmt.Sprintf("%s: %s_tls_security_level = none: only the receivers that %s give TLS get a client certificate (not consulted here); to the others it presents none", e.Origin(), e.Command, e.PolicyMaps))
		case e.PolicyMaps != "":
			notes = append(notes, fmt.Sprintf("%s: %s is not consulted here: a receiver it gives the level none gets no client certificate", e.Origin(), e.PolicyMaps))
		}
		leaves, err := e.Load()
		if err != nil {
			obs = append(obs, Observation{Name: e.Origin(), Role: RoleClient, Err: err})
			continue
		}
		if e.Command == "smtp" {
			smtpCerts += len(leaves)
		}
		obs = append(obs, Leaves(e.Origin(), RoleClient, leaves)...)
	}
	if smtpCerts == 0 && !hasErr(obs) {
		err := errors.New("the relay's smtp client presents no client certificate (smtp_tls_chain_files, smtp_tls_cert_file, smtp_tls_eccert_file are empty): permit_tls_clientcerts can never match this relay; hint: set smtp_tls_chain_files to a file holding its key and certificate")
		if i := slices.IndexFunc(bare, func(e postfix.ClientTLS) bool { return !e.None() }); i >= 0 {
			err = fmt.Errorf("the relay's smtp client never starts TLS (%s: %s), so it never presents its client certificate: permit_tls_clientcerts can never match this relay; hint: set smtp_tls_security_level = may, or encrypt", bare[i].Origin(), noTLS(bare[i]))
		}
		obs = append(obs, Observation{Name: "main.cf (smtp)", Role: RoleClient, Fatal: true, Err: err})
		return obs, notes
	}
	for _, e := range bare {
		if len(e.Carries) > 0 {
			why := "presents no client certificate"
			if !e.None() {
				why = "never starts TLS (" + noTLS(e) + ")"
			}
			obs = append(obs, Observation{Name: e.Origin(), Role: RoleClient, Fatal: true,
				Err: fmt.Errorf("%s %s, and %s delivers relayed mail through it: permit_tls_clientcerts can never match that mail, whatever the other transports present", e.Origin(), why, strings.Join(e.Carries, " and "))})
			continue
		}
		if e.None() {
			notes = append(notes, fmt.Sprintf("%s presents no client certificate: mail routed through it cannot relay by certificate", e.Origin()))
		} else {
			notes = append(notes, fmt.Sprintf("%s never starts TLS (%s): mail routed through it cannot relay by certificate", e.Origin(), noTLS(e)))
		}
	}
	return obs, notes
}

// noTLS says why e never starts TLS.
func noTLS(e postfix.ClientTLS) string {
	return fmt.Sprintf("%s_tls_security_level = none, or empty with %s_use_tls = no as by default", e.Command, e.Command)
}

// Leaves turns the leaves of one file or configuration into observations
// named name, with the key type where there are several and where each
// stands in its file.
func Leaves(name string, role Role, leaves []certfile.Leaf) []Observation {
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
