package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/alecthomas/kong"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/receiver"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module's build information.
var version = ""

func versionString() string {
	v := version
	if v == "" {
		v = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok {
			if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version // go install ...@version
			} else if rev, dirty := vcs(bi); rev != "" {
				v = "(devel) " + rev + dirty // go build in a checkout
			}
		}
	}
	return "check_relay_fingerprint " + v
}

// vcs returns the commit a checkout build was made from, as go build
// stamps it, and "+dirty" when the tree had changes.
func vcs(bi *debug.BuildInfo) (rev, dirty string) {
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
			if len(rev) > 12 {
				rev = rev[:12]
			}
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	return rev, dirty
}

// Exit codes, as the Monitoring Plugins guidelines define them.
const (
	exitOK       = 0
	exitWarning  = 1
	exitCritical = 2
	exitUnknown  = 3
)

// cli is the whole grammar. A service check parses with its part
// checkCLI when it can (see parse): kong.New costs most of the plugin's
// start-up, about in proportion to the flags it builds, and the other
// commands repeat most of the check's flags.
type cli struct {
	checkCLI    `embed:""`
	Fingerprint fingerprintCmd `cmd:"" help:"Print ready relay_clientcerts lines for relays and certificate files."`
	Demo        demoCmd        `cmd:"" help:"Show the check at work on loopback: a relay, a table, a renewal."`
	Rollover    rolloverCmd    `cmd:"" help:"On a relay: install a new client certificate only once every --receiver accepts it; else stage it and print the line each receiver needs (for ACME deploy hooks and a retry timer)."`
}

// checkCLI is the part of cli a check needs.
type checkCLI struct {
	Check   checkCmd    `cmd:"" default:"withargs" help:"Check relays against relay_clientcerts tables (the default command)."`
	Version versionFlag `short:"V" help:"Print the version and exit."`
}

// versionFlag is -V: it prints the version, worked out only then, and
// exits.
type versionFlag bool

// BeforeReset prints the version and exits, as kong.VersionFlag does.
func (versionFlag) BeforeReset(app *kong.Kong) error {
	fmt.Fprintln(app.Stdout, versionString())
	app.Exit(0)
	return nil
}

// env is what a command's Run gets: the output streams.
type env struct {
	stdout, stderr io.Writer
	// doing says what the command is busy with, for the watchdog's
	// message: "reading the tables", "fixing hash:/etc/postfix/...".
	doing atomic.Pointer[string]
}

// busy records what the command is about to do.
func (e *env) busy(what string) { e.doing.Store(&what) }

// maxArgs bounds the command line: 500 relays, each with -H, plus room
// for the other flags; more is a configuration to split, not to parse.
const maxArgs = 1024

// vars are the values kong puts into the flags' tags.
func vars() kong.Vars {
	return kong.Vars{"warning_days": defaultWarningDays, "critical_days": defaultCriticalDays,
		"default_rcpt": receiver.DefaultRcpt}
}

// exitCode carries an exit request out of kong's Exit hook.
type exitCode int

