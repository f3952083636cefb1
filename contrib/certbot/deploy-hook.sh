#!/bin/sh
# certbot deploy hook: hand the relay's renewed certificate to
# check_relay_fingerprint rollover, which installs it into the chain file
# Postfix's smtp client reads only once every receiver accepts it, and
# otherwise stages it and prints the line each receiver needs (the retry
# timer in contrib/systemd completes the switch later).
#
# Install (see README, "Renewing without an outage"):
#   install -m 0755 contrib/certbot/deploy-hook.sh \
#       /etc/letsencrypt/renewal-hooks/deploy/relay-rollover.sh
# and set RELAY_LINEAGE and RECEIVERS below (or in the environment).
#
# certbot runs it after each successful renewal with RENEWED_LINEAGE set to
# /etc/letsencrypt/live/NAME. Try it without an ACME server:
#   RENEWED_LINEAGE=/tmp/fake-lineage RELAY_LINEAGE=fake-lineage \
#       /etc/letsencrypt/renewal-hooks/deploy/relay-rollover.sh

# The certbot lineage (certificate name) of the relay's client certificate;
# other lineages are not this hook's business.
RELAY_LINEAGE=${RELAY_LINEAGE:-relay.example.org}
# The receivers that relay for this relay by its client certificate,
# HOST[:PORT] separated by spaces.
RECEIVERS=${RECEIVERS:-mx1.example.net}
# Postfix's configuration directory; empty for postconf's default.
POSTFIX_CONFIG=${POSTFIX_CONFIG:-}
PLUGIN=${PLUGIN:-/usr/lib/nagios/plugins/check_relay_fingerprint}

if [ -z "${RENEWED_LINEAGE:-}" ]; then
	echo "relay-rollover: RENEWED_LINEAGE is not set: run me as a certbot deploy hook" >&2
	exit 3
fi
case "${RENEWED_LINEAGE%/}" in
*/"$RELAY_LINEAGE") ;;
*) exit 0 ;;
esac

set -- rollover --lineage "$RENEWED_LINEAGE"
if [ -n "$POSTFIX_CONFIG" ]; then
	set -- "$@" --relay-postconf="$POSTFIX_CONFIG"
else
	set -- "$@" --relay-postconf
fi
for r in $RECEIVERS; do
	set -- "$@" --receiver "$r"
done

"$PLUGIN" "$@"
rc=$?
# 1 is "staged, waiting for a receiver": not a failed renewal. The timer
# retries; the check reports it as WARNING meanwhile.
if [ "$rc" -eq 1 ]; then
	exit 0
fi
exit "$rc"
