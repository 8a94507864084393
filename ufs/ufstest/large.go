package ufstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"testing"

	"github.com/sluicedata/sluice/ufs"
)

// Sizes of the large-file test. The normal run always writes more than 100 MiB; only
// -short shrinks it. The odd tail keeps the size off every power of two.
const (
	largeSize      = 100<<20 + 12345
	largeSizeShort = 8<<20 + 12345
	largeChunk     = 1 << 20
)

// testLargeFile streams a file of more than 100 MiB in and out, comparing SHA-256 sums,
// so neither side holds the file in memory, then checks ranged reads inside it.
func testLargeFile(t *testing.T, fsys ufs.FS) {
	size := int64(largeSize)
	if testing.Short() {
		size = largeSizeShort
	}
	ctx := t.Context()
	c := newContent(8)
	const name = "/large/file.bin"

	w, err := fsys.Create(ctx, name)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	wantSum := sha256.New()
	// The writer is hidden behind a plain io.Writer so that it receives Writes of
	// largeChunk bytes, as a block upload would send them.
	n, err := io.CopyBuffer(io.MultiWriter(struct{ io.Writer }{w}, wantSum), c.reader(size), make([]byte, largeChunk))
	if err != nil {
		w.Abort()
		t.Fatalf("write after %d bytes: %v", n, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	if fi, err := fsys.Stat(ctx, name); err != nil || fi.Size != size {
		t.Fatalf("Stat = %+v, %v; want size %d", fi, err, size)
	}
	got, gotSum, err := readSum(ctx, fsys, name, 0, -1)
	if err != nil {
		t.Fatalf("read after %d bytes: %v", got, err)
	}
	if got != size || !bytes.Equal(gotSum, wantSum.Sum(nil)) {
		t.Fatalf("read back %d bytes with SHA-256 %x, want %d bytes with %x", got, gotSum, size, wantSum.Sum(nil))
	}

	ranges := []struct{ off, length int64 }{
		{size/2 + 777, 3<<20 + 5},
		{size - 1000, -1},
		{largeChunk - 1, 2},
		{size - 10, 100},
	}
	for _, r := range ranges {
		wantLen := r.length
		if wantLen < 0 || r.off+wantLen > size {
			wantLen = size - r.off
		}
		want := sha256.Sum256(c.bytes(r.off, int(wantLen)))
		got, gotSum, err := readSum(ctx, fsys, name, r.off, r.length)
		if err != nil || got != wantLen || !bytes.Equal(gotSum, want[:]) {
			t.Errorf("read (%d, %d) = %d bytes with SHA-256 %x, %v; want %d bytes with %x", r.off, r.length, got, gotSum, err, wantLen, want)
		}
	}
}

// readSum streams a range of name and returns its length and SHA-256.
func readSum(ctx context.Context, fsys ufs.FS, name string, off, length int64) (int64, []byte, error) {
	r, err := fsys.Open(ctx, name, off, length)
	if err != nil {
		return 0, nil, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, struct{ io.Reader }{r}, make([]byte, largeChunk))
	if err != nil {
		return n, nil, fmt.Errorf("read: %w", err)
	}
	return n, h.Sum(nil), nil
}
