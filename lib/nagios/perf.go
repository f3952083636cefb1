package nagios

// Performance data syntax, from the guidelines' "Performance data":
//
//	'label'=value[UOM];[warn];[crit];[min];[max]
//
// Items are separated by spaces. The current guidelines allow any character
// in a label but '=' and '\'' (older versions allowed both inside quotes, and
// not every perfdata parser honours the quotes). A label is written so that
// two different labels never look the same (a graph is keyed by its label):
// the bytes '%', '=', '\'', '|', the control characters (tab and line breaks
// included, 0x00-0x1f and 0x7f) and each byte of invalid UTF-8 are written as
// '%' and two upper-case hex digits ("a=b" is a%3Db, "50%" is 50%25);
// everything else is kept. The result is quoted with single quotes when it
// is empty or contains a space. Within one Result, a label equal to an
// earlier one gets a suffix (see [UniqueLabels]). Numbers use only [-0-9.], never an
// exponent. warn and crit are ranges (see range.go). Empty fields are left
// empty and trailing empty fields are dropped. A value that could not be
// determined is the literal "U" (written without UOM). UOM is one of "",
// "s", "ms", "us", "%", "B", "KB", "MB", "TB" or "c".

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Perf is one performance data item.
type Perf struct {
	Label      string
	Value      float64 // NaN or ±Inf is written "U"
	UOM        string  // unit of measurement, see Validate
	Warn, Crit *Range  // nil when not set
	Min, Max   *float64
}

// String returns p in perfdata syntax, e.g. "'tls handshake'=0.25s;1;2;0".
// It always produces one well-formed item, even for a p that Validate
// rejects: '=', '|', quotes, control characters and invalid UTF-8 in the
// label are escaped as the top of perf.go says, and a non-finite Min or Max
// is left empty.
func (p Perf) String() string {
	var f [5]string
	if isFinite(p.Value) {
		f[0] = formatNumber(p.Value) + p.UOM
	} else {
		f[0] = "U"
	}
	if p.Warn != nil {
		f[1] = p.Warn.String()
	}
	if p.Crit != nil {
		f[2] = p.Crit.String()
	}
	if p.Min != nil && isFinite(*p.Min) {
		f[3] = formatNumber(*p.Min)
	}
	if p.Max != nil && isFinite(*p.Max) {
		f[4] = formatNumber(*p.Max)
	}
	n := len(f)
	for n > 1 && f[n-1] == "" {
		n--
	}
	return quoteLabel(p.Label) + "=" + strings.Join(f[:n], ";")
}

// quoteLabel escapes l as the top of perf.go says. The escape is
// injective: '%' is escaped too, so a "%3D" in the output is always an '='
// of the label.
func quoteLabel(l string) string {
	var b strings.Builder
	for i := 0; i < len(l); {
		r, size := utf8.DecodeRuneInString(l[i:])
		switch {
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f,
			r == '%', r == '=', r == '\'', r == '|':
			for _, c := range []byte(l[i : i+size]) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		default:
			b.WriteString(l[i : i+size])
		}
		i += size
	}
	if s := b.String(); s != "" && !strings.Contains(s, " ") {
		return s
	}
	return "'" + b.String() + "'"
}

// UniqueLabels returns perf with every label that repeats an earlier one
// made unique, so that no two items of a Result share a label (a graphing
// tool would merge them, or keep only one): the first item keeps its
// label, a later one gets "_2", "_3", ..., the smallest number that gives
// a label no other item has. The result depends only on the labels and
// their order. perf itself is returned when its labels are unique already,
// else a modified copy; perf is never changed. [Result.Render] applies it.
func UniqueLabels(perf []Perf) []Perf {
	seen := make(map[string]bool, len(perf))
	dup := false
	for _, p := range perf {
		dup = dup || seen[p.Label]
		seen[p.Label] = true
	}
	if !dup {
		return perf
	}
	out := slices.Clone(perf)
	first := make(map[string]bool, len(perf))
	for i, p := range out {
		if !first[p.Label] {
			first[p.Label] = true
			continue
		}
		for n := 2; ; n++ {
			l := p.Label + "_" + strconv.Itoa(n)
			if !seen[l] {
				seen[l] = true
				out[i].Label = l
				break
			}
		}
	}
	return out
}

func isFinite(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0)
}

// Validate reports what String would have to repair or what the guidelines
// forbid: an empty label, a label with a line break, another control
// character, '|', '=' or invalid UTF-8, a unit outside the guidelines' list,
// or a non-finite Min or Max. A non-finite Value is valid: it is written "U".
func (p Perf) Validate() error {
	switch {
	case p.Label == "":
		return errors.New("perfdata: empty label")
	case strings.ContainsAny(p.Label, "\r\n|"):
		return fmt.Errorf("perfdata %q: label contains a line break or '|'", p.Label)
	case strings.Contains(p.Label, "="):
		return fmt.Errorf("perfdata %q: label contains '=', which the guidelines forbid", p.Label)
	case printable(p.Label) != p.Label:
		return fmt.Errorf("perfdata %q: label contains a control character or invalid UTF-8", p.Label)
	}
	switch p.UOM {
	case "", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c":
	default:
		return fmt.Errorf("perfdata %q: unit %q is not one of s, ms, us, %%, B, KB, MB, TB, c or none", p.Label, p.UOM)
	}
	if (p.Min != nil && !isFinite(*p.Min)) || (p.Max != nil && !isFinite(*p.Max)) {
		return fmt.Errorf("perfdata %q: min and max must be finite", p.Label)
	}
	return nil
}
