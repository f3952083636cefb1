package main

// Tests of parse: a plain check parses with the check's grammar alone
// (start-up cost), and reads exactly as the whole grammar reads it.

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestParseCheckGrammar parses each argument list with parse and with the
// whole grammar, and wants the same command and the same values of it; a plain
// check must have used the check's grammar, everything else the whole one.
func TestParseCheckGrammar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		slim bool // parse should use the check's grammar alone
	}{
		{"one relay", []string{"-H", "mx.example.org", "--table", "hash:/etc/postfix/relay_clientcerts"}, true},
		{"explicit check", []string{"check", "-H", "mx", "--table", "t"}, true},
		{"many flags", []string{"-H", "a", "-H", "b:587", "-P", "smtps", "-p", "465", "-d", "md5", "-w", "21", "-c", "@0:7",
			"-t", "2.5", "-vv", "-o", "json", "--match", "pubkey", "--unreachable", "critical", "--ehlo", "me",
			"--table", "t1", "--table", "t2", "--fix-to", "/tmp/x", "--fix-trust", "any", "--keep-old", "-4"}, true},
		{"flag values that name commands", []string{"-H", "demo", "--ehlo", "fingerprint", "--table", "demo"}, true},
		{"bare --postconf", []string{"-H", "mx", "--postconf"}, true},
		{"event handler", []string{"-H", "mx", "--table", "t", "--fix", "--event-state", "CRITICAL", "--event-state-type", "HARD",
			"--fix-on-state", "CRITICAL,WARNING"}, true},
		{"after --", []string{"-H", "mx", "--table", "t", "--"}, true},
		{"fingerprint", []string{"fingerprint", "-H", "mx", "--match", "cert"}, false},
		{"demo", []string{"demo", "--keep"}, false},
		{"a check word", []string{"-H", "x", "demo"}, false}, // an error: the whole grammar's
		{"typo", []string{"fingerprnt"}, false},
		{"-4 and -6", []string{"-H", "mx", "-4", "-6"}, false},
	}
	for _, tt := range tests {
		args := preprocess(tt.args)
		var got cli
		kctx, gotErr := parse(&got, args, io.Discard, io.Discard)
		var want cli
		p, err := newParser(&want, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		wantCtx, wantErr := p.Parse(args)
		switch {
		case (gotErr == nil) != (wantErr == nil):
			t.Errorf("%s: parse(%q): error %v; the whole grammar: %v", tt.name, args, gotErr, wantErr)
			continue
		case gotErr != nil:
			if gotErr.Error() != wantErr.Error() {
				t.Errorf("%s: parse(%q): error %q; the whole grammar: %q", tt.name, args, gotErr, wantErr)
			}
			if tt.slim {
				t.Errorf("%s: parse(%q): error %v, want none", tt.name, args, gotErr)
			}
			continue
		}
		// The whole grammar also sets the defaults of the commands not
		// run; only the command run reads its fields.
		g, w := any(got), any(want)
		if strings.HasPrefix(wantCtx.Command(), "check") {
			g, w = got.Check, want.Check
		}
		if kctx.Command() != wantCtx.Command() || !reflect.DeepEqual(g, w) {
			t.Errorf("%s: parse(%q) = %q %+v; the whole grammar: %q %+v", tt.name, args, kctx.Command(), g, wantCtx.Command(), w)
		}
		if _, whole := kctx.Model.Target.Interface().(cli); whole == tt.slim {
			t.Errorf("%s: parse(%q) used the whole grammar: %v, want %v", tt.name, args, whole, !tt.slim)
		}
	}
}

// TestParseHelpIsWhole: help, however asked for, is the whole grammar's,
// and the description is printed with it.
func TestParseHelpIsWhole(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-H", "mx", "-vh"}, {"-hv"}, {"check", "--help"}} {
		var out bytes.Buffer
		code := run(args, &out, io.Discard)
		if code != exitUnknown || !strings.Contains(out.String(), "Usage: check_relay_fingerprint") {
			t.Errorf("run(%q) = %d:\n%s\nwant 3 and the help", args, code, out.String())
		}
		if args[len(args)-1] == "-hv" && !strings.Contains(out.String(), "Print ready relay_clientcerts lines") {
			t.Errorf("run(%q): the application's help lacks the fingerprint command:\n%s", args, out.String())
		}
		if !strings.Contains(out.String(), "Checks that every Postfix relay's TLS client certificate") {
			t.Errorf("run(%q): help lacks the description:\n%s", args, out.String())
		}
	}
}

// BenchmarkRunVersion is the plugin's start-up after the runtime's: kong's
// parser built and -V printed.
func BenchmarkRunVersion(b *testing.B) {
	for b.Loop() {
		run([]string{"-V"}, io.Discard, io.Discard)
	}
}

// BenchmarkParseCheck is the parse of a one-relay check's command line.
func BenchmarkParseCheck(b *testing.B) {
	args := preprocess([]string{"-H", "mx.example.org", "--table", "hash:/etc/postfix/relay_clientcerts"})
	for b.Loop() {
		var c cli
		if _, err := parse(&c, args, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
