package remedy

// Output of Diff, the unified format of diff -u without timestamps:
//
//	--- OLDNAME
//	+++ NEWNAME
//	@@ -OLDSTART[,OLDCOUNT] +NEWSTART[,NEWCOUNT] @@
//	 context line
//	-removed line
//	+added line
//	\ No newline at end of file
//
// A line is everything up to and including "\n"; only the last line of a
// file can lack it. Lines are compared and printed with their raw endings,
// so "a\r\n" and "a\n" differ and the "\r" is kept in the output (as diff(1)
// and patch(1) do). A line without "\n" is printed followed by "\n" and the
// "\ No newline at end of file" marker. A COUNT of 1 is left out; a COUNT of
// 0 comes with a START naming the line before the hunk. Hunks carry 3 lines
// of context and merge when they are at most 6 unchanged lines apart.
//
// The edit script is the shortest one (Myers' O(ND) algorithm, linear
// space, on what remains after trimming the common head and tail and
// setting aside lines found in only one file), except for very different
// inputs, where a cost cap trades minimality for speed; the output still
// turns old into new.

import (
	"bytes"
	"hash/maphash"
	"strconv"
	"strings"
)

const (
	diffContext = 3
	// minTooExpensive is the least edit cost searched exactly in one split.
	minTooExpensive = 1024
)

// Diff returns a unified diff of old and new, line by line, with the
// headers "--- oldName" and "+++ newName" and 3 lines of context, or ""
// when old and new are equal. The format is described at the top of
// diff.go.
func Diff(oldName, newName string, old, new []byte) string {
	if bytes.Equal(old, new) {
		return ""
	}
	a, b := splitLines(old), splitLines(new)
	ca, cb := make([]bool, len(a)), make([]bool, len(b))

	pre := 0
	for pre < len(a) && pre < len(b) && bytes.Equal(a[pre], b[pre]) {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && bytes.Equal(a[len(a)-1-suf], b[len(b)-1-suf]) {
		suf++
	}
	diffMiddle(a[pre:len(a)-suf], b[pre:len(b)-suf], ca[pre:len(a)-suf], cb[pre:len(b)-suf])
	return render(oldName, newName, a, b, ca, cb)
}

// splitLines cuts s after each "\n"; the last line may lack it.
func splitLines(s []byte) [][]byte {
	lines := make([][]byte, 0, bytes.Count(s, []byte{'\n'})+1)
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\n') + 1
		if i == 0 {
			i = len(s)
		}
		lines = append(lines, s[:i:i])
		s = s[i:]
	}
	return lines
}

// diffMiddle marks in ca and cb the lines of a and b that are not in a
// longest common subsequence of a and b.
func diffMiddle(a, b [][]byte, ca, cb []bool) {
	if len(a) == 0 || len(b) == 0 {
		fill(ca)
		fill(cb)
		return
	}
	seed := maphash.MakeSeed()
	ha, hb := hashes(seed, a), hashes(seed, b)

	// A line that is in one file only cannot be common: mark it and leave
	// it out of the search. The sets are bitsets of hashes: a collision only
	// keeps a line in the search, which costs time, never correctness.
	inA, inB := newHashSet(ha), newHashSet(hb)
	d := differ{
		ia: make([]int, 0, len(a)), ha: make([]uint64, 0, len(a)),
		ib: make([]int, 0, len(b)), hb: make([]uint64, 0, len(b)),
	}
	for i, h := range ha {
		if inB.has(h) {
			d.ia = append(d.ia, i)
			d.ha = append(d.ha, h)
		} else {
			ca[i] = true
		}
	}
	for j, h := range hb {
		if inA.has(h) {
			d.ib = append(d.ib, j)
			d.hb = append(d.hb, h)
		} else {
			cb[j] = true
		}
	}
	d.a, d.b = a, b
	n, m := len(d.ia), len(d.ib)
	d.ca, d.cb = make([]bool, n), make([]bool, m)
	d.fd = make([]int, n+m+3)
	d.bd = make([]int, n+m+3)
	d.off = m + 1
	// The cap grows like the square root of the size, as in GNU diff.
	d.tooExpensive = 1
	for diags := n + m + 3; diags != 0; diags >>= 2 {
		d.tooExpensive <<= 1
	}
	d.tooExpensive = max(d.tooExpensive, minTooExpensive)
	d.compare(0, n, 0, m)
	for x, c := range d.ca {
		ca[d.ia[x]] = c
	}
	for y, c := range d.cb {
		cb[d.ib[y]] = c
	}
}

