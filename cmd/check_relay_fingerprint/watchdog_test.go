package main

import (
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// hangCmd stands for a command stuck where no deadline reaches (a read
// that blocks in the kernel): it says what it is doing, then waits.
type hangCmd struct{ release chan struct{} }

func (h *hangCmd) Run(e *env, code *int) error {
	e.busy("locking the test's table")
	<-h.release
	return nil
}

// TestWatchdogSaysWhatHung: the watchdog answers UNKNOWN once -t and its
// grace have passed, naming what the command was doing (issue 13 item 5:
// a fix that hung on a planted FIFO said only "plugin timeout").
func TestWatchdogSaysWhatHung(t *testing.T) {
	t.Parallel()
	var cli struct {
		Hang hangCmd `cmd:""`
	}
	cli.Hang.release = make(chan struct{})
	defer close(cli.Hang.release)
	p, err := kong.New(&cli)
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := p.Parse([]string{"hang"})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	code := runCommand(kctx, &out, &errOut, 0.1, false)
	want := "RELAY_FINGERPRINT UNKNOWN - plugin timeout: still running 1s after the -t 0.1 deadline, locking the test's table"
	if code != exitUnknown || !strings.HasPrefix(out.String(), want) {
		t.Errorf("exit %d, output %q; want %d and %q", code, out.String(), exitUnknown, want)
	}
}
