//go:build !linux

package table

// prefault does nothing: only Linux has MADV_POPULATE_WRITE.
func prefault[E any](s []E) {}
