// Package fingerprint computes certificate fingerprints exactly as Postfix
// does for smtpd_tls_fingerprint_digest and relay_clientcerts: the digest
// of the DER certificate ("cert") or of its DER SubjectPublicKeyInfo
// ("pubkey", Postfix 2.9 and later), written as upper-case hexadecimal
// byte pairs joined by colons.
//
// It does not read files, talk to servers or decide anything: see the
// probe and check packages for that.
package fingerprint

import (
	"crypto"
	_ "crypto/md5" // registers crypto.MD5 for Hash().New()
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"fmt"
	"strings"
)

// Digest is one of the digest algorithms Postfix accepts for
// smtpd_tls_fingerprint_digest.
type Digest string

// The digests Postfix accepts. SHA256 is the default from Postfix 3.6
// (compatibility_level 3.6), MD5 before.
const (
	MD5    Digest = "md5"
	SHA1   Digest = "sha1"
	SHA224 Digest = "sha224"
	SHA256 Digest = "sha256"
	SHA384 Digest = "sha384"
	SHA512 Digest = "sha512"
)

// Digests lists every supported digest, weakest first.
var Digests = []Digest{MD5, SHA1, SHA224, SHA256, SHA384, SHA512}

// ParseDigest accepts a digest name as postconf prints it, in any case,
// and the other names OpenSSL gives the same digests, which Postfix
// accepts too (it looks smtpd_tls_fingerprint_digest up with
// EVP_get_digestbyname): "SHA2-256" and "SHA-256" are SHA256, for one.
// Digests Postfix accepts but this package lacks (SHA3-256, BLAKE2b512,
// SM3...) are errors.
func ParseDigest(s string) (Digest, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	d := Digest(name)
	if alias, ok := digestAliases[name]; ok {
		d = alias
	}
	if d.Size() == 0 {
		return "", fmt.Errorf("unknown digest %q: expected one of md5, sha1, sha224, sha256, sha384, sha512 (or an OpenSSL name of one, such as sha2-256)", s)
	}
	return d, nil
}

// digestAliases maps OpenSSL 3's other names of the digests, lower-cased
// (openssl list -digest-algorithms: its aliases, its signature names that
// stand for the digest, and the digests' object identifiers), to the names
// postconf documents. Each was checked with posttls-finger -d NAME against
// openssl x509 -fingerprint.
var digestAliases = map[string]Digest{
	"ssl3-md5": MD5, "rsa-md5": MD5, "md5withrsaencryption": MD5, "1.2.840.113549.2.5": MD5,
	"sha-1": SHA1, "ssl3-sha1": SHA1, "rsa-sha1": SHA1, "rsa-sha1-2": SHA1, "sha1withrsaencryption": SHA1, "1.3.14.3.2.26": SHA1,
	"sha-224": SHA224, "sha2-224": SHA224, "rsa-sha224": SHA224, "sha224withrsaencryption": SHA224, "2.16.840.1.101.3.4.2.4": SHA224,
	"sha-256": SHA256, "sha2-256": SHA256, "rsa-sha256": SHA256, "sha256withrsaencryption": SHA256, "2.16.840.1.101.3.4.2.1": SHA256,
	"sha-384": SHA384, "sha2-384": SHA384, "rsa-sha384": SHA384, "sha384withrsaencryption": SHA384, "2.16.840.1.101.3.4.2.2": SHA384,
	"sha-512": SHA512, "sha2-512": SHA512, "rsa-sha512": SHA512, "sha512withrsaencryption": SHA512, "2.16.840.1.101.3.4.2.3": SHA512,
}

// Size returns the digest's length in bytes, or 0 for an unknown digest.
func (d Digest) Size() int {
	if h := d.Hash(); h != 0 {
		return h.Size()
	}
	return 0
}

// Hash returns the crypto.Hash behind d, or 0 for an unknown digest.
func (d Digest) Hash() crypto.Hash {
	switch d {
	case MD5:
		return crypto.MD5
	case SHA1:
		return crypto.SHA1
	case SHA224:
		return crypto.SHA224
	case SHA256:
		return crypto.SHA256
	case SHA384:
		return crypto.SHA384
	case SHA512:
		return crypto.SHA512
	}
	return 0
}

// Sum returns the fingerprint of der: the digest as upper-case hex pairs
// joined by colons, e.g. "D7:04:2F:...". d must be a known digest.
func (d Digest) Sum(der []byte) string {
	h := d.Hash().New() // panics for an unknown digest, as documented
	h.Write(der)
	return Format(h.Sum(nil))
}

// Cert returns the certificate fingerprint Postfix computes: the digest
// of the DER certificate.
func (d Digest) Cert(c *x509.Certificate) string { return d.Sum(c.Raw) }

// PublicKey returns the public-key fingerprint Postfix 2.9+ computes: the
// digest of the DER SubjectPublicKeyInfo. It stays the same across
// renewals that keep the key.
func (d Digest) PublicKey(c *x509.Certificate) string { return d.Sum(c.RawSubjectPublicKeyInfo) }

const hexdigits = "0123456789ABCDEF"

// Format writes sum as upper-case hex pairs joined by colons.
func Format(sum []byte) string {
	if len(sum) == 0 {
		return ""
	}
	b := make([]byte, 0, len(sum)*3-1)
	for i, c := range sum {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexdigits[c>>4], hexdigits[c&0xf])
	}
	return string(b)
}

// Guess tells whether s looks like a fingerprint (hex pairs joined by
// colons, either case) and, if so, which digest has its length; d is ""
// when none does. A fingerprint-shaped key of another digest than the
// receiver's can never match.
func Guess(s string) (d Digest, ok bool) {
	if len(s) < 2 || (len(s)+1)%3 != 0 {
		return "", false
	}
	last := len(s) - 2 // the last pair has no colon after it
	for i := 0; i < last; i += 3 {
		if !hexOK[s[i]] || !hexOK[s[i+1]] || s[i+2] != ':' {
			return "", false
		}
	}
	if !hexOK[s[last]] || !hexOK[s[last+1]] {
		return "", false
	}
	n := (len(s) + 1) / 3
	for _, d := range Digests {
		if d.Size() == n {
			return d, true
		}
	}
	return "", true
}

// hexOK tells the hex digits, either case, in one load.
var hexOK = [256]bool{
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true, '8': true, '9': true,
	'a': true, 'b': true, 'c': true, 'd': true, 'e': true, 'f': true,
	'A': true, 'B': true, 'C': true, 'D': true, 'E': true, 'F': true,
}
