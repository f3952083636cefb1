package table

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// cacheMark marks the keys that start with a digit, and cacheKeep keeps
// two of them: enough to see marks cached, and counted past keep.
func cacheMark(k string) bool { return k != "" && k[0] >= '0' && k[0] <= '9' }

const cacheKeep = 2

// cacheScan runs Cache.Scan and Find of keys on path, as a check does.
func cacheScan(t *testing.T, c *Cache, path string, keys []string) *Summary {
	t.Helper()
	sum, err := c.Scan(path, cacheMark, cacheKeep)
	if err != nil {
		t.Fatalf("Cache.Scan(%s): %v", path, err)
	}
	if err := sum.Find(keys); err != nil {
		t.Fatalf("Find on %s: %v", path, err)
	}
	if err := sum.Close(); err != nil {
		t.Fatal(err)
	}
	return sum
}

// sameAsScan checks that sum is what Scan without a cache makes of path:
// the same Len, Warnings, marks, and Lookup of every key of keys.
func sameAsScan(t *testing.T, what string, sum *Summary, path string, keys []string) {
	t.Helper()
	want, err := Scan(path, cacheMark, cacheKeep)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	if err := want.Find(keys); err != nil {
		t.Fatal(err)
	}
	if sum.Len() != want.Len() || !slices.Equal(sum.Warnings, want.Warnings) ||
		!slices.Equal(sum.Marked, want.Marked) || sum.Marks != want.Marks {
		t.Errorf("%s: Len %d, Warnings %v, Marked %v (%d); Scan gives %d, %v, %v (%d)", what,
			sum.Len(), sum.Warnings, sum.Marked, sum.Marks, want.Len(), want.Warnings, want.Marked, want.Marks)
	}
	for _, k := range keys {
		se, sok := sum.Lookup(k)
		we, wok := want.Lookup(k)
		if se != we || sok != wok {
			t.Errorf("%s: Lookup(%q) = %v, %v; Scan gives %v, %v", what, k, se, sok, we, wok)
		}
	}
}

// openCacheFile opens the cache file of the table at path, as Scan does.
func openCacheFile(t testing.TB, c *Cache, path string) *cacheFile {
	t.Helper()
	cf, err := c.file(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cf.root.Close() })
	return cf
}

func fromCache(sum *Summary) bool { return strings.HasPrefix(sum.CacheNote, "from the scan cache ") }

// TestCacheFixtures scans every fixture three times through one cache:
// parsed and saved; from the cache, for the same keys; from the cache,
// for more keys, which parses the file again. Each time the Summary must
// be what Scan without a cache makes.
func TestCacheFixtures(t *testing.T) {
	dir := t.TempDir()
	c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
	for _, in := range fixtures(t) {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.Base(in))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tab, err := Parse(path, data)
		if err != nil {
			if _, serr := c.Scan(path, cacheMark, cacheKeep); serr == nil || serr.Error() != err.Error() {
				t.Errorf("%s: Cache.Scan error %v, want %v", in, serr, err)
			}
			continue
		}
		var keys []string
		for _, e := range tab.Entries {
			keys = append(keys, e.Key, strings.ToLower(e.Key)+"x")
		}
		keys = append(keys, "absent")
		half := keys[:len(keys)/2]

		first := cacheScan(t, c, path, half)
		if first.CacheNote != "saved to the scan cache "+first.cf.path {
			t.Errorf("%s, first scan: CacheNote %q, want saved", in, first.CacheNote)
		}
		sameAsScan(t, in+", first scan", first, path, half)

		second := cacheScan(t, c, path, half)
		if !fromCache(second) || second.sc != nil {
			t.Errorf("%s, second scan: CacheNote %q, want from the cache", in, second.CacheNote)
		}
		sameAsScan(t, in+", second scan", second, path, half)

		third := cacheScan(t, c, path, keys)
		if want := "the scan cache " + third.cf.path + " did not know every key looked up: the file was parsed; saved to the scan cache " + third.cf.path; len(keys) > len(half) && third.CacheNote != want {
			t.Errorf("%s, third scan (more keys): CacheNote %q, want saved", in, third.CacheNote)
		}
		sameAsScan(t, in+", third scan", third, path, keys)

		fourth := cacheScan(t, c, path, keys)
		if !fromCache(fourth) {
			t.Errorf("%s, fourth scan: CacheNote %q, want from the cache", in, fourth.CacheNote)
		}
		sameAsScan(t, in+", fourth scan", fourth, path, keys)
	}
}