func fill(c []bool) {
	for i := range c {
		c[i] = true
	}
}

func hashes(seed maphash.Seed, lines [][]byte) []uint64 {
	h := make([]uint64, len(lines))
	for i, l := range lines {
		h[i] = maphash.Bytes(seed, l)
	}
	return h
}

// hashSet is a bitset of line hashes with 8 to 16 bits per line.
type hashSet struct {
	bits []uint64
	mask uint64
}

func newHashSet(hs []uint64) hashSet {
	n := uint64(64)
	for n < 8*uint64(len(hs)) {
		n <<= 1
	}
	s := hashSet{bits: make([]uint64, n/64), mask: n - 1}
	for _, h := range hs {
		i := h & s.mask
		s.bits[i/64] |= 1 << (i % 64)
	}
	return s
}

func (s hashSet) has(h uint64) bool {
	i := h & s.mask
	return s.bits[i/64]&(1<<(i%64)) != 0
}

// differ holds the search state of Myers' linear-space algorithm over the
// kept lines: x indexes ia/ha/ca (old), y indexes ib/hb/cb (new).
type differ struct {
	a, b   [][]byte
	ia, ib []int
	ha, hb []uint64
	ca, cb []bool
	// fd and bd hold, per diagonal k = x - y (stored at k + off), the
	// furthest x reached forward and backward.
	fd, bd       []int
	off          int
	tooExpensive int
}

func (d *differ) eq(x, y int) bool {
	return d.ha[x] == d.hb[y] && bytes.Equal(d.a[d.ia[x]], d.b[d.ib[y]])
}

// compare marks the changed lines of old[xlo:xhi] against new[ylo:yhi].
func (d *differ) compare(xlo, xhi, ylo, yhi int) {
	for {
		for xlo < xhi && ylo < yhi && d.eq(xlo, ylo) {
			xlo++
			ylo++
		}
		for xlo < xhi && ylo < yhi && d.eq(xhi-1, yhi-1) {
			xhi--
			yhi--
		}
		switch {
		case xlo == xhi:
			fill(d.cb[ylo:yhi])
			return
		case ylo == yhi:
			fill(d.ca[xlo:xhi])
			return
		}
		xmid, ymid := d.split(xlo, xhi, ylo, yhi)
		d.compare(xlo, xmid, ylo, ymid)
		xlo, ylo = xmid, ymid
	}
}

// split returns a point (xmid, ymid) strictly inside the box through which
// a shortest edit path passes (or, past the cost cap, a good guess). The
// box has different first lines and different last lines, so its edit cost
// is at least 2 and the point cuts it in two smaller boxes.
func (d *differ) split(xlo, xhi, ylo, yhi int) (int, int) {
	fd, bd, off := d.fd, d.bd, d.off
	dmin, dmax := xlo-yhi, xhi-ylo
	fmid, bmid := xlo-ylo, xhi-yhi
	fmin, fmax, bmin, bmax := fmid, fmid, bmid, bmid
	odd := (fmid-bmid)&1 != 0
	fd[off+fmid] = xlo
	bd[off+bmid] = xhi
	const inf = int(^uint(0) >> 1)

	for c := 1; ; c++ {
		// One more edit forward on each diagonal in reach.
		if fmin > dmin {
			fmin--
			fd[off+fmin-1] = -1
		} else {
			fmin++
		}
		if fmax < dmax {
			fmax++
			fd[off+fmax+1] = -1
		} else {
			fmax--
		}
		for k := fmax; k >= fmin; k -= 2 {
			lo, hi := fd[off+k-1], fd[off+k+1]
			x := lo + 1
			if lo < hi {
				x = hi
			}
			y := x - k
			for x < xhi && y < yhi && d.eq(x, y) {
				x++
				y++
			}
			fd[off+k] = x
			if odd && bmin <= k && k <= bmax && bd[off+k] <= x {
				return x, y
			}
		}
		// One more edit backward.
		if bmin > dmin {
			bmin--
			bd[off+bmin-1] = inf
		} else {
			bmin++
		}
		if bmax < dmax {
			bmax++
			bd[off+bmax+1] = inf
		} else {
			bmax--
		}
		for k := bmax; k >= bmin; k -= 2 {
			lo, hi := bd[off+k-1], bd[off+k+1]
			x := hi - 1
			if lo < hi {
				x = lo
			}
			y := x - k
			for x > xlo && y > ylo && d.eq(x-1, y-1) {
				x--
				y--
			}
			bd[off+k] = x
			if !odd && fmin <= k && k <= fmax && x <= fd[off+k] {
				return x, y
			}
		}
		if c < d.tooExpensive {
			continue
		}
		// Too costly: cut at the forward or backward point that got
		// furthest along.
		fbest, fx := -1, 0
		for k := fmax; k >= fmin; k -= 2 {
			x := min(fd[off+k], xhi)
			y := x - k
			if y > yhi {
				x, y = yhi+k, yhi
			}
			if x+y > fbest {
				fbest, fx = x+y, x
			}
		}
		bbest, bx := inf, 0
		for k := bmax; k >= bmin; k -= 2 {
			x := max(bd[off+k], xlo)
			y := x - k
			if y < ylo {
				x, y = ylo+k, ylo
			}
			if x+y < bbest {
				bbest, bx = x+y, x
			}
		}
		if (xhi+yhi)-bbest < fbest-(xlo+ylo) {
			return fx, fbest - fx
		}
		return bx, bbest - bx
	}
}

