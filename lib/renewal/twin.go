package renewal

// How a receiver lists a certificate, learned from the receiver itself
// (one run by someone else, with no table to read): the relay holds the
// private key, so it can make a twin of its certificate, the same public
// key in another certificate, as a renewal that keeps the key does. A
// receiver that relays for the certificate and for its twin lists the
// public key; one that relays for the certificate only lists the
// certificate fingerprint, and will refuse the next renewal.

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/certfile"
)

// Twin returns a self-signed certificate with l's public key, subject and
// names, valid for the hour around now: presented to a receiver, it asks
// whether the receiver lists the public key (as relay_clientcerts with a
// public-key fingerprint) or only l's certificate. l must have its key.
func Twin(l certfile.Leaf, now time.Time) (tls.Certificate, error) {
	if l.Key == nil {
		return tls.Certificate{}, errors.New(l.Source + ": no private key to make a twin with")
	}
	c := l.Cert()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               c.Subject,
		DNSNames:              c.DNSNames,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              c.KeyUsage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, l.Key.Public(), l.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: twin certificate: %w", l.Source, err)
	}
	twin, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: l.Key, Leaf: twin}, nil
}

// ListingOf says how a receiver lists a certificate from whether it relays
// for the certificate (accepted) and for its Twin (twinAccepted). When the
// receiver relays for any client (its control question, presenting no
// certificate, was accepted too), nothing can be told: the caller must
// not call it then.
func ListingOf(accepted, twinAccepted bool) Listing {
	switch {
	case !accepted:
		return Unlisted
	case twinAccepted:
		return ByPublicKey
	}
	return ByCert
}
