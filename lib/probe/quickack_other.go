//go:build !linux

package probe

import "net"

// withQuickACK returns c unchanged: TCP_QUICKACK is Linux only.
func withQuickACK(c net.Conn) net.Conn { return c }
