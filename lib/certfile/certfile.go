// Package certfile reads certificates from PEM files on disk, such as the
// cert.pem or fullchain.pem an ACME client writes. It does not verify or
// fingerprint them.
package certfile

import (
	"crypto/x509"
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
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readFile reads a certificate or key file whole, refusing what is not a
// regular file or is larger than MaxSize.
func readFile(path string) ([]byte, error) {
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
	return data, nil
}

// Parse is Read on data already in memory; path is for messages.
//
// Every line that starts with "-----BEGIN CERTIFICATE-----" must begin a
// well-formed block: a damaged one (bad base64, no END line) is an error
// naming its line, as it is for OpenSSL and so for Postfix. It is never
// passed over, which would make the next certificate of a chain (the
// issuer) look like the leaf. Text outside the blocks is ignored.
func Parse(path string, data []byte) ([]*x509.Certificate, error) {
	blocks, err := scan(path, data, false)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for _, b := range blocks {
		if b.kind != kindCert {
			continue
		}
		c, err := b.cert()
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: %w", path, errNoCert)
	}
	return certs, nil
}

var errNoCert = errors.New(`no PEM certificate ("-----BEGIN CERTIFICATE-----") found`)
