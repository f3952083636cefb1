package certfile

import (
	"os"
	"path/filepath"
	"strconv"
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

// TestParseOddPEM covers PEM files as editors, Windows tools and botched
// copies leave them. A damaged certificate block is an error: pem.Decode
// alone would pass over it, and the next certificate of a chain (the
// issuer) would then be taken for the leaf.
func TestParseOddPEM(t *testing.T) {
	t.Parallel()
	leaf, err := os.ReadFile("../../fixtures/fingerprint/ec.pem")
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := os.ReadFile("../../fixtures/fingerprint/rsa.pem")
	if err != nil {
		t.Fatal(err)
	}
	s := func(b []byte) string { return string(b) }
	crlf := strings.ReplaceAll(s(leaf), "\n", "\r\n")
	noEnd := strings.Replace(s(leaf), "-----END CERTIFICATE-----\n", "", 1)
	badBase64 := strings.Replace(s(leaf), "\n", "\n!!!!\n", 2)
	for _, tc := range []struct {
		name    string
		in      string
		wantCNs []string
		wantErr string
	}{
		{"CRLF", crlf, []string{"cliff.example.org"}, ""},
		{"CRLF chain", crlf + strings.ReplaceAll(s(issuer), "\n", "\r\n"), []string{"cliff.example.org", "cliff.example.org"}, ""},
		{"leading and trailing junk", "subject=CN=x\nissuer=CN=y\n" + s(leaf) + "trailing junk\n", []string{"cliff.example.org"}, ""},
		{"no final newline", strings.TrimSuffix(s(leaf), "\n"), []string{"cliff.example.org"}, ""},
		{"trailing spaces after markers", strings.ReplaceAll(s(leaf), "-----\n", "-----  \n"), []string{"cliff.example.org"}, ""},
		{"leaf without END line, then issuer", "# leaf\n" + noEnd + s(issuer), nil, "x.pem:2: damaged PEM certificate block"},
		{"leaf with bad base64, then issuer", badBase64 + s(issuer), nil, "x.pem:1: damaged PEM certificate block"},
		{"issuer damaged after a good leaf", s(leaf) + "\n" + noEnd, nil, "x.pem:" + fmtInt(strings.Count(s(leaf), "\n")+2) + ": damaged PEM certificate block"},
		{"truncated at EOF", s(leaf) + "-----BEGIN CERTIFICATE-----\nMIIB", nil, "damaged PEM certificate block"},
		{"line of a later certificate", s(leaf) + "# next\n" + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", nil,
			"x.pem:" + fmtInt(strings.Count(s(leaf), "\n")+2) + ": x509:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			certs, err := Parse("x.pem", []byte(tc.in))
			var cns []string
			for _, c := range certs {
				cns = append(cns, c.Subject.CommonName)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) = %q, %v; want an error containing %q", tc.in, cns, err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(cns, ",") != strings.Join(tc.wantCNs, ",") {
				t.Fatalf("Parse(%q) = %q, %v; want %q", tc.in, cns, err, tc.wantCNs)
			}
		})
	}
}

func fmtInt(n int) string { return strconv.Itoa(n) }

// FuzzParse feeds Parse arbitrary bytes around real PEM: it must not panic,
// and it returns either certificates or an error naming the file.
func FuzzParse(f *testing.F) {
	leaf, err := os.ReadFile("../../fixtures/fingerprint/ec.pem")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(leaf)
	f.Add([]byte("junk\r\n" + strings.ReplaceAll(string(leaf), "\n", "\r\n")))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n" + string(leaf)))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" + string(leaf)))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := Parse("f.pem", data)
		switch {
		case err != nil && !strings.HasPrefix(err.Error(), "f.pem"):
			t.Fatalf("Parse(%q) error %q does not name the file", data, err)
		case err == nil && len(certs) == 0:
			t.Fatalf("Parse(%q) = no certificates and no error", data)
		}
	})
}
