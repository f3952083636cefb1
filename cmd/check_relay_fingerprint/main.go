// Command check_relay_fingerprint is a Monitoring Plugins check for
// Postfix relays that are allowed to relay by TLS client-certificate
// fingerprint (relay_clientcerts with permit_tls_clientcerts): it probes
// each relay, fingerprints the certificate it presents, and compares it
// with every receiver's relay_clientcerts table.
//
// main only wires os to run; everything is testable through run.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
