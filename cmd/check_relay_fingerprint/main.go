// Command check_relay_fingerprint is a Monitoring Plugins check for
// Postfix relays that are allowed to relay by TLS client-certificate
// fingerprint (relay_clientcerts with permit_tls_clientcerts): it probes
// each relay, fingerprints the certificate it presents, and compares it
// with every receiver's relay_clientcerts table.
//
// main only wires os to run; everything is testable through run.
package main

import (
	"os"
	"runtime"
)

func main() {
	// One P to start: one relay and tables under a MiB take less
	// CPU and time on one P than on several, whose idle threads spin
	// looking for work on the cores the relay's TLS also needs (0.9 ms of
	// CPU and 0.5 ms of a 7 ms check here). A check with more work raises
	// it (see widen). An admin's GOMAXPROCS stands as set.
	if os.Getenv("GOMAXPROCS") == "" {
		wideProcs = runtime.GOMAXPROCS(1) + 1
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// wideProcs is the GOMAXPROCS of a check with work for every CPU: one
// more than Go's default, since table.Scan leaves one P free for the
// probes running meanwhile (with every P computing, Go would notice a
// relay's answer only every 10 ms). 0 leaves GOMAXPROCS as it is: an
// admin's, or the tests'.
var wideProcs int

// widen raises GOMAXPROCS to wideProcs, for work that keeps several CPUs
// busy: the TLS handshakes of more than one relay, or a big table to
// parse or checksum.
func widen() {
	if wideProcs > runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(wideProcs)
	}
}
