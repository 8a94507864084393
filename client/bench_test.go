package client

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sluicedata/sluice/client/clienttest"
)

// shmDir returns a temporary directory on tmpfs (/dev/shm) when there is one, where the
// MEM tier lives in production, else t.TempDir().
func shmDir(b *testing.B) string {
	b.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "sluice-client-bench-")
		if err == nil {
			b.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return b.TempDir()
}

// benchFile writes a file of size bytes in 64 MiB blocks with MUST_CACHE.
func benchFile(b *testing.B, cl *Client, size int) {
	b.Helper()
	w, err := cl.Create(b.Context(), "/bench", CreateOptions{WriteType: WriteMustCache, BlockSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	chunk := payload(4<<20, 1)
	for done := 0; done < size; done += len(chunk) {
		if _, err := w.Write(chunk[:min(len(chunk), size-done)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// readAtAll reads r from start to end through ReadAt in buf-sized pieces.
func readAtAll(b *testing.B, r io.ReaderAt, size int64, buf []byte) {
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		if _, err := r.ReadAt(buf[:n], off); err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
}

// BenchmarkShortCircuitRead reads a 256 MiB file through a same-host executor whose
// blocks live on tmpfs, beside a plain pread of a tmpfs file of the same size, in the same
// run. It reports both throughputs and their ratio (sluice/pread; 1 is ideal). ns/op
// covers both reads.
func BenchmarkShortCircuitRead(b *testing.B) {
	const size = 256 << 20
	c := clienttest.New(b, clienttest.Options{Executors: []clienttest.ExecutorOptions{{Dir: shmDir(b)}}})
	cl := newClient(b, c, func(cfg *Config) { cfg.ChunkSize = 1 << 20; cfg.Logger = nil })
	benchFile(b, cl, size)
	plain, err := os.CreateTemp(shmDir(b), "plain-")
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	chunk := payload(4<<20, 2)
	for done := 0; done < size; done += len(chunk) {
		if _, err := plain.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	r, err := cl.Open(b.Context(), "/bench", OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 4<<20)
	readAtAll(b, r, size, buf) // open the blocks once
	var sluice, pread, writeTo time.Duration
	before := cl.Stats()
	b.SetBytes(size)
	b.ResetTimer()
	// The three reads take turns leading, so that no one always follows another's cache
	// effects.
	reads := []func(){
		func() {
			t0 := time.Now()
			readAtAll(b, r, size, buf)
			sluice += time.Since(t0)
		},
		func() {
			t0 := time.Now()
			readAtAll(b, plain, size, buf)
			pread += time.Since(t0)
		},
		func() {
			t0 := time.Now()
			if _, err := r.Seek(0, io.SeekStart); err != nil {
				b.Fatal(err)
			}
			if _, err := r.WriteTo(io.Discard); err != nil {
				b.Fatal(err)
			}
			writeTo += time.Since(t0)
		},
	}
	i := 0
	for b.Loop() {
		for k := range reads {
			reads[(i+k)%len(reads)]()
		}
		i++
	}
	b.StopTimer()
	if s := cl.Stats(); s.BytesReadRemote != before.BytesReadRemote || s.BytesReadShortCircuit == before.BytesReadShortCircuit {
		b.Fatalf("the benchmark did not read by short-circuit: %+v", s)
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(sluice), "sluice-readat-MB/s")
	b.ReportMetric(mbps(writeTo), "sluice-writeto-MB/s")
	b.ReportMetric(mbps(pread), "pread-MB/s")
	b.ReportMetric(pread.Seconds()/sluice.Seconds(), "readat/pread")
	b.ReportMetric(pread.Seconds()/writeTo.Seconds(), "writeto/pread")
}

// BenchmarkRemoteRead streams a 256 MiB file from an executor on "another host" (over
// loopback gRPC) beside a raw loopback TCP copy of the same number of bytes, in the same
// run, and reports both throughputs and their ratio (sluice/tcp). The fake executor's
// server side is included in the figure.
func BenchmarkRemoteRead(b *testing.B) {
	const size = 256 << 20
	c := clienttest.New(b, clienttest.Options{Executors: []clienttest.ExecutorOptions{{Host: "remote.example", Dir: shmDir(b)}}})
	cl := newClient(b, c, func(cfg *Config) { cfg.ChunkSize = 1 << 20; cfg.Logger = nil })
	benchFile(b, cl, size)
	tcp := startBlaster(b, size)

	var sluice, raw time.Duration
	before := cl.Stats()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		r, err := cl.Open(b.Context(), "/bench", OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		n, err := r.WriteTo(io.Discard)
		if err != nil || n != size {
			b.Fatalf("WriteTo = %d, %v", n, err)
		}
		r.Close()
		t1 := time.Now()
		tcp(b)
		sluice += t1.Sub(t0)
		raw += time.Since(t1)
	}
	b.StopTimer()
	if s := cl.Stats(); s.BytesReadShortCircuit != before.BytesReadShortCircuit || s.BytesReadRemote == before.BytesReadRemote {
		b.Fatalf("the benchmark did not stream: %+v", s)
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(sluice), "sluice-MB/s")
	b.ReportMetric(mbps(raw), "tcp-MB/s")
	b.ReportMetric(raw.Seconds()/sluice.Seconds(), "sluice/tcp")
}

// startBlaster starts a loopback TCP server that writes size bytes to every connection
// and returns a function that receives them once (in 1 MiB reads, like the chunked
// stream).
func startBlaster(b *testing.B, size int) func(*testing.B) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lis.Close() })
	src := payload(1<<20, 3)
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				for done := 0; done < size; done += len(src) {
					if _, err := conn.Write(src); err != nil {
						return
					}
				}
			}()
		}
	}()
	buf := make([]byte, 1<<20)
	return func(b *testing.B) {
		conn, err := net.Dial("tcp", lis.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		var got int
		for got < size {
			n, err := conn.Read(buf)
			got += n
			if err != nil {
				b.Fatalf("tcp read after %d bytes: %v", got, err)
			}
		}
	}
}

// BenchmarkShortCircuitWrite writes a 256 MiB file (4 blocks) through a same-host
// executor on tmpfs, beside plain 4 MiB writes of a tmpfs file of the same size, in the
// same run, and reports both throughputs and their ratio (sluice/plain). The sluice
// figure includes the client's CRC32C and the fake executor's commit (which checksums the
// file again).
func BenchmarkShortCircuitWrite(b *testing.B) {
	const size = 256 << 20
	dir := shmDir(b)
	c := clienttest.New(b, clienttest.Options{Executors: []clienttest.ExecutorOptions{{Dir: shmDir(b)}}})
	cl := newClient(b, c, func(cfg *Config) { cfg.ChunkSize = 1 << 20; cfg.Logger = nil })
	chunk := payload(4<<20, 4)
	var sluice, plain time.Duration
	b.SetBytes(size)
	i := 0
	for b.Loop() {
		t0 := time.Now()
		w, err := cl.Create(b.Context(), "/w", CreateOptions{WriteType: WriteMustCache, BlockSize: 64 << 20, Overwrite: true})
		if err != nil {
			b.Fatal(err)
		}
		for done := 0; done < size; done += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		f, err := os.Create(dir + "/plain")
		if err != nil {
			b.Fatal(err)
		}
		for done := 0; done < size; done += len(chunk) {
			if _, err := f.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		sluice += t1.Sub(t0)
		plain += time.Since(t1)
		os.Remove(f.Name())
		i++
	}
	b.StopTimer()
	if s := cl.Stats(); s.BytesWrittenShortCircuit != int64(i)*size {
		b.Fatalf("the benchmark did not write by short-circuit: %+v", s)
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(sluice), "sluice-MB/s")
	b.ReportMetric(mbps(plain), "plain-MB/s")
	b.ReportMetric(plain.Seconds()/sluice.Seconds(), "sluice/plain")
}
