package bench

import (
	"strings"
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

// walls returns samples with these wall times in ms and CPU and faults
// derived from them.
func walls(msecs ...int) []sample {
	var out []sample
	for _, m := range msecs {
		d := time.Duration(m) * time.Millisecond
		out = append(out, sample{wall: d, cpu: d / 2, faults: int64(100 * m)})
	}
	return out
}

func TestNoiseTarget(t *testing.T) {
	t.Parallel()
	one := &scenario{id: "one", plugin: true, samples: walls(1, 2, 3, 4, 5)} // median 3, p75 4: limit 1.33
	tests := []struct {
		name    string
		samples []sample
		value   float64
		want    string
	}{
		{"inside the spread", walls(3, 3, 3, 4, 4), 1, "PASS"},
		{"at the upper quartile", walls(4, 4, 4, 4, 4), 1.33, "PASS"},
		{"beyond it", walls(5, 5, 5, 5, 5), 1.67, "MISS"},
	}
	for _, tc := range tests {
		r := &report{scenarios: []*scenario{one, {id: "table-1000", plugin: true, samples: tc.samples}}}
		var tg target
		for _, x := range r.targets("", false) {
			if strings.HasPrefix(x.what, "1 000-entry") {
				tg = x
			}
		}
		if tg.limit != 1.33 || tg.value != tc.value || tg.result() != tc.want {
			t.Errorf("%s: %+v, result %s; want value %v, limit 1.33, %s", tc.name, tg, tg.result(), tc.value, tc.want)
		}
	}
}

func TestStartupAndReading(t *testing.T) {
	t.Parallel()
	r := &report{delay: 20 * time.Millisecond, candidate: "/tmp/before", candidateNote: "before", scenarios: []*scenario{
		{id: "one", label: "check_relay_fingerprint", plugin: true, samples: walls(6, 6, 6)},
		{id: "one+cand", label: "check_relay_fingerprint [candidate]", plugin: true, samples: walls(7, 7, 7)},
		{id: "check_smtp", label: "check_smtp -S -D 30", samples: walls(8, 8, 8)},
		{id: "version", label: "check_relay_fingerprint -V (start-up only)", plugin: true, samples: walls(3, 3, 3)},
		{id: "version+cand", label: "check_relay_fingerprint -V (start-up only) [candidate]", samples: walls(4, 4, 4)},
		{id: "table-1000", plugin: true, samples: walls(6, 6, 6)},
		{id: "table-100000", plugin: true, samples: walls(9, 9, 9)},
	}}
	var b strings.Builder
	r.writeStartup(&b)
	r.writeReading(&b)
	for _, want := range []string{
		"| check_relay_fingerprint -V (start-up only) [candidate] | 400 | 2.00 ms | 4.00 ms |",
		"| check_relay_fingerprint | 600 | 3.00 ms | 6.00 ms |",
		"| check_smtp -S -D 30 | 800 | 4.00 ms | 8.00 ms |",
		"check_smtp -S 8.00 ms (4.00 ms, 800): 0.75×",
		"-V 400 → 300 page faults and 2.00 ms → 1.50 ms of CPU",
		"1 000 entries +0.00 ms of wall time and +0.00 ms of CPU (1.00×); 100 000 entries +3.00 ms of wall time and +1.50 ms of CPU (1.50×)",
		"The 100 000-entry check makes +300 page faults",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("start-up and reading lack %q:\n%s", want, b.String())
		}
	}
}
