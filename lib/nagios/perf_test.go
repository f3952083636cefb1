package nagios

import (
	"math"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func TestPerfString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    Perf
		want string
	}{
		{"value only", Perf{Label: "certs", Value: 3}, "certs=3"},
		{"zero", Perf{Label: "x", Value: 0}, "x=0"},
		{"negative zero", Perf{Label: "x", Value: math.Copysign(0, -1)}, "x=0"},
		{"negative", Perf{Label: "x", Value: -2.5}, "x=-2.5"},
		{"seconds", Perf{Label: "time", Value: 0.25, UOM: "s"}, "time=0.25s"},
		{"percent", Perf{Label: "used", Value: 99.5, UOM: "%"}, "used=99.5%"},
		{"counter", Perf{Label: "sent", Value: 12345, UOM: "c"}, "sent=12345c"},
		{"kilobytes", Perf{Label: "size", Value: 1.5, UOM: "KB"}, "size=1.5KB"},
		{"all fields", Perf{Label: "days", Value: 20, Warn: &Range{Start: 14, End: inf}, Crit: &Range{Start: 7, End: inf}, Min: ptr(0.0), Max: ptr(365.0)}, "days=20;14:;7:;0;365"},
		{"warn only", Perf{Label: "t", Value: 1, UOM: "s", Warn: &Range{End: 5}}, "t=1s;5"},
		{"crit only keeps empty warn", Perf{Label: "t", Value: 1, Crit: &Range{End: 5}}, "t=1;;5"},
		{"max only keeps empty middle", Perf{Label: "t", Value: 1, Max: ptr(10.0)}, "t=1;;;;10"},
		{"min only", Perf{Label: "t", Value: 1, Min: ptr(0.0)}, "t=1;;;0"},
		{"inside and infinite ranges", Perf{Label: "t", Value: 1, Warn: &Range{Start: 1, End: 2, Inside: true}, Crit: &Range{Start: negInf, End: 5}}, "t=1;@1:2;~:5"},
		{"tiny no exponent", Perf{Label: "t", Value: 1e-7, UOM: "s"}, "t=0.0000001s"},
		{"huge no exponent", Perf{Label: "b", Value: 1e21, UOM: "B", Max: ptr(2e21)}, "b=1000000000000000000000B;;;;2000000000000000000000"},
		{"nan is U", Perf{Label: "t", Value: math.NaN(), UOM: "s", Warn: &Range{End: 1}}, "t=U;1"},
		{"inf is U", Perf{Label: "t", Value: math.Inf(1), UOM: "s"}, "t=U"},
		{"negative inf is U", Perf{Label: "t", Value: math.Inf(-1)}, "t=U"},
		{"non-finite min max dropped", Perf{Label: "t", Value: 1, Min: ptr(math.NaN()), Max: ptr(math.Inf(1))}, "t=1"},
		{"label with space", Perf{Label: "tls handshake", Value: 1}, "'tls handshake'=1"},
		{"label with equals", Perf{Label: "a=b", Value: 1}, "a_b=1"},
		{"label with quote and equals", Perf{Label: "it's a=b", Value: 1}, "'it''s a_b'=1"},
		{"label with NUL and escape", Perf{Label: "a\x00b\x1b[0m", Value: 1}, "a?b?[0m=1"},
		{"label with invalid UTF-8", Perf{Label: "a\xffb", Value: 1}, "a\uFFFDb=1"},
		{"label with quote", Perf{Label: "it's", Value: 1}, "'it''s'=1"},
		{"label with two quotes", Perf{Label: "'x'", Value: 1}, "'''x'''=1"},
		{"label with tab", Perf{Label: "a\tb", Value: 1}, "'a\tb'=1"},
		{"empty label", Perf{Label: "", Value: 1}, "''=1"},
		{"label with punctuation unquoted", Perf{Label: "mx1.example.org:25_time", Value: 1}, "mx1.example.org:25_time=1"},
		{"label with newline", Perf{Label: "a\nb", Value: 1}, "'a b'=1"},
		{"label with pipe", Perf{Label: "a|b", Value: 1}, "a¦b=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.p.String(); got != tt.want {
				t.Errorf("%+v.String() = %q, want %q", tt.p, got, tt.want)
			}
		})
	}
}

func TestPerfValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    Perf
		want string // "" = valid, else error substring
	}{
		{"plain", Perf{Label: "x", Value: 1}, ""},
		{"every unit", Perf{Label: "x", UOM: "ms"}, ""},
		{"nan value is U", Perf{Label: "x", Value: math.NaN(), UOM: "s"}, ""},
		{"quoted label", Perf{Label: "it's fine", Value: 1}, ""},
		{"tab in label", Perf{Label: "a\tb", Value: 1}, ""},
		{"equals", Perf{Label: "a=b"}, `perfdata "a=b": label contains '=', which the guidelines forbid`},
		{"NUL", Perf{Label: "a\x00b"}, `perfdata "a\x00b": label contains a control character or invalid UTF-8`},
		{"invalid UTF-8", Perf{Label: "a\xffb"}, `label contains a control character or invalid UTF-8`},
		{"empty label", Perf{Value: 1}, "perfdata: empty label"},
		{"newline", Perf{Label: "a\nb"}, `perfdata "a\nb": label contains a line break or '|'`},
		{"pipe", Perf{Label: "a|b"}, `label contains a line break or '|'`},
		{"bad unit", Perf{Label: "age", UOM: "days"}, `perfdata "age": unit "days" is not one of`},
		{"lower-case byte unit", Perf{Label: "x", UOM: "kb"}, `unit "kb"`},
		{"nan min", Perf{Label: "x", Min: ptr(math.NaN())}, `perfdata "x": min and max must be finite`},
		{"inf max", Perf{Label: "x", Max: ptr(math.Inf(1))}, `min and max must be finite`},
	}
	for _, u := range []string{"", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"} {
		if err := (Perf{Label: "x", UOM: u}).Validate(); err != nil {
			t.Errorf("Perf{UOM: %q}.Validate() = %v, want nil", u, err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("%+v.Validate() = %v, want nil", tt.p, err)
			case tt.want != "" && err == nil:
				t.Errorf("%+v.Validate() = nil, want error containing %q", tt.p, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("%+v.Validate() = %q, want it to contain %q", tt.p, err, tt.want)
			}
		})
	}
}