// writeTable writes a table whose keys are fingerprints, with a duplicate
// (a warning) and marked keys, and returns its path and keys.
func writeTable(t testing.TB, dir string, n int) (string, []string) {
	t.Helper()
	var b strings.Builder
	var keys []string
	for i := range n {
		k := fmt.Sprintf("%02X:%02X:%02X:", i>>16&0xff, i>>8&0xff, i&0xff) + strings.Repeat("5A:", 28) + "AB"
		keys = append(keys, k)
		b.WriteString(k + " relay" + string(rune('a'+i%26)) + ".example.org\n")
	}
	b.WriteString(keys[0] + " a duplicate\n")
	path := filepath.Join(dir, "relay_clientcerts")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, keys
}

// TestCacheSameSizeEdit: a table edited in place to the same size, its
// modification time set back, is parsed again: the cache trusts only the
// checksums of the bytes.
func TestCacheSameSizeEdit(t *testing.T) {
	dir := t.TempDir()
	path, keys := writeTable(t, dir, 40)
	c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
	probe := []string{keys[5], "11:22"}
	cacheScan(t, c, path, probe)
	if sum := cacheScan(t, c, path, probe); !fromCache(sum) {
		t.Fatalf("second scan: CacheNote %q, want from the cache", sum.CacheNote)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// keys[5] becomes another key of the same length, far into the file.
	edited := bytes.Replace(data, []byte(keys[5]), []byte(strings.Replace(keys[5], "AB", "CD", 1)), 1)
	if len(edited) != len(data) || bytes.Equal(edited, data) {
		t.Fatal("the edit must keep the size and change the bytes")
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(edited, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	sum := cacheScan(t, c, path, probe)
	if want := "scan cache " + sum.cf.path + " not used: the file changed since; saved to the scan cache " + sum.cf.path; sum.CacheNote != want {
		t.Errorf("after the edit: CacheNote %q, want %q", sum.CacheNote, want)
	}
	if _, ok := sum.Lookup(keys[5]); ok {
		t.Errorf("after the edit, Lookup(%s) found the key edited away", keys[5])
	}
	sameAsScan(t, "after the edit", sum, path, probe)
}

// TestCacheDamaged: a cache file cut short, with a byte changed, or not a
// cache file at all is not used, and is replaced.
func TestCacheDamaged(t *testing.T) {
	dir := t.TempDir()
	path, keys := writeTable(t, dir, 20)
	c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
	probe := []string{keys[3], "11:22"}
	name := cacheScan(t, c, path, probe).cf.path
	good, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	flipped := slices.Clone(good)
	flipped[len(flipped)/2] ^= 1
	for what, b := range map[string][]byte{
		"empty":   nil,
		"cut":     good[:len(good)-1],
		"flipped": flipped,
		"text":    []byte("AB:CD relay\n"),
	} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
		sum := cacheScan(t, c, path, probe)
		if fromCache(sum) {
			t.Errorf("%s cache file: used (%q)", what, sum.CacheNote)
		}
		sameAsScan(t, what+" cache file", sum, path, probe)
		if sum := cacheScan(t, c, path, probe); !fromCache(sum) {
			t.Errorf("%s cache file: not replaced (%q)", what, sum.CacheNote)
		}
	}
}

// cacheFixture is a table of 5 entries, its cache file after a check of
// two of its keys, and what load needs besides.
type cacheFixture struct {
	dir, path string
	keys      []string
	c         *Cache
	data      []byte      // the table's bytes
	fi        os.FileInfo // and its status
	good      []byte      // the cache file
}

func newCacheFixture(t testing.TB) cacheFixture {
	t.Helper()
	fx := cacheFixture{dir: t.TempDir()}
	fx.path, fx.keys = writeTable(t, fx.dir, 5)
	fx.c = &Cache{Dir: filepath.Join(fx.dir, "cache"), Tag: "t"}
	sum, err := fx.c.Scan(fx.path, cacheMark, cacheKeep)
	if err != nil {
		t.Fatal(err)
	}
	if err := sum.Find(fx.keys[:2]); err != nil {
		t.Fatal(err)
	}
	sum.Close()
	if fx.good, err = os.ReadFile(sum.cf.path); err != nil {
		t.Fatal(err)
	}
	if fx.data, err = os.ReadFile(fx.path); err != nil {
		t.Fatal(err)
	}
	if fx.fi, err = os.Stat(fx.path); err != nil {
		t.Fatal(err)
	}
	return fx
}

// TestCacheDecode feeds load every cache file that differs from a good
// one in a byte, or is cut short, with its trailing checksum made right:
// load fails or gives a Summary, and never panics.
func TestCacheDecode(t *testing.T) {
	fx := newCacheFixture(t)
	c, path, data, fi, good := fx.c, fx.path, fx.data, fx.fi, fx.good
	cf := openCacheFile(t, c, path)
	name := cf.path
	try := func(b []byte) {
		b = binary.LittleEndian.AppendUint32(slices.Clone(b), crc32.ChecksumIEEE(b))
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c.load(cf, path, fi, data, cacheKeep, false)
	}
	body := good[:len(good)-4]
	for i := len(cacheMagic); i < len(body); i++ {
		for _, v := range []byte{0, 1, 0x7f, 0xff} {
			b := slices.Clone(body)
			b[i] = v
			try(b)
		}
		try(body[:i])
	}
	try(body)
	if _, err := c.load(cf, path, fi, data, cacheKeep, false); err != nil {
		t.Errorf("the good cache file, checksum made again: %v", err)
	}
}

// TestCacheChecksums: a file whose status is the one cached but whose
// bytes are not (two writes of the same size in one tick of the file
// system's clock) is parsed again: load compares the checksums of its
// bytes, in every piece.
func TestCacheChecksums(t *testing.T) {
	dir := t.TempDir()
	path, keys := writeTable(t, dir, 30_000) // about 3 MiB: several pieces
	c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
	sum := cacheScan(t, c, path, keys[:1])
	if len(sum.pieces) < 3 {
		t.Fatalf("%d pieces, want at least 3", len(sum.pieces))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	cf := openCacheFile(t, c, path)
	if _, err := c.load(cf, path, fi, data, cacheKeep, false); err != nil {
		t.Fatalf("the bytes cached: %v", err)
	}
	for _, at := range []int{0, len(data) / 2, len(data) - 1} {
		other := slices.Clone(data)
		other[at] ^= 1
		if _, err := c.load(cf, path, fi, other, cacheKeep, false); err == nil || err.Error() != "the file changed since" {
			t.Errorf("byte %d of %d changed: load error %v, want the file changed since", at, len(data), err)
		}
	}
}

// TestCacheNotUsed: the cache is not used, and the Summary is Scan's, when
// the directory is writable by others or a symbolic link, and a cache file
// is not used when written for another executable, tag, keep or path.
func TestCacheNotUsed(t *testing.T) {
	dir := t.TempDir()
	path, keys := writeTable(t, dir, 20)
	probe := []string{keys[1], "11:22"}

	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{open, filepath.Join(dir, "link")} {
		for range 2 {
			sum := cacheScan(t, &Cache{Dir: d, Tag: "t"}, path, probe)
			if !strings.HasPrefix(sum.CacheNote, "scan cache not used: ") {
				t.Errorf("cache directory %s: CacheNote %q, want not used", d, sum.CacheNote)
			}
			sameAsScan(t, d, sum, path, probe)
		}
	}
	if ents, _ := os.ReadDir(open); len(ents) != 0 {
		t.Errorf("%s, writable by others: %d files written in it", open, len(ents))
	}
	if os.Geteuid() == 0 {
		// Root may own another user's directory: it must not use it.
		other := filepath.Join(dir, "other")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		sum := cacheScan(t, &Cache{Dir: other, Tag: "t"}, path, probe)
		if !strings.Contains(sum.CacheNote, "owned by uid 65534") {
			t.Errorf("cache directory owned by uid 65534: CacheNote %q, want not used", sum.CacheNote)
		}
	}

	c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
	cacheScan(t, c, path, probe)
	if sum := cacheScan(t, c, path, probe); !fromCache(sum) {
		t.Fatalf("CacheNote %q, want from the cache", sum.CacheNote)
	}
	// Another keep: the same file, not used.
	sum, err := c.Scan(path, cacheMark, cacheKeep+1)
	if err != nil {
		t.Fatal(err)
	}
	sum.Close()
	if fromCache(sum) {
		t.Errorf("another keep: the Summary came from the cache")
	}
	// Another tag: another file.
	if sum := cacheScan(t, &Cache{Dir: c.Dir, Tag: "u"}, path, probe); fromCache(sum) {
		t.Errorf("another tag: the Summary came from the cache")
	}
	// Another executable.
	cacheScan(t, c, path, probe)
	saved := exeID
	t.Cleanup(func() { exeID = saved })
	exeID = func() string { return "another build" }
	if sum := cacheScan(t, c, path, probe); fromCache(sum) {
		t.Errorf("another executable: the Summary came from the cache")
	}
	exeID = saved
	// The same bytes at another path: another file, and messages name the path.
	other := filepath.Join(dir, "copy")
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(other, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if sum := cacheScan(t, c, other, probe); fromCache(sum) || !strings.HasPrefix(sum.Warnings[0].Msg, "duplicate") || sum.Warnings[0].Path != other {
		t.Errorf("a copy of the table: CacheNote %q, warnings %v", sum.CacheNote, sum.Warnings)
	}
}

// TestCacheConcurrent: checks of the same table for different keys at the
// same time each get Scan's answers, and leave a cache file that is used.
func TestCacheConcurrent(t *testing.T) {
	dir := t.TempDir()
	path, keys := writeTable(t, dir, 200)
	c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 5 {
				probe := []string{keys[i*20+j], "11:22"}
				sum, err := c.Scan(path, cacheMark, cacheKeep)
				if err != nil {
					t.Error(err)
					return
				}
				if err := sum.Find(probe); err != nil {
					t.Error(err)
				}
				sum.Close()
				if e, ok := sum.Lookup(probe[0]); !ok || e.Line != i*20+j+1 {
					t.Errorf("Lookup(%s) = %v, %v; want line %d", probe[0], e, ok, i*20+j+1)
				}
			}
		})
	}
	wg.Wait()
	if ents, _ := os.ReadDir(c.Dir); len(ents) != 1 {
		t.Errorf("cache directory holds %d files, want 1 (no temporary file left)", len(ents))
	}
	sum := cacheScan(t, c, path, keys[:1])
	sameAsScan(t, "after concurrent checks", sum, path, keys[:1])
}

// cachedSummary writes a table of n entries, checks it for its first
// key, and returns the Summary that Cache.Scan then takes from the cache,
// before Find; the test closes it.
func cachedSummary(t *testing.T, n int) (path string, keys []string, sum *Summary) {
	t.Helper()
	dir := t.TempDir()
	path, keys = writeTable(t, dir, n)
	c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
	cacheScan(t, c, path, keys[:1])
	sum, err := c.Scan(path, cacheMark, cacheKeep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sum.Close() })
	if !fromCache(sum) {
		t.Fatalf("CacheNote %q, want from the cache", sum.CacheNote)
	}
	return path, keys, sum
}

