package clusterbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicedata/sluice/client"
)

// readRoundsPerIter is how many paired rounds one iteration of the read benchmarks runs:
// more pairs make the median ratio steadier on a shared machine.
const readRoundsPerIter = 3

// readEnv is a cluster holding one MUST_CACHE file whose bytes are also kept in memory
// and in a plain file on the same tmpfs as the executor's MEM tier.
type readEnv struct {
	*env
	path  string
	data  []byte
	plain *os.File
	block int64
}

// newReadEnv starts a one-executor cluster with the block size and writes size bytes to
// /bench/read with MUST_CACHE through the short-circuit client, and to a plain file.
func newReadEnv(tb testing.TB, size int, blockSize int64) *readEnv {
	tb.Helper()
	e := newEnv(tb, envConfig{memSize: int64(size) + 2*blockSize, blockSize: blockSize})
	r := &readEnv{env: e, path: "/bench/read", data: payload(size, 1), block: blockSize}
	if _, err := writeFile(tb.Context(), e.sc, r.path, client.WriteMustCache, r.data); err != nil {
		tb.Fatal(err)
	}
	if _, err := plainWrite(filepath.Join(e.memDir, "plain-read"), r.data, false, true); err != nil {
		tb.Fatal(err)
	}
	f, err := os.Open(filepath.Join(e.memDir, "plain-read"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	r.plain = f
	return r
}

// scTimes are the durations of one shortCircuitRound.
type scTimes struct {
	sluice, memcpy, pread time.Duration
}

// shortCircuitRound reads the whole file into dst three ways, interleaved block by block
// so that all three meet the same load on a shared machine: sequential Reads of one
// FileReader through the short-circuit client (Open and Close timed too), copy() of the
// in-memory bytes (the memcpy reference), and pread of the plain tmpfs file (the pread
// reference). The order of the three rotates with the block and the round. With verify
// it checks the bytes the client read.
func (r *readEnv) shortCircuitRound(ctx context.Context, dst []byte, round int, verify bool) (scTimes, error) {
	var t scTimes
	t0 := time.Now()
	rd, err := r.sc.Open(ctx, r.path, client.OpenOptions{})
	t.sluice += time.Since(t0)
	if err != nil {
		return t, fmt.Errorf("open %s: %w", r.path, err)
	}
	defer rd.Close()
	var lo, hi int64
	parts := []func() error{
		func() error {
			t0 := time.Now()
			_, err := io.ReadFull(rd, dst[lo:hi])
			t.sluice += time.Since(t0)
			if err != nil {
				return fmt.Errorf("read %s at %d: %w", r.path, lo, err)
			}
			if verify && !bytes.Equal(dst[lo:hi], r.data[lo:hi]) {
				return fmt.Errorf("short-circuit read of %s at %d: bytes differ from those written", r.path, lo)
			}
			return nil
		},
		func() error {
			t0 := time.Now()
			copy(dst[lo:hi], r.data[lo:hi])
			t.memcpy += time.Since(t0)
			return nil
		},
		func() error {
			t0 := time.Now()
			_, err := r.plain.ReadAt(dst[lo:hi], lo)
			t.pread += time.Since(t0)
			if err != nil {
				return fmt.Errorf("pread reference at %d: %w", lo, err)
			}
			return nil
		},
	}
	for i := 0; lo < int64(len(dst)); i++ {
		hi = min(lo+r.block, int64(len(dst)))
		for k := range parts {
			if err := parts[(round+i+k)%len(parts)](); err != nil {
				return t, err
			}
		}
		lo = hi
	}
	t0 = time.Now()
	err = rd.Close()
	t.sluice += time.Since(t0)
	if err != nil {
		return t, fmt.Errorf("close %s: %w", r.path, err)
	}
	return t, nil
}

// remoteRound streams the file through the gRPC-only client into a discarding writer and
// the same bytes through a raw loopback TCP connection, the reference first when
// refFirst. It returns both durations.
func (r *readEnv) remoteRound(ctx context.Context, tcp *tcpStream, buf []byte, refFirst bool) (sluice, ref time.Duration, err error) {
	raw := func() error {
		var n int64
		n, ref, err = tcp.receive(buf)
		if err == nil && n != int64(len(r.data)) {
			err = fmt.Errorf("tcp reference: %d bytes, want %d", n, len(r.data))
		}
		return err
	}
	if refFirst {
		if err := raw(); err != nil {
			return 0, 0, err
		}
	}
	n, sluice, err := drain(ctx, r.remote, r.path, buf)
	if err != nil {
		return 0, 0, err
	}
	if n != int64(len(r.data)) {
		return 0, 0, fmt.Errorf("remote read of %s: %d bytes, want %d", r.path, n, len(r.data))
	}
	if !refFirst {
		if err := raw(); err != nil {
			return 0, 0, err
		}
	}
	return sluice, ref, nil
}

// BenchmarkShortCircuitRead reads a 1 GiB MUST_CACHE file sequentially (Open, Reads of
// one block each into a 1 GiB buffer, Close) through a client on the executor's host,
// which reads the block files on tmpfs directly, beside copy() of the same 1 GiB from
// memory into the same buffer and beside pread of a plain file on the same tmpfs, the
// three interleaved block by block (see shortCircuitRound). Metrics: the
// throughputs, sluice/memcpy (the target: ≥ 0.7) and sluice/pread (what the
// client adds to the kernel's read), medians over the rounds. It fails if any byte came
// another way than short-circuit.
func BenchmarkShortCircuitRead(b *testing.B) {
	skipShort(b)
	r := newReadEnv(b, benchSize, benchBlock)
	dst := make([]byte, benchSize)
	// A first untimed round faults the destination in and checks the bytes.
	if _, err := r.shortCircuitRound(b.Context(), dst, 0, true); err != nil {
		b.Fatal(err)
	}
	before := r.sc.Stats()
	var vsMemcpy, vsPread pairs
	rounds := 0
	b.SetBytes(benchSize * readRoundsPerIter)
	b.ResetTimer()
	for b.Loop() {
		for range readRoundsPerIter {
			t, err := r.shortCircuitRound(b.Context(), dst, rounds, false)
			if err != nil {
				b.Fatal(err)
			}
			vsMemcpy.add(t.sluice, t.memcpy)
			vsPread.add(t.sluice, t.pread)
			rounds++
		}
	}
	b.StopTimer()
	after := r.sc.Stats()
	if got, want := after.BytesReadShortCircuit-before.BytesReadShortCircuit, int64(rounds)*benchSize; got != want {
		b.Fatalf("short-circuit bytes read = %d, want %d (stats %+v)", got, want, after)
	}
	if after.BytesReadRemote != before.BytesReadRemote || after.BytesReadUFS != before.BytesReadUFS {
		b.Fatalf("bytes were read other than by short-circuit: %+v", after)
	}
	sluice, memcpy := vsMemcpy.total()
	_, pread := vsPread.total()
	b.ReportMetric(mbps(benchSize, rounds, sluice), "sluice-MB/s")
	b.ReportMetric(mbps(benchSize, rounds, memcpy), "memcpy-MB/s")
	b.ReportMetric(mbps(benchSize, rounds, pread), "pread-MB/s")
	b.ReportMetric(vsMemcpy.ratio(), "sluice/memcpy")
	b.ReportMetric(vsPread.ratio(), "sluice/pread")
}

// BenchmarkRemoteRead reads the same 1 GiB file with a client whose ShortCircuit is off,
// so every block streams over the executor's ReadBlock gRPC stream on loopback (drained
// with io.CopyBuffer, which uses the reader's WriteTo), beside a goroutine writing the
// same 1 GiB into a loopback TCP connection that the reader drains with io.CopyBuffer.
// Metrics: both throughputs and sluice/tcp (target ≥ 0.6). The executor's side of the
// stream runs in the same process and shares the two cores, as the TCP writer does.
func BenchmarkRemoteRead(b *testing.B) {
	skipShort(b)
	r := newReadEnv(b, benchSize, benchBlock)
	tcp := newTCPStream(b, r.data)
	buf := make([]byte, 1<<20)
	before := r.remote.Stats()
	var p pairs
	rounds := 0
	b.SetBytes(benchSize * readRoundsPerIter)
	b.ResetTimer()
	for b.Loop() {
		for range readRoundsPerIter {
			s, t, err := r.remoteRound(b.Context(), tcp, buf, rounds%2 == 1)
			if err != nil {
				b.Fatal(err)
			}
			p.add(s, t)
			rounds++
		}
	}
	b.StopTimer()
	after := r.remote.Stats()
	if got, want := after.BytesReadRemote-before.BytesReadRemote, int64(rounds)*benchSize; got != want {
		b.Fatalf("remote bytes read = %d, want %d (stats %+v)", got, want, after)
	}
	if after.BytesReadShortCircuit != before.BytesReadShortCircuit {
		b.Fatalf("the gRPC-only client read by short-circuit: %+v", after)
	}
	sluice, ref := p.total()
	b.ReportMetric(mbps(benchSize, rounds, sluice), "sluice-MB/s")
	b.ReportMetric(mbps(benchSize, rounds, ref), "tcp-MB/s")
	b.ReportMetric(p.ratio(), "sluice/tcp")
}

// tcpStream is the raw loopback reference: every accepted connection gets data written
// to it by a goroutine, then closed.
type tcpStream struct {
	lis  net.Listener
	data []byte
	errs chan error
}

// newTCPStream listens on 127.0.0.1; the listener closes when tb ends.
func newTCPStream(tb testing.TB, data []byte) *tcpStream {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { lis.Close() })
	return &tcpStream{lis: lis, data: data, errs: make(chan error, 1)}
}

// receive connects, lets a goroutine write the data into the server side of the
// connection, drains it with io.CopyBuffer through buf, and returns the bytes received and
// the time from dial to the end of the stream.
func (s *tcpStream) receive(buf []byte) (int64, time.Duration, error) {
	go func() {
		conn, err := s.lis.Accept()
		if err != nil {
			s.errs <- err
			return
		}
		_, err = conn.Write(s.data)
		if cerr := conn.Close(); err == nil {
			err = cerr
		}
		s.errs <- err
	}()
	start := time.Now()
	conn, err := net.Dial("tcp", s.lis.Addr().String())
	if err != nil {
		s.lis.Close() // ends the Accept
		return 0, 0, errors.Join(err, <-s.errs)
	}
	// readerOnly hides the connection's WriteTo, so the copy goes through buf.
	n, err := io.CopyBuffer(discard{}, readerOnly{conn}, buf)
	d := time.Since(start)
	conn.Close()
	if werr := <-s.errs; err == nil {
		err = werr
	}
	return n, d, err
}

// readerOnly exposes only Read.
type readerOnly struct{ r io.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }
