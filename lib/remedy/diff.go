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
// The lines that differ are found as the fixes of this program make them:
// by replacing lines in place and appending. The common head and tail are
// set aside; what remains is compared line by line, position by position,
// and the longer side's extra lines are removed or added at the end. For
// such edits (and for one block inserted or deleted) the result is a
// shortest diff, the one diff -u prints; for other edits it is longer than
// needed but still correct: applied to old it gives new. It takes linear
// time and memory whatever the input.

import (
	"bytes"
	"strconv"
	"strings"
)

const diffContext = 3

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
	// The middles a[pre:ea] and b[pre:eb], position by position; the
	// longer one's extra lines are changed.
	ea, eb := len(a)-suf, len(b)-suf
	for i := pre; i < max(ea, eb); i++ {
		same := i < ea && i < eb && bytes.Equal(a[i], b[i])
		if i < ea {
			ca[i] = !same
		}
		if i < eb {
			cb[i] = !same
		}
	}
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
