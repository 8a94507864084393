package blocks

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:noescape
func copyCRC3(dst, src *byte, n, stride int, c0, c1, c2 uint32) (r0, r1, r2 uint32)

//go:noescape
func copyCRC3NT(dst, src *byte, n, stride int, c0, c1, c2 uint32) (r0, r1, r2 uint32)

// hasCopyCRC3 reports whether copyCRC3 can run here.
var hasCopyCRC3 = cpu.X86.HasSSE42

// minFused is the shortest input worth the fused copy: below it the cost of combining
// the three stream checksums is not repaid.
const minFused = 4 << 10

// copyCRC copies src to dst (len(dst) >= len(src)) and returns crc extended with src.
func copyCRC(dst, src []byte, crc uint32) uint32 {
	if !hasCopyCRC3 || len(src) < minFused {
		copy(dst, src)
		return crc32Update(crc, src)
	}
	n := len(src) / 192 * 64
	a, b, c := copyCRC3(&dst[0], &src[0], n, n, ^crc, ^uint32(0), ^uint32(0))
	op := shiftOp(int64(n))
	crc = combineWith(op, combineWith(op, ^a, ^b), ^c)
	rest := src[3*n:]
	copy(dst[3*n:], rest)
	return crc32Update(crc, rest)
}

// copyCRCChunks copies src to dst (len(dst) >= len(src)) and sets crcs[i] to the CRC32C
// of the i-th chunk of src (the last may be short); len(crcs) == numChunks(len(src)).
// Three whole chunks at a time go through copyCRC3 as its three streams. With streaming
// set, dst is not expected to be read soon and the copy bypasses the cache.
func copyCRCChunks(dst, src []byte, crcs []uint32, streaming bool) {
	i := 0
	if hasCopyCRC3 {
		kernel := copyCRC3
		if streaming && len(dst) > 0 && uintptr(unsafe.Pointer(&dst[0]))%16 == 0 {
			kernel = copyCRC3NT
		}
		for ; (i+3)*chunkSize <= len(src); i += 3 {
			a, b, c := kernel(&dst[i*chunkSize], &src[i*chunkSize], chunkSize, chunkSize, ^uint32(0), ^uint32(0), ^uint32(0))
			crcs[i], crcs[i+1], crcs[i+2] = ^a, ^b, ^c
		}
	}
	for ; i*chunkSize < len(src); i++ {
		end := min((i+1)*chunkSize, len(src))
		crcs[i] = copyCRC(dst[i*chunkSize:end], src[i*chunkSize:end], 0)
	}
}
