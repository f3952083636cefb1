package nagios

import (
	"math"
	"slices"
	"strconv"
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
		{"label with equals", Perf{Label: "a=b", Value: 1}, "a%3Db=1"},
		{"label with underscore", Perf{Label: "a_b", Value: 1}, "a_b=1"},
		{"label with percent", Perf{Label: "50%", Value: 1}, "50%25=1"},
		{"label with an escape in it", Perf{Label: "a%3Db", Value: 1}, "a%253Db=1"},
		{"label with U+FFFD kept", Perf{Label: "a\uFFFDb", Value: 1}, "a\uFFFDb=1"},
		{"label with quote and equals", Perf{Label: "it's a=b", Value: 1}, "'it%27s a%3Db'=1"},
		{"label with NUL and escape", Perf{Label: "a\x00b\x1b[0m", Value: 1}, "a%00b%1B[0m=1"},
		{"label with invalid UTF-8", Perf{Label: "a\xffb", Value: 1}, "a%FFb=1"},
		{"label with quote", Perf{Label: "it's", Value: 1}, "it%27s=1"},
		{"label with two quotes", Perf{Label: "'x'", Value: 1}, "%27x%27=1"},
		{"label with tab", Perf{Label: "a\tb", Value: 1}, "a%09b=1"},
		{"empty label", Perf{Label: "", Value: 1}, "''=1"},
		{"label with punctuation unquoted", Perf{Label: "mx1.example.org:25_time", Value: 1}, "mx1.example.org:25_time=1"},
		{"label with newline", Perf{Label: "a\nb", Value: 1}, "a%0Ab=1"},
		{"label with CRLF and space", Perf{Label: "a\r\n b", Value: 1}, "'a%0D%0A b'=1"},
		{"label with pipe", Perf{Label: "a|b", Value: 1}, "a%7Cb=1"},
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

// unescapeLabel reverses quoteLabel: with it, two labels that render the
// same would decode to the same label, so a round trip proves the escape
// injective.
func unescapeLabel(t testing.TB, s string) string {
	t.Helper()
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		s = s[1 : len(s)-1]
	} else if strings.ContainsAny(s, " '") || s == "" {
		t.Fatalf("label %q has a space, a quote or nothing, unquoted", s)
	}
	if strings.ContainsAny(s, "='|\t\r\n\x00") {
		t.Fatalf("escaped label %q still has a character the guidelines forbid", s)
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			t.Fatalf("label %q: bad escape at %d: %v", s, i, err)
		}
		b = append(b, byte(v))
		i += 2
	}
	return string(b)
}

// Labels that the old replacements ('=' to '_', '|' to '¦', control
// characters to '?', invalid UTF-8 to U+FFFD, line breaks to spaces) made
// equal must stay different (issue 13 item 9: --table .../a=b and .../a_b
// both became entries_.../a_b).
func TestPerfLabelsNeverCollide(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{
		{"entries_/etc/postfix/a=b", "entries_/etc/postfix/a_b"},
		{"a|b", "a¦b"},
		{"a\x00b", "a?b"},
		{"a\xffb", "a\uFFFDb"},
		{"a\nb", "a b"},
		{"a\tb", "a b"},
		{"it's", "it''s"},
		{"a=b", "a%3Db"},
	}
	for _, p := range pairs {
		a, b := Perf{Label: p[0], Value: 1}.String(), Perf{Label: p[1], Value: 1}.String()
		if a == b {
			t.Errorf("labels %q and %q both render as %q", p[0], p[1], a)
		}
		for _, l := range p {
			s := Perf{Label: l}.String()
			if got := unescapeLabel(t, s[:strings.LastIndexByte(s, '=')]); got != l {
				t.Errorf("label %q renders as %q, which reads back as %q", l, s, got)
			}
		}
	}
}

// FuzzPerfLabel checks that every label renders as one item that reads
// back as the label itself: different labels never share a rendering.
func FuzzPerfLabel(f *testing.F) {
	for _, s := range []string{"", "a=b", "a_b", "50%", "it's a", "a\xff\x00|\r\n\t b", "entries_/x/a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, l string) {
		s := Perf{Label: l, Value: 1}.String()
		if !strings.HasSuffix(s, "=1") {
			t.Fatalf("%q renders as %q", l, s)
		}
		q := strings.TrimSuffix(s, "=1")
		if got := unescapeLabel(t, q); got != l {
			t.Fatalf("label %q renders as %q, which reads back as %q", l, s, got)
		}
	})
}

func TestUniqueLabels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"none", nil, nil},
		{"unique stays", []string{"a", "b"}, []string{"a", "b"}},
		{"second gets _2", []string{"relays", "handshake_x", "handshake_x"}, []string{"relays", "handshake_x", "handshake_x_2"}},
		{"three", []string{"a", "a", "a"}, []string{"a", "a_2", "a_3"}},
		{"suffix taken later", []string{"a", "a", "a_2"}, []string{"a", "a_3", "a_2"}},
		{"suffix taken earlier", []string{"a_2", "a", "a"}, []string{"a_2", "a", "a_3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var in []Perf
			for _, l := range tt.in {
				in = append(in, Perf{Label: l})
			}
			orig := slices.Clone(in)
			out := UniqueLabels(in)
			var got []string
			for _, p := range out {
				got = append(got, p.Label)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("UniqueLabels(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !slices.Equal(in, orig) {
				t.Errorf("UniqueLabels changed its argument: %v", in)
			}
		})
	}
}

// Render never prints one label twice.
func TestRenderUniqueLabels(t *testing.T) {
	t.Parallel()
	r := Result{State: OK, Perf: []Perf{{Label: "handshake_mx:25", Value: 1}, {Label: "handshake_mx:25", Value: 2}}}
	var b strings.Builder
	if err := r.Render(&b); err != nil {
		t.Fatal(err)
	}
	if want := "OK | handshake_mx:25=1 handshake_mx:25_2=2\n"; b.String() != want {
		t.Errorf("Render = %q, want %q", b.String(), want)
	}
}
