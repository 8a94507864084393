package executor

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
)

// benchBlockSize is the block streamed by BenchmarkReadBlock.
const benchBlockSize = 256 << 20

// memDir returns a directory on tmpfs when the host has /dev/shm (as the MEM tier has
// in production), else a temporary directory.
func memDir(b *testing.B) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "sluice-executor-bench-")
		if err == nil {
			b.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return b.TempDir()
}

// BenchmarkReadBlock streams a 256 MiB MEM block with ReadBlock over loopback gRPC,
// once with the proto codec on the reading side (as a plain gRPC client reads) and once
// with the executor's chunk codec (as a persist reads another executor), and, in the
// same iterations, the same bytes over a raw loopback TCP connection. It reports the
// three throughputs and the ratios grpc/tcp and grpc_alias/tcp.
func BenchmarkReadBlock(b *testing.B) {
	m := startFakeMaster(b, "127.0.0.1:0")
	cfg := testConfig(b, []string{m.addr}, benchBlockSize+64<<20)
	cfg.Store.Tiers = []blocks.TierConfig{{Alias: blocks.MEM, Dirs: []blocks.DirConfig{{Path: memDir(b), Quota: benchBlockSize + 64<<20}}}}
	cfg.Logger = slog.New(slog.DiscardHandler)
	e, _ := startExecutor(b, cfg)
	registered(b, e)
	c := blockClient(b, e.Addr())
	data := randBytes(99, benchBlockSize)
	id := sluicepb.NewBlockID(1, 0)
	if _, err := writeBlock(b.Context(), c, &sluicepb.WriteBlockHeader{BlockId: id, SizeHint: benchBlockSize}, data, 4<<20); err != nil {
		b.Fatal(err)
	}
	tcpAddr, stopTCP := rawServer(b, data)
	defer stopTCP()
	zc := blockClient(b, e.Addr(), grpc.WithDefaultCallOptions(grpc.ForceCodecV2(newChunkCodec(&bufPool{size: DefaultChunkSize}))))

	readAll := func(c sluicepb.BlockServiceClient) time.Duration {
		start := time.Now()
		s, err := c.ReadBlock(b.Context(), &sluicepb.ReadBlockRequest{BlockId: id})
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for {
			m, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n += int64(len(m.GetData()))
		}
		if n != benchBlockSize {
			b.Fatalf("read %d bytes", n)
		}
		return time.Since(start)
	}
	var grpcTime, zcTime, tcpTime time.Duration
	b.SetBytes(benchBlockSize)
	b.ResetTimer()
	for b.Loop() {
		grpcTime += readAll(c)
		zcTime += readAll(zc)
		start := time.Now()
		if n := rawRead(b, tcpAddr); n != benchBlockSize {
			b.Fatalf("raw TCP read %d bytes", n)
		}
		tcpTime += time.Since(start)
	}
	iters := float64(b.N)
	mb := float64(benchBlockSize) / 1e6
	b.ReportMetric(mb*iters/grpcTime.Seconds(), "grpc_MB/s")
	b.ReportMetric(mb*iters/zcTime.Seconds(), "grpc_alias_MB/s")
	b.ReportMetric(mb*iters/tcpTime.Seconds(), "tcp_MB/s")
	b.ReportMetric(tcpTime.Seconds()/grpcTime.Seconds(), "grpc/tcp")
	b.ReportMetric(tcpTime.Seconds()/zcTime.Seconds(), "grpc_alias/tcp")
}

// BenchmarkWriteBlock sends a 256 MiB block with WriteBlock in 1 MiB chunks over
// loopback gRPC into a MEM tier (checksummed, committed to a fake master, then removed)
// and, in the same iterations, the same bytes over a raw loopback TCP connection to a
// reader that writes them to a file in the same tmpfs; it reports both throughputs and
// their ratio.
func BenchmarkWriteBlock(b *testing.B) {
	m := startFakeMaster(b, "127.0.0.1:0")
	cfg := testConfig(b, []string{m.addr}, benchBlockSize+64<<20)
	cfg.Store.Tiers = []blocks.TierConfig{{Alias: blocks.MEM, Dirs: []blocks.DirConfig{{Path: memDir(b), Quota: benchBlockSize + 64<<20}}}}
	cfg.Logger = slog.New(slog.DiscardHandler)
	e, _ := startExecutor(b, cfg)
	registered(b, e)
	c := blockClient(b, e.Addr())
	data := randBytes(98, benchBlockSize)
	sink, stopSink := fileServer(b, memDir(b))
	defer stopSink()
	var grpcTime, tcpTime time.Duration
	b.SetBytes(benchBlockSize)
	for i := 0; b.Loop(); i++ {
		id := sluicepb.NewBlockID(2, uint32(i))
		start := time.Now()
		if _, err := writeBlock(b.Context(), c, &sluicepb.WriteBlockHeader{BlockId: id, SizeHint: benchBlockSize}, data, 1<<20); err != nil {
			b.Fatal(err)
		}
		grpcTime += time.Since(start)
		if _, err := c.RemoveBlock(b.Context(), &sluicepb.RemoveBlockRequest{BlockId: id}); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		rawWrite(b, sink, data)
		tcpTime += time.Since(start)
	}
	mb := float64(benchBlockSize) * float64(b.N) / 1e6
	b.ReportMetric(mb/grpcTime.Seconds(), "grpc_MB/s")
	b.ReportMetric(mb/tcpTime.Seconds(), "tcp_MB/s")
	b.ReportMetric(tcpTime.Seconds()/grpcTime.Seconds(), "grpc/tcp")
}

// fileServer writes what every connection sends into a file of dir from its start (the
// file keeps its pages between connections, as the store recycles MEM files), answering
// one byte at its end.
func fileServer(b testing.TB, dir string) (string, func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "raw"))
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.Close()
		buf := make([]byte, 1<<20)
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			var off int64
			for {
				n, err := io.ReadFull(conn, buf)
				f.WriteAt(buf[:n], off)
				off += int64(n)
				if err != nil {
					break
				}
			}
			conn.Write([]byte{1})
			conn.Close()
		}
	}()
	return lis.Addr().String(), func() { lis.Close(); <-done }
}

// rawWrite sends data to a fileServer in 1 MiB writes and waits for its answer.
func rawWrite(b testing.TB, addr string, data []byte) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	for off := 0; off < len(data); off += 1 << 20 {
		if _, err := conn.Write(data[off:min(off+1<<20, len(data))]); err != nil {
			b.Fatal(err)
		}
	}
	conn.(*net.TCPConn).CloseWrite()
	if _, err := io.ReadFull(conn, make([]byte, 1)); err != nil {
		b.Fatal(err)
	}
}

// rawServer serves data to every connection over plain TCP in 1 MiB writes.
func rawServer(b testing.TB, data []byte) (string, func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			for off := 0; off < len(data); off += 1 << 20 {
				if _, err := conn.Write(data[off:min(off+1<<20, len(data))]); err != nil {
					break
				}
			}
			conn.Close()
		}
	}()
	return lis.Addr().String(), func() { lis.Close(); <-done }
}

// rawRead reads a whole rawServer stream in 1 MiB reads and returns its length.
func rawRead(b testing.TB, addr string) int64 {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := conn.Read(buf)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