func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			ec, ok := r.(exitCode)
			if !ok {
				panic(r)
			}
			// --help and --version exit through here; the guidelines want
			// UNKNOWN for both, as for usage errors.
			_ = ec
			code = exitUnknown
		}
	}()
	if len(args) > maxArgs {
		// kong re-queues every flag value at the front of its token list,
		// so parsing costs memory quadratic in the argument count (6 000
		// -H took 878 MB): refuse before parsing, as the guidelines want
		// for bad usage.
		fmt.Fprintf(stdout, "RELAY_FINGERPRINT UNKNOWN - usage: %d arguments, at most %d are accepted\n", len(args), maxArgs)
		fmt.Fprintln(stdout, "hint: check_relay_fingerprint --help")
		return exitUnknown
	}
	var c cli
	kctx, err := parse(&c, preprocess(args), stdout, stderr)
	if err != nil {
		var pe *kong.ParseError
		if !errors.As(err, &pe) {
			fmt.Fprintf(stderr, "RELAY_FINGERPRINT UNKNOWN - internal error: %v\n", err)
			return exitUnknown
		}
		fmt.Fprintf(stdout, "RELAY_FINGERPRINT UNKNOWN - usage: %s\n", usageMessage(err))
		fmt.Fprintln(stdout, "hint: check_relay_fingerprint --help")
		return exitUnknown
	}
	if err := restoreBytes(reflect.ValueOf(&c).Elem(), args); err != nil {
		fmt.Fprintf(stdout, "RELAY_FINGERPRINT UNKNOWN - usage: %v\n", err)
		return exitUnknown
	}
	timeout, output := 0.0, ""
	switch cmd := kctx.Command(); {
	case strings.HasPrefix(cmd, "check"):
		timeout, output = c.Check.Timeout, c.Check.Output
	case strings.HasPrefix(cmd, "fingerprint"):
		timeout, output = c.Fingerprint.Timeout, c.Fingerprint.Output
	case strings.HasPrefix(cmd, "rollover"):
		timeout = c.Rollover.Timeout
	}
	return runCommand(kctx, stdout, stderr, timeout, output == "json")
}

// parse parses args into c. A plain check (no other command named, no
// help asked for) parses with the grammar of checkCLI alone; whatever that
// grammar accepts, the whole one reads alike, since the check takes no
// positional arguments. Anything else, and any error, is parsed with the
// whole grammar, so that help, usage errors and their hints are the whole
// grammar's. An error that is not a *kong.ParseError is the grammar's own.
func parse(c *cli, args []string, stdout, stderr io.Writer) (*kong.Context, error) {
	if !wantsAll(args) {
		if p, err := newParser(&c.checkCLI, stdout, stderr); err != nil {
			return nil, err
		} else if kctx, err := p.Parse(args); err == nil {
			return kctx, nil
		}
		*c = cli{}
	}
	p, err := newParser(c, stdout, stderr)
	if err != nil {
		return nil, err
	}
	return p.Parse(args)
}

// newParser returns kong's parser for grammar, a *cli or *checkCLI.
func newParser(grammar any, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(grammar,
		kong.Name("check_relay_fingerprint"),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { panic(exitCode(c)) }),
		vars(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: false, WrapUpperBound: 100}),
		kong.Help(helpPrinter),
	)
}

// wantsAll reports whether args need the whole grammar: they name a
// command other than the check, or may ask for help (-h, --help, or
// short flags run together with an h in them, such as -vh).
func wantsAll(args []string) bool {
	if len(args) > 0 && isCommand(args[0]) && args[0] != "check" {
		return true
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--help" || !strings.HasPrefix(a, "--") && strings.HasPrefix(a, "-") && strings.ContainsRune(a, 'h') {
			return true
		}
	}
	return false
}

// watchdogGrace is how long past its -t deadline the plugin may run before
// the watchdog answers for it, as alarm() does in the C plugins: every
// step honours the deadline, this catches what might not (a read that
// blocks in the kernel).
const watchdogGrace = time.Second

// runCommand runs the parsed command and prints its error, if any (as a
// JSON document with asJSON). With a timeout, a watchdog returns UNKNOWN
// if the command overruns it.
func runCommand(kctx *kong.Context, stdout, stderr io.Writer, timeout float64, asJSON bool) int {
	out, errOut := &gate{w: stdout}, &gate{w: stderr}
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	e := &env{stdout: out, stderr: errOut}
	go func() {
		code := exitUnknown
		err := kctx.Run(e, &code)
		done <- result{code, err}
	}()
	var expired <-chan time.Time
	if timeout > 0 && timeout <= 86400 {
		t := time.NewTimer(duration(timeout) + watchdogGrace)
		defer t.Stop()
		expired = t.C
	}
	select {
	case r := <-done:
		if r.err != nil {
			res := nagios.Result{Name: "RELAY_FINGERPRINT", State: nagios.Unknown, Summary: r.err.Error()}
			var ue usageError
			if errors.As(r.err, &ue) {
				res.Long = append(res.Long, "hint: check_relay_fingerprint --help")
			}
			writeResult(stdout, res, asJSON)
			return exitUnknown
		}
		return r.code
	case <-expired:
		out.close()
		errOut.close()
		msg := fmt.Sprintf("plugin timeout: still running %s after the -t %v deadline", watchdogGrace, timeout)
		if what := e.doing.Load(); what != nil {
			msg += ", " + *what
		}
		writeResult(stdout, nagios.Result{Name: "RELAY_FINGERPRINT", State: nagios.Unknown, Summary: msg}, asJSON)
		return exitUnknown
	}
}

