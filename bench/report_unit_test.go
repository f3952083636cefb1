package bench

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name string
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{"none", nil, 0.5, 0},
		{"one", []time.Duration{7 * ms}, 0.5, 7 * ms},
		{"odd count median", []time.Duration{9 * ms, 1 * ms, 5 * ms}, 0.5, 5 * ms},
		{"even count median interpolates", []time.Duration{4 * ms, 1 * ms, 2 * ms, 3 * ms}, 0.5, 2500 * time.Microsecond},
		{"p25", []time.Duration{1 * ms, 2 * ms, 3 * ms, 4 * ms, 5 * ms}, 0.25, 2 * ms},
		{"max", []time.Duration{3 * ms, 1 * ms, 2 * ms}, 1, 3 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := quantile(tc.in, tc.q); got != tc.want {
				t.Errorf("quantile(%v, %v) = %v, want %v", tc.in, tc.q, got, tc.want)
			}
		})
	}
}

func TestKeptNotes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, old, want string
	}{
		{"no old file", "", ""},
		{"no findings", "# Bench results\n\n## Targets\n", ""},
		{"findings kept to the end", "# Bench results\n\n## Targets\n| a |\n\n## Findings\n\nnotes\n\n## More\n", "\n## Findings\n\nnotes\n\n## More\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := keptNotes(tc.old); got != tc.want {
				t.Errorf("keptNotes(%q) = %q, want %q", tc.old, got, tc.want)
			}
		})
	}
}

func TestTargetResult(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tg   target
		want string
	}{
		{"at the limit passes", target{value: 1.5, ok: true, limit: 1.5}, "PASS"},
		{"over the limit misses", target{value: 1.51, ok: true, limit: 1.5}, "MISS"},
		{"strict limit reached misses", target{value: 25, ok: true, limit: 25, less: true}, "MISS"},
		{"strict limit under passes", target{value: 24.9, ok: true, limit: 25, less: true}, "PASS"},
		{"not measured", target{limit: 1}, "not measured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.tg.result(); got != tc.want {
				t.Errorf("%+v.result() = %q, want %q", tc.tg, got, tc.want)
			}
		})
	}
}

func TestLateCell(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name    string
		samples []sample
		want    string
	}{
		{"no rig", []sample{{}, {}}, "–"},
		{"none late", []sample{{writes: 7}, {writes: 7}}, "0.0 % · 0.00 ms"},
		{"share over all runs, median of each run's latest", []sample{
			{writes: 100, late: 10, maxLate: 2 * ms}, {writes: 100, late: 30, maxLate: 4 * ms}, {writes: 200, late: 0}},
			"10.0 % · 2.00 ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc := &scenario{samples: tc.samples}
			if got := sc.lateCell(); got != tc.want {
				t.Errorf("lateCell of %+v = %q, want %q", tc.samples, got, tc.want)
			}
		})
	}
}

func TestLatenessNote(t *testing.T) {
	t.Parallel()
	var l lateness
	now := time.Now()
	for _, due := range []time.Time{now.Add(time.Hour), now, now.Add(-50 * time.Millisecond), now.Add(-20 * time.Millisecond)} {
		l.note(due)
	}
	if w, n, m := l.writes.Load(), l.late.Load(), time.Duration(l.maxLate.Load()); w != 4 || n != 2 || m < 50*time.Millisecond {
		t.Errorf("after writes due in an hour, now, 50 ms and 20 ms ago: writes %d, late %d, latest %v; want 4, 2, at least 50ms", w, n, m)
	}
}
