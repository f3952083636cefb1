// Package faults holds no code of its own: its tests build the
// check_relay_fingerprint binary once and run it as a child process under
// faults, as a monitoring system would, asserting how it ends.
//
// The fault matrix covers misbehaving SMTP servers on loopback (silent,
// dripping, oversized and endless replies, garbage, connections closed or
// stalled at every stage, STARTTLS missing or refused, odd certificates and
// chains), hostile table and certificate files, bad flag values, and
// remediation under faults (a failing or hanging postmap, a full disk,
// SIGKILL during a fix, concurrent fixers). For every run it checks the exit
// code, the status line, that nothing panicked, that the process ended
// before an outer kill timeout (a hang detector, not a timing assertion),
// and its peak resident memory.
//
// It does not test the libraries' functions directly (their own tests do),
// nor send anything off loopback: no DNS, no remote servers. See
// RELIABILITY.md at the repository root for what was run and what held.
package faults
