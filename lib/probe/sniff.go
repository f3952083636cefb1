package probe

// Naming the key Go's TLS client cannot use. Postfix (OpenSSL) serves
// certificates whose keys crypto/tls does not support: RSA-PSS
// (id-RSASSA-PSS), DSA, Ed448. Such a server never sends its certificate to
// Go's client, which offers neither their signature algorithms nor the
// DHE_DSS suites: it answers with a handshake_failure alert or closes the
// connection, so the chain cannot be captured by VerifyConnection. When the
// default handshake fails that way, Probe opens one more connection, plays
// the same dialogue up to the handshake, and sends a TLS 1.2 ClientHello of
// its own that offers every common suite and signature algorithm (those
// keys' included). TLS 1.2 sends the server's Certificate in clear: it is
// read, parsed and the connection closed before the server's next message.
// Nothing else of that handshake is used; the chain is not proven.

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
)

// UnsupportedKeyError is a handshake that failed because the server's
// certificate has a key Go's TLS client does not support (see sniff.go).
type UnsupportedKeyError struct {
	KeyType KeyType // KeyRSAPSS, KeyDSA, KeyEd448, or an unknown key type
	Err     error   // the handshake's own error
}

// Error names the key type and says plainly where the limit lies.
func (e *UnsupportedKeyError) Error() string {
	return fmt.Sprintf("the server's certificate has a%s %s key, which Go's TLS client does not support (Postfix, with OpenSSL, does): %v",
		article(string(e.KeyType)), e.KeyType, e.Err)
}

// Unwrap returns e.Err.
func (e *UnsupportedKeyError) Unwrap() error { return e.Err }

func article(s string) string {
	if s != "" && strings.ContainsRune("AEIOUaeiou", rune(s[0])) || strings.HasPrefix(s, "RSA") {
		return "n"
	}
	return ""
}

// errSniffed ends the diagnostic dialogue once the chain was read.
var errSniffed = errors.New("certificate read, handshake abandoned")

// goKeyType reports whether crypto/tls accepts a server key of type kt.
func goKeyType(kt KeyType) bool {
	return kt == KeyRSA || kt == KeyECDSA || kt == KeyEd25519
}

// suspectKey reports whether e, the default handshake's failure, may be a
// server whose key Go's TLS client does not support.
func suspectKey(e *Error) bool {
	if e.Stage != StageTLS {
		return false
	}
	return remoteAlert(e.Err, "tls: handshake failure") ||
		errors.Is(e.Err, errServerClosed) || errors.Is(e.Err, errServerReset) ||
		strings.Contains(e.Err.Error(), "unsupported type of public key")
}

// explainKey runs the diagnostic dialogue of sniff.go after the handshake
// failure e and, when the server's leaf has a key Go cannot use, makes e say
// so and keeps the chain (unproven) in s.res.Certs.
func (s *session) explainKey(e *Error) {
	if s.ctx.Err() != nil {
		return
	}
	d := &session{ctx: s.ctx, addr: s.addr, opts: s.opts, res: &Result{}, sniff: true}
	_ = d.run()
	if len(d.res.Certs) == 0 {
		return
	}
	if kt := KeyTypeOf(d.res.Certs[0]); !goKeyType(kt) {
		e.Err = &UnsupportedKeyError{KeyType: kt, Err: e.Err}
		s.res.Certs = d.res.Certs
	}
}

// sniffChain sends the ClientHello of sniff.go on conn and returns the chain
// of the server's Certificate message.
func sniffChain(conn net.Conn, serverName string) ([]*x509.Certificate, error) {
	if _, err := conn.Write(clientHello(serverName)); err != nil {
		return nil, err
	}
	// Handshake messages may span records; 256 KiB bounds a hostile server.
	const maxHandshake = 256 << 10
	var hs []byte
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return nil, err
		}
		n := int(binary.BigEndian.Uint16(hdr[3:]))
		body := make([]byte, n)
		if _, err := io.ReadFull(conn, body); err != nil {
			return nil, err
		}
		switch hdr[0] {
		case 0x15:
			return nil, errors.New("server sent a TLS alert")
		case 0x16:
		default:
			return nil, fmt.Errorf("unexpected TLS record type %d", hdr[0])
		}
		hs = append(hs, body...)
		if len(hs) > maxHandshake {
			return nil, errors.New("handshake messages too long")
		}
		for len(hs) >= 4 {
			typ, mlen := hs[0], int(hs[1])<<16|int(hs[2])<<8|int(hs[3])
			if len(hs) < 4+mlen {
				break
			}
			msg := hs[4 : 4+mlen]
			hs = hs[4+mlen:]
			switch typ {
			case 2: // ServerHello: keep reading
			case 11:
				return parseCertificateMsg(msg)
			default:
				return nil, fmt.Errorf("server sent handshake message %d before its certificate", typ)
			}
		}
	}
}

