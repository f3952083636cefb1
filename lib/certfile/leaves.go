package certfile

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// Leaf is one certificate a TLS endpoint presents: the leaf, the chain
// that follows it, and its private key.
type Leaf struct {
	Chain     []*x509.Certificate // the leaf first, then the certificates that follow it
	Key       crypto.Signer       // its private key; nil when the file holds none
	Source    string              // "path:line" of the leaf certificate
	KeySource string              // "path:line" of the key, "" without one
}

// Cert returns the leaf certificate.
func (l Leaf) Cert() *x509.Certificate { return l.Chain[0] }

// TLS returns l as a tls.Certificate, to present it in a handshake (as a
// client certificate, say). Without a Key it cannot sign a handshake.
func (l Leaf) TLS() tls.Certificate {
	c := tls.Certificate{PrivateKey: l.Key, Leaf: l.Chain[0]}
	for _, x := range l.Chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// Leaves returns every leaf in the PEM file at path, with its key, so
// that a file holding several certificates (RSA and ECDSA, laid out like
// smtp_tls_chain_files) yields each of them:
//   - a file without a private key is one chain, leaf first (cert.pem,
//     fullchain.pem);
//   - a file whose first object is a private key is read as Postfix reads
//     *_tls_chain_files: each key is followed by its certificate, then
//     that certificate's chain, then the next key;
//   - a file whose first object is a certificate may hold one private key
//     anywhere (Postfix's cert_file = key_file): it belongs to the first
//     certificate. A second key is an error: Postfix would ignore it.
//
// Each key must match its certificate. Errors name the file and line.
func Leaves(path string) ([]Leaf, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return leavesOf(path, data)
}

// leavesOf is Leaves on data already in memory; path is for messages.
func leavesOf(path string, data []byte) ([]Leaf, error) {
	blocks, err := scan(path, data, true)
	if err != nil {
		return nil, err
	}
	first, keys := -1, 0
	for i, b := range blocks {
		if b.kind == kindOther {
			continue
		}
		if first < 0 {
			first = i
		}
		if b.kind == kindKey {
			keys++
		}
	}
	switch {
	case first < 0:
		return nil, fmt.Errorf("%s: %w", path, errNoCert)
	case blocks[first].kind == kindKey:
		return chains(path, blocks)
	case keys > 1:
		return nil, fmt.Errorf("%s: %d private keys after a certificate: in a file with several certificates each private key must come first, followed by its certificate and chain (as for smtp_tls_chain_files)", path, keys)
	}
	l, err := mixed(path, blocks)
	if err != nil {
		return nil, err
	}
	return []Leaf{l}, nil
}

// ChainFiles reads paths as Postfix reads smtp_tls_chain_files (and
// smtpd_tls_chain_files): one stream of PEM objects across the files, in
// order, where each private key is directly followed by its certificate
// and then that certificate's chain. It returns every leaf with its key.
// What Postfix refuses (a certificate before the first key, two keys in a
// row, a key without a certificate, a key that does not match) is an
// error naming the file and line.
func ChainFiles(paths []string) ([]Leaf, error) {
	if len(paths) == 0 {
		return nil, errors.New("no chain files")
	}
	var all []block
	for _, p := range paths {
		data, err := readFile(p)
		if err != nil {
			return nil, err
		}
		b, err := scan(p, data, true)
		if err != nil {
			return nil, err
		}
		all = append(all, b...)
	}
	return chains(fmt.Sprint(paths), all)
}

// Pair reads a legacy certificate and key pair (smtp_tls_cert_file and
// smtp_tls_key_file, or their ec and d variants) as Postfix does: when
// both name one file, it holds the chain (the first certificate is the
// leaf) and one private key anywhere; else certFile holds the chain and
// keyFile's first private key is the key. The key must match.
func Pair(certFile, keyFile string) (Leaf, error) {
	data, err := readFile(certFile)
	if err != nil {
		return Leaf{}, err
	}
	blocks, err := scan(certFile, data, certFile == keyFile)
	if err != nil {
		return Leaf{}, err
	}
	if certFile == keyFile {
		l, err := mixed(certFile, blocks)
		if err == nil && l.Key == nil {
			err = fmt.Errorf("%s: no private key (\"-----BEGIN PRIVATE KEY-----\") in the file", certFile)
		}
		return l, err
	}
	var l Leaf
	for _, b := range blocks {
		if b.kind == kindCert {
			if err := addCert(&l, b); err != nil {
				return Leaf{}, err
			}
		}
	}
	if l.Chain == nil {
		return Leaf{}, fmt.Errorf("%s: %w", certFile, errNoCert)
	}
	if data, err = readFile(keyFile); err != nil {
		return Leaf{}, err
	}
	if blocks, err = scan(keyFile, data, true); err != nil {
		return Leaf{}, err
	}
	for _, b := range blocks {
		if b.kind == kindKey {
			if err := setKey(&l, b); err != nil {
				return Leaf{}, err
			}
			return l, matches(l)
		}
	}
	return Leaf{}, fmt.Errorf("%s: no private key (\"-----BEGIN PRIVATE KEY-----\") in the file", keyFile)
}

// chains groups blocks as key, certificate, chain..., key, ...
func chains(name string, blocks []block) ([]Leaf, error) {
	var leaves []Leaf
	var cur *Leaf
	for _, b := range blocks {
		switch b.kind {
		case kindKey:
			if cur != nil && cur.Chain == nil {
				return nil, fmt.Errorf("%s: private key not followed by a certificate", cur.KeySource)
			}
			leaves = append(leaves, Leaf{})
			cur = &leaves[len(leaves)-1]
			if err := setKey(cur, b); err != nil {
				return nil, err
			}
		case kindCert:
			if cur == nil {
				return nil, fmt.Errorf("%s: certificate before any private key: each private key must come first, followed by its certificate and chain", b.where())
			}
			if err := addCert(cur, b); err != nil {
				return nil, err
			}
		}
	}
	if len(leaves) == 0 {
		return nil, fmt.Errorf("%s: no private key and certificate found", name)
	}
	if cur.Chain == nil {
		return nil, fmt.Errorf("%s: private key not followed by a certificate", cur.KeySource)
	}
	for _, l := range leaves {
		if err := matches(l); err != nil {
			return nil, err
		}
	}
	return leaves, nil
}

// mixed reads a chain with at most one key anywhere (the first is used).
func mixed(path string, blocks []block) (Leaf, error) {
	var l Leaf
	for _, b := range blocks {
		switch {
		case b.kind == kindCert:
			if err := addCert(&l, b); err != nil {
				return Leaf{}, err
			}
		case b.kind == kindKey && l.Key == nil:
			if err := setKey(&l, b); err != nil {
				return Leaf{}, err
			}
		}
	}
	if l.Chain == nil {
		return Leaf{}, fmt.Errorf("%s: %w", path, errNoCert)
	}
	if l.Key != nil {
		return l, matches(l)
	}
	return l, nil
}

func addCert(l *Leaf, b block) error {
	c, err := b.cert()
	if err != nil {
		return err
	}
	if l.Chain == nil {
		l.Source = b.where()
	}
	l.Chain = append(l.Chain, c)
	return nil
}

func setKey(l *Leaf, b block) error {
	k, err := parseKey(b)
	if err != nil {
		return err
	}
	l.Key, l.KeySource = k, b.where()
	return nil
}

func parseKey(b block) (crypto.Signer, error) {
	var k any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%s: encrypted private key: Postfix cannot read it either (it asks for no passphrase)", b.where())
	default:
		return nil, fmt.Errorf("%s: %s is not supported (only RSA, ECDSA and Ed25519 keys are)", b.where(), b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: private key: %w", b.where(), err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: private key of type %T cannot sign", b.where(), k)
	}
	return s, nil
}

// matches checks that l's key is the private half of its leaf's key.
func matches(l Leaf) error {
	pub, ok := l.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(l.Chain[0].PublicKey) {
		return fmt.Errorf("%s: private key does not match the certificate at %s", l.KeySource, l.Source)
	}
	return nil
}
