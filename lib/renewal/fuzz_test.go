package renewal

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// Any configuration parses or fails with an error naming the file and a
// line; it never panics.
func FuzzParse(f *testing.F) {
	for _, p := range []string{
		"letsencrypt/renewal/reuse.example.org.conf", "letsencrypt/renewal/badbool.example.org.conf",
		"acme.sh/mx.example.org/mx.example.org.conf", "acme.sh/ec.example.org_ecc/ec.example.org.conf",
	} {
		data, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "acme", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("renew_before_expiry = 1w 2d\r\n[renewalparams]\r\nreuse_key = \"True\"\r\n"))
	where := regexp.MustCompile(`^conf:[0-9]+: `)
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := parseCertbot("conf", data); err != nil {
			if !where.MatchString(err.Error()) {
				t.Errorf("certbot error without file:line: %v", err)
			}
		} else if c.renewBefore != "" {
			parseInterval(c.renewBefore)
		}
		if _, err := parseAcmeSh("conf", data); err != nil && !where.MatchString(err.Error()) {
			t.Errorf("acme.sh error without file:line: %v", err)
		}
	})
}
