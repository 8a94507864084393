package blocks

import (
	"bytes"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func TestCombineWith(t *testing.T) {
	for _, split := range [][2]int{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {100, 3}, {65536, 65536}, {70000, 12345}} {
		a, b := randBytes(1, split[0]), randBytes(2, split[1])
		want := crc32.Checksum(append(append([]byte{}, a...), b...), castagnoli)
		got := combineWith(shiftOp(int64(len(b))), crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli))
		if got != want {
			t.Errorf("combine of %d+%d bytes = %08x, want %08x", split[0], split[1], got, want)
		}
	}
}

func TestBlockChecksum(t *testing.T) {
	for _, size := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 17, 5 * chunkSize} {
		data := randBytes(uint64(size), size)
		var crcs []uint32
		for off := 0; off < size; off += chunkSize {
			crcs = append(crcs, crc32.Checksum(data[off:min(off+chunkSize, size)], castagnoli))
		}
		if got, want := blockChecksum(crcs, int64(size)), crc32.Checksum(data, castagnoli); got != want {
			t.Errorf("size %d: blockChecksum = %08x, want %08x", size, got, want)
		}
	}
}

func TestCopyCRC(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 191, 192, 4095, 4096, 4097, 5000, 65535, 65536, 65537, 200001} {
		for _, init := range []uint32{0, 0xdeadbeef} {
			src := randBytes(uint64(n), n)
			dst := make([]byte, n+8)
			got := copyCRC(dst, src, init)
			if want := crc32.Update(init, castagnoli, src); got != want {
				t.Errorf("n=%d init=%08x: crc %08x, want %08x", n, init, got, want)
			}
			if !bytes.Equal(dst[:n], src) || !bytes.Equal(dst[n:], make([]byte, 8)) {
				t.Errorf("n=%d: copy wrong", n)
			}
		}
	}
}

func TestCopyCRCChunks(t *testing.T) {
	for _, n := range []int{0, 1, chunkSize, 2*chunkSize + 1, 3 * chunkSize, 3*chunkSize + 5, 7*chunkSize - 3, 48 * chunkSize} {
		for _, streaming := range []bool{false, true} {
			src := randBytes(uint64(n)+7, n)
			dst := make([]byte, n)
			got := make([]uint32, numChunks(int64(n)))
			copyCRCChunks(dst, src, got, streaming)
			if !bytes.Equal(dst, src) {
				t.Errorf("n=%d streaming=%v: copy wrong", n, streaming)
			}
			for i := range got {
				want := crc32.Checksum(src[i*chunkSize:min((i+1)*chunkSize, n)], castagnoli)
				if got[i] != want {
					t.Errorf("n=%d streaming=%v chunk %d: %08x, want %08x", n, streaming, i, got[i], want)
				}
			}
		}
	}
}

func testSidecar(size int) sidecar {
	data := randBytes(3, size)
	s := sidecar{id: 0x1234<<24 | 5, size: int64(size)}
	for off := 0; off < size; off += chunkSize {
		s.crcs = append(s.crcs, crc32.Checksum(data[off:min(off+chunkSize, size)], castagnoli))
	}
	s.checksum = blockChecksum(s.crcs, s.size)
	return s
}

func TestSidecar_RoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, chunkSize, 2*chunkSize + 3} {
		want := testSidecar(size)
		got, err := decodeSidecar(want.encode())
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if got.id != want.id || got.size != want.size || got.checksum != want.checksum || len(got.crcs) != len(want.crcs) {
			t.Errorf("size %d: decoded %+v, want %+v", size, got, want)
		}
	}
}

func TestDecodeSidecar_Rejects(t *testing.T) {
	good := testSidecar(2*chunkSize + 3).encode()
	resealed := func(mut func([]byte)) []byte {
		b := append([]byte{}, good[:len(good)-4]...)
		mut(b)
		sum := crc32.Checksum(b, castagnoli)
		return append(b, byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24))
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short", good[:10]},
		{"truncated", good[:len(good)-5]},
		{"flipped bit", func() []byte { b := append([]byte{}, good...); b[40] ^= 1; return b }()},
		{"bad magic", resealed(func(b []byte) { b[0] = 'X' })},
		{"bad version", resealed(func(b []byte) { b[4] = 2 })},
		{"bad chunk size", resealed(func(b []byte) { b[24] = 1 })},
		{"negative size", resealed(func(b []byte) { b[23] = 0x80 })},
		{"chunk count mismatch", resealed(func(b []byte) { b[32]++ })},
		{"size mismatch", resealed(func(b []byte) { b[16]++ })},
		{"block checksum mismatch", resealed(func(b []byte) { b[28]++ })},
		{"chunk checksum changed", resealed(func(b []byte) { b[sidecarHeader]++ })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeSidecar(tt.in); !errors.Is(err, ErrCorrupt) {
				t.Errorf("decodeSidecar: %v, want ErrCorrupt", err)
			}
		})
	}
}

func FuzzDecodeSidecar(f *testing.F) {
	f.Add(testSidecar(0).encode())
	f.Add(testSidecar(1).encode())
	f.Add(testSidecar(3*chunkSize + 1).encode())
	f.Add([]byte("SLCK"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSidecar(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// Whatever decodes is self-consistent and encodes back to the same bytes.
		if int64(len(s.crcs)) != numChunks(s.size) || blockChecksum(s.crcs, s.size) != s.checksum {
			t.Fatalf("decoded an inconsistent sidecar: %+v", s)
		}
		if !bytes.Equal(s.encode(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
