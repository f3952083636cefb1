// Package nagios writes the output of a monitoring check as the Monitoring
// Plugins Development Guidelines (https://www.monitoring-plugins.org/doc/guidelines.html)
// describe it: a State with its exit code, threshold ranges, performance
// data, and the plugin's text output.
//
// It does not parse command-line flags, exit the process, print anything on
// its own, or know what is being checked. It does not parse other plugins'
// output, and it supports only the classic format: one status line with
// optional performance data, then long output lines without further
// performance data.
//
// Output format written by [Result.Render]:
//
//	NAME STATE - summary | perf1 perf2
//	long line 1
//	long line 2
//
// "NAME " is left out when Name is empty, " - summary" when Summary is empty,
// and " | ..." when there is no performance data. Every line ends in "\n".
// A '|' in the name, summary or long output would start performance data, so
// it is replaced by '¦' (U+00A6 BROKEN BAR). Line breaks in the name and
// summary become spaces; line breaks inside a long output entry start new
// lines ("\r\n" and "\r" become "\n"). Other control characters but tab
// (a NUL ends the output for a monitoring core written in C; an escape
// sequence repaints a terminal) become '?', and invalid UTF-8 becomes
// U+FFFD: text that came from a server or a certificate cannot break the
// output.
package nagios

import (
	"fmt"
	"io"
	"strings"
)

// State is a plugin's verdict; its value is the plugin's exit code.
type State int

// The four states of the guidelines, with their exit codes.
const (
	OK       State = 0
	Warning  State = 1
	Critical State = 2
	Unknown  State = 3
)

// String returns the state's name as plugins print it: "OK", "WARNING",
// "CRITICAL" or "UNKNOWN". A value outside the four states is "UNKNOWN".
func (s State) String() string {
	switch s {
	case OK:
		return "OK"
	case Warning:
		return "WARNING"
	case Critical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

// ExitCode returns the process exit code for s: 0, 1, 2 or 3. A value outside
// the four states exits 3 (UNKNOWN).
func (s State) ExitCode() int {
	if s < OK || s > Unknown {
		return int(Unknown)
	}
	return int(s)
}

// severity orders states as monitoring-plugins' max_state_alt does:
// OK < UNKNOWN < WARNING < CRITICAL. Invalid values count as UNKNOWN.
func (s State) severity() int {
	switch s {
	case OK:
		return 0
	case Warning:
		return 2
	case Critical:
		return 3
	}
	return 1
}

// Worst returns the most severe of states, ordered OK < UNKNOWN < WARNING <
// CRITICAL as monitoring-plugins' max_state_alt does: a definite problem
// outranks an indeterminate result. Worst of nothing is OK; a value outside
// the four states counts, and is returned, as Unknown.
func Worst(states ...State) State {
	w := OK
	for _, s := range states {
		if s.severity() > w.severity() {
			w = s
		}
	}
	if w.severity() == Unknown.severity() {
		return Unknown
	}
	return w
}

// Result is the output of one plugin run.
type Result struct {
	Name    string   // service prefix, e.g. "RELAY_FINGERPRINT"; may be empty
	State   State    // verdict, also the exit code
	Summary string   // one-line status text
	Long    []string // long output lines, printed after the status line
	Perf    []Perf   // performance data, printed on the status line
}

// Raise sets r.State to the worst of r.State and s (see [Worst]); it never
// lowers the state.
func (r *Result) Raise(s State) {
	r.State = Worst(r.State, s)
}

var (
	oneLine  = strings.NewReplacer("|", "¦", "\r\n", " ", "\r", " ", "\n", " ")
	longLine = strings.NewReplacer("|", "¦", "\r\n", "\n", "\r", "\n")
)

// printable replaces invalid UTF-8 with U+FFFD and every control character
// but tab and "\n" with '?'. It runs after the replacers above, so that
// only the line breaks they keep survive.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// Render writes r in the format described in the package documentation, in
// a single Write. It does not check the performance data (see
// [Perf.Validate]), but makes its labels unique (see [UniqueLabels]).
func (r Result) Render(w io.Writer) error {
	var b strings.Builder
	if r.Name != "" {
		b.WriteString(printable(oneLine.Replace(r.Name)))
		b.WriteByte(' ')
	}
	b.WriteString(r.State.String())
	if r.Summary != "" {
		b.WriteString(" - ")
		b.WriteString(printable(oneLine.Replace(r.Summary)))
	}
	if len(r.Perf) > 0 {
		b.WriteString(" |")
		for _, p := range UniqueLabels(r.Perf) {
			b.WriteByte(' ')
			b.WriteString(p.String())
		}
	}
	b.WriteByte('\n')
	for _, l := range r.Long {
		b.WriteString(printable(longLine.Replace(l)))
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write plugin output: %w", err)
	}
	return nil
}
