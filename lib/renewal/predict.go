package renewal

// The prediction: what the next renewal does to a receiver that lists the
// certificate.
//
//   - listed by certificate fingerprint only: every renewal changes the
//     certificate fingerprint, so the renewal breaks relaying: WARNING,
//     with the public-key line to add;
//   - listed by public key while the client makes a new key at the next
//     renewal: WARNING, with the setting that keeps the key;
//   - listed by public key, key kept: OK, with a note;
//   - not listed: nothing to predict (the check already says CRITICAL);
//   - no supported ACME client, or its configuration unreadable: OK with a
//     note (a certificate renewed by hand is not predicted).

import (
	"fmt"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
)

// Listing is how a receiver lists a certificate.
type Listing int

// The listings. ByPublicKey also stands for a receiver that lists both
// fingerprints: the public-key line is the one that survives.
const (
	Unlisted Listing = iota
	ByCert
	ByPublicKey
)

func (l Listing) String() string {
	switch l {
	case ByCert:
		return "by certificate fingerprint"
	case ByPublicKey:
		return "by public key"
	}
	return "unlisted"
}

// Prediction is Predict's answer.
type Prediction struct {
	// State is OK or Warning.
	State nagios.State
	// Message is the warning for the status line and long output, or
	// the note for the long output when State is OK ("" when there is
	// nothing to say).
	Message string
}

// Predict says what the next renewal of a certificate does to a receiver
// that lists it as listing says. info and findErr are Find's answer for
// it; pubkeyLine is the relay_clientcerts line that lists its public key
// ("FINGERPRINT label", in the receiver's digest). It is a pure function.
func Predict(info *Info, findErr error, listing Listing, pubkeyLine string) Prediction {
	if listing == Unlisted {
		return Prediction{State: nagios.OK}
	}
	if info == nil {
		msg := "next renewal not predicted: "
		if findErr != nil {
			msg += findErr.Error()
		} else {
			msg += "no ACME client information"
		}
		if listing == ByCert {
			msg += "; listed by certificate fingerprint only, which breaks at any renewal: add " + pubkeyLine + " (public key)"
		}
		return Prediction{State: nagios.OK, Message: msg}
	}
	when := fmt.Sprintf("on %s (%s %s, %s)", dateOf(info.Next), info.Client, info.Conf, info.NextRule)
	switch {
	case listing == ByCert:
		return Prediction{State: nagios.Warning,
			Message: fmt.Sprintf("listed by certificate fingerprint only: breaks at the next renewal %s; add %s (public key)", when, pubkeyLine)}
	case !info.ReuseKey:
		return Prediction{State: nagios.Warning,
			Message: fmt.Sprintf("listed by public key, but %s makes a new key at the next renewal %s: %s", info.Client, when, info.KeepKey())}
	}
	return Prediction{State: nagios.OK,
		Message: fmt.Sprintf("listed by public key, and %s keeps the key at the next renewal %s (%s)", info.Client, when, info.KeySetting)}
}
