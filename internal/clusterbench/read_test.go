package clusterbench

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/internal/bench"
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
	plain string
	block int64
}

// newReadEnv starts a one-executor cluster with the block size and writes size bytes to
// /bench/read with MUST_CACHE through the short-circuit client, and to a plain file.
func newReadEnv(tb testing.TB, size int, blockSize int64) *readEnv {
	tb.Helper()
	e := newEnv(tb, envConfig{memSize: int64(size) + 2*blockSize, blockSize: blockSize})
	r := &readEnv{env: e, path: "/bench/read", data: bench.Payload(size, 1), block: blockSize}
	if _, err := bench.WriteFile(tb.Context(), e.sc, r.path, client.WriteMustCache, r.data); err != nil {
		tb.Fatal(err)
	}
	if _, err := bench.PlainWrite(filepath.Join(e.memDir, "plain-read"), r.data, false, true); err != nil {
		tb.Fatal(err)
	}
	r.plain = filepath.Join(e.memDir, "plain-read")
	return r
}

// shortCircuitRound runs bench.ShortCircuitRound on the file: sequential Reads through
// the short-circuit client, copy() of the bytes and pread of the plain tmpfs file,
// interleaved block by block.
func (r *readEnv) shortCircuitRound(ctx context.Context, dst []byte, round int, verify bool) (bench.SCTimes, error) {
	return bench.ShortCircuitRound(ctx, r.sc, &bench.ReadSet{
		Path: r.path, Plain: r.plain, Data: r.data, Dst: dst, Block: r.block,
	}, round, verify)
}

// remoteRound streams the file through the gRPC-only client into a discarding writer and
// the same bytes through a raw loopback TCP connection, the reference first when
// refFirst. It returns both durations.
func (r *readEnv) remoteRound(ctx context.Context, tcp *bench.TCPStream, buf []byte, refFirst bool) (sluice, ref time.Duration, err error) {
	raw := func() error {
		var n int64
		n, ref, err = tcp.Receive(buf)
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
	n, sluice, err := bench.Drain(ctx, r.remote, r.path, client.OpenOptions{}, buf, false)
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
	var vsMemcpy, vsPread bench.Pairs
	rounds := 0
	b.SetBytes(benchSize * readRoundsPerIter)
	b.ResetTimer()
	for b.Loop() {
		for range readRoundsPerIter {
			t, err := r.shortCircuitRound(b.Context(), dst, rounds, false)
			if err != nil {
				b.Fatal(err)
			}
			vsMemcpy.Add(t.Sluice, t.Memcpy)
			vsPread.Add(t.Sluice, t.Pread)
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
	sluice, memcpy := vsMemcpy.Total()
	_, pread := vsPread.Total()
	b.ReportMetric(bench.MBps(benchSize, rounds, sluice), "sluice-MB/s")
	b.ReportMetric(bench.MBps(benchSize, rounds, memcpy), "memcpy-MB/s")
	b.ReportMetric(bench.MBps(benchSize, rounds, pread), "pread-MB/s")
	b.ReportMetric(vsMemcpy.Ratio(), "sluice/memcpy")
	b.ReportMetric(vsPread.Ratio(), "sluice/pread")
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
	var p bench.Pairs
	rounds := 0
	b.SetBytes(benchSize * readRoundsPerIter)
	b.ResetTimer()
	for b.Loop() {
		for range readRoundsPerIter {
			s, t, err := r.remoteRound(b.Context(), tcp, buf, rounds%2 == 1)
			if err != nil {
				b.Fatal(err)
			}
			p.Add(s, t)
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
	sluice, ref := p.Total()
	b.ReportMetric(bench.MBps(benchSize, rounds, sluice), "sluice-MB/s")
	b.ReportMetric(bench.MBps(benchSize, rounds, ref), "tcp-MB/s")
	b.ReportMetric(p.Ratio(), "sluice/tcp")
}

// newTCPStream starts the raw loopback reference, closed when tb ends.
func newTCPStream(tb testing.TB, data []byte) *bench.TCPStream {
	tb.Helper()
	s, err := bench.NewTCPStream(data)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
