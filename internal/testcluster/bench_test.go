package testcluster

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/sluicedata/sluice/client"
)

// BenchmarkCluster measures whole-stack writes (MUST_CACHE) and reads of a 64 MiB file
// through the client, with short-circuit access (executor on this host, MEM tier on
// /dev/shm when there is one) and with gRPC streams (executor reporting another host).
func BenchmarkCluster(b *testing.B) {
	const size = 64 << 20
	memRoot := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		memRoot = "/dev/shm"
	}
	data := payload(size, 42)
	for _, mode := range []struct {
		name string
		host func(int) string
	}{
		{"short-circuit", nil},
		{"grpc", func(int) string { return "elsewhere.invalid" }},
	} {
		b.Run(mode.name, func(b *testing.B) {
			c := New(b, Config{Executors: 1, MemSize: 1 << 30, BlockSize: 16 << 20, MemRoot: memRoot, ExecutorHost: mode.host})
			cl := c.Client(b)
			b.Run("write", func(b *testing.B) {
				b.SetBytes(size)
				for i := range b.N {
					p := fmt.Sprintf("/bench/w%d", i)
					w, err := cl.Create(b.Context(), p, client.CreateOptions{WriteType: client.WriteMustCache, Recursive: true})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := w.Write(data); err != nil {
						b.Fatal(err)
					}
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if _, err := cl.Delete(b.Context(), p, client.DeleteOptions{}); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
			b.Run("read", func(b *testing.B) {
				w, err := cl.Create(b.Context(), "/bench/r", client.CreateOptions{WriteType: client.WriteMustCache, Recursive: true, Overwrite: true})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(size)
				b.ResetTimer()
				for range b.N {
					r, err := cl.Open(b.Context(), "/bench/r", client.OpenOptions{})
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, r)
					r.Close()
					if err != nil || n != size {
						b.Fatalf("read %d bytes, %v", n, err)
					}
				}
			})
		})
	}
}
