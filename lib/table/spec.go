package table

import (
	"fmt"
	"strings"
)

// Spec is a table as main.cf names it: "type:path", or a bare path.
//
// A bare path (Type "") means Postfix's default_database_type. This package
// cannot see main.cf, so for compiled-file purposes it takes the stock
// default, hash; callers that know default_database_type should set Type.
type Spec struct {
	Type string // "hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "texthash", or ""
	Path string // the source file; postmap derives the compiled file(s) from it
}

// supported lists the types whose source is a postmap(1) key-value file, in
// the order error messages name them.
var supported = []string{"hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "texthash"}

// ParseSpec parses a table name such as "hash:/etc/postfix/relay_clientcerts".
// It accepts only types that read a key-value source file (see Spec); it
// refuses pattern tables (regexp:, pcre:, cidr:), inline:, proxy: and the
// network and SQL tables, whose entries are not in such a file.
func ParseSpec(s string) (Spec, error) {
	if s == "" {
		return Spec{}, fmt.Errorf("empty table name")
	}
	if i := strings.IndexAny(s, " \t\r\n,"); i >= 0 {
		return Spec{}, fmt.Errorf("table name %q contains %q: main.cf separates tables with whitespace or commas; give one table", s, s[i])
	}
	typ, path, ok := strings.Cut(s, ":")
	if !ok {
		return Spec{Path: s}, nil
	}
	known := false
	for _, t := range supported {
		known = known || typ == t
	}
	if !known {
		return Spec{}, fmt.Errorf("table %q: unsupported type %q: supported are %s:, or a bare path", s, typ, strings.Join(supported, ":, "))
	}
	if path == "" {
		return Spec{}, fmt.Errorf("table %q: empty path", s)
	}
	return Spec{Type: typ, Path: path}, nil
}

// String returns s as main.cf writes it: "type:path", or the bare path.
func (s Spec) String() string {
	if s.Type == "" {
		return s.Path
	}
	return s.Type + ":" + s.Path
}

// Compiled returns the files that postmap(1) makes from the source file:
// PATH.db for hash, btree and a bare path; PATH.lmdb; PATH.cdb; PATH.dir and
// PATH.pag for dbm and sdbm; none for texthash, which Postfix reads as text.
func (s Spec) Compiled() []string {
	switch s.Type {
	case "", "hash", "btree":
		return []string{s.Path + ".db"}
	case "lmdb":
		return []string{s.Path + ".lmdb"}
	case "cdb":
		return []string{s.Path + ".cdb"}
	case "dbm", "sdbm":
		return []string{s.Path + ".dir", s.Path + ".pag"}
	}
	return nil
}

// NeedsPostmap reports whether Postfix reads the table from files that
// postmap(1) compiles, so that an edited source takes effect only after
// running postmap: true for every type but texthash.
func (s Spec) NeedsPostmap() bool {
	return s.Type != "texthash"
}
