package client

import (
	"hash/crc32"
	"testing"
)

func TestCRC32CCombine(t *testing.T) {
	tests := []struct{ a, b int }{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {3, 1000}, {4096, 4096}, {65536, 17}}
	for _, tt := range tests {
		a, b := payload(tt.a, 1), payload(tt.b, 2)
		want := crc32.Checksum(append(append([]byte{}, a...), b...), castagnoli)
		got := crc32cCombine(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), int64(len(b)))
		if got != want {
			t.Errorf("combine(%d, %d bytes) = %08x, want %08x", tt.a, tt.b, got, want)
		}
	}
}

func FuzzCRC32CCombine(f *testing.F) {
	f.Add([]byte("hello, "), []byte("world"))
	f.Add([]byte{}, []byte{0})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		want := crc32.Checksum(append(append([]byte{}, a...), b...), castagnoli)
		if got := crc32cCombine(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), int64(len(b))); got != want {
			t.Fatalf("combine = %08x, want %08x", got, want)
		}
	})
}
