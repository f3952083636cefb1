// Package contrib holds no Go code: it is the home of the files that fit
// check_relay_fingerprint into the monitoring ecosystem, and of the tests
// that have the real programs judge them, so `go test ./...` runs those.
//
// The files:
//
//	icinga2/check_relay_fingerprint.conf  CheckCommand relay_fingerprint (ITL style),
//	                                      EventCommand relay_fingerprint_fix, an apply rule
//	nagios/check_relay_fingerprint.cfg    Nagios 4 commands, service template and
//	                                      services, event handlers
//	nagios/nrpe.cfg                       NRPE commands for a remote receiver
//	sudoers.d/check_relay_fingerprint     the one command line the event handler may
//	                                      run as root
//	check_relay_fingerprint.1             the man page
//
// What the tests check: icinga2 daemon -C accepts the Icinga 2 file and
// rejects broken copies of it; a running Icinga 2 renders the commands
// into the expected command lines (golden file) and the event command into
// one the sudoers rule allows; nagios4 -v accepts the Nagios file with no
// warning and rejects broken copies; a running Nagios 4 with the contrib
// check command and template and a --fix event handler takes a real
// Postfix relay's certificate renewal from OK through CRITICAL HARD back
// to OK, after which the real Postfix receiver relays for the new
// certificate (swaks); visudo accepts the sudoers file, and
// sudo itself (in a private mount namespace, when it can be made) allows
// the event handlers' command lines and refuses forged ones; every flag of
// --help is in the man page, the CheckCommand and nowhere else, and the
// page renders without groff warnings. A test that needs icinga2, nagios4,
// visudo, sudo, swaks or postfix fails under the CI environment variable
// when it is missing, and is skipped otherwise.
//
// What they do not check: NRPE itself (its configuration has no check
// mode), Naemon, or a multi-node Icinga 2 cluster at run time.
package contrib
