package table

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A Cache keeps what Scan learned of a source file from one run to the
// next: the Summary (warnings, marked entries, number of keys) and, for
// every key looked up with Find, where it is or that it is absent. A check
// run every few minutes against a table that changes every few weeks then
// parses the table only when it changed.
//
// The cache vouches for nothing by itself. Cache.Scan takes a Summary from
// it only when the file is the one parsed, unchanged, by two independent
// tests, either enough in practice:
//
//   - the file's status is the same: device, inode, size, modification
//     time and status change time (which the kernel sets on every write,
//     and no one can set back); this fails only for two writes of the
//     same size in one tick of the file system's clock with the scan in
//     between, or a clock set back;
//   - its bytes are the same: the CRC-32 of each piece of about 1 MiB,
//     computed afresh from the file on every run, is the one cached (an
//     edit of a piece changes it but with a chance of 2^-32).
//
// The same executable (path, size and modification time), the same Tag
// and the same keep must have written it. A key that the cache says is found is
// parsed again from the file, as Find always does; a key it knows nothing
// of makes Find parse the whole file, as Scan would have.
//
// A cache file that cannot be read, is damaged, or belongs to another user
// is not used; a directory that is not the user's own, or is writable by
// others, is not used at all. Nothing here ever fails a Scan: the cache
// is only ever a faster way to the same Summary.
type Cache struct {
	// Dir is the directory of the cache files, one a table; Scan creates
	// it (mode 0700) when it is missing.
	Dir string
	// Tag names what the mark function given to Scan marks, which the
	// cache cannot compare: a Summary cached under another Tag is not
	// used.
	Tag string
}

// cacheMagic starts every cache file; the number is the format's version.
const cacheMagic = "check_relay_fingerprint scan cache 1\n"

// A cache file not used for cacheExpiry goes when another is saved; one
// in use is touched every cacheTouch, so that it stays. A temporary file
// left by a check that died goes after an hour.
const (
	cacheTouch  = 24 * time.Hour
	cacheExpiry = 30 * 24 * time.Hour
	tempExpiry  = time.Hour
)

// Bounds on what is cached. A table with more warnings is broken, and its
// admin sees them: its Summary is not worth a big cache file.
const (
	maxCachedWarnings = 1000
	maxCachedAnswers  = 4096
	maxCacheBytes     = 4 << 20
)

// piece is the checksum (CRC-32, IEEE) of the bytes of a source file up
// to end, from the end of the piece before.
type piece struct {
	end uint64
	crc uint32
}

// answer is what a cache knows of a key: where its entry is, if found.
type answer struct {
	found     bool
	off, line uint32
}

// sums returns the piece of the bytes b, which end at end.
func sums(b []byte, end int) piece {
	return piece{end: uint64(end), crc: crc32.ChecksumIEEE(b)}
}

// exeID names the executable running, for cache files: another build of
// the parser may parse otherwise. It is "" when the executable cannot be
// found, and then nothing is cached.
var exeID = sync.OnceValue(func() string {
	p, err := os.Executable()
	if err != nil {
		return ""
	}
	fi, err := os.Stat(p)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s\x00%d\x00%d\x00%s", p, fi.Size(), fi.ModTime().UnixNano(), fileID(fi))
})

// Scan scans the source file at path as the function Scan does, taking the
// Summary from the cache when the file holds the bytes cached (see Cache).
// Summary.CacheNote says which.
func (c *Cache) Scan(path string, mark func(key string) bool, keep int) (*Summary, error) {
	return scanPath(path, mark, keep, c)
}

// cacheFile is the cache file of one table, in its directory opened once:
// every later use of the directory goes through root, so that the
// directory checked is the one written, whatever its path names meanwhile.
type cacheFile struct {
	root *os.Root
	name string // in root
	path string // for messages
}

// file opens the directory and returns the cache file of the table at
// path, after checking that no one but the user (and root) can write the
// directory or any directory above it (see trusted and private).
func (c *Cache) file(path string) (*cacheFile, error) {
	if c.Dir == "" {
		return nil, errors.New("no directory")
	}
	if errNoCache != nil {
		return nil, errNoCache
	}
	if exeID() == "" {
		return nil, errors.New("the executable running is not known")
	}
	if err := trusted(c.Dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	fi, err := os.Lstat(c.Dir)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s: a symbolic link: name the directory it leads to", c.Dir)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", c.Dir)
	}
	if err := private(fi); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Dir, err)
	}
	root, err := os.OpenRoot(c.Dir)
	if err != nil {
		return nil, err
	}
	if opened, err := root.Stat("."); err != nil || !os.SameFile(fi, opened) {
		root.Close()
		return nil, fmt.Errorf("%s: replaced while it was opened", c.Dir)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		root.Close()
		return nil, err
	}
	// The path as given too: it is in the messages cached. And the
	// executable: two builds checking the same table (an upgrade, an
	// admin's own build by hand) keep a file each, instead of each
	// parsing the table again after the other.
	h := sha256.Sum256([]byte(abs + "\x00" + path + "\x00" + c.Tag + "\x00" + exeID()))
	name := "scan-" + hex.EncodeToString(h[:16])
	return &cacheFile{root: root, name: name, path: filepath.Join(c.Dir, name)}, nil
}

