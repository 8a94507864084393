//go:build !amd64

package blocks

// copyCRC copies src to dst (len(dst) >= len(src)) and returns crc extended with src.
func copyCRC(dst, src []byte, crc uint32) uint32 {
	copy(dst, src)
	return crc32Update(crc, src)
}

// copyCRCChunks copies src to dst (len(dst) >= len(src)) and sets crcs[i] to the CRC32C
// of the i-th chunk of src (the last may be short); len(crcs) == numChunks(len(src)).
// streaming is a hint used on amd64 only.
func copyCRCChunks(dst, src []byte, crcs []uint32, streaming bool) {
	for i := 0; i*chunkSize < len(src); i++ {
		end := min((i+1)*chunkSize, len(src))
		crcs[i] = copyCRC(dst[i*chunkSize:end], src[i*chunkSize:end], 0)
	}
}
