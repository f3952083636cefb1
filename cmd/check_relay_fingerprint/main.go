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
	// One P more than Go's default: table.Scan leaves one P free for the
	// probes running meanwhile (with every P computing, Go would notice
	// a relay's answer only every 10 ms) and still keeps every CPU busy.
	// An admin's GOMAXPROCS stands as set.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