// parseCertificateMsg parses a TLS 1.2 Certificate message body.
func parseCertificateMsg(msg []byte) ([]*x509.Certificate, error) {
	if len(msg) < 3 || int(msg[0])<<16|int(msg[1])<<8|int(msg[2]) != len(msg)-3 {
		return nil, errors.New("malformed Certificate message")
	}
	var certs []*x509.Certificate
	for rest := msg[3:]; len(rest) > 0; {
		if len(rest) < 3 {
			return nil, errors.New("malformed Certificate message")
		}
		n := int(rest[0])<<16 | int(rest[1])<<8 | int(rest[2])
		if len(rest) < 3+n {
			return nil, errors.New("malformed Certificate message")
		}
		c, err := x509.ParseCertificate(rest[3 : 3+n])
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
		rest = rest[3+n:]
	}
	if len(certs) == 0 {
		return nil, ErrNoCertificate
	}
	return certs, nil
}

// clientHello returns one TLS 1.2 ClientHello record offering the suites
// and signature algorithms OpenSSL servers use, DSA and RSA-PSS keys' among
// them.
func clientHello(serverName string) []byte {
	suites := []uint16{
		0xc02b, 0xc02c, 0xc023, 0xc024, 0xc009, 0xc00a, 0xcca9, // ECDHE_ECDSA
		0xc02f, 0xc030, 0xc027, 0xc028, 0xc013, 0xc014, 0xcca8, // ECDHE_RSA
		0x009e, 0x009f, 0x0067, 0x006b, 0x0033, 0x0039, 0xccaa, // DHE_RSA
		0x00a2, 0x00a3, 0x0040, 0x006a, 0x0032, 0x0038, // DHE_DSS
		0x009c, 0x009d, 0x003c, 0x003d, 0x002f, 0x0035, // RSA
		0x00ff, // renegotiation info SCSV
	}
	sigalgs := []uint16{
		0x0403, 0x0503, 0x0603, 0x0807, 0x0808, // ECDSA, Ed25519, Ed448
		0x0809, 0x080a, 0x080b, // RSA-PSS keys (rsa_pss_pss_*)
		0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, // RSA keys
		0x0402, 0x0502, 0x0602, // DSA
		0x0203, 0x0201, 0x0202, // SHA-1
	}
	groups := []uint16{0x001d, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101}
	u16s := func(vs []uint16) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(2*len(vs)))
		for _, v := range vs {
			b = binary.BigEndian.AppendUint16(b, v)
		}
		return b
	}
	ext := func(b []byte, typ uint16, data []byte) []byte {
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
		return append(b, data...)
	}
	var exts []byte
	if _, err := netip.ParseAddr(serverName); serverName != "" && err != nil {
		name := []byte(strings.TrimSuffix(serverName, "."))
		entry := append([]byte{0}, binary.BigEndian.AppendUint16(nil, uint16(len(name)))...)
		entry = append(entry, name...)
		exts = ext(exts, 0, append(binary.BigEndian.AppendUint16(nil, uint16(len(entry))), entry...))
	}
	exts = ext(exts, 10, u16s(groups))       // supported_groups
	exts = ext(exts, 11, []byte{1, 0})       // ec_point_formats: uncompressed
	exts = ext(exts, 13, u16s(sigalgs))      // signature_algorithms
	exts = ext(exts, 23, nil)                // extended_master_secret
	body := []byte{3, 3}                     // TLS 1.2
	body = append(body, make([]byte, 32)...) // random
	_, _ = rand.Read(body[2:34])
	body = append(body, 0) // no session id
	body = append(body, u16s(suites)...)
	body = append(body, 1, 0) // null compression
	body = binary.BigEndian.AppendUint16(body, uint16(len(exts)))
	body = append(body, exts...)
	msg := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	rec := append([]byte{0x16, 3, 1}, binary.BigEndian.AppendUint16(nil, uint16(len(msg)))...)
	return append(rec, msg...)
}
