package ufstest

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/sluicedata/sluice/ufs"
)

// BenchChunk is the size of every Write and Read that Bench makes: 4 MiB. Callers of
// StreamWrite and StreamRead use it to measure a reference the same way.
const BenchChunk = 4 << 20

// Bench runs the sub-benchmarks write and read on FSs from newFS: each operation
// writes or reads one file of size bytes sequentially in BenchChunk pieces, and
// b.SetBytes makes the throughput appear in MB/s. Written files are deleted outside
// the timer.
func Bench(b *testing.B, newFS func(t testing.TB) ufs.FS, size int64) {
	chunk := newContent(9).bytes(0, BenchChunk)
	b.Run("write", func(b *testing.B) {
		fsys := newFS(b)
		ctx := b.Context()
		b.SetBytes(size)
		b.ResetTimer()
		for i := range b.N {
			name := fmt.Sprintf("/bench/write-%d", i)
			if err := StreamWrite(ctx, fsys, name, size, chunk); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := fsys.Delete(ctx, name); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("read", func(b *testing.B) {
		fsys := newFS(b)
		ctx := b.Context()
		if err := StreamWrite(ctx, fsys, "/bench/read", size, chunk); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, BenchChunk)
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			n, err := StreamRead(ctx, fsys, "/bench/read", buf)
			if err != nil {
				b.Fatal(err)
			}
			if n != size {
				b.Fatalf("read %d bytes, want %d", n, size)
			}
		}
	})
}

// StreamWrite creates name holding size bytes: chunk repeated, in Writes of len(chunk)
// bytes. On error the write is aborted.
func StreamWrite(ctx context.Context, fsys ufs.FS, name string, size int64, chunk []byte) error {
	w, err := fsys.Create(ctx, name)
	if err != nil {
		return err
	}
	for left := size; left > 0; {
		p := chunk[:min(int64(len(chunk)), left)]
		if _, err := w.Write(p); err != nil {
			w.Abort()
			return err
		}
		left -= int64(len(p))
	}
	return w.Close()
}

// StreamRead reads the whole file name in Reads of len(buf) bytes and returns its
// length.
func StreamRead(ctx context.Context, fsys ufs.FS, name string, buf []byte) (int64, error) {
	r, err := fsys.Open(ctx, name, 0, -1)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var total int64
	for {
		n, err := r.Read(buf)
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}
