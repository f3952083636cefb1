package table

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/golden"
)

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

type goldenTable struct {
	Len      int             `json:"len"`
	Lines    int             `json:"lines"`
	Entries  []goldenEntry   `json:"entries"`
	Warnings []goldenWarning `json:"warnings"`
}

func toGolden(t *Table) goldenTable {
	g := goldenTable{Len: t.Len(), Lines: len(t.Lines), Entries: []goldenEntry{}, Warnings: []goldenWarning{}}
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
			golden.Compare(t, strings.TrimSuffix(in, ".in")+".golden", got)
		})
	}
}
