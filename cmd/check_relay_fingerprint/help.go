package main

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kong"
)

const description = `Checks that every Postfix relay's TLS client certificate is listed in every receiver's relay_clientcerts (permit_tls_clientcerts), so renewed certificates do not silently turn relayed mail into "454 4.7.1 Access denied".

States: OK every relay address is listed in every table; WARNING certificate validity under -w, compiled table older than its source (the relay is then looked up in the compiled table, as Postfix does), entries that can never match, duplicate or malformed lines, addresses of one name presenting different certificates; CRITICAL a relay not listed in a table as Postfix reads it, a missing compiled table or a texthash table with duplicates (Postfix then defers every relay), validity under -c; UNKNOWN bad usage, unreadable table, relay that cannot be probed (see --unreachable), the -t deadline.`

const examples = `
Examples:
  # On a relay: ask the receivers whether the client certificates its own
  # Postfix presents may relay (no table needed; never sends mail):
  check_relay_fingerprint --relay-postconf --receiver mx1.example.net \
      --rcpt relay-test@example.org

  # On a relay, from an ACME deploy hook: switch to a new key only once
  # every receiver accepts it (see README, Renewing without an outage):
  check_relay_fingerprint rollover --relay-postconf --receiver mx1.example.net \
      --lineage "$RENEWED_LINEAGE"

  # Check two relays against the local receiver's table (sha256, Postfix 3.6+):
  check_relay_fingerprint -H cliff.example.org -H relay2.example.org:587 \
      --table hash:/etc/postfix/relay_clientcerts

  # On a receiver, take tables and digest from Postfix itself:
  check_relay_fingerprint -H cliff.example.org --postconf

  # Implicit TLS, md5 receiver (Postfix before 3.6), warn 21 days before expiry:
  check_relay_fingerprint -H cliff.example.org -P smtps -d md5 -w 21 \
      --table /etc/postfix/relay_clientcerts

  # Print table lines for a relay and a certificate on disk:
  check_relay_fingerprint fingerprint -H cliff.example.org \
      --cert-file /etc/letsencrypt/live/cliff.example.org/cert.pem

  # See it work, no relay of your own needed:
  check_relay_fingerprint demo
`

// helpPrinter is kong's help with examples after it, as check_smtp and
// check_ssl_cert users expect.
func helpPrinter(options kong.HelpOptions, ctx *kong.Context) error {
	// Set only now: kong.New would interpolate it on every run.
	ctx.Model.Help = description
	if ctx.Command() == "check" {
		// A bare --help shows the default command's flags: say what the
		// plugin is first, as the application help would.
		if _, err := fmt.Fprintf(ctx.Stdout, "%s\n", wrap(description, 80)); err != nil {
			return err
		}
	}
	if err := kong.DefaultHelpPrinter(options, ctx); err != nil {
		return err
	}
	_, err := fmt.Fprint(ctx.Stdout, examples)
	return err
}

// wrap breaks text into lines of at most width columns at spaces, keeping
// its paragraphs.
func wrap(text string, width int) string {
	var b strings.Builder
	for _, para := range strings.Split(text, "\n\n") {
		n := 0
		for _, w := range strings.Fields(para) {
			if n > 0 && n+1+len(w) > width {
				b.WriteByte('\n')
				n = 0
			} else if n > 0 {
				b.WriteByte(' ')
				n++
			}
			b.WriteString(w)
			n += len(w)
		}
		b.WriteString("\n\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}
