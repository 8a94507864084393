package ufstest

import (
	"bytes"
	"io"
	"testing"
)

func TestContent_FillAtAnyOffset(t *testing.T) {
	c := newContent(42)
	whole, err := io.ReadAll(c.reader(3*cellSize*1000 + 17))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(whole)) != 3*cellSize*1000+17 {
		t.Fatalf("reader gave %d bytes", len(whole))
	}
	for _, r := range []struct{ off, n int }{{0, 1}, {1, 63}, {63, 2}, {100, 1000}, {len(whole) - 5, 5}} {
		if got := c.bytes(int64(r.off), r.n); !bytes.Equal(got, whole[r.off:r.off+r.n]) {
			t.Errorf("bytes(%d, %d) differs from the stream", r.off, r.n)
		}
	}
	// Reads of odd sizes see the same stream.
	var pieces []byte
	rd := c.reader(int64(len(whole)))
	buf := make([]byte, 77)
	for {
		n, err := rd.Read(buf)
		pieces = append(pieces, buf[:n]...)
		if err == io.EOF {
			break
		}
	}
	if !bytes.Equal(pieces, whole) {
		t.Error("reads of 77 bytes differ from ReadAll")
	}
}

func TestContent_CellsDiffer(t *testing.T) {
	// Every cell differs from every other cell of the stream and from the same cell of
	// another seed, so a misplaced or foreign cell is always caught.
	a, b := newContent(1), newContent(2)
	const cells = 4096
	seen := make(map[string]bool, cells)
	for i := range cells {
		ca := string(a.bytes(int64(i*cellSize), cellSize))
		if seen[ca] {
			t.Fatalf("cell %d repeats an earlier cell", i)
		}
		seen[ca] = true
		if ca == string(b.bytes(int64(i*cellSize), cellSize)) {
			t.Fatalf("cell %d is the same for seeds 1 and 2", i)
		}
	}
}
