package certfile

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// kind sorts PEM blocks as Postfix's loader does (tls_certkey.c): a
// certificate ("CERTIFICATE", "X509 CERTIFICATE"), a private key
// ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE
// KEY"), or anything else, which Postfix passes over.
type kind int

const (
	kindOther kind = iota
	kindCert
	kindKey
)

func kindOf(typ string) kind {
	switch typ {
	case "CERTIFICATE", "X509 CERTIFICATE":
		return kindCert
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		return kindKey
	}
	return kindOther
}

// block is one PEM block and where it starts.
type block struct {
	kind kind
	*pem.Block
	path string
	line int
}

func (b block) where() string { return fmt.Sprintf("%s:%d", b.path, b.line) }

func (b block) cert() (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.where(), err)
	}
	return c, nil
}

// scan returns the PEM blocks of data in order. A line starting with
// "-----BEGIN CERTIFICATE-----" (and, with keys, one that begins a private
// key) must begin a well-formed block of that type; a damaged one is an
// error naming its line, never passed over. Other text is ignored.
func scan(path string, data []byte, keys bool) ([]block, error) {
	var blocks []block
	line := 1 // of data[at:]
	for at := 0; at < len(data); {
		end := len(data)
		if i := bytes.IndexByte(data[at:], '\n'); i >= 0 {
			end = at + i + 1
		}
		typ, ok := beginType(data[at:end])
		if !ok {
			at = end
			line++
			continue
		}
		k := kindOf(typ)
		strict := k == kindCert || keys && k == kindKey
		b, rest := pem.Decode(data[at:])
		// pem.Decode passes over a damaged block to the next good one; a
		// block decoded from here ends before the next BEGIN line.
		next := bytes.Index(data[at+1:], []byte("\n-----BEGIN "))
		if b == nil || b.Type != typ || next >= 0 && len(data)-len(rest) > at+1+next+1 {
			if strict {
				what := "certificate"
				if k == kindKey {
					what = "private key"
				}
				return nil, fmt.Errorf("%s:%d: damaged PEM %s block (bad base64 or no \"-----END %s-----\" line)", path, line, what, typ)
			}
			at = end
			line++
			continue
		}
		blocks = append(blocks, block{kind: k, Block: b, path: path, line: line})
		next = len(data) - len(rest)
		line += bytes.Count(data[at:next], []byte("\n"))
		at = next
	}
	return blocks, nil
}

// beginType returns TYPE when line is "-----BEGIN TYPE-----" (trailing
// spaces and line end allowed).
func beginType(line []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("-----BEGIN "))
	if !ok {
		return "", false
	}
	typ, _, ok := bytes.Cut(rest, []byte("-----"))
	return string(typ), ok
}
