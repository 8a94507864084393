package blocks

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// chunkSize is the span covered by one chunk checksum. Each read verifies the chunks it
// touches, so a small read costs at most two extra partial chunks.
const chunkSize = 64 << 10

// castagnoli is the CRC32C table used for every checksum of this package.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcPoly is the reflected Castagnoli polynomial.
const crcPoly = 0x82f63b78

// multModP returns a(x)*b(x) modulo the CRC polynomial, in the reflected bit order of
// CRC32C (x^0 is the top bit). It follows zlib's crc32_combine implementation.
func multModP(a, b uint32) uint32 {
	m := uint32(1) << 31
	p := uint32(0)
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// x2nTable[k] is x^(2^k) modulo the polynomial.
var x2nTable = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	for k := range t {
		t[k] = p
		p = multModP(p, p)
	}
	return t
}()

// shiftOp returns the operator that appends n zero bytes to a CRC: x^(8n) mod P.
func shiftOp(n int64) uint32 {
	p := uint32(1) << 31 // x^0
	k := 3
	for u := uint64(n); u != 0; u >>= 1 {
		if u&1 != 0 {
			p = multModP(x2nTable[k&31], p)
		}
		k++
	}
	return p
}

// combineWith returns the CRC32C of A‖B given crcA, crcB and the shift operator of len(B).
func combineWith(op, crcA, crcB uint32) uint32 { return multModP(op, crcA) ^ crcB }

// chunkShift is shiftOp(chunkSize), used to fold chunk checksums into a block checksum.
var chunkShift = shiftOp(chunkSize)

// blockChecksum folds the chunk checksums of a block of size bytes into the CRC32C of
// the whole block. Every chunk but the last covers chunkSize bytes.
func blockChecksum(crcs []uint32, size int64) uint32 {
	if len(crcs) == 0 {
		return 0 // CRC32C of no bytes
	}
	sum := crcs[0]
	for i := 1; i < len(crcs)-1; i++ {
		sum = combineWith(chunkShift, sum, crcs[i])
	}
	if n := len(crcs); n > 1 {
		last := size - int64(n-1)*chunkSize
		op := chunkShift
		if last != chunkSize {
			op = shiftOp(last)
		}
		sum = combineWith(op, sum, crcs[n-1])
	}
	return sum
}

// numChunks is the number of chunks of a block of size bytes.
func numChunks(size int64) int64 { return (size + chunkSize - 1) / chunkSize }

// The sidecar ("<id>.crc" beside "<id>.blk") holds a block's checksums:
//
//	magic "SLCK" | version u8 (1) | 3 zero bytes | id u64 | size u64 | chunk size u32 |
//	block CRC32C u32 | chunk count u32 | chunk CRC32C u32 × count | CRC32C of all before u32
//
// little-endian. The trailing checksum guards the sidecar itself.
const (
	sidecarMagic   = "SLCK"
	sidecarVersion = 1
	sidecarHeader  = 4 + 4 + 8 + 8 + 4 + 4 + 4
	// maxBlockSize bounds the size a sidecar may claim (1 TiB), so a corrupt size
	// cannot make the decoder allocate without limit.
	maxBlockSize = 1 << 40
)

// sidecar is the decoded checksum file of a block.
type sidecar struct {
	id       ID
	size     int64
	checksum uint32
	crcs     []uint32
}

// encode returns the on-disk form of s.
func (s sidecar) encode() []byte {
	b := make([]byte, 0, sidecarHeader+4*len(s.crcs)+4)
	b = append(b, sidecarMagic...)
	b = append(b, sidecarVersion, 0, 0, 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.id))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.size))
	b = binary.LittleEndian.AppendUint32(b, chunkSize)
	b = binary.LittleEndian.AppendUint32(b, s.checksum)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.crcs)))
	for _, c := range s.crcs {
		b = binary.LittleEndian.AppendUint32(b, c)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeSidecar parses a sidecar, checking its own checksum, its layout and that the
// block checksum agrees with the chunk checksums. Errors wrap ErrCorrupt.
func decodeSidecar(b []byte) (sidecar, error) {
	if len(b) < sidecarHeader+4 {
		return sidecar{}, fmt.Errorf("sidecar of %d bytes is too short: %w", len(b), ErrCorrupt)
	}
	body, tail := b[:len(b)-4], b[len(b)-4:]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(tail); got != want {
		return sidecar{}, fmt.Errorf("sidecar checksum %08x, want %08x: %w", got, want, ErrCorrupt)
	}
	if string(b[:4]) != sidecarMagic || b[4] != sidecarVersion || b[5] != 0 || b[6] != 0 || b[7] != 0 {
		return sidecar{}, fmt.Errorf("sidecar magic or version: %w", ErrCorrupt)
	}
	s := sidecar{
		id:       ID(binary.LittleEndian.Uint64(b[8:])),
		size:     int64(binary.LittleEndian.Uint64(b[16:])),
		checksum: binary.LittleEndian.Uint32(b[28:]),
	}
	if cs := binary.LittleEndian.Uint32(b[24:]); cs != chunkSize {
		return sidecar{}, fmt.Errorf("sidecar chunk size %d, want %d: %w", cs, chunkSize, ErrCorrupt)
	}
	if s.size < 0 || s.size > maxBlockSize {
		return sidecar{}, fmt.Errorf("sidecar block size %d out of range: %w", s.size, ErrCorrupt)
	}
	n := int64(binary.LittleEndian.Uint32(b[32:]))
	if n != numChunks(s.size) || int64(len(body)) != sidecarHeader+4*n {
		return sidecar{}, fmt.Errorf("sidecar has %d chunk checksums for %d bytes in %d: %w", n, s.size, len(b), ErrCorrupt)
	}
	s.crcs = make([]uint32, n)
	for i := range s.crcs {
		s.crcs[i] = binary.LittleEndian.Uint32(b[sidecarHeader+4*i:])
	}
	if got := blockChecksum(s.crcs, s.size); got != s.checksum {
		return sidecar{}, fmt.Errorf("sidecar block checksum %08x, chunks say %08x: %w", s.checksum, got, ErrCorrupt)
	}
	return s, nil
}

// crc32Update extends a CRC32C with p.
func crc32Update(crc uint32, p []byte) uint32 { return crc32.Update(crc, castagnoli, p) }
