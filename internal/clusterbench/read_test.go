package clusterbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sluicedata/sluice/client"
)

// readEnv is a cluster holding one MUST_CACHE file whose bytes are also kept in memory.
type readEnv struct {
	*env
	path string
	data []byte
}

// newReadEnv starts a one-executor cluster with the block size and writes size bytes to
// /bench/read with MUST_CACHE through the short-circuit client.
func newReadEnv(tb testing.TB, size int, blockSize int64) *readEnv {
	tb.Helper()
	e := newEnv(tb, envConfig{memSize: int64(size) + 2*blockSize, blockSize: blockSize})
	r := &readEnv{env: e, path: "/bench/read", data: payload(size, 1)}
	if _, err := writeFile(tb.Context(), e.sc, r.path, client.WriteMustCache, r.data); err != nil {
		tb.Fatal(err)
	}
	return r
}

// shortCircuitRound reads the file through the short-circuit client into dst and copies
// the in-memory bytes into dst (copy, the memcpy reference), the reference first when
// refFirst. With verify it checks the bytes read. It returns both durations.
func (r *readEnv) shortCircuitRound(ctx context.Context, dst []byte, refFirst, verify bool) (sluice, ref time.Duration, err error) {
	memcpy := func() {
		t0 := time.Now()
		copy(dst, r.data)
		ref = time.Since(t0)
	}
	if refFirst {
		memcpy()
	}
	if sluice, err = readFull(ctx, r.sc, r.path, dst); err != nil {
		return 0, 0, err
	}
	if verify && !bytes.Equal(dst, r.data) {
		return 0, 0, fmt.Errorf("short-circuit read of %s: bytes differ from those written", r.path)
	}
	if !refFirst {
		memcpy()
	}
	return sluice, ref, nil
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

// BenchmarkShortCircuitRead reads a 1 GiB MUST_CACHE file sequentially (io.ReadFull into
// a 1 GiB buffer) through a client on the executor's host, which reads the block files on
// tmpfs directly, beside copy() of the same 1 GiB from memory into the same buffer.
// Metrics: both throughputs and sluice/memcpy (target ≥ 0.7). It fails if any byte came
// another way than short-circuit.
func BenchmarkShortCircuitRead(b *testing.B) {
	skipShort(b)
	r := newReadEnv(b, benchSize, benchBlock)
	dst := make([]byte, benchSize)
	// A first untimed round faults the destination in and checks the bytes.
	if _, _, err := r.shortCircuitRound(b.Context(), dst, false, true); err != nil {
		b.Fatal(err)
	}
	before := r.sc.Stats()
	var p pairs
	rounds := 0
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		s, m, err := r.shortCircuitRound(b.Context(), dst, rounds%2 == 1, false)
		if err != nil {
			b.Fatal(err)
		}
		p.add(s, m)
		rounds++
	}
	b.StopTimer()
	after := r.sc.Stats()
	if got, want := after.BytesReadShortCircuit-before.BytesReadShortCircuit, int64(rounds)*benchSize; got != want {
		b.Fatalf("short-circuit bytes read = %d, want %d (stats %+v)", got, want, after)
	}
	if after.BytesReadRemote != before.BytesReadRemote || after.BytesReadUFS != before.BytesReadUFS {
		b.Fatalf("bytes were read other than by short-circuit: %+v", after)
	}
	sluice, ref := p.total()
	b.ReportMetric(mbps(benchSize, rounds, sluice), "sluice-MB/s")
	b.ReportMetric(mbps(benchSize, rounds, ref), "memcpy-MB/s")
	b.ReportMetric(p.ratio(), "sluice/memcpy")
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
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		s, t, err := r.remoteRound(b.Context(), tcp, buf, rounds%2 == 1)
		if err != nil {
			b.Fatal(err)
		}
		p.add(s, t)
		rounds++
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
