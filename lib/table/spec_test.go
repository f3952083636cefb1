package table

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		want     Spec
		compiled []string
		postmap  bool
		err      string
	}{
		{in: "hash:/etc/postfix/relay_clientcerts", want: Spec{"hash", "/etc/postfix/relay_clientcerts"}, compiled: []string{"/etc/postfix/relay_clientcerts.db"}, postmap: true},
		{in: "btree:/p", want: Spec{"btree", "/p"}, compiled: []string{"/p.db"}, postmap: true},
		{in: "lmdb:/p", want: Spec{"lmdb", "/p"}, compiled: []string{"/p.lmdb"}, postmap: true},
		{in: "cdb:/p", want: Spec{"cdb", "/p"}, compiled: []string{"/p.cdb"}, postmap: true},
		{in: "dbm:/p", want: Spec{"dbm", "/p"}, compiled: []string{"/p.dir", "/p.pag"}, postmap: true},
		{in: "sdbm:/p", want: Spec{"sdbm", "/p"}, compiled: []string{"/p.dir", "/p.pag"}, postmap: true},
		{in: "texthash:/p", want: Spec{"texthash", "/p"}, compiled: nil, postmap: false},
		{in: "/etc/postfix/relay_clientcerts", want: Spec{"", "/etc/postfix/relay_clientcerts"}, compiled: []string{"/etc/postfix/relay_clientcerts.db"}, postmap: true},
		{in: "relative/path", want: Spec{"", "relative/path"}, compiled: []string{"relative/path.db"}, postmap: true},
		{in: "", err: "empty table name"},
		{in: "hash:", err: `table "hash:": empty path`},
		{in: "pcre:/etc/postfix/x.pcre", err: `unsupported type "pcre"`},
		{in: "regexp:/x", err: "supported are hash:, btree:, lmdb:, cdb:, dbm:, sdbm:, texthash:, or a bare path"},
		{in: "cidr:/x", err: `unsupported type "cidr"`},
		{in: "inline:{a=b}", err: `unsupported type "inline"`},
		{in: "proxy:hash:/x", err: `unsupported type "proxy"`},
		{in: "HASH:/x", err: `unsupported type "HASH"`},
		{in: "hash:/a, hash:/b", err: "give one table"},
		{in: " hash:/a", err: "contains"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSpec(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseSpec(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSpec(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("ParseSpec(%q).String() = %q", tt.in, s)
			}
			if c := got.Compiled(); !slices.Equal(c, tt.compiled) {
				t.Errorf("ParseSpec(%q).Compiled() = %q, want %q", tt.in, c, tt.compiled)
			}
			if p := got.NeedsPostmap(); p != tt.postmap {
				t.Errorf("ParseSpec(%q).NeedsPostmap() = %v, want %v", tt.in, p, tt.postmap)
			}
		})
	}
}
