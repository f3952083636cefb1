package table

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under fixtures/table")

// fixtureDir holds one scenario per NAME.in, with the expected result in
// NAME.golden (JSON; regenerate with go test -run TestGolden -update).
const fixtureDir = "../../fixtures/table"

type goldenEntry struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	Line    int    `json:"line"`
	EndLine int    `json:"end_line"`
	DupOf   int    `json:"dup_of,omitempty"`
}

type goldenWarning struct {
	Line int    `json:"line"`
	Kind string `json:"kind"`
	Msg  string `json:"msg"`
}

type golden struct {
	Len      int             `json:"len"`
	Lines    int             `json:"lines"`
	Entries  []goldenEntry   `json:"entries"`
	Warnings []goldenWarning `json:"warnings"`
}

func toGolden(t *Table) golden {
	g := golden{Len: t.Len(), Lines: len(t.Lines), Entries: []goldenEntry{}, Warnings: []goldenWarning{}}
	for _, e := range t.Entries {
		g.Entries = append(g.Entries, goldenEntry(e))
	}
	for _, w := range t.Warnings {
		g.Warnings = append(g.Warnings, goldenWarning{w.Line, w.Kind.String(), w.Msg})
	}
	return g
}

func fixtures(t testing.TB) []string {
	t.Helper()
	ins, err := filepath.Glob(filepath.Join(fixtureDir, "*.in"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixtureDir, err)
	}
	return ins
}

func TestGolden(t *testing.T) {
	for _, in := range fixtures(t) {
		name := strings.TrimSuffix(filepath.Base(in), ".in")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			tab, err := Parse(name, data)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", data, err)
			}
			if got := tab.Bytes(); !bytes.Equal(got, data) {
				t.Errorf("Bytes() does not round-trip\ninput: %q\ngot:   %q", data, got)
			}
			got, err := json.MarshalIndent(toGolden(tab), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			gf := strings.TrimSuffix(in, ".in") + ".golden"
			if *update {
				if err := os.WriteFile(gf, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gf)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("input %q\ngot:\n%s\nwant (%s):\n%s", data, got, gf, want)
			}
		})
	}
}
