package certfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	t.Parallel()
	pemData, err := os.ReadFile("../../fixtures/fingerprint/ec.pem")
	if err != nil {
		t.Fatal(err)
	}
	rsa, err := os.ReadFile("../../fixtures/fingerprint/rsa.pem")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	broken := []byte("# comment\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	for _, tc := range []struct {
		name  string
		path  string
		count int
		err   string
	}{
		{"one", write("one.pem", pemData), 1, ""},
		{"chain keeps order", write("chain.pem", append(append([]byte{}, pemData...), rsa...)), 2, ""},
		{"key then cert", write("combined.pem", append(append([]byte{}, key...), pemData...)), 1, ""},
		{"empty", write("empty.pem", nil), 0, "no PEM certificate"},
		{"key only", write("key.pem", key), 0, "no PEM certificate"},
		{"broken names line", write("broken.pem", broken), 0, "broken.pem:2:"},
		{"directory", dir, 0, "is a directory"},
		{"fifo does not hang", fifo(t, dir), 0, "not a regular file"},
		{"missing", filepath.Join(dir, "missing.pem"), 0, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certs, err := Read(tc.path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Read(%s) error = %v, want one containing %q", tc.path, err, tc.err)
				}
				return
			}
			if err != nil || len(certs) != tc.count {
				t.Fatalf("Read(%s) = %d certificates, %v; want %d", tc.path, len(certs), err, tc.count)
			}
			if certs[0].Subject.CommonName != "cliff.example.org" {
				t.Errorf("leaf CN = %q, want cliff.example.org", certs[0].Subject.CommonName)
			}
		})
	}
}

func fifo(t *testing.T, dir string) string {
	p := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