// trusted checks that no one but the user and root may change what dir
// names: each directory above it (symbolic links resolved) is owned by
// one of them and writable by no one else, unless it is sticky, as /tmp
// is. Root then never writes a cache into a tree that another user owns,
// as with sudo keeping $HOME.
func trusted(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	// The part of the path that exists, with its links resolved.
	above := filepath.Dir(abs)
	for {
		real, err := filepath.EvalSymlinks(above)
		if err == nil {
			above = real
			break
		}
		if !os.IsNotExist(err) || filepath.Dir(above) == above {
			return err
		}
		above = filepath.Dir(above)
	}
	// The path as named too: a symbolic link on the way is its owner's
	// choice of where the path leads, and must be the user's or root's.
	for p := filepath.Dir(abs); filepath.Dir(p) != p; p = filepath.Dir(p) {
		fi, err := os.Lstat(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		if err := ownedSafe(fi); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	for p := above; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if err := ownedSafe(fi); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if filepath.Dir(p) == p {
			return nil
		}
	}
}

// load returns the Summary that cache file cf holds for data, the
// contents of path, whose status is src, or why there is none.
func (c *Cache) load(cf *cacheFile, path string, src os.FileInfo, data []byte, keep int, mapped bool) (*Summary, error) {
	f, err := cf.root.OpenFile(cf.name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxCacheBytes {
		return nil, errors.New("not a cache file")
	}
	if err := private(fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxCacheBytes))
	if err != nil {
		return nil, err
	}
	if len(b) < len(cacheMagic)+4 || string(b[:len(cacheMagic)]) != cacheMagic ||
		crc32.ChecksumIEEE(b[:len(b)-4]) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, errors.New("damaged")
	}
	d := decoder{b: b[len(cacheMagic) : len(b)-4]}
	if d.str() != exeID() || d.str() != path || d.str() != c.Tag || d.u64() != uint64(keep) {
		return nil, errors.New("written for another file, executable or tag")
	}
	if d.str() != statID(src) || d.u64() != uint64(len(data)) {
		return nil, errors.New("the file changed since")
	}
	pieces := make([]piece, d.count(12))
	for i := range pieces {
		pieces[i] = piece{end: d.u64(), crc: d.u32()}
	}
	sum := &Summary{Path: path, found: map[string]Entry{}, answers: map[string]answer{}, pieces: pieces}
	sum.n = int(d.u64())
	sum.Marks = int(d.u64())
	sum.Warnings = make([]Warning, d.count(13))
	for i := range sum.Warnings {
		sum.Warnings[i] = Warning{Path: path, Line: int(d.u64()), Kind: WarningKind(d.u8()), Msg: d.str()}
	}
	sum.Marked = make([]Entry, d.count(24))
	for i := range sum.Marked {
		sum.Marked[i] = Entry{Key: d.str(), Value: d.str(), Line: int(d.u64()), EndLine: int(d.u64())}
	}
	for range d.count(13) {
		k, a := d.str(), answer{found: d.u8() == 1, off: d.u32(), line: d.u32()}
		sum.answers[k] = a
	}
	if d.err || len(d.b) != 0 {
		return nil, errors.New("damaged")
	}
	if !verify(path, data, pieces, mapped) {
		return nil, errors.New("the file changed since")
	}
	sum.CacheNote = "from the scan cache " + cf.path + " (the file's status and checksums match)"
	if now := time.Now(); now.Sub(fi.ModTime()) > cacheTouch {
		// In use: not for prune. Once a day, prune the others, so that
		// the files of tables no longer checked go even when no cache
		// file is saved.
		cf.root.Chtimes(cf.name, now, now)
		prune(cf.root)
	}
	return sum, nil
}

// verify reports whether data, the contents of path, has the checksums
// pieces. It computes them on GOMAXPROCS-1 goroutines (at least one), as
// Scan parses, and releases the pages read when data is a mapping.
func verify(path string, data []byte, pieces []piece, mapped bool) bool {
	if len(pieces) == 0 || pieces[len(pieces)-1].end != uint64(len(data)) {
		return len(pieces) == 0 && len(data) == 0
	}
	for i := 1; i < len(pieces); i++ {
		if pieces[i].end <= pieces[i-1].end {
			return false
		}
	}
	s := &scanner{path: path, data: data}
	var next, bad atomic.Int64
	workers := min(max(runtime.GOMAXPROCS(0)-1, 1), len(pieces))
	err := s.each(workers, func(int) error {
		for bad.Load() == 0 {
			k := int(next.Add(1)) - 1
			if k >= len(pieces) {
				return nil
			}
			start := 0
			if k > 0 {
				start = int(pieces[k-1].end)
			}
			end := int(pieces[k].end)
			if sums(data[start:end], end) != pieces[k] {
				bad.Add(1)
			}
			if mapped {
				release(data[start:end])
			}
		}
		return nil
	})
	return err == nil && bad.Load() == 0
}

