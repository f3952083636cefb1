package nagios

// Range syntax, from the guidelines' "Threshold and ranges":
//
//	range  = ["@"] ( end | [start] ":" [end] )
//	start  = "~" | number   ; "~" is negative infinity; an empty start is 0
//	end    = number         ; an empty end after ":" is positive infinity
//	number = ["+" | "-"] ( digits ["." [digits]] | "." digits )
//
// A range includes its endpoints and start must not exceed end. A value
// alerts when it lies outside the range or, with a leading "@", inside it.
// The guidelines' examples:
//
//	10      alert if v < 0 or v > 10
//	10:     alert if v < 10
//	~:10    alert if v > 10
//	10:20   alert if v < 10 or v > 20
//	@10:20  alert if 10 <= v <= 20
//
// Numbers are limited to the guidelines' characters [-0-9.] (and a leading
// "+"): exponents, hexadecimal, "inf" and "nan", which C's strtod would take,
// are rejected. An empty start (":10") is accepted as 0, as monitoring-plugins
// and Monitoring::Plugin do.

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Range is a threshold range. Start is math.Inf(-1) for "~" and End is
// math.Inf(1) when omitted; ParseRange never returns NaN or Start > End, and
// String is only meaningful for ranges that obey the same rules.
type Range struct {
	Start  float64 // lower bound, included
	End    float64 // upper bound, included
	Inside bool    // "@": alert inside the range instead of outside
}

// ParseRange parses s in the guidelines' range syntax described at the top of
// this file.
func ParseRange(s string) (Range, error) {
	if s == "" {
		return Range{}, fmt.Errorf("invalid range %q: empty", s)
	}
	body, inside := strings.CutPrefix(s, "@")
	if body == "" {
		return Range{}, fmt.Errorf("invalid range %q: nothing after \"@\"", s)
	}
	r := Range{Inside: inside, End: math.Inf(1)}
	start, end, colon := strings.Cut(body, ":")
	if !colon {
		v, err := parseNumber(body)
		if err != nil {
			return Range{}, fmt.Errorf("invalid range %q: %w", s, err)
		}
		r.End = v
	} else {
		switch start {
		case "":
		case "~":
			r.Start = math.Inf(-1)
		default:
			v, err := parseNumber(start)
			if err != nil {
				return Range{}, fmt.Errorf("invalid range %q: start %w", s, err)
			}
			r.Start = v
		}
		if end != "" {
			v, err := parseNumber(end)
			if err != nil {
				return Range{}, fmt.Errorf("invalid range %q: end %w", s, err)
			}
			r.End = v
		}
	}
	if r.Start > r.End {
		return Range{}, fmt.Errorf("invalid range %q: start %s is greater than end %s",
			s, formatNumber(r.Start), formatNumber(r.End))
	}
	return r, nil
}

// parseNumber parses a finite number made of an optional sign, digits and at
// most one '.'.
func parseNumber(s string) (float64, error) {
	t := s
	if t != "" && (t[0] == '+' || t[0] == '-') {
		t = t[1:]
	}
	whole, frac, _ := strings.Cut(t, ".")
	if whole+frac == "" || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return v, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// formatNumber writes v without an exponent, as the guidelines' [-0-9.]
// requires, with as few digits as parse back to v; -0 is written "0".
func formatNumber(v float64) string {
	if v == 0 {
		v = 0
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// Alert reports whether v raises an alert: v is outside r or, for an "@"
// range, inside it. NaN, a value that could not be measured, always alerts.
func (r Range) Alert(v float64) bool {
	if math.IsNaN(v) {
		return true
	}
	in := r.Start <= v && v <= r.End
	return in == r.Inside
}

// String returns r in its shortest guideline form, as perfdata wants it:
// "10" (start 0), "10:", "~:10", "10:20", "@10:20", "~:" (never alerts).
// ParseRange(r.String()) returns r.
func (r Range) String() string {
	var b strings.Builder
	if r.Inside {
		b.WriteByte('@')
	}
	endInf := math.IsInf(r.End, 1)
	switch {
	case math.IsInf(r.Start, -1):
		b.WriteString("~:")
	case r.Start == 0 && !endInf:
	default:
		b.WriteString(formatNumber(r.Start))
		b.WriteByte(':')
	}
	if !endInf {
		b.WriteString(formatNumber(r.End))
	}
	return b.String()
}

// Thresholds pairs the warning and critical ranges of one metric; a nil range
// is not set.
type Thresholds struct {
	Warning, Critical *Range
}

// Check returns Critical when the critical range alerts for v, else Warning
// when the warning range does, else OK. With no range set it returns OK; with
// any set, NaN (a value that could not be measured) gives Unknown.
func (t Thresholds) Check(v float64) State {
	switch {
	case t.Warning == nil && t.Critical == nil:
		return OK
	case math.IsNaN(v):
		return Unknown
	case t.Critical != nil && t.Critical.Alert(v):
		return Critical
	case t.Warning != nil && t.Warning.Alert(v):
		return Warning
	}
	return OK
}
