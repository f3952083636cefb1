package table

import (
	"fmt"
	"slices"
	"strings"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/postfix"
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
		if names := postfix.SplitList(s); len(names) > 1 && spaceInPath(names) {
			return Spec{}, errSpaceInPath(s)
		}
		return Spec{}, fmt.Errorf("table name %q contains %q: main.cf separates tables with whitespace or commas; give one table", s, s[i])
	}
	typ, path, ok := strings.Cut(s, ":")
	if !ok {
		return Spec{Path: s}, compiledName(s, Spec{Path: s})
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
	sp := Spec{Type: typ, Path: path}
	if err := compiledName(s, sp); err != nil {
		return Spec{}, err
	}
	return sp, nil
}

// ParseList parses a list of tables as main.cf writes relay_clientcerts
// ("hash:/a, texthash:/b"), split as Postfix splits it. A value that
// main.cf would split inside a path ("hash:/my tables/rc": a second
// element without a type that is not an absolute path) is an error that
// says so, rather than two tables of which one does not exist.
func ParseList(value string) ([]Spec, error) {
	names := postfix.SplitList(value)
	if len(names) > 1 && spaceInPath(names) {
		return nil, errSpaceInPath(value)
	}
	if len(names) == 0 {
		names = []string{value} // let ParseSpec say what is wrong
	}
	specs := make([]Spec, 0, len(names))
	for _, n := range names {
		sp, err := ParseSpec(n)
		if err != nil {
			return nil, err
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

// spaceInPath reports whether a split list looks like one path cut at a
// space: an element after the first with no type and no leading '/'.
func spaceInPath(names []string) bool {
	for _, n := range names[1:] {
		if !strings.Contains(n, ":") && !strings.HasPrefix(n, "/") {
			return true
		}
	}
	return false
}

// errSpaceInPath explains that Postfix cannot name a table whose path
// holds a space. maps_create splits the list with mystrtokq on
// whitespace and commas, and dict_open takes what is left whole: braces
// ("{hash:/my tables/rc}") give the type "{hash", and there is no quoting.
func errSpaceInPath(value string) error {
	return fmt.Errorf("table %q: main.cf splits table lists on whitespace and commas and has no quoting for a table's path (not even { }), so Postfix would read this as several tables; give the path without spaces (rename the file or its directory, or link it from a path without spaces)", value)
}

// compiledName refuses a path that names the file postmap compiles
// (PATH.db, .lmdb, .cdb, .dir, .pag) instead of its source.
func compiledName(s string, sp Spec) error {
	for _, c := range []struct{ ext, typ string }{{".db", "hash"}, {".lmdb", "lmdb"}, {".cdb", "cdb"}, {".dir", "dbm"}, {".pag", "dbm"}} {
		src, ok := strings.CutSuffix(sp.Path, c.ext)
		if !ok || src == "" || strings.HasSuffix(src, "/") {
			continue
		}
		want := Spec{Type: sp.Type, Path: src}
		if !slices.Contains(want.Compiled(), src+c.ext) {
			want.Type = c.typ
		}
		return fmt.Errorf("table %q: %s is the compiled file postmap makes; give the source file, not the compiled %s: %s", s, sp.Path, c.ext, want)
	}
	return nil
}

// TexthashHint returns what to add to the "run postmap" advice for a
// table whose compiled file is missing: Postfix reads a plain text copy
// of the source, without postmap, as texthash:PATH. It returns "" for a
// texthash table.
func (s Spec) TexthashHint() string {
	if s.Type == "texthash" {
		return ""
	}
	return "or, to have Postfix read the source file as it is, without postmap, name it texthash:" + s.Path + " (texthash is read at start-up: run postfix reload after each edit)"
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
