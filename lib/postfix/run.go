package postfix

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// sbinDirs are searched, after PATH, for Postfix commands given by bare
// name: event handlers and cron jobs often run with a PATH without them.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

const (
	// maxOutput bounds the output kept from a command, per stream.
	maxOutput = 64 << 10
	// maxDetail bounds the output quoted in an error, in bytes; longer
	// output keeps its head and its tail (where fatal messages are).
	maxDetail = 1024
	// waitDelay bounds the wait for a killed command's output pipes.
	waitDelay = 200 * time.Millisecond // after a kill at the deadline, for pipes held by the child's children; short, so the plugin still answers inside its -t
)

// Find returns the program to run for the Postfix command name
// ("postconf", "postmap", "postfix"): given when it is not empty, else
// name. A name without a slash is looked up in PATH, then in /usr/sbin,
// /usr/local/sbin and /sbin; a path is returned as it is. The error wraps
// ErrNotFound.
func Find(name, given string) (string, error) {
	prog := given
	if prog == "" {
		prog = name
	}
	if strings.Contains(prog, "/") {
		return prog, nil
	}
	if p, err := exec.LookPath(prog); err == nil {
		return p, nil
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w in PATH or in %s (is Postfix installed? else give the command's full path)", prog, ErrNotFound, strings.Join(sbinDirs, ", "))
}

// ErrNotFound is wrapped by the errors of a command that Find cannot find:
// a host without Postfix (a monitoring server) is no failure of Postfix.
var ErrNotFound = errors.New("command not found")

// configArgs puts "-c configDir" before args when configDir is given.
func configArgs(configDir string, args ...string) []string {
	if configDir == "" {
		return args
	}
	return append([]string{"-c", configDir}, args...)
}

// run runs the command name (given as for Find) with args and stdin, and
// returns what it wrote to stdout. ok, when not nil, may accept a failed
// run by its exit code and stderr (postmap -q exits 1 when it finds
// nothing). The command ends with ctx, its output pipes at most waitDelay
// later; each output stream is kept up to maxOutput bytes. On failure the
// error names the command line and carries its exit status (wrapping the
// *exec.ExitError, and ctx's error after a deadline) and its stderr, or
// its stdout when stderr is empty, on one bounded line.
func run(ctx context.Context, name, given string, args []string, stdin []byte, ok func(code int, stderr []byte) bool) ([]byte, error) {
	prog, err := Find(name, given)
	if err != nil {
		return nil, err
	}
	line := strings.Join(append([]string{prog}, args...), " ")
	var stdout, stderr bounded
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.WaitDelay = waitDelay
	err = cmd.Run()
	var exit *exec.ExitError
	if err == nil || ok != nil && ctx.Err() == nil && errors.As(err, &exit) && ok(exit.ExitCode(), stderr.Bytes()) {
		return stdout.Bytes(), nil
	}
	detail := summarize(stderr.Bytes())
	if detail == "" {
		detail = summarize(stdout.Bytes())
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = fmt.Errorf("%w (%v)", ctxErr, err)
	}
	if detail != "" {
		return nil, fmt.Errorf("%s: %w: %s", line, err, detail)
	}
	return nil, fmt.Errorf("%s: %w", line, err)
}

// onlyWarnings reports whether every non-empty line of a Postfix command's
// stderr is a warning ("postmap: warning: ..."), as opposed to "fatal:",
// "error:" or "panic:" or anything else. Output cut by bounded counts as
// more than warnings.
func onlyWarnings(stderr []byte) bool {
	if len(stderr) >= maxOutput {
		return false
	}
	for l := range strings.Lines(string(stderr)) {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		prog, rest, ok := strings.Cut(l, ": ")
		if !ok || strings.ContainsAny(prog, " \t") || !strings.HasPrefix(rest, "warning: ") {
			return false
		}
	}
	return true
}

// bounded is an io.Writer keeping the first maxOutput bytes written to it.
type bounded struct{ buf bytes.Buffer }

func (b *bounded) Write(p []byte) (int, error) {
	if room := maxOutput - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *bounded) Bytes() []byte { return b.buf.Bytes() }

// summarize puts a command's output on one line: lines trimmed, empty ones
// dropped, the rest joined with "; ", at most maxDetail bytes (head and
// tail kept around " ... ").
func summarize(out []byte) string {
	var lines []string
	for l := range strings.Lines(string(out)) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	s := strings.Join(lines, "; ")
	if len(s) <= maxDetail {
		return s
	}
	half := maxDetail / 2
	return strings.ToValidUTF8(s[:half], "") + " ... " + strings.ToValidUTF8(s[len(s)-half:], "")
}

// SplitList splits a Postfix list value (relay_clientcerts,
// smtpd_relay_restrictions, ...) as Postfix does (mystrtokq with
// CHARS_COMMA_SP and CHARS_BRACE): at commas and whitespace that are not
// inside braces, so "inline:{ k1=v1, k2=v2 }" stays one element. An
// element with unbalanced braces runs to the end. Braces are kept.
func SplitList(s string) []string {
	names := []string{}
	depth, start := 0, -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '{':
			depth++
		case c == '}' && depth > 0:
			depth--
		case depth == 0 && strings.IndexByte(", \t\r\n", c) >= 0:
			if start >= 0 {
				names = append(names, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		names = append(names, s[start:])
	}
	return names
}
