package main

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/demo"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
)

type demoCmd struct {
	Keep bool `help:"Keep the demo's temporary directory (the table and both certificates, PEM) and print its path."`
}

// Run plays the incident on loopback: a relay presenting a certificate
// listed in a sample table (OK), then the same relay after a renewal with
// a new key (CRITICAL, with the line to add). Every step runs the real
// check through run, as an admin would from the shell. It exits 0 when
// both verdicts came out as they must, 3 otherwise.
func (d *demoCmd) Run(e *env, code *int) error {
	dir, err := os.MkdirTemp("", "check_relay_fingerprint-demo-")
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
	args := []string{"-H", relay.Addr(), "--table", "texthash:" + tablePath}

	step := func(title string, want int) bool {
		fmt.Fprintf(e.stdout, "\n== %s\n$ check_relay_fingerprint %s\n", title, shellJoin(args))
		var out bytes.Buffer
		got := run(args, &out, e.stderr)
		io.Copy(e.stdout, &out)
		fmt.Fprintf(e.stdout, "(exit %d)\n", got)
		if got != want {
			fmt.Fprintf(e.stdout, "demo: expected exit %d here, got %d\n", want, got)
			return false
		}
		return true
	}

	fmt.Fprintf(e.stdout, "A stand-in relay %q listens on %s with STARTTLS.\nThe receiver's table %s lists its certificate:\n\n%s",
		name, relay.Addr(), tablePath, tableText)
	ok := step("1. the certificate is listed", exitOK)

	renewed, err := demo.NewCert(name, nil, 90)
	if err != nil {
		return err
	}
	relay.Renew(renewed)
	if d.Keep {
		// Something to try --cert-file, fingerprint and --fix-to on.
		for name, c := range map[string][]byte{"cliff.pem": first.Leaf.Raw, "cliff-renewed.pem": renewed.Leaf.Raw} {
			if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c}), 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(e.stdout, "\nThe relay renews its certificate with a new key, as ACME clients do by default.\n")
	ok = step("2. after the renewal: the receiver would answer 454 4.7.1 Access denied", exitCritical) && ok

	if ok {
		fmt.Fprintf(e.stdout, "\ndemo: both verdicts as expected. Add the printed line to relay_clientcerts, run postmap, and mail flows again.\n")
		*code = exitOK
	} else {
		*code = exitUnknown
	}
	return nil
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
