package ufstest

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
)

// cellSize is the unit of content: every cell begins with its own index, so bytes that
// land at the wrong offset are caught whatever the chunking of the backend.
const cellSize = 64

// content is a deterministic byte stream of any length, addressable at any offset
// without keeping it in memory. Streams of different seeds differ in every cell.
type content struct {
	seed uint64
	// background is random and repeats every len(background) bytes; the index of
	// each cell is written over its first 8 bytes.
	background []byte
}

// newContent returns the stream of seed.
func newContent(seed uint64) *content {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	bg := make([]byte, 1<<16)
	for i := 0; i < len(bg); i += 8 {
		binary.LittleEndian.PutUint64(bg[i:], rng.Uint64())
	}
	return &content{seed: seed, background: bg}
}

// fill writes the bytes of the stream at offset off into p.
func (c *content) fill(p []byte, off int64) {
	var cell [cellSize]byte
	for len(p) > 0 {
		idx, in := off/cellSize, int(off%cellSize)
		bg := int(idx*cellSize) % len(c.background)
		copy(cell[:], c.background[bg:bg+cellSize])
		binary.LittleEndian.PutUint64(cell[:8], uint64(idx)^c.seed)
		n := copy(p, cell[in:])
		p = p[n:]
		off += int64(n)
	}
}

// bytes returns n bytes of the stream from offset off.
func (c *content) bytes(off int64, n int) []byte {
	p := make([]byte, n)
	c.fill(p, off)
	return p
}

// reader returns a reader of n bytes of the stream from offset 0.
func (c *content) reader(n int64) io.Reader {
	return &contentReader{c: c, left: n}
}

// contentReader reads a prefix of a content stream.
type contentReader struct {
	c    *content
	off  int64
	left int64
}

func (r *contentReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	r.c.fill(p, r.off)
	r.off += int64(len(p))
	r.left -= int64(len(p))
	return len(p), nil
}
