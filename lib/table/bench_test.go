package table

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchTable returns a relay_clientcerts-like source of n entries: SHA-256
// fingerprints in upper case (so every key needs folding), a comment every
// 100 entries.
func benchTable(n int) []byte {
	var b strings.Builder
	b.WriteString("# relay_clientcerts\n")
	for i := range n {
		if i%100 == 0 {
			fmt.Fprintf(&b, "# batch %d\n", i/100)
		}
		for j := range 32 {
			if j > 0 {
				b.WriteByte(':')
			}
			fmt.Fprintf(&b, "%02X", byte(i>>(8*(j%4)))^byte(j*37))
		}
		fmt.Fprintf(&b, " relay-%d.example.com\n", i)
	}
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	for _, n := range []int{1, 10_000, 100_000} {
		data := benchTable(n)
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				tab, err := Parse("bench", data)
				if err != nil || tab.Len() != n {
					b.Fatalf("Parse: %v, %d keys, want %d", err, tab.Len(), n)
				}
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	tab, err := Parse("bench", benchTable(100_000))
	if err != nil {
		b.Fatal(err)
	}
	key := tab.Entries[len(tab.Entries)/2].Key
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tab.Lookup(key); !ok {
			b.Fatal("not found")
		}
	}
}

func BenchmarkRead(b *testing.B) {
	data := benchTable(100_000)
	path := filepath.Join(b.TempDir(), "relay_clientcerts")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Read(path); err != nil {
			b.Fatal(err)
		}
	}
}
