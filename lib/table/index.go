package table

import (
	"hash/maphash"
	"math/bits"
)

// The lookup index: an open-addressing hash table from the index form of a
// key (see canonAppend) to the entry that postmap stores for it.
//
// It holds no keys, only slots of 32 bits: the high 8 bits of the key's
// hash (the tag) and, in the low 24 bits, the entry's position in
// Table.Entries plus one; 0 marks an empty slot. A key's probe sequence
// starts at its hash modulo the number of slots and walks on one slot at a
// time (linear probing) until an empty slot. A slot answers for a key only
// when its tag matches AND the entry's key has the same index form, so
// hash collisions cost time, never correctness.
//
// Parse sizes the slots once, for at least 5/4 as many slots as the input
// has lines (an upper bound on the entries), so that the table is at most
// 4/5 full and never grows. Compared with a map[string]int it stores no
// strings (4 bytes a slot instead of 24 and more), hashes each key once, and
// finds a duplicate with the same probe that would insert it. Its small
// size matters most: Parse probes it at random, once a line.

// entryMask masks the entry bits of a slot. Entries are fewer than lines,
// which MaxLines bounds below 1<<24.
const entryMask = 1<<24 - 1

// An array of negative length fails to compile: MaxLines must fit in a slot.
var _ [entryMask - MaxLines]struct{}

type index struct {
	seed  maphash.Seed
	slots []uint32 // len is 0 or a power of two
	n     int      // occupied slots: the number of distinct keys
}

// newIndex returns an index with room for up to n keys.
func newIndex(n int) index {
	size := 1 << bits.Len(uint(n+n/4)) // a power of two > 5n/4
	slots := make([]uint32, size)
	// Write the slots once, in order, though make zeroed them: memory fresh
	// from the operating system is zeroed only when first touched, and the
	// probes of Parse, which read a slot before they write it, would touch
	// each page first by a read (which maps a shared zero page) and then by
	// a write (which copies it and flushes it from every CPU's TLB).
	clear(slots)
	return index{seed: maphash.MakeSeed(), slots: slots}
}

// hash returns the hash of key's index form; canon says whether key is its
// own index form (see canonical), which saves building it.
func (ix *index) hash(key string, canon bool) uint64 {
	if canon {
		return maphash.String(ix.seed, key)
	}
	var buf [128]byte
	return maphash.Bytes(ix.seed, canonAppend(buf[:0], key))
}

// find returns the position in entries of the entry stored for key, whose
// index form has hash h, or, when there is none, -1 and the empty slot where
// key belongs.
func (ix *index) find(entries []Entry, key string, canon bool, h uint64) (entry, slot int) {
	if len(ix.slots) == 0 {
		return -1, -1
	}
	mask := uint64(len(ix.slots) - 1)
	tag := uint32(h>>56) << 24
	for s := h & mask; ; s = (s + 1) & mask {
		v := ix.slots[s]
		if v == 0 {
			return -1, int(s)
		}
		if v&^entryMask == tag {
			if i := int(v&entryMask) - 1; sameKey(entries[i].Key, key, canon) {
				return i, int(s)
			}
		}
	}
}

// lookup returns the position in entries of the entry stored for key.
func (ix *index) lookup(entries []Entry, key string) (int, bool) {
	if ix.n == 0 {
		return 0, false
	}
	canon := canonical(key)
	i, _ := ix.find(entries, key, canon, ix.hash(key, canon))
	return i, i >= 0
}

// add stores entry i, whose key is key, in the empty slot that find
// returned for it, with its hash h.
func (ix *index) add(slot int, h uint64, i int) {
	ix.slots[slot] = uint32(h>>56)<<24 | uint32(i+1)
	ix.n++
}

// sameKey reports whether keys a and b have the same index form, that is
// the same folding; canonB says whether b is its own index form.
func sameKey(a, b string, canonB bool) bool {
	if a == b {
		return true
	}
	canonA := canonical(a)
	switch {
	case canonA && canonB:
		return false
	case canonA:
		var buf [128]byte
		return string(canonAppend(buf[:0], b)) == a
	case canonB:
		var buf [128]byte
		return string(canonAppend(buf[:0], a)) == b
	}
	var bufA, bufB [128]byte
	return string(canonAppend(bufA[:0], a)) == string(canonAppend(bufB[:0], b))
}
