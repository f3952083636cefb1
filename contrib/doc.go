// Package contrib holds no Go code: it is the home of the files that fit
// check_relay_fingerprint into the monitoring ecosystem, and of the tests
// that have the real programs judge them, so `go test ./...` runs those.
//
// The files:
//
//	icinga2/check_relay_fingerprint.conf    CheckCommand relay_fingerprint (ITL style),
//	                                        EventCommand relay_fingerprint_fix, apply
//	                                        rules for receivers and relays
//	nagios/check_relay_fingerprint.cfg      Nagios 4 commands (receiver and relay side),
//	                                        service template, event handlers; no host
//	                                        or service, so it validates in conf.d
//	nagios/check_relay_fingerprint-example.cfg  example services on host groups that
//	                                        start empty
//	nagios/nrpe.cfg                         NRPE commands for a remote receiver or relay
//	sudoers.d/check_relay_fingerprint*      one file per fix command line (default,
//	                                        -config-dir, -trust-any): the one command
//	                                        line its event handler may run as root
//	check_relay_fingerprint.1               the man page
//	certbot/deploy-hook.sh                  certbot deploy hook: rollover --lineage
//	acme.sh/reloadcmd.sh                    acme.sh --reloadcmd: rollover --new-cert --new-key
//	systemd/check_relay_fingerprint-rollover.{service,timer}, systemd/cron.d/...
//	                                        the retries of a staged switch
//
// What the tests check: icinga2 daemon -C accepts the Icinga 2 file and
// rejects broken copies of it; a running Icinga 2 renders the commands
// into the expected command lines (golden file) and the event command's
// variants into lines that exactly one sudoers file allows; the Nagios
// files, copied unedited into the conf.d of a copy of Debian's own
// /etc/nagios4 (only nagios.cfg's /etc and /var paths pointed at the
// copy), pass nagios4 -v with no error and no warning, with and without
// hosts in the example's groups, and broken copies fail; a running Nagios
// 4 with the contrib check command and template and a --fix event handler
// takes a real Postfix relay's certificate renewal from OK through
// CRITICAL HARD back to OK, after which the real Postfix receiver relays
// for the new certificate (swaks); a running Nagios 4 as the nagios user,
// without the sudoers file, logs sudo's refusal and the fix command's hint;
// visudo accepts the sudoers files, and sudo itself (in a private mount
// namespace, when it can be made) allows each event handler's command
// lines and refuses forged ones and the other variants'; the certbot and
// acme.sh hooks hand the plugin the argument list rollover parses, the
// README's renewal walk-through (a fake certbot lineage made with openssl,
// the deploy hook, the line added on the receiver, the retry) switches a
// real Postfix relay's client certificate with its mail still relayed, and
// systemd-analyze verify accepts the retry units; every flag of
// --help is in the man page, the CheckCommand and nowhere else, and the
// page renders without groff warnings. A test that needs icinga2, nagios4,
// visudo, sudo, swaks or postfix fails under the CI environment variable
// when it is missing, and is skipped otherwise.
//
// What they do not check: NRPE itself (its configuration has no check
// mode), Naemon, a multi-node Icinga 2 cluster at run time, or the
// relay-side commands running the plugin (only their rendering and
// validation: the plugin's flags for them come with issue 14).
package contrib