// TestCacheRewrittenBeforeFind: a table rewritten in place after a
// Summary came from the cache makes Find fail, as without a cache.
func TestCacheRewrittenBeforeFind(t *testing.T) {
	path, keys, sum := cachedSummary(t, 20)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("# more\n")
	f.Close()
	if err := sum.Find(keys[:1]); err == nil || !strings.Contains(err.Error(), "changed while it was read") {
		t.Errorf("Find after a rewrite: %v, want the file changed", err)
	}
}

// TestCacheTouched: a file whose bytes are the ones cached but whose
// status is not (touched, or written again with the same bytes) is parsed
// again: load compares the status too, which guards against a checksum
// that an edit happens to keep.
func TestCacheTouched(t *testing.T) {
	dir := t.TempDir()
	path, keys := writeTable(t, dir, 20)
	c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
	cacheScan(t, c, path, keys[:1])
	if err := os.Chmod(path, 0o640); err != nil { // the status change time only
		t.Fatal(err)
	}
	sum := cacheScan(t, c, path, keys[:1])
	if want := "scan cache " + sum.cf.path + " not used: the file changed since; saved to the scan cache " + sum.cf.path; sum.CacheNote != want {
		t.Errorf("after chmod: CacheNote %q, want %q", sum.CacheNote, want)
	}
	if sum := cacheScan(t, c, path, keys[:1]); !fromCache(sum) {
		t.Errorf("after chmod, again: CacheNote %q, want from the cache", sum.CacheNote)
	}
}

