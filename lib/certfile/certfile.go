// Package certfile reads certificates from PEM files on disk, such as the
// cert.pem or fullchain.pem an ACME client writes. It does not verify or
// fingerprint them.
package certfile

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// MaxSize caps how much of a certificate file is read.
const MaxSize = 4 << 20

// Read returns the certificates in the PEM file at path, leaf first, as
// they stand in the file. Blocks other than CERTIFICATE (a private key in
// a combined file, say) are passed over. A file with no certificate, a
// directory, or a certificate that does not parse is an error naming the
// file and the line of the block.
func Read(path string) ([]*x509.Certificate, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("certificate file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("certificate file: %w", err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("certificate file %s is a directory; hint: name the PEM file in it, e.g. %s/cert.pem", path, path)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("certificate file %s is not a regular file (a FIFO, device or socket)", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("certificate file: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a certificate file", path, MaxSize)
	}
	return Parse(path, data)
}

// Parse is Read on data already in memory; path is for messages.
//
// Every line that starts with "-----BEGIN CERTIFICATE-----" must begin a
// well-formed block: a damaged one (bad base64, no END line) is an error
// naming its line, as it is for OpenSSL and so for Postfix. It is never
// passed over, which would make the next certificate of a chain (the
// issuer) look like the leaf. Text outside the blocks is ignored.
func Parse(path string, data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	line := 1 // of data[at:]
	for at := 0; at < len(data); {
		end := len(data)
		if i := bytes.IndexByte(data[at:], '\n'); i >= 0 {
			end = at + i + 1
		}
		if !bytes.HasPrefix(data[at:end], beginCert) {
			at = end
			line++
			continue
		}
		block, rest := pem.Decode(data[at:])
		// pem.Decode passes over a damaged block to the next good one; a
		// block decoded from here ends before the next BEGIN line.
		next := bytes.Index(data[at+1:], []byte("\n-----BEGIN "))
		if block == nil || block.Type != "CERTIFICATE" ||
			next >= 0 && len(data)-len(rest) > at+1+next+1 {
			return nil, fmt.Errorf("%s:%d: damaged PEM certificate block (bad base64 or no \"-----END CERTIFICATE-----\" line)", path, line)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		certs = append(certs, c)
		next = len(data) - len(rest)
		line += bytes.Count(data[at:next], []byte("\n"))
		at = next
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: %w", path, errNoCert)
	}
	return certs, nil
}

// beginCert starts the first line of a PEM certificate block.
var beginCert = []byte("-----BEGIN CERTIFICATE-----")

var errNoCert = errors.New(`no PEM certificate ("-----BEGIN CERTIFICATE-----") found`)
