package clusterbench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

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

// skipShort skips a benchmark under -short, before it allocates anything.
func skipShort(b *testing.B) {
	if testing.Short() {
		b.Skip("clusterbench: cluster benchmarks skipped with -short")
	}
}
