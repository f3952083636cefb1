package nagios

import (
	"math"
	"strings"
	"testing"
)

var (
	inf    = math.Inf(1)
	negInf = math.Inf(-1)
)

func TestParseRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Range
		str  string // canonical String()
	}{
		{"end only", "10", Range{Start: 0, End: 10}, "10"},
		{"start only", "10:", Range{Start: 10, End: inf}, "10:"},
		{"negative infinity", "~:10", Range{Start: negInf, End: 10}, "~:10"},
		{"start and end", "10:20", Range{Start: 10, End: 20}, "10:20"},
		{"inside", "@10:20", Range{Start: 10, End: 20, Inside: true}, "@10:20"},
		{"inside end only", "@10", Range{Start: 0, End: 10, Inside: true}, "@10"},
		{"inside start only", "@10:", Range{Start: 10, End: inf, Inside: true}, "@10:"},
		{"inside negative infinity", "@~:10", Range{Start: negInf, End: 10, Inside: true}, "@~:10"},
		{"everything", "~:", Range{Start: negInf, End: inf}, "~:"},
		{"explicit zero start", "0:10", Range{Start: 0, End: 10}, "10"},
		{"empty start is zero", ":10", Range{Start: 0, End: 10}, "10"},
		{"colon only", ":", Range{Start: 0, End: inf}, "0:"},
		{"zero start open end", "0:", Range{Start: 0, End: inf}, "0:"},
		{"zero", "0", Range{}, "0"},
		{"start equals end", "5:5", Range{Start: 5, End: 5}, "5:5"},
		{"decimals", "1.5:2.25", Range{Start: 1.5, End: 2.25}, "1.5:2.25"},
		{"leading dot", ".5", Range{End: 0.5}, "0.5"},
		{"trailing dot", "5.:", Range{Start: 5, End: inf}, "5:"},
		{"negative start", "-10:-5", Range{Start: -10, End: -5}, "-10:-5"},
		{"negative to positive", "-1.5:1.5", Range{Start: -1.5, End: 1.5}, "-1.5:1.5"},
		{"plus sign", "+3:+4", Range{Start: 3, End: 4}, "3:4"},
		{"negative zero", "-0:-0", Range{}, "0"},
		{"tiny", "0.0000001", Range{End: 1e-7}, "0.0000001"},
		{"huge", "1000000000000000000000:", Range{Start: 1e21, End: inf}, "1000000000000000000000:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRange(tt.in)
			if err != nil {
				t.Fatalf("ParseRange(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseRange(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("ParseRange(%q).String() = %q, want %q", tt.in, s, tt.str)
			}
			back, err := ParseRange(got.String())
			if err != nil || back != got {
				t.Errorf("ParseRange(%q) = %+v, %v; want %+v (round trip of %q)", got.String(), back, err, got, tt.in)
			}
		})
	}
}

func TestParseRangeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string // substring of the error
	}{
		{"empty", "", `invalid range "": empty`},
		{"at only", "@", `invalid range "@": nothing after "@"`},
		{"start greater than end", "20:10", `invalid range "20:10": start 20 is greater than end 10`},
		{"negative end", "-5", `invalid range "-5": start 0 is greater than end -5`},
		{"garbage", "abc", `invalid range "abc": "abc" is not a number`},
		{"garbage start", "x:10", `invalid range "x:10": start "x" is not a number`},
		{"garbage end", "10:x", `invalid range "10:x": end "x" is not a number`},
		{"tilde alone", "~", `"~" is not a number`},
		{"tilde end", "1:~", `end "~" is not a number`},
		{"two colons", "1:2:3", `end "2:3" is not a number`},
		{"two at signs", "@@1", `"@1" is not a number`},
		{"two dots", "1.2.3", `"1.2.3" is not a number`},
		{"dot only", ".", `"." is not a number`},
		{"sign only", "-:1", `start "-" is not a number`},
		{"exponent", "1e3", `"1e3" is not a number`},
		{"hex", "0x10", `"0x10" is not a number`},
		{"inf", "inf", `"inf" is not a number`},
		{"nan", "NaN", `"NaN" is not a number`},
		{"space", " 10", `" 10" is not a number`},
		{"trailing space", "10 ", `"10 " is not a number`},
		{"underscore", "1_000", `"1_000" is not a number`},
		{"too large", "1" + strings.Repeat("0", 400), `is too large`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRange(tt.in)
			if err == nil {
				t.Fatalf("ParseRange(%q) = %+v, want error containing %q", tt.in, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseRange(%q) error = %q, want it to contain %q", tt.in, err, tt.want)
			}
			if msg := err.Error(); msg != strings.ToLower(msg[:1])+msg[1:] || strings.HasSuffix(msg, ".") {
				t.Errorf("ParseRange(%q) error %q: want lower-case start and no final period", tt.in, msg)
			}
		})
	}
}

