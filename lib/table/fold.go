package table

import (
	"unicode"
	"unicode/utf8"
)

// Case folding of keys, as postmap folds them without -f.
//
// Postfix lowercases ASCII keys byte by byte, and folds other UTF-8 keys with
// ICU full case folding. For non-ASCII runes this file maps each rune to the
// lower case of its upper case, which is the simple case folding of Unicode
// for all but a few runes, and which keeps runes without case partners (such
// as the dotless "ı", which ICU leaves alone) as they are. Cherokee, whose
// simple folding goes to upper case, folds to upper case here too. What stays
// different is full folding that changes length, such as "ß" to "ss".

// folded reports whether key is its own folding, so that folding needs no
// copy: it is ASCII without upper-case letters.
func folded(key string) bool {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// lowerASCII maps 'A'..'Z' to 'a'..'z' and every other byte to itself.
var lowerASCII = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = byte(c) + 'a' - 'A'
	}
	return t
}()

// foldAppend appends the folding of key to dst.
func foldAppend(dst []byte, key string) []byte {
	n := len(dst)
	dst = append(dst, key...)
	var high byte
	for i, c := range dst[n:] { // branch-free: most keys are ASCII
		high |= c
		dst[n+i] = lowerASCII[c]
	}
	if high < utf8.RuneSelf {
		return dst
	}
	dst = dst[:n]
	for i := 0; i < len(key); {
		c := key[i]
		if c < utf8.RuneSelf {
			dst = append(dst, lowerASCII[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(key[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, c) // not UTF-8: postmap never stores such a key
		} else {
			dst = utf8.AppendRune(dst, foldRune(r))
		}
		i += size
	}
	return dst
}

func foldRune(r rune) rune {
	if unicode.SimpleFold(r) == r {
		return r // no case partners
	}
	if isCherokee(r) {
		return unicode.ToUpper(r)
	}
	return unicode.ToLower(unicode.ToUpper(r))
}

func isCherokee(r rune) bool {
	return (0x13A0 <= r && r <= 0x13FD) || (0xAB70 <= r && r <= 0xABBF)
}

// Fold returns key folded to lower case as postmap folds table keys: two
// keys name the same entry when their foldings are equal.
func Fold(key string) string {
	if folded(key) {
		return key
	}
	return string(foldAppend(make([]byte, 0, len(key)), key))
}
