package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/demo"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
)

type demoCmd struct {
	Keep bool `help:"Keep the demo's temporary directory (the table, both certificates and the relay's client chain, PEM) and print its path."`
}

// Run plays the incident on loopback, in both modes: a stand-in relay
// whose certificate a sample relay_clientcerts lists, probed from outside
// (OK), and asked of a stand-in receiver that relays for that table by
// presenting the relay's client certificate (OK); then the same after a
// renewal with a new key (CRITICAL twice, with the line to add); then the
// receiver adds the line (OK). Every step runs the real check through run,
// as an admin would from the shell. It exits 0 when every verdict came out
// as it must, 3 otherwise.
func (d *demoCmd) Run(e *env, code *int) error {
	dir, err := os.MkdirTemp("", "crf-demo-")
	if err != nil {
		return err
	}
	if d.Keep {
		fmt.Fprintf(e.stdout, "demo directory: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	const name = "cliff.example.org"
	first, err := demo.NewCert(name, nil, 90)
	if err != nil {
		return err
	}
	relay, err := demo.Listen(first)
	if err != nil {
		return fmt.Errorf("demo relay: %w", err)
	}
	defer relay.Close()

	tablePath := filepath.Join(dir, "relay_clientcerts")
	tableText := "# relay_clientcerts: SMTP clients allowed to relay by certificate\n" +
		"# (demo table, written by check_relay_fingerprint demo)\n" +
		fingerprint.SHA256.Cert(first.Leaf) + " " + name + "\n"
	if err := os.WriteFile(tablePath, []byte(tableText), 0o644); err != nil {
		return err
	}
	mxCert, err := demo.NewCert("mx.example.net", nil, 90)
	if err != nil {
		return err
	}
	mx, err := demo.ListenReceiver(mxCert, tablePath)
	if err != nil {
		return fmt.Errorf("demo receiver: %w", err)
	}
	defer mx.Close()
	chainPath := filepath.Join(dir, "relay.pem")
	if err := writeChain(chainPath, first); err != nil {
		return err
	}

	// step runs the check with args, shown with the demo directory left
	// out of the file names, as typed from inside it.
	steps, ok := 0, true
	step := func(title string, want int, args ...string) string {
		steps++
		shown := strings.ReplaceAll(shellJoin(args), dir+string(filepath.Separator), "")
		fmt.Fprintf(e.stdout, "\n== %d. %s\n$ check_relay_fingerprint %s\n", steps, title, shown)
		var out bytes.Buffer
		got := run(args, &out, e.stderr)
		printed := out.String()
		io.WriteString(e.stdout, printed)
		fmt.Fprintf(e.stdout, "(exit %d)\n", got)
		if got != want {
			fmt.Fprintf(e.stdout, "demo: expected exit %d here, got %d\n", want, got)
			ok = false
		}
		return printed
	}
	probe := []string{"-H", relay.Addr(), "--table", "texthash:" + tablePath}
	ask := []string{"--client-chain", chainPath, "--receiver", mx.Addr()}

	fmt.Fprintf(e.stdout, "A stand-in relay %q listens on %s with STARTTLS; its smtp client presents\n"+
		"the same certificate, with its key in relay.pem (as smtp_tls_chain_files = relay.pem).\n"+
		"A stand-in receiver on %s asks for a client certificate and relays for the\n"+
		"ones its table lists. In %s, relay_clientcerts:\n\n%s",
		name, relay.Addr(), mx.Addr(), dir, tableText)
	step("on the receiver: probe the relay, judge its certificate against the table", exitOK, probe...)
	step("on the relay: ask the receiver (STARTTLS presenting relay.pem, MAIL, RCPT, RSET; no mail is sent)", exitOK, ask...)

	renewed, err := demo.NewCert(name, nil, 90)
	if err != nil {
		return err
	}
	relay.Renew(renewed)
	if err := writeChain(chainPath, renewed); err != nil {
		return err
	}
	if d.Keep {
		// Something to try --cert-file, fingerprint and --fix-to on.
		for name, c := range map[string][]byte{"cliff.pem": first.Leaf.Raw, "cliff-renewed.pem": renewed.Leaf.Raw} {
			if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c}), 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(e.stdout, "\nThe relay renews its certificate with a new key, as ACME clients do by default.\n")
	step("the probe, after the renewal", exitCritical, probe...)
	refused := step("the relay asks again: the receiver answers 454 4.7.1 Relay access denied", exitCritical, ask...)

	line := fingerprint.SHA256.PublicKey(renewed.Leaf) + " " + name
	if !strings.Contains(refused, line) {
		fmt.Fprintf(e.stdout, "demo: the check did not print the line the receiver needs, %q\n", line)
		ok = false
	}
	if err := appendLine(tablePath, line); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nThe receiver adds the printed line to relay_clientcerts (and runs postmap):\n%s\n", line)
	step("the relay asks again", exitOK, ask...)

	if ok {
		fmt.Fprintf(e.stdout, "\ndemo: all %d verdicts as expected.\n", steps)
		*code = exitOK
	} else {
		*code = exitUnknown
	}
	return nil
}

// writeChain writes c's key and certificate to path as smtp_tls_chain_files
// takes them: the key, then the certificate. The key makes it 0600.
func writeChain(path string, c tls.Certificate) error {
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf.Raw})...)
	return os.WriteFile(path, data, 0o600)
}

// appendLine adds line to the table at path.
func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func shellJoin(args []string) string {
	var b bytes.Buffer
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a)
	}
	return b.String()
}
