// Package bench measures check_relay_fingerprint against a real Postfix on
// loopback, side by side with the tools admins use today (an openssl
// s_client pipeline, Postfix's posttls-finger, check_smtp -S -D,
// check_ssl_cert), with many relays each some tens of milliseconds away,
// and with tables of up to 100 000 entries; it writes RESULTS.md. See
// README.md for the one command that runs it.
//
// Fan-out runs on two rigs: the bench relays (relay_test.go), delaying
// SMTP servers in the bench process, each with its own port and
// certificate, which the targets use; and, for reference, delaying
// proxies (proxy_test.go) in front of the one real Postfix.
//
// Everything lives in tests: TestBench is the harness (skipped unless
// BENCH=1), and the bench relays and the delaying proxy have tests of
// their own. The in-process benchmarks live with their packages
// (BenchmarkJudge in lib/check, BenchmarkParse in lib/table...). The
// package exports nothing and nothing imports it. It does not judge speed
// in ordinary test runs (machines are shared and noisy): the targets are
// reported as PASS or MISS in RESULTS.md, never as test failures.
package bench