// TestCachePrune: saving a cache file removes the cache files unused for
// cacheExpiry and the temporary files older than tempExpiry, and nothing
// else; a cache file in use is touched, so that it stays.
func TestCachePrune(t *testing.T) {
	dir := t.TempDir()
	path, keys := writeTable(t, dir, 20)
	c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
	name := cacheScan(t, c, path, keys[:1]).cf.path
	// In use, but untouched for two days: the next hit touches it.
	twoDays := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(name, twoDays, twoDays); err != nil {
		t.Fatal(err)
	}
	if sum := cacheScan(t, c, path, keys[:1]); !fromCache(sum) {
		t.Fatalf("CacheNote %q, want from the cache", sum.CacheNote)
	}
	if fi, err := os.Stat(name); err != nil || time.Since(fi.ModTime()) > time.Hour {
		t.Errorf("a cache file in use was not touched: %v, %v", fi.ModTime(), err)
	}
	const (
		old       = "scan-00000000000000000000000000000001"
		recent    = "scan-00000000000000000000000000000002"
		oldTemp   = ".scan-0000000000000001.tmp"
		directory = "scan-0000000000000000000000000000000d"
	)
	files := map[string]time.Duration{
		old:                          cacheExpiry + time.Hour, // goes
		recent:                       cacheExpiry - time.Hour, // stays
		oldTemp:                      tempExpiry + time.Minute,
		".scan-0000000000000002.tmp": tempExpiry - time.Minute,
		directory:                    cacheExpiry + time.Hour, // not a file
		// Not names a Cache makes (--cache-dir may name a shared
		// directory): they stay.
		"notes.txt":                              cacheExpiry + time.Hour,
		"scan-results.log":                       cacheExpiry + time.Hour,
		"scan-2026-10.csv":                       cacheExpiry + time.Hour,
		".scan-notes.tmp":                        cacheExpiry + time.Hour,
		"scan-00000000000000000000000000000000X": cacheExpiry + time.Hour,
	}
	for f, age := range files {
		p := filepath.Join(c.Dir, f)
		var err error
		if f == directory {
			err = os.Mkdir(p, 0o700)
		} else {
			err = os.WriteFile(p, nil, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		then := time.Now().Add(-age)
		if err := os.Chtimes(p, then, then); err != nil {
			t.Fatal(err)
		}
	}
	cacheScan(t, c, path, keys[:2]) // a key not cached: saved
	for f := range files {
		_, err := os.Stat(filepath.Join(c.Dir, f))
		if gone := f == old || f == oldTemp; gone != os.IsNotExist(err) {
			t.Errorf("%s: want gone %v, stat error %v", f, gone, err)
		}
	}
	if _, err := os.Stat(name); err != nil {
		t.Errorf("the cache file in use: %v", err)
	}
}

// FuzzCacheLoad feeds load cache files of random bytes, their trailing
// checksum made right: load fails or gives a Summary, and never panics.
func FuzzCacheLoad(f *testing.F) {
	fx := newCacheFixture(f)
	c, path, keys, data, fi, good := fx.c, fx.path, fx.keys, fx.data, fx.fi, fx.good
	f.Add(good[len(cacheMagic) : len(good)-4])
	// One directory for every input: making one an input costs more than
	// the rest.
	fuzzDir := filepath.Join(fx.dir, "fuzz")
	if err := os.Mkdir(fuzzDir, 0o700); err != nil {
		f.Fatal(err)
	}
	root, err := os.OpenRoot(fuzzDir)
	if err != nil {
		f.Fatal(err)
	}
	defer root.Close()
	cf := &cacheFile{root: root, name: "scan-x", path: filepath.Join(fuzzDir, "scan-x")}
	f.Fuzz(func(t *testing.T, body []byte) {
		b := append([]byte(cacheMagic), body...)
		b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
		if err := os.WriteFile(filepath.Join(fuzzDir, "scan-x"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		sum, err := c.load(cf, path, fi, data, cacheKeep, false)
		if err != nil {
			return
		}
		// Taken: go on as a check does (see scanPath).
		sum.sc = &scanner{path: path, data: data, s: string(data)}
		sum.withCache(c, cf, cacheMark, cacheKeep)
		sum.stat = fi
		if err := sum.Find(append(keys, "11:22")); err != nil {
			t.Errorf("Find on a Summary load took: %v", err)
		}
	})
}

// TestCacheDirSwapped: the cache directory checked is the one written.
// Swapped for a link to another directory between Scan and Find (as the
// owner of a directory above it could do), it still takes the cache
// file, through the directory Scan opened, and the other directory
// nothing. And root does not use a cache directory below one that another
// user owns (sudo keeping $HOME) at all.
func TestCacheDirSwapped(t *testing.T) {
	dir := t.TempDir()
	path, keys := writeTable(t, dir, 20)
	// Standing for /etc/cron.d: a directory of root's with an old file
	// whose name a cache file could have.
	target := filepath.Join(dir, "target")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(target, "scan-00000000000000000000000000000001")
	if err := os.WriteFile(victim, []byte("root's own\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-40 * 24 * time.Hour)
	if err := os.Chtimes(victim, old, old); err != nil {
		t.Fatal(err)
	}
	c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
	sum, err := c.Scan(path, cacheMark, cacheKeep)
	if err != nil {
		t.Fatal(err)
	}
	moved := c.Dir + ".moved"
	if err := os.Rename(c.Dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, c.Dir); err != nil {
		t.Fatal(err)
	}
	if err := sum.Find(keys[:1]); err != nil {
		t.Fatal(err)
	}
	sum.Close()
	if ents, _ := os.ReadDir(target); len(ents) != 1 {
		t.Errorf("the directory the link names holds %d files, want only its own", len(ents))
	}
	if ents, _ := os.ReadDir(moved); len(ents) != 1 {
		t.Errorf("the cache directory opened holds %d files, want the cache file (%q)", len(ents), sum.CacheNote)
	}

	if os.Geteuid() != 0 {
		return // the rest is about root
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	sum = cacheScan(t, &Cache{Dir: filepath.Join(home, ".cache", "check_relay_fingerprint"), Tag: "t"}, path, keys[:1])
	if want := "scan cache not used: " + home + ": owned by uid 65534, neither this user (uid 0) nor root"; sum.CacheNote != want {
		t.Errorf("cache directory below uid 65534's: CacheNote %q, want %q", sum.CacheNote, want)
	}
	if _, err := os.Stat(filepath.Join(home, ".cache")); !os.IsNotExist(err) {
		t.Errorf("root made a directory in uid 65534's: %v", err)
	}
	// Nor through uid 65534's symbolic link to a directory of root's,
	// even in a directory root owns.
	roots := filepath.Join(dir, "roots")
	if err := os.Mkdir(roots, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(roots, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	sum = cacheScan(t, &Cache{Dir: filepath.Join(link, "check_relay_fingerprint"), Tag: "t"}, path, keys[:1])
	if ents, _ := os.ReadDir(roots); !strings.HasPrefix(sum.CacheNote, "scan cache not used: "+link+": owned by uid 65534") || len(ents) != 0 {
		t.Errorf("cache directory through uid 65534's link: CacheNote %q, %d entries made where it leads; want not used, none", sum.CacheNote, len(ents))
	}
}

// TestCacheWrongHeals: a cache file that passes every test but holds
// something wrong (a bug of this build, an edit, an edit that kept the
// checksums) costs one parse when a check finds out: an answer of the
// cache that the file does not bear out, or a parse for a key the cache
// does not know that finds another summary. That check gives Scan's
// answers, and the next one takes the cache file written again. (What a
// check cannot find out, it trusts: a key the cache says is absent, or a
// summary when no key is new.)
func TestCacheWrongHeals(t *testing.T) {
	for _, tt := range []struct {
		name  string
		wrong func(s *Summary, keys []string)
		probe func(keys []string) []string
	}{
		{"a found key elsewhere", func(s *Summary, keys []string) {
			s.answers[string(canonAppend(nil, keys[5]))] = answer{found: true, off: 0, line: 1}
		}, func(keys []string) []string { return keys[5:6] }},
		{"an absent key found", func(s *Summary, keys []string) {
			s.answers["11:22"] = answer{found: true, off: 0, line: 1}
		}, func([]string) []string { return []string{"11:22"} }},
		{"the number of keys", func(s *Summary, _ []string) { s.n++ }, func(keys []string) []string { return keys[7:8] }},
		{"a warning", func(s *Summary, _ []string) { s.Warnings[0].Line++ }, func(keys []string) []string { return keys[7:8] }},
		{"the marks", func(s *Summary, _ []string) { s.Marks-- }, func(keys []string) []string { return keys[7:8] }},
	} {
		dir := t.TempDir()
		path, keys := writeTable(t, dir, 20)
		c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
		sum := cacheScan(t, c, path, []string{keys[5], "11:22"})
		tt.wrong(sum, keys)
		if err := c.save(openCacheFile(t, c, path), sum, cacheKeep); err != nil {
			t.Fatal(err)
		}
		probe := append(tt.probe(keys), keys[5], "11:22")
		first := cacheScan(t, c, path, probe)
		sameAsScan(t, tt.name+", first check", first, path, probe)
		if !strings.Contains(first.CacheNote, " was wrong: the file was parsed; saved to the scan cache") {
			t.Errorf("%s, first check: CacheNote %q, want the cache wrong", tt.name, first.CacheNote)
		}
		second := cacheScan(t, c, path, probe)
		sameAsScan(t, tt.name+", second check", second, path, probe)
		if !fromCache(second) {
			t.Errorf("%s, second check: CacheNote %q, want from the cache", tt.name, second.CacheNote)
		}
	}
}

// TestCacheAnswersCap: past maxCachedAnswers keys, the cache keeps the
// keys of the last check, which the next one asks again.
func TestCacheAnswersCap(t *testing.T) {
	dir := t.TempDir()
	path, keys := writeTable(t, dir, 20)
	c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
	var fill []string
	for i := range maxCachedAnswers - 1 {
		fill = append(fill, fmt.Sprintf("FF:%06X", i))
	}
	cacheScan(t, c, path, fill)
	run := []string{keys[1], keys[2]}
	cacheScan(t, c, path, run) // the cap reached between the two keys
	if sum := cacheScan(t, c, path, run); !fromCache(sum) {
		t.Errorf("the same keys again: CacheNote %q, want from the cache", sum.CacheNote)
	}
}

// TestCacheTinyFiles: files at the edges of the grammar, through the
// cache as Scan makes them, refusal included.
func TestCacheTinyFiles(t *testing.T) {
	dir := t.TempDir()
	c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
	keys := []string{"AB:CD", "x", "absent"}
	for name, text := range map[string]string{"empty": "", "nl": "\n", "cr": "\r", "key": "AB:CD", "lead": " x y", "nul": "a\x00 b\n"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, werr := Scan(path, cacheMark, cacheKeep)
		for i := range 3 {
			sum, err := c.Scan(path, cacheMark, cacheKeep)
			if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
				t.Fatalf("%s: Cache.Scan error %v, Scan error %v", name, err, werr)
			}
			if err != nil {
				break
			}
			if err := sum.Find(keys[:1+i]); err != nil {
				t.Fatal(err)
			}
			sum.Close()
			sameAsScan(t, fmt.Sprintf("%s, check %d", name, i+1), sum, path, keys[:1+i])
		}
	}
}

// TestCacheWrongHealsSameCheck: a wrong cache file (as TestCacheWrongHeals
// makes) whose error a check finds out because another key, looked up
// after the wrong ones, makes it parse the file: that check gives Scan's
// answers for every key, those looked up before the parse included.
func TestCacheWrongHealsSameCheck(t *testing.T) {
	for _, tt := range []struct {
		name  string
		wrong func(s *Summary, keys []string, data []byte)
	}{
		{"a present key cached as absent", func(s *Summary, keys []string, _ []byte) {
			s.answers[string(canonAppend(nil, keys[3]))] = answer{found: false}
		}},
		{"a found key cached at its duplicate", func(s *Summary, keys []string, data []byte) {
			// writeTable's last line repeats keys[0]: postmap keeps line 1.
			dupLine := keys[0] + " a duplicate\n"
			off := strings.LastIndex(string(data), dupLine)
			s.answers[string(canonAppend(nil, keys[0]))] = answer{found: true, off: uint32(off), line: 21}
		}},
		{"a found key cached with another line", func(s *Summary, keys []string, _ []byte) {
			a := s.answers[string(canonAppend(nil, keys[3]))]
			a.line += 7
			s.answers[string(canonAppend(nil, keys[3]))] = a
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path, keys := writeTable(t, dir, 20)
			data, _ := os.ReadFile(path)
			c := &Cache{Dir: filepath.Join(dir, "cache"), Tag: "t"}
			sum := cacheScan(t, c, path, []string{keys[0], keys[3]})
			tt.wrong(sum, keys, data)
			if err := c.save(openCacheFile(t, c, path), sum, cacheKeep); err != nil {
				t.Fatal(err)
			}
			// keys[9], not cached (a renewed certificate), comes last: Find
			// parses the file for it, and learns the cache was wrong.
			probe := []string{keys[0], keys[3], keys[9]}
			first := cacheScan(t, c, path, probe)
			sameAsScan(t, tt.name+", first check (the one that parsed)", first, path, probe)
			second := cacheScan(t, c, path, probe)
			sameAsScan(t, tt.name+", second check", second, path, probe)
		})
	}
}

// TestCacheRescanTruncated: the table cut short while Find parses it
// for a key the cache does not know: Find fails (SIGBUS turned into an
// error), the process lives, and no cache file is saved from it.
func TestCacheRescanTruncated(t *testing.T) {
	path, keys, sum := cachedSummary(t, 60000) // several MiB: several pages
	testHookBeforeMerge = func(string) { os.Truncate(path, 0) }
	defer func() { testHookBeforeMerge = nil }()
	err := sum.Find(keys[:2])
	if err == nil || !strings.Contains(err.Error(), "shrank while it was read") {
		t.Errorf("Find on a table truncated during the parse: %v, want the file shrank", err)
	}
	if strings.Contains(sum.CacheNote, "saved") {
		t.Errorf("Find on a table truncated during the parse: CacheNote %q, want nothing saved", sum.CacheNote)
	}
}
