package state

import (
	"fmt"
	"io"
	"testing"
)

// BenchmarkState_ApplyCreateFile measures decoding and applying one CreateFile entry
// into a namespace of b.N files spread over 1000 directories.
func BenchmarkState_ApplyCreateFile(b *testing.B) {
	f := newFixture(b)
	entries := make([][]byte, b.N)
	for i := range entries {
		data, err := Encode(EntryCreateFile, f.createFileEntry(fmt.Sprintf("/d%d/f%d", i%1000, i)))
		if err != nil {
			b.Fatal(err)
		}
		entries[i] = data
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i, data := range entries {
		if r := f.s.Apply(uint64(i+2), data); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkView_WriteSnapshot measures writing a snapshot of 100k files.
func BenchmarkView_WriteSnapshot(b *testing.B) {
	f := newFixture(b)
	for i := range 100_000 {
		f.must(EntryCreateFile, f.createFileEntry(fmt.Sprintf("/d%d/f%d", i%1000, i)))
	}
	v := f.s.View()
	b.ResetTimer()
	for range b.N {
		if err := v.WriteSnapshot(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(100_000, "inodes")
}
