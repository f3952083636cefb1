package table

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// randomGroup returns a random group of physical lines of a table, from
// every kind the grammar knows, and appends to keys those to look up.
func randomGroup(r *rand.Rand, i int, keys *[]string, big bool) string {
	fp := func() string {
		var b strings.Builder
		for j := range 32 {
			if j > 0 {
				b.WriteByte(':')
			}
			if big {
				fmt.Fprintf(&b, "%02X", r.IntN(256))
			} else {
				fmt.Fprintf(&b, "%02X", r.IntN(4)) // small alphabet: duplicates
			}
		}
		return b.String()
	}
	eol := "\n"
	if r.IntN(5) == 0 {
		eol = "\r\n"
	}
	c := r.IntN(14)
	if big && r.IntN(200) != 0 {
		c = 13
	}
	switch c {
	case 0:
		return "# comment " + eol
	case 1:
		return eol
	case 2:
		k := fp()
		*keys = append(*keys, k, strings.ToLower(k))
		return strings.ToLower(k) + " lower" + eol
	case 3:
		k := fp()
		*keys = append(*keys, k)
		return k + eol + "  continued" + eol
	case 4:
		*keys = append(*keys, `"a b`+fmt.Sprint(i%7)+` c"`)
		return `"a b` + fmt.Sprint(i%7) + eol + ` c" spilled` + eol // quoted key over two lines
	case 5:
		return "k\xff\xfe v" + eol // not UTF-8
	case 6:
		return "keyonly" + fmt.Sprint(i%5) + eol
	case 7:
		return "alias" + fmt.Sprint(i%5) + ": v" + eol
	case 8:
		*keys = append(*keys, "Straße", "STRASSE", "strasse")
		return "Straße v" + eol
	case 9:
		return "\"unbalanced v" + eol
	case 10:
		*keys = append(*keys, "x"+fmt.Sprint(i%11))
		return "X" + fmt.Sprint(i%11) + " val" + eol
	default:
		k := fp()
		*keys = append(*keys, k)
		return k + " relay" + fmt.Sprint(i) + ".example" + eol
	}
}

// TestCacheDifferential compares Cache.Scan (parsed, from the
// cache, from the cache with more keys) with Scan on random tables.
func TestCacheDifferential(t *testing.T) {
	dir := t.TempDir()
	c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
	seed := uint64(time.Now().UnixNano()) // in each failure message
	r := rand.New(rand.NewPCG(seed, 7))
	for round := range 60 {
		var b strings.Builder
		var keys []string
		n := r.IntN(40)
		if round%10 == 9 {
			n = 40000 // several MiB: parts and pieces
		}
		if r.IntN(3) == 0 {
			b.WriteString("  leading\n")
		}
		for i := range n {
			b.WriteString(randomGroup(r, i, &keys, n > 1000))
		}
		text := b.String()
		if r.IntN(3) == 0 {
			text = strings.TrimSuffix(strings.TrimSuffix(text, "\n"), "\r")
		}
		if len(keys) > 300 {
			r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			keys = keys[:300]
		}
		keys = append(keys, "absent", "ABSENT:00")
		path := filepath.Join(dir, fmt.Sprintf("t%d", round))
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if round%10 == 9 {
			// The pieces and parts depend on GOMAXPROCS: a cache written
			// with one serves another.
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1 + round/10%4))
		}
		half := keys[:len(keys)/2]
		what := fmt.Sprintf("seed %d round %d", seed, round)
		s1 := cacheScan(t, c, path, half)
		sameAsScan(t, what+" first", s1, path, half)
		s2 := cacheScan(t, c, path, half)
		if !fromCache(s2) {
			t.Errorf("%s: second not from cache: %q", what, s2.CacheNote)
		}
		sameAsScan(t, what+" second", s2, path, half)
		s3 := cacheScan(t, c, path, keys)
		sameAsScan(t, what+" third", s3, path, keys)
		s4 := cacheScan(t, c, path, keys)
		if !fromCache(s4) {
			t.Errorf("%s: fourth not from cache: %q", what, s4.CacheNote)
		}
		sameAsScan(t, what+" fourth", s4, path, keys)
	}
}