// save writes what s knows into cache file cf, replacing it at once:
// concurrent checks each write a whole file, and the last one stays.
func (c *Cache) save(cf *cacheFile, s *Summary, keep int) error {
	if len(s.Warnings) > maxCachedWarnings {
		return fmt.Errorf("%d warnings are more than the cache keeps", len(s.Warnings))
	}
	var e encoder
	e.b = append(e.b, cacheMagic...)
	e.str(exeID())
	e.str(s.Path)
	e.str(c.Tag)
	e.u64(uint64(keep))
	e.str(statID(s.stat))
	e.u64(uint64(s.stat.Size())) // what was mapped
	e.u32(uint32(len(s.pieces)))
	for _, p := range s.pieces {
		e.u64(p.end)
		e.u32(p.crc)
	}
	e.u64(uint64(s.n))
	e.u64(uint64(s.Marks))
	e.u32(uint32(len(s.Warnings)))
	for _, w := range s.Warnings {
		e.u64(uint64(w.Line))
		e.b = append(e.b, byte(w.Kind))
		e.str(w.Msg)
	}
	e.u32(uint32(len(s.Marked)))
	for _, m := range s.Marked {
		e.str(m.Key)
		e.str(m.Value)
		e.u64(uint64(m.Line))
		e.u64(uint64(m.EndLine))
	}
	e.u32(uint32(len(s.answers)))
	for k, a := range s.answers {
		e.str(k)
		found := byte(0)
		if a.found {
			found = 1
		}
		e.b = append(e.b, found)
		e.u32(a.off)
		e.u32(a.line)
	}
	e.u32(crc32.ChecksumIEEE(e.b)) // the trailer, against a file cut short
	if len(e.b) > maxCacheBytes {
		return fmt.Errorf("%d bytes are more than a cache file holds", len(e.b))
	}
	// Not renameio, as lib/remedy writes tables: a cache file needs no
	// fsync. One cut short by a crash fails its trailing checksum, and
	// the table is parsed.
	var r [8]byte
	rand.Read(r[:])
	tmp := ".scan-" + hex.EncodeToString(r[:]) + ".tmp"
	f, err := cf.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(e.b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = cf.root.Rename(tmp, cf.name)
	}
	if err != nil {
		cf.root.Remove(tmp)
		return err
	}
	prune(cf.root)
	return nil
}

// ownName reports whether name is that of a file a Cache makes: a cache
// file ("scan-" and 32 hex digits) or the temporary file that save writes
// one as (".scan-", 16 hex digits, ".tmp").
func ownName(name string) bool {
	hexOnly := func(s string, n int) bool {
		if len(s) != n {
			return false
		}
		for _, c := range []byte(s) {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
		return true
	}
	if h, ok := strings.CutPrefix(name, "scan-"); ok {
		return hexOnly(h, 32)
	}
	if h, ok := strings.CutPrefix(name, ".scan-"); ok {
		h, ok = strings.CutSuffix(h, ".tmp")
		return ok && hexOnly(h, 16)
	}
	return false
}

// prune removes from the cache directory root the cache files not used
// for cacheExpiry (their tables are gone, or no longer checked) and the
// temporary files older than tempExpiry; it leaves any other file alone.
func prune(root *os.Root) {
	d, err := root.Open(".")
	if err != nil {
		return
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return
	}
	now := time.Now()
	for _, e := range ents {
		name := e.Name()
		if !ownName(name) {
			continue
		}
		age := cacheExpiry
		if name[0] == '.' {
			age = tempExpiry
		}
		if fi, err := root.Lstat(name); err == nil && fi.Mode().IsRegular() && now.Sub(fi.ModTime()) > age {
			root.Remove(name)
		}
	}
}

// encoder and decoder write and read a cache file's fields: integers
// little-endian, strings after their length.
type encoder struct{ b []byte }

func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) str(s string) { e.u32(uint32(len(s))); e.b = append(e.b, s...) }

type decoder struct {
	b   []byte
	err bool // the bytes ran out
}

func (d *decoder) take(n int) []byte {
	if d.err || n > len(d.b) {
		d.err, d.b = true, nil
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte    { return d.take(1)[0] }
func (d *decoder) u32() uint32 { return binary.LittleEndian.Uint32(d.take(4)) }
func (d *decoder) u64() uint64 { return binary.LittleEndian.Uint64(d.take(8)) }

func (d *decoder) str() string {
	n := d.u32()
	if int64(n) > int64(len(d.b)) {
		d.err, d.b = true, nil
		return ""
	}
	return string(d.take(int(n)))
}

// count reads the number of items that follow, each of at least size
// bytes: no more than the bytes left can hold.
func (d *decoder) count(size int) int {
	n := d.u32()
	if int64(n)*int64(size) > int64(len(d.b)) {
		d.err, d.b = true, nil
		return 0
	}
	return int(n)
}
