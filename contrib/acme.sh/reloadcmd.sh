#!/bin/sh
# acme.sh reload command: hand the relay's renewed certificate to
# check_relay_fingerprint rollover (see contrib/certbot/deploy-hook.sh for
# what rollover does). acme.sh runs it with CERT_KEY_PATH and
# CERT_FULLCHAIN_PATH set to its own copies of the new key and chain.
#
# Install:
#   install -m 0755 contrib/acme.sh/reloadcmd.sh /usr/local/sbin/relay-rollover-acme.sh
#   acme.sh --install-cert -d relay.example.org --ecc \
#       --reloadcmd 'RECEIVERS="mx1.example.net" /usr/local/sbin/relay-rollover-acme.sh'
# Give --install-cert no --key-file or --fullchain-file pointing at
# Postfix's files: rollover is the only writer of those.

RECEIVERS=${RECEIVERS:-mx1.example.net}
POSTFIX_CONFIG=${POSTFIX_CONFIG:-}
PLUGIN=${PLUGIN:-/usr/lib/nagios/plugins/check_relay_fingerprint}

if [ -z "${CERT_FULLCHAIN_PATH:-}" ] || [ -z "${CERT_KEY_PATH:-}" ]; then
	echo "relay-rollover: CERT_FULLCHAIN_PATH and CERT_KEY_PATH are not set: run me as acme.sh's --reloadcmd" >&2
	exit 3
fi

set -- rollover --new-cert "$CERT_FULLCHAIN_PATH" --new-key "$CERT_KEY_PATH"
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
# 1 is "staged, waiting for a receiver": the timer retries.
if [ "$rc" -eq 1 ]; then
	exit 0
fi
exit "$rc"
