package probe

// Every certificate a server serves. A Postfix smtpd holds at most one
// certificate per key type (smtpd_tls_chain_files with several key and
// certificate pairs, or smtpd_tls_cert_file, smtpd_tls_eccert_file and
// smtpd_tls_dcert_file), and which one a client gets is negotiated. ProbeAll
// asks for each key type crypto/tls lets a client ask for, one connection and
// one whole dialogue per handshake, all at once under the one context:
//
//	default  every version and suite, as Probe: in TLS 1.3 the server
//	         picks by Go's signature_algorithms order (rsa_pss_rsae_sha256,
//	         ecdsa_secp256r1_sha256, ed25519, ...), so RSA first when it has it
//	RSA      TLS 1.0 to 1.2, only TLS_ECDHE_RSA_* and TLS_RSA_* suites:
//	         only an RSA certificate can serve them
//	ECDSA    TLS 1.0 to 1.2, only TLS_ECDHE_ECDSA_* suites: an ECDSA or an
//	         Ed25519 certificate can serve them (RFC 8422)
//
// What cannot be asked for with crypto/tls (Go 1.26): a TLS 1.3 handshake
// restricted to one key type, since tls.Config has no field for the client's
// signature_algorithms and no GODEBUG setting changes that list; and Ed25519
// apart from ECDSA, since Go offers ecdsa_secp256r1_sha256 before ed25519 in
// signature_algorithms (the default order, and the one OpenSSL servers also
// prefer), so a server holding both answers the ECDSA suites with its ECDSA
// certificate. An Ed25519 certificate is therefore found when the server has
// no ECDSA one, or when the default handshake gets it; otherwise its status
// is NotAsked. A server that refuses TLS 1.2 leaves RSA and ECDSA NotAsked
// unless the default handshake found them.
//
// A server that answers a restricted handshake with a handshake_failure alert
// (OpenSSL's "no shared cipher") has no certificate of that key type: that is
// no error, the status is Absent. A server that answers the ECDSA suites with
// its Ed25519 certificate is taken to have no ECDSA one (both Go's and
// OpenSSL's default orders put ECDSA first).

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
)

// Status is what ProbeAll learned about one key type.
type Status int

const (
	// Found: a Result's leaf has this key type.
	Found Status = iota
	// Absent: the server refused the handshake restricted to this key type
	// with a handshake_failure alert, so it holds no such certificate.
	Absent
	// NotAsked: crypto/tls could not ask for this key type here; Reason
	// says why.
	NotAsked
	// Failed: the handshake restricted to this key type failed otherwise
	// (timeout, connection closed): whether the server holds one is unknown.
	Failed
)

