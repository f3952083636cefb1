package main

import (
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

// TestFractionalTimeout: -t keeps its fraction of a second, in the run's
// deadline and in the watchdog's (issue 13 item 16).
func TestFractionalTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		arg  string
		want time.Duration
	}{
		{"0.5", 500 * time.Millisecond},
		{"2.5", 2500 * time.Millisecond},
	} {
		var c cli
		p, err := kong.New(&c, vars())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Parse(preprocess([]string{"-H", "127.0.0.1", "--table", "texthash:/x", "-t", tc.arg})); err != nil {
			t.Fatalf("-t %s: %v", tc.arg, err)
		}
		if got := duration(c.Check.Timeout); got != tc.want {
			t.Errorf("-t %s: duration %v, want %v", tc.arg, got, tc.want)
		}
		before := time.Now()
		ctx, cancel := deadline(c.Check.Timeout)
		after := time.Now()
		d, _ := ctx.Deadline()
		cancel()
		if d.Before(before.Add(tc.want)) || d.After(after.Add(tc.want)) {
			t.Errorf("-t %s: deadline %v after the start, want %v", tc.arg, d.Sub(before), tc.want)
		}
	}
}