// TestRangeAlert walks the guidelines' example table with values inside,
// outside and on the edges of each range.
func TestRangeAlert(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rng    string
		values map[float64]bool // value -> want alert
	}{
		{"10", map[float64]bool{-1: true, -0.001: true, 0: false, 5: false, 10: false, 10.001: true, 11: true}},
		{"10:", map[float64]bool{-100: true, 9.999: true, 10: false, 11: false, 1e300: false}},
		{"~:10", map[float64]bool{-1e300: false, -5: false, 10: false, 10.001: true, 11: true}},
		{"10:20", map[float64]bool{9: true, 10: false, 15: false, 20: false, 20.5: true}},
		{"@10:20", map[float64]bool{9: false, 10: true, 15: true, 20: true, 20.5: false}},
		{"@10", map[float64]bool{-1: false, 0: true, 10: true, 11: false}},
		{"~:", map[float64]bool{-1e300: false, 0: false, 1e300: false}},
		{"@~:", map[float64]bool{-1e300: true, 0: true, 1e300: true}},
		{"-10:-5", map[float64]bool{-11: true, -10: false, -5: false, -4: true, 0: true}},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.rng)
		if err != nil {
			t.Fatalf("ParseRange(%q): %v", tt.rng, err)
		}
		for v, want := range tt.values {
			if got := r.Alert(v); got != want {
				t.Errorf("ParseRange(%q).Alert(%v) = %v, want %v", tt.rng, v, got, want)
			}
		}
		if !r.Alert(math.NaN()) {
			t.Errorf("ParseRange(%q).Alert(NaN) = false, want true", tt.rng)
		}
	}
}

func TestThresholdsCheck(t *testing.T) {
	t.Parallel()
	rng := func(s string) *Range {
		r, err := ParseRange(s)
		if err != nil {
			t.Fatalf("ParseRange(%q): %v", s, err)
		}
		return &r
	}
	tests := []struct {
		name       string
		warn, crit string // "" = not set
		v          float64
		want       State
	}{
		{"none set", "", "", 1e9, OK},
		{"none set nan", "", "", math.NaN(), OK},
		{"below warning", "10", "20", 5, OK},
		{"warning edge", "10", "20", 10, OK},
		{"warning", "10", "20", 15, Warning},
		{"critical edge", "10", "20", 20, Warning},
		{"critical", "10", "20", 21, Critical},
		{"critical beats warning", "10", "10", 11, Critical},
		{"only warning", "10", "", 11, Warning},
		{"only critical", "", "10", 11, Critical},
		{"only critical ok", "", "10", 9, OK},
		{"days left style", "14:", "7:", 10, Warning},
		{"days left critical", "14:", "7:", 3, Critical},
		{"days left ok", "14:", "7:", 30, OK},
		{"nan is unknown", "10", "20", math.NaN(), Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var th Thresholds
			if tt.warn != "" {
				th.Warning = rng(tt.warn)
			}
			if tt.crit != "" {
				th.Critical = rng(tt.crit)
			}
			if got := th.Check(tt.v); got != tt.want {
				t.Errorf("Thresholds{warn %q, crit %q}.Check(%v) = %v, want %v", tt.warn, tt.crit, tt.v, got, tt.want)
			}
		})
	}
}

// TestRangeStringRoundTrip checks ranges built by hand, as a caller would.
func TestRangeStringRoundTrip(t *testing.T) {
	t.Parallel()
	tenth, fifth := 0.1, 0.2 // variables: constant 0.1+0.2 would be exactly 0.3
	tests := []struct {
		r    Range
		want string
	}{
		{Range{Start: 7, End: inf}, "7:"},
		{Range{Start: negInf, End: 5}, "~:5"},
		{Range{Start: 1, End: 2, Inside: true}, "@1:2"},
		{Range{Start: 0, End: 10}, "10"},
		{Range{Start: negInf, End: inf, Inside: true}, "@~:"},
		{Range{Start: 1e-7, End: 1e21}, "0.0000001:1000000000000000000000"},
		{Range{Start: -0.5, End: tenth + fifth}, "-0.5:0.30000000000000004"},
		{Range{Start: math.SmallestNonzeroFloat64, End: math.MaxFloat64}, ""},
	}
	for _, tt := range tests {
		s := tt.r.String()
		if tt.want != "" && s != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.r, s, tt.want)
		}
		if strings.ContainsAny(s, "eE+") {
			t.Errorf("%+v.String() = %q, want no exponent or sign", tt.r, s)
		}
		back, err := ParseRange(s)
		if err != nil || back != tt.r {
			t.Errorf("ParseRange(%q) = %+v, %v; want %+v", s, back, err, tt.r)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{
		"10", "10:", "~:10", "10:20", "@10:20", "@~:", "~:", ":", ":10", "0",
		"-0", "1.5:2.5", ".5", "5.", "+1", "-10:-5", "20:10", "", "@", "~",
		"1e3", "0x1p3", "NaN", "1:2:3", "0.0000001", "1000000000000000000000",
		"179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRange(s)
		if err != nil {
			if r != (Range{}) {
				t.Errorf("ParseRange(%q) = %+v with error %v, want zero Range", s, r, err)
			}
			return
		}
		if math.IsNaN(r.Start) || math.IsNaN(r.End) || r.Start > r.End {
			t.Fatalf("ParseRange(%q) = %+v: NaN or start > end", s, r)
		}
		out := r.String()
		back, err := ParseRange(out)
		if err != nil {
			t.Fatalf("ParseRange(%q) = %+v; String %q does not reparse: %v", s, r, out, err)
		}
		if back != r {
			t.Fatalf("ParseRange(%q) = %+v; String %q reparses to %+v", s, r, out, back)
		}
		if again := back.String(); again != out {
			t.Fatalf("String not stable for %q: %q then %q", s, out, again)
		}
	})
}
