// Package bench measures check_relay_fingerprint against a real Postfix on
// loopback, side by side with the tools admins use today (an openssl
// s_client pipeline, Postfix's posttls-finger, check_smtp -S -D,
// check_ssl_cert), with many relays behind a delaying proxy, and with
// tables of up to 100 000 entries; it writes RESULTS.md. See README.md for
// the one command that runs it.
//
// Everything lives in tests: TestBench is the harness (skipped unless
// BENCH=1), BenchmarkJudge times lib/check's judgement of a large table,
// and the delaying proxy has a test of its own. The package exports
// nothing and nothing imports it. It does not judge speed in ordinary test
// runs (machines are shared and noisy): the targets are reported as PASS or
// MISS in RESULTS.md, never as test failures.
package bench
