package nagios

import (
	"bytes"
	"errors"
	"math"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/golden"
)

// TestRenderGolden compares Render's output with fixtures/nagios/<name>.golden,
// one scenario per file. Run with -update to rewrite them, then review the diff.
func TestRenderGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Result
	}{
		{"ok_no_perf", Result{Name: "RELAY_FINGERPRINT", State: OK, Summary: "2 relays match relay_clientcerts"}},
		{"no_name", Result{State: Warning, Summary: "certificate expires in 10 days"}},
		{"no_summary", Result{Name: "RELAY_FINGERPRINT", State: Unknown}},
		{"with_perf", Result{
			Name:    "RELAY_FINGERPRINT",
			State:   Warning,
			Summary: "mx1:25 certificate expires in 10 days",
			Perf: []Perf{
				{Label: "mx1 days left", Value: 10, Warn: &Range{Start: 14, End: math.Inf(1)}, Crit: &Range{Start: 7, End: math.Inf(1)}, Min: ptr(0.0)},
				{Label: "mx1_time", Value: 0.000125, UOM: "s", Min: ptr(0.0)},
			},
		}},
		{"long_output", Result{
			Name:    "RELAY_FINGERPRINT",
			State:   Critical,
			Summary: "1 of 2 relays not listed",
			Long: []string{
				"mx1:25 OK 3A:4B:... listed as relay1",
				"mx2:25 CRITICAL 9F:00:... not in relay_clientcerts",
				"",
				"hint: add the fingerprint to relay_clientcerts, then run postmap",
			},
			Perf: []Perf{{Label: "relays", Value: 2}, {Label: "unlisted", Value: 1, Crit: &Range{End: 0}}},
		}},
		{"sanitized", Result{
			Name:    "RELAY|FP",
			State:   Critical,
			Summary: "banner \"220 mx | ESMTP\"\r\nsecond line\nthird",
			Long:    []string{"pipe | in long", "embedded\nline break\r\nand CRLF\rand CR"},
			Perf:    []Perf{{Label: "it's|odd", Value: math.NaN(), UOM: "s"}},
		}},
		{"control_characters", Result{
			Name:    "RELAY\x00FP",
			State:   Critical,
			Summary: "subject \"CN=evil\x00\x1b[2J\tx\x7f\xff\"",
			Long:    []string{"banner \x1b]0;title\x07 tab\tkept", "\x00"},
			Perf:    []Perf{{Label: "handshake\x00", Value: 1}},
		}},
		{"unknown_usage", Result{Name: "RELAY_FINGERPRINT", State: Unknown, Summary: "invalid range \"20:10\": start 20 is greater than end 10"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := tt.r.Render(&buf); err != nil {
				t.Fatalf("Render: %v", err)
			}
			got := buf.Bytes()
			golden.Compare(t, filepath.Join("..", "..", "fixtures", "nagios", tt.name+".golden"), got)
			checkStructure(t, got, len(tt.r.Perf) > 0)
		})
	}
}

// checkStructure checks the rules a monitoring core relies on, independent of
// the golden text: only the first line has a '|', exactly once when there is
// perfdata, and the output ends in a newline.
func checkStructure(t *testing.T, out []byte, perf bool) {
	t.Helper()
	if !bytes.HasSuffix(out, []byte("\n")) {
		t.Errorf("output %q does not end in a newline", out)
	}
	first, rest, _ := bytes.Cut(out, []byte("\n"))
	want := 0
	if perf {
		want = 1
	}
	if n := bytes.Count(first, []byte("|")); n != want {
		t.Errorf("first line %q has %d '|', want %d", first, n, want)
	}
	if bytes.Contains(rest, []byte("|")) {
		t.Errorf("long output %q contains '|'", rest)
	}
	if bytes.Contains(out, []byte("\r")) {
		t.Errorf("output %q contains a carriage return", out)
	}
	if i := bytes.IndexFunc(out, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' || r == 0x7f }); i >= 0 {
		t.Errorf("output %q has control character %q at byte %d", out, out[i], i)
	}
	if !utf8.Valid(out) {
		t.Errorf("output %q is not valid UTF-8", out)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestRenderWriteError(t *testing.T) {
	t.Parallel()
	err := Result{State: OK, Summary: "x"}.Render(failWriter{})
	if err == nil || err.Error() != "write plugin output: broken pipe" {
		t.Errorf("Render to a failing writer = %v, want \"write plugin output: broken pipe\"", err)
	}
}
