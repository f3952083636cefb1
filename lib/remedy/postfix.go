package remedy

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
	// maxOutput bounds the output kept from a command.
	maxOutput = 64 << 10
	// maxDetail bounds the output quoted in an error, in bytes; longer
	// output keeps its head and its tail (where fatal messages are).
	maxDetail = 1024
	// waitDelay bounds the wait for a killed command's output pipes.
	waitDelay = 200 * time.Millisecond // after a kill at the deadline, for pipes held by the child's children; short, so the plugin still answers inside its -t
)

// Postmap runs "postmap [-c configDir] spec", spec being TYPE:PATH (or a
// bare PATH for Postfix's default type), to rebuild an indexed table from
// its source file. postmapPath is the command, "postmap" when empty; a
// name without a slash is looked up in PATH, then in /usr/sbin,
// /usr/local/sbin and /sbin. An empty configDir leaves Postfix's default.
// The command ends with ctx. On failure the error names the command and
// carries its exit status and its stderr (trimmed, on one line, bounded).
func Postmap(ctx context.Context, postmapPath, configDir, spec string) error {
	if spec == "" {
		return errors.New("postmap: empty table name")
	}
	if strings.HasPrefix(spec, "-") {
		return fmt.Errorf("postmap: table name %q starts with '-'", spec)
	}
	return run(ctx, "postmap", postmapPath, configArgs(configDir, spec))
}

// Reload runs "postfix [-c configDir] reload" so that the Postfix daemons
// read their tables and configuration again. postfixPath and configDir are
// as for Postmap ("postfix" when empty), and so are the error rules.
func Reload(ctx context.Context, postfixPath, configDir string) error {
	return run(ctx, "postfix", postfixPath, configArgs(configDir, "reload"))
}

func configArgs(configDir string, args ...string) []string {
	if configDir == "" {
		return args
	}
	return append([]string{"-c", configDir}, args...)
}

// command finds the program to run: given, or name when given is empty.
func command(name, given string) (string, error) {
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
	return "", fmt.Errorf("%s: command not found in PATH or in %s (is Postfix installed? else give the command's full path)", prog, strings.Join(sbinDirs, ", "))
}

func run(ctx context.Context, name, given string, args []string) error {
	_, err := runIO(ctx, name, given, args, nil, nil)
	return err
}

// runIO runs the command with stdin; ok, when not nil, may accept a
// failed run by its exit code and stderr (postmap -q exits 1 when it
// finds nothing). It returns what the command wrote to stdout.
func runIO(ctx context.Context, name, given string, args []string, stdin []byte, ok func(code int, stderr []byte) bool) ([]byte, error) {
	prog, err := command(name, given)
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

// Query looks keys up in the compiled table spec (TYPE:PATH), as Postfix
// does, with "postmap [-c configDir] -q - spec", and returns the keys it
// holds, as given. postmapPath and configDir are as for Postmap. Keys
// must not contain a newline.
func Query(ctx context.Context, postmapPath, configDir, spec string, keys []string) (map[string]bool, error) {
	if spec == "" || strings.HasPrefix(spec, "-") {
		return nil, fmt.Errorf("postmap -q: bad table name %q", spec)
	}
	var in bytes.Buffer
	for _, k := range keys {
		if strings.ContainsAny(k, "\r\n") || k == "" {
			return nil, fmt.Errorf("postmap -q: bad key %q", k)
		}
		in.WriteString(k)
		in.WriteByte('\n')
	}
	// postmap -q exits 1 when it finds none of the keys, and also when it
	// fails ("postmap: fatal: open database ..."); only a failure says more
	// than warnings, such as main.cf's "overriding earlier entry".
	out, err := runIO(ctx, "postmap", postmapPath, configArgs(configDir, "-q", "-", spec), in.Bytes(),
		func(code int, stderr []byte) bool { return code == 1 && onlyWarnings(stderr) })
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	for l := range strings.Lines(string(out)) {
		if k, _, ok := strings.Cut(l, "\t"); ok {
			found[k] = true
		}
	}
	return found, nil
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
