package probe

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
)

// KeyType names the public key algorithm of a certificate as the output
// shows it: "RSA", "ECDSA", "Ed25519", "RSA-PSS", "DSA", "Ed448", or
// "unknown key type OID" for others.
type KeyType string

// The key types. Go's TLS client accepts RSA, ECDSA and Ed25519 only;
// Postfix (OpenSSL) also serves RSA-PSS (id-RSASSA-PSS keys), DSA and Ed448.
const (
	KeyRSA     KeyType = "RSA"
	KeyECDSA   KeyType = "ECDSA"
	KeyEd25519 KeyType = "Ed25519"
	KeyRSAPSS  KeyType = "RSA-PSS"
	KeyDSA     KeyType = "DSA"
	KeyEd448   KeyType = "Ed448"
)

var (
	oidRSAPSS = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidEd448  = asn1.ObjectIdentifier{1, 3, 101, 113}
)

// KeyTypeOf returns the key type of c's public key.
func KeyTypeOf(c *x509.Certificate) KeyType {
	switch c.PublicKeyAlgorithm {
	case x509.RSA:
		return KeyRSA
	case x509.ECDSA:
		return KeyECDSA
	case x509.Ed25519:
		return KeyEd25519
	case x509.DSA:
		return KeyDSA
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		return "unknown key type"
	}
	switch oid := spki.Algorithm.Algorithm; {
	case oid.Equal(oidRSAPSS):
		return KeyRSAPSS
	case oid.Equal(oidEd448):
		return KeyEd448
	default:
		return KeyType("unknown key type " + oid.String())
	}
}
