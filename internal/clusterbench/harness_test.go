package clusterbench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/executor"
	"github.com/sluicedata/sluice/internal/testcluster"
)

// TestMain fails the package when a cluster leaves goroutines behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	// benchSize is the file size of the data-path benchmarks (the 1 GiB).
	benchSize = 1 << 30
	// benchBlock is the block size of the benchmark files (the master's default).
	benchBlock = 64 << 20
	// ioBuf is the buffer of the reference copies and of the writers' Write calls.
	ioBuf = 4 << 20
)

// env is a running cluster with a short-circuit client and a gRPC-only client.
type env struct {
	c      *testcluster.Cluster
	sc     *client.Client
	remote *client.Client
	memDir string
}

// envConfig sizes an env.
type envConfig struct {
	// executors is the number of executors (default 1).
	executors int
	// memSize is each executor's MEM capacity.
	memSize int64
	// blockSize is the master's default block size (default benchBlock).
	blockSize int64
}

// newEnv starts one master and cfg.executors executors on this host whose MEM tiers live
// on tmpfs (/dev/shm, as in production) when the host has it, and two clients: one with
// short-circuit, one without. Everything stops when tb ends.
func newEnv(tb testing.TB, cfg envConfig) *env {
	tb.Helper()
	if cfg.executors <= 0 {
		cfg.executors = 1
	}
	if cfg.blockSize <= 0 {
		cfg.blockSize = benchBlock
	}
	mem := memRoot(tb)
	c := testcluster.New(tb, testcluster.Config{
		Executors: cfg.executors,
		MemSize:   cfg.memSize,
		BlockSize: cfg.blockSize,
		ExecutorConfig: func(i int, ecfg *executor.Config) {
			for t := range ecfg.Store.Tiers {
				for d := range ecfg.Store.Tiers[t].Dirs {
					ecfg.Store.Tiers[t].Dirs[d].Path = filepath.Join(mem, fmt.Sprintf("executor-%d-tier-%d-%d", i, t, d))
				}
			}
		},
	})
	e := &env{c: c, memDir: mem}
	e.sc = c.Client(tb)
	e.remote = c.Client(tb, func(cc *client.Config) { cc.ShortCircuit = false })
	return e
}

// memRoot returns a fresh directory on tmpfs (/dev/shm, or the tmpfs that
// SLUICE_BENCH_MEM_ROOT names, e.g. one mounted with huge=always) when there is one, else
// in tb.TempDir(); it is removed when tb ends, after the cluster stopped (cleanups run
// last registered first, and the cluster registers its own after this one).
func memRoot(tb testing.TB) string {
	tb.Helper()
	parent := "/dev/shm"
	if p := os.Getenv("SLUICE_BENCH_MEM_ROOT"); p != "" {
		parent = p
	}
	if st, err := os.Stat(parent); err == nil && st.IsDir() {
		d, err := os.MkdirTemp(parent, "sluice-clusterbench-")
		if err == nil {
			tb.Cleanup(func() {
				if err := os.RemoveAll(d); err != nil {
					tb.Errorf("remove %s: %v", d, err)
				}
			})
			return d
		}
	}
	return tb.TempDir()
}

// payload returns n pseudo-random bytes (incompressible, the same for the same seed),
// made fast enough for 1 GiB.
func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	i := 0
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for ; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeFile writes data to path with the write type in ioBuf-sized Writes and returns
// how long Create, the Writes and Close took.
func writeFile(ctx context.Context, cl *client.Client, path string, wt client.WriteType, data []byte) (time.Duration, error) {
	start := time.Now()
	w, err := cl.Create(ctx, path, client.CreateOptions{WriteType: wt, Recursive: true})
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", path, err)
	}
	for off := 0; off < len(data); off += ioBuf {
		if _, err := w.Write(data[off:min(off+ioBuf, len(data))]); err != nil {
			return 0, fmt.Errorf("write %s at %d: %w", path, off, err)
		}
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("close %s: %w", path, err)
	}
	return time.Since(start), nil
}

// drain opens path and copies it to a discarding writer with io.CopyBuffer (which hands
// the copy to the reader's WriteTo, as io.Copy callers get), and returns the byte count
// and how long it took.
func drain(ctx context.Context, cl *client.Client, path string, buf []byte) (int64, time.Duration, error) {
	start := time.Now()
	r, err := cl.Open(ctx, path, client.OpenOptions{})
	if err != nil {
		return 0, 0, fmt.Errorf("open %s: %w", path, err)
	}
	n, err := io.CopyBuffer(discard{}, r, buf)
	if err != nil {
		r.Close()
		return n, 0, fmt.Errorf("read %s: %w", path, err)
	}
	if err := r.Close(); err != nil {
		return n, 0, fmt.Errorf("close %s: %w", path, err)
	}
	return n, time.Since(start), nil
}

// discard is io.Discard without its ReadFrom, so that io.CopyBuffer uses the caller's
// buffer (or the source's WriteTo) rather than io.Discard's small pooled one.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// mbps returns the throughput of moving bytes n times in d, in MB/s (10^6 bytes).
func mbps(bytes int64, n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) * float64(n) / d.Seconds() / 1e6
}

// skipShort skips a benchmark under -short, before it allocates anything.
func skipShort(b *testing.B) {
	if testing.Short() {
		b.Skip("clusterbench: cluster benchmarks skipped with -short")
	}
}

// pairs collects the durations of the measured part and of its reference, round by
// round, on a shared machine where one slow round must not decide the figure.
type pairs struct {
	measured, ref []time.Duration
}

// add records one round.
func (p *pairs) add(measured, ref time.Duration) {
	p.measured = append(p.measured, measured)
	p.ref = append(p.ref, ref)
}

// total returns the sums of the measured and the reference durations.
func (p *pairs) total() (measured, ref time.Duration) {
	for i := range p.measured {
		measured += p.measured[i]
		ref += p.ref[i]
	}
	return measured, ref
}

// ratio returns the median over the rounds of ref/measured: the measured part's speed
// relative to its reference (1 is as fast). It is 0 without rounds.
func (p *pairs) ratio() float64 {
	r := make([]float64, 0, len(p.measured))
	for i := range p.measured {
		if p.measured[i] > 0 {
			r = append(r, p.ref[i].Seconds()/p.measured[i].Seconds())
		}
	}
	if len(r) == 0 {
		return 0
	}
	slices.Sort(r)
	if len(r)%2 == 1 {
		return r[len(r)/2]
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2
}