// writeResult prints a result that ends the run before any relay was
// judged (an error, the watchdog, an event handler with nothing to do):
// as plugin output, or as a JSON document of the check's shape.
func writeResult(w io.Writer, res nagios.Result, asJSON bool) error {
	if !asJSON {
		return res.Render(w)
	}
	return writeJSON(w, newJSONCheck(res))
}

// gate is a writer that can be shut: once the watchdog has spoken, the
// overrunning command's late output is dropped.
type gate struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// usageError is bad usage found after parsing (a flag combination kong
// cannot express); run adds a hint to it.
type usageError struct{ msg string }

func (e usageError) Error() string { return "usage: " + e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func usageMessage(err error) string {
	msg := err.Error()
	return strings.TrimSuffix(msg, ".")
}

// preprocess lets --postconf and --relay-postconf take an optional value:
// a bare one (last, or followed by another flag) means postconf's default
// configuration directory.
func preprocess(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if (a == "--help" || a == "-h") && !isCommand(args[0]) {
			// The check is the default command: its flags are the help
			// an admin wants from a bare --help.
			out = append([]string{"check"}, out...)
		}
		if (a == "--postconf" || a == "--relay-postconf") && (i+1 == len(args) || strings.HasPrefix(args[i+1], "-")) {
			out = append(out, a+"=")
			continue
		}
		out = append(out, a)
	}
	return out
}

func isCommand(s string) bool {
	switch s {
	case "check", "fingerprint", "demo", "rollover":
		return true
	}
	return false
}

// restoreBytes puts back the bytes kong replaced: it turns every byte of a
// value that is not UTF-8 into U+FFFD, but paths are bytes, and two paths
// that differ only there must stay two paths. Each string field of v that
// holds U+FFFD and equals an argument (or the value after "=" in one) as
// kong mangles it gets that argument's bytes back; two different
// arguments that mangle alike are a usage error.
func restoreBytes(v reflect.Value, args []string) error {
	orig := map[string]string{}
	ambiguous := map[string]bool{}
	for _, a := range args {
		parts := []string{a}
		if i := strings.IndexByte(a, '='); i >= 0 {
			parts = append(parts, a[i+1:])
		}
		for _, p := range parts {
			if utf8.ValidString(p) {
				continue
			}
			m := mangle(p)
			if o, ok := orig[m]; ok && o != p {
				ambiguous[m] = true
			}
			orig[m] = p
		}
	}
	if len(orig) == 0 {
		return nil
	}
	var walk func(v reflect.Value) error
	fix := func(f reflect.Value) error {
		s := f.String()
		if !strings.ContainsRune(s, utf8.RuneError) {
			return nil
		}
		if ambiguous[s] {
			return fmt.Errorf("two arguments differ only in bytes that are not UTF-8 (%q): give one of them by another path", s)
		}
		if o, ok := orig[s]; ok {
			f.SetString(o)
		}
		return nil
	}
	walk = func(v reflect.Value) error {
		switch v.Kind() {
		case reflect.String:
			return fix(v)
		case reflect.Pointer:
			if !v.IsNil() {
				return walk(v.Elem())
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.String {
				for i := range v.Len() {
					if err := fix(v.Index(i)); err != nil {
						return err
					}
				}
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if f := v.Type().Field(i); f.IsExported() || f.Anonymous {
					if err := walk(v.Field(i)); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	return walk(v)
}

// mangle is what kong makes of a value: each byte that is not UTF-8
// becomes U+FFFD.
func mangle(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}
