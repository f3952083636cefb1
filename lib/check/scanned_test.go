package check_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/check"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/table"
)

// judgeBoth returns Judge(cfg, obs, recv) after checking that it is the
// same with every table scanned (table.Scan, Receiver.Summary and Notes)
// instead of parsed whole: the plugin's check-only path.
func judgeBoth(t testing.TB, cfg check.Config, obs []check.Observation, recv []check.Receiver) check.Verdict {
	t.Helper()
	want := check.Judge(cfg, obs, recv)

	var wanted []string
	for _, o := range obs {
		if leaf := o.Leaf(); leaf != nil {
			for _, p := range cfg.Fingerprints(leaf) {
				wanted = append(wanted, p.Value)
			}
		}
	}
	scanned := make([]check.Receiver, len(recv))
	for i, rc := range recv {
		scanned[i] = rc
		if rc.Table == nil {
			continue
		}
		path := filepath.Join(t.TempDir(), "relay_clientcerts")
		if err := os.WriteFile(path, rc.Table.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		notes := check.NewKeyNotes(rc.Table.Path, cfg.Digest)
		sum, err := table.Scan(path, notes.Notable, check.KeptNotes)
		if err != nil {
			t.Fatalf("table.Scan(%q): %v", rc.Table.Bytes(), err)
		}
		if err := sum.Find(wanted); err != nil {
			t.Fatalf("table.Scan(%q).Find(%q): %v", rc.Table.Bytes(), wanted, err)
		}
		sum.Close()
		notes.Scanned(sum.Marked, sum.Marks)
		// Name it as the test named the parsed table.
		sum.Path = rc.Table.Path
		for j := range sum.Warnings {
			sum.Warnings[j].Path = rc.Table.Path
		}
		scanned[i].Table, scanned[i].Summary, scanned[i].Notes = nil, sum, notes
	}
	if got := check.Judge(cfg, obs, scanned); !reflect.DeepEqual(got, want) {
		t.Errorf("Judge with scanned tables differs from Judge with parsed tables:\ngot:\n%+v\nwant:\n%+v", got, want)
	}
	return want
}

// TestJudgeScannedNotes checks the notes past the first few: counted,
// cut at the same place, after the table's warnings.
func TestJudgeScannedNotes(t *testing.T) {
	t.Parallel()
	c := newCert(t, certSpec{cn: relayName})
	text := fingerprint.SHA256.PublicKey(c) + " " + relayName + "\n"
	for i := range 14 {
		text += fmt.Sprintf("junk%d x\nAB:CD:%02X short\n", i, i)
	}
	text += "junk0 again\n" // a warning, and one more note
	for _, spec := range []string{tableSpec, "texthash:/srv/relay_clientcerts"} {
		r := judgeBoth(t, baseConfig(t), []check.Observation{relay(relayName, relayAddr, c)}, []check.Receiver{receiver(t, spec, text)}).Result
		if long := strings.Join(r.Long, "\n"); r.State == nagios.OK || !strings.Contains(long, ": and 20 more") {
			t.Errorf("table %q: got %s %q\n%s\nwant a problem with 30 notes, 10 shown", text, r.State, r.Summary, long)
		}
	}
}