// String returns "found", "none", "not asked" or "failed".
func (s Status) String() string {
	switch s {
	case Found:
		return "found"
	case Absent:
		return "none"
	case NotAsked:
		return "not asked"
	case Failed:
		return "failed"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// KeyTypeStatus is what ProbeAll learned about one key type.
type KeyTypeStatus struct {
	KeyType KeyType
	Status  Status
	// Reason says why a key type was NotAsked, in words for the output.
	Reason string
	// Err is the restricted handshake's *Error when Status is Failed.
	Err error
}

// String returns "RSA found", "ECDSA none", "Ed25519 not asked (REASON)" or
// "RSA failed (ERROR)".
func (k KeyTypeStatus) String() string {
	s := string(k.KeyType) + " " + k.Status.String()
	switch {
	case k.Status == NotAsked && k.Reason != "":
		s += " (" + k.Reason + ")"
	case k.Status == Failed && k.Err != nil:
		s += " (" + k.Err.Error() + ")"
	}
	return s
}

// Served is every certificate one address serves, as ProbeAll found it.
type Served struct {
	// Results holds the default handshake's Result first (as Probe returns
	// it, also when it failed), then the Result of each restricted
	// handshake that completed with a leaf no earlier Result has: one
	// Result per distinct leaf. A restricted handshake's error after the
	// handshake (EHLO over TLS refused, say) is not kept: the default
	// handshake's error says the same.
	Results []*Result
	// KeyTypes holds the status of RSA, ECDSA and Ed25519, in that order.
	KeyTypes []KeyTypeStatus
}

// Complete reports whether every key type was Found or Absent, that is
// whether Results holds every certificate the server serves.
func (s *Served) Complete() bool {
	for _, k := range s.KeyTypes {
		if k.Status != Found && k.Status != Absent {
			return false
		}
	}
	return true
}

// Reasons a key type is NotAsked.
const (
	reasonEd25519 = "Go's TLS client cannot ask for Ed25519 apart from ECDSA, and the server serves ECDSA"
	reasonNoTLS12 = "the server refuses TLS 1.2, and Go's TLS client cannot ask for a key type in TLS 1.3"
)

// ProbeAll runs, at once on separate connections under ctx, the default
// handshake and the handshakes restricted to RSA and to ECDSA described at
// the top of all.go, each with the dialogue of Probe and opts (whose KeyType
// must be empty), and returns every distinct leaf the server presented with
// the status of each key type. The error is the default handshake's, as
// Probe returns it; Served is never nil.
func ProbeAll(ctx context.Context, addr string, opts Options) (*Served, error) {
	if opts.KeyType != "" {
		return &Served{Results: []*Result{{Addr: addr}}}, errors.New("ProbeAll asks for every key type itself: Options.KeyType must be empty")
	}
	asks := []KeyType{"", KeyRSA, KeyECDSA}
	results := make([]*Result, len(asks))
	errs := make([]error, len(asks))
	var wg sync.WaitGroup
	for i, kt := range asks {
		o := opts
		o.KeyType = kt
		wg.Go(func() { results[i], errs[i] = Probe(ctx, addr, o) })
	}
	wg.Wait()

	s := &Served{Results: results[:1]}
	for _, r := range results[1:] {
		if r.Proven() && !s.has(r) {
			s.Results = append(s.Results, r)
		}
	}
	found := map[KeyType]bool{}
	for _, r := range s.Results {
		if r.Proven() {
			found[KeyTypeOf(r.Certs[0])] = true
		}
	}
	rsaRes, rsaErr := results[1], errs[1]
	ecRes, ecErr := results[2], errs[2]
	for _, kt := range []KeyType{KeyRSA, KeyECDSA, KeyEd25519} {
		st := KeyTypeStatus{KeyType: kt}
		res, err := ecRes, ecErr
		if kt == KeyRSA {
			res, err = rsaRes, rsaErr
		}
		switch {
		case found[kt]:
			st.Status = Found
		case res.Proven():
			// The ECDSA suites got the other of ECDSA and Ed25519
			// (the RSA suites can only get RSA, found above).
			if kt == KeyEd25519 {
				st.Status, st.Reason = NotAsked, reasonEd25519
			} else {
				st.Status = Absent
			}
		case remoteAlert(err, "tls: handshake failure"):
			st.Status = Absent
		case remoteAlert(err, "tls: protocol version not supported"):
			st.Status, st.Reason = NotAsked, reasonNoTLS12
		default:
			st.Status, st.Err = Failed, err
			if err == nil { // a handshake that completed without a chain cannot happen
				st.Err = &Error{Stage: StageTLS, Addr: addr, Err: ErrNoCertificate}
			}
		}
		s.KeyTypes = append(s.KeyTypes, st)
	}
	return s, errs[0]
}

// has reports whether an earlier Result has r's leaf.
func (s *Served) has(r *Result) bool {
	for _, e := range s.Results {
		if len(e.Certs) > 0 && e.Certs[0].Equal(r.Certs[0]) {
			return true
		}
	}
	return false
}

// remoteAlert reports whether err is the TLS alert the server sent whose
// text, as crypto/tls names it, is text ("tls: handshake failure").
func remoteAlert(err error, text string) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error" && op.Err != nil && op.Err.Error() == text
}

// restrictedSuites returns the TLS 1.0 to 1.2 suites Go implements whose
// certificate must have key type kt, or nil for a key type that cannot be
// asked for this way.
func restrictedSuites(kt KeyType) []uint16 {
	var prefixes []string
	switch kt {
	case KeyRSA:
		prefixes = []string{"TLS_ECDHE_RSA_", "TLS_RSA_"}
	case KeyECDSA:
		prefixes = []string{"TLS_ECDHE_ECDSA_"}
	default:
		return nil
	}
	var ids []uint16
	for _, id := range cipherSuites() {
		name := tls.CipherSuiteName(id)
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}
