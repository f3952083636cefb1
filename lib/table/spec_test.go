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
		{in: "hash:/my tables/rc", err: `table "hash:/my tables/rc": main.cf splits table lists on whitespace and commas and has no quoting for a table's path (not even { }), so Postfix would read this as several tables; give the path without spaces`},
		{in: "/my tables/rc", err: "give the path without spaces"},
		{in: "hash:/etc/postfix/relay_clientcerts.db", err: `table "hash:/etc/postfix/relay_clientcerts.db": /etc/postfix/relay_clientcerts.db is the compiled file postmap makes; give the source file, not the compiled .db: hash:/etc/postfix/relay_clientcerts`},
		{in: "/etc/postfix/rc.db", err: "give the source file, not the compiled .db: /etc/postfix/rc"},
		{in: "btree:/p.db", err: "not the compiled .db: btree:/p"},
		{in: "lmdb:/p.lmdb", err: "not the compiled .lmdb: lmdb:/p"},
		{in: "cdb:/p.cdb", err: "not the compiled .cdb: cdb:/p"},
		{in: "hash:/p.lmdb", err: "not the compiled .lmdb: lmdb:/p"},
		{in: "texthash:/p.db", err: "not the compiled .db: hash:/p"},
		{in: "sdbm:/p.pag", err: "not the compiled .pag: sdbm:/p"},
		{in: "hash:/p.dbx", want: Spec{"hash", "/p.dbx"}, compiled: []string{"/p.dbx.db"}, postmap: true},
		{in: "hash:/etc/postfix/.db", want: Spec{"hash", "/etc/postfix/.db"}, compiled: []string{"/etc/postfix/.db.db"}, postmap: true},
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

func TestParseList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "hash:/a, texthash:/b  lmdb:/c", want: "hash:/a texthash:/b lmdb:/c"},
		{in: "/a /b", want: "/a /b"},
		{in: "relative", want: "relative"},
		{in: "hash:/my tables/rc", err: "main.cf splits table lists on whitespace"},
		{in: "hash:/a, hash:/my dir/rc", err: "give the path without spaces"},
		{in: "hash:/a, hash:/b.db", err: "give the source file, not the compiled .db: hash:/b"},
		{in: "hash:/a inline:{x=y}", err: `unsupported type "inline"`},
		{in: "", err: "empty table name"},
		{in: " , ", err: "contains"},
	} {
		specs, err := ParseList(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseList(%q) = %v, %v; want an error containing %q", tc.in, specs, err, tc.err)
			}
			continue
		}
		var got []string
		for _, s := range specs {
			got = append(got, s.String())
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("ParseList(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestTexthashHint(t *testing.T) {
	t.Parallel()
	if got := (Spec{Path: "/etc/postfix/rc"}).TexthashHint(); !strings.Contains(got, "name it texthash:/etc/postfix/rc") {
		t.Errorf("TexthashHint of a bare path = %q", got)
	}
	if got := (Spec{Type: "lmdb", Path: "/p"}).TexthashHint(); !strings.Contains(got, "texthash:/p") {
		t.Errorf("TexthashHint of lmdb:/p = %q", got)
	}
	if got := (Spec{Type: "texthash", Path: "/p"}).TexthashHint(); got != "" {
		t.Errorf("TexthashHint of texthash:/p = %q, want none", got)
	}
}
