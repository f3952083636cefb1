// Package postfix runs Postfix's own programs and reads what they say:
// postconf(1) for the settings the check must agree with, postmap(1) to
// compile and query tables, "postfix reload".
//
// Every command goes through one runner: the program is found by Find
// (PATH, then /usr/sbin, /usr/local/sbin, /sbin: event handlers run with
// short PATHs), it ends with the caller's context (which carries the
// plugin's -t deadline) and its pipes at most 200 ms later
// (exec.Cmd.WaitDelay), its output is kept up to 64 KiB per stream, and a
// failure is an error naming the command line, its exit status and its
// stderr on one bounded line. Lists are split by SplitList, the way
// Postfix splits them ("{ ... }" stays one element).
//
// What it offers:
//   - [Postconf]: relay_clientcerts and smtpd_tls_fingerprint_digest of a
//     receiver;
//   - [Postmap], [Query] (postmap -q -), [Reload];
//   - [Services]: master.cf's services and their -o overrides
//     (postconf -M, postconf -P);
//   - [ClientCerts]: on a relay, the client certificate files its smtp and
//     lmtp clients present, per master.cf service (smtp_tls_chain_files,
//     else the cert/key pairs), ready to be read with lib/certfile;
//   - [Receiver] and [JudgeReceiver]: on a receiver, what stops
//     permit_tls_clientcerts from ever matching (no client certificate
//     asked for, no TLS, the permit missing or after a rule that refuses
//     relaying), each with the setting to change.
//
// Values are taken from postconf -x, never by reading main.cf: postconf
// applies defaults, compatibility_level and $name expansion as the
// daemons do. A service's -o overrides are applied with postconf -o, so
// that a main.cf value such as smtp_tls_key_file = $smtp_tls_cert_file
// follows an overridden smtp_tls_cert_file as it does in the daemon.
// $service_name is not known to postconf and expands to "".
//
// It does not parse tables, judge certificates or decide a verdict.
package postfix
