module github.com/check-relay-fingerprint/check_relay_fingerprint

go 1.26.0

require (
	github.com/alecthomas/kong v1.17.0
	github.com/emersion/go-smtp v0.25.1
	github.com/gofrs/flock v0.13.2
)

require (
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
