package nagios

// Performance data syntax, from the guidelines' "Performance data":
//
//	'label'=value[UOM];[warn];[crit];[min];[max]
//
// Items are separated by spaces. The label is quoted with single quotes when
// it is empty or contains a space, a tab or '\'', and a quote inside is
// doubled. The current guidelines allow any character in a label but '='
// (older versions allowed it quoted, and not every perfdata parser honours
// the quotes), so '=' becomes '_'. Numbers use only [-0-9.], never an
// exponent. warn and crit are ranges (see range.go). Empty fields are left
// empty and trailing empty fields are dropped. A value that could not be
// determined is the literal "U" (written without UOM). UOM is one of "",
// "s", "ms", "us", "%", "B", "KB", "MB", "TB" or "c".

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Perf is one performance data item.
type Perf struct {
	Label      string
	Value      float64 // NaN or ±Inf is written "U"
	UOM        string  // unit of measurement, see Validate
	Warn, Crit *Range  // nil when not set
	Min, Max   *float64
}

var labelReplacer = strings.NewReplacer("|", "¦", "\r\n", " ", "\r", " ", "\n", " ", "=", "_")

// String returns p in perfdata syntax, e.g. "'tls handshake'=0.25s;1;2;0".
// It always produces one well-formed item, even for a p that Validate
// rejects: line breaks, '|' and other control characters in the label are
// replaced as in [Result.Render], '=' by '_', and a non-finite Min or Max
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

func quoteLabel(l string) string {
	l = printable(labelReplacer.Replace(l))
	if l != "" && !strings.ContainsAny(l, " \t'") {
		return l
	}
	return "'" + strings.ReplaceAll(l, "'", "''") + "'"
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
