package table

import (
	"hash/maphash"
	"math/bits"
)

// The lookup index: an open-addressing hash table from the folding of a
// key (see Fold) to the entry that postmap stores for it.
//
// It holds no keys, only slots of 32 bits: the high 8 bits of the folded
// key's hash (the tag) and, in the low 24 bits, the entry's position in
// Table.Entries plus one; 0 marks an empty slot. A key's probe sequence
// starts at its hash modulo the number of slots and walks on one slot at a
// time (linear probing) until an empty slot. A slot answers for a key only
// when its tag matches AND the entry's key has the same folding, so hash
// collisions cost time, never correctness.
//
// Parse sizes the slots once, for at least 5/4 as many slots as the input
// has lines (an upper bound on the entries), so that the table is at most
// 4/5 full and never grows. Parse hands it each key's folding, made by the
// same pass that finds where the key ends (scanKey).
//
// Compared with a map[string]int it stores no folded copy of each key (a
// relay fingerprint is often written in upper case), takes 4 bytes a slot
// instead of 24, and finds a duplicate with the same probe that would
// insert it. Tried: a map keyed by the folded keys, kept in one buffer,
// made Parse of 100 000 upper-case fingerprints 1.5 times slower (30 ms
// against 20 ms, cache misses and three times the memory).

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
	return index{seed: maphash.MakeSeed(), slots: make([]uint32, 1<<bits.Len(uint(n+n/4)))}
}

// find returns the position in entries of the entry stored for the key
// whose folding is folded, or, when there is none, -1 and the empty slot
// where it belongs, with the hash of folded.
func (ix *index) find(entries []Entry, folded []byte) (entry, slot int, h uint64) {
	h = maphash.Bytes(ix.seed, folded)
	mask := uint64(len(ix.slots) - 1)
	tag := uint32(h>>56) << 24
	for s := h & mask; ; s = (s + 1) & mask {
		v := ix.slots[s]
		if v == 0 {
			return -1, int(s), h
		}
		if v&^entryMask == tag {
			if i := int(v&entryMask) - 1; sameFold(entries[i].Key, folded) {
				return i, int(s), h
			}
		}
	}
}

// add stores entry i, whose key's folding is folded, unless an entry with
// the same folding is stored: then it returns that entry's position and
// false.
func (ix *index) add(entries []Entry, folded []byte, i int) (int, bool) {
	j, slot, h := ix.find(entries, folded)
	if j >= 0 {
		return j, false
	}
	ix.slots[slot] = uint32(h>>56)<<24 | uint32(i+1)
	ix.n++
	return i, true
}

// lookup returns the position in entries of the entry stored for key.
func (ix *index) lookup(entries []Entry, key string) (int, bool) {
	if ix.n == 0 {
		return 0, false
	}
	var buf [128]byte
	i, _, _ := ix.find(entries, foldAppend(buf[:0], key))
	return i, i >= 0
}

// sameFold reports whether the folding of key is folded.
func sameFold(key string, folded []byte) bool {
	var buf [128]byte
	return string(foldAppend(buf[:0], key)) == string(folded)
}