// render writes the unified diff of a and b given their changed lines.
func render(oldName, newName string, a, b [][]byte, ca, cb []bool) string {
	type block struct{ i1, i2, j1, j2 int } // a[i1:i2] became b[j1:j2]
	var blocks []block
	for i, j := 0, 0; i < len(a) || j < len(b); {
		if i < len(a) && j < len(b) && !ca[i] && !cb[j] {
			i++
			j++
			continue
		}
		i1, j1 := i, j
		for i < len(a) && ca[i] {
			i++
		}
		for j < len(b) && cb[j] {
			j++
		}
		if i == i1 && j == j1 {
			// Unpaired unchanged lines cannot happen; treat the rest as
			// changed rather than loop.
			i, j = len(a), len(b)
		}
		blocks = append(blocks, block{i1, i, j1, j})
	}

	var sb strings.Builder
	sb.WriteString("--- " + oldName + "\n+++ " + newName + "\n")
	for h := 0; h < len(blocks); {
		// Blocks at most 2*context unchanged lines apart share a hunk.
		e := h + 1
		for e < len(blocks) && blocks[e].i1-blocks[e-1].i2 <= 2*diffContext {
			e++
		}
		first, last := blocks[h], blocks[e-1]
		i1 := max(first.i1-diffContext, 0)
		j1 := first.j1 - (first.i1 - i1)
		i2 := min(last.i2+diffContext, len(a))
		j2 := last.j2 + (i2 - last.i2)
		sb.WriteString("@@ -" + hunkRange(i1, i2) + " +" + hunkRange(j1, j2) + " @@\n")
		at := i1
		for _, bl := range blocks[h:e] {
			writeLines(&sb, ' ', a[at:bl.i1])
			writeLines(&sb, '-', a[bl.i1:bl.i2])
			writeLines(&sb, '+', b[bl.j1:bl.j2])
			at = bl.i2
		}
		writeLines(&sb, ' ', a[at:i2])
		h = e
	}
	return sb.String()
}

// hunkRange formats the lines [i1, i2) (0-based) as START[,COUNT].
func hunkRange(i1, i2 int) string {
	switch n := i2 - i1; n {
	case 0:
		return strconv.Itoa(i1) + ",0"
	case 1:
		return strconv.Itoa(i1 + 1)
	default:
		return strconv.Itoa(i1+1) + "," + strconv.Itoa(n)
	}
}

func writeLines(sb *strings.Builder, prefix byte, lines [][]byte) {
	for _, l := range lines {
		sb.WriteByte(prefix)
		sb.Write(l)
		if len(l) == 0 || l[len(l)-1] != '\n' {
			sb.WriteString("\n\\ No newline at end of file\n")
		}
	}
}
