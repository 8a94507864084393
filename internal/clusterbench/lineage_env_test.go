package clusterbench

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/internal/bench"
	"github.com/sluicedata/sluice/internal/testcluster"
	"github.com/sluicedata/sluice/master"
	"github.com/sluicedata/sluice/ufs"
)

// The clusters of the lineage benchmarks (lineage_bench_test.go): one whose master runs
// lineage jobs in-process (funcLauncher) and holds checkpoints back, so that job outputs
// stay protected by lineage alone; and a plain one for the CACHE_THROUGH references, so
// that no background checkpoint of a job output shares the disk with them.

// writeJob is the command of the benchmarks' job: it writes the bytes it was given to
// its one output.
const writeJob = "write"

// lineageEnv is a cluster running lineage jobs.
type lineageEnv struct {
	c  *testcluster.Cluster
	l  *funcLauncher
	cl *client.Client
	// data is what the job writes; tookCh receives the duration of each run's write
	// (CreateOutput to the return of Close).
	data   []byte
	tookCh chan time.Duration
}

// newLineageEnv starts executors executors of memSize bytes of MEM on tmpfs, a master
// that runs writeJob in-process and checkpoints at one byte a second after a first
// checkpoint that puts its throttle in debt (holdCheckpoints), and a short-circuit client
// that waits up to ten minutes for recomputes.
func newLineageEnv(tb testing.TB, executors int, memSize, blockSize int64, data []byte) *lineageEnv {
	tb.Helper()
	e := &lineageEnv{l: newFuncLauncher(tb), data: data, tookCh: make(chan time.Duration, 16)}
	e.c = testcluster.New(tb, testcluster.Config{
		Executors: executors,
		MemSize:   memSize,
		BlockSize: blockSize,
		MemRoot:   memRoot(tb),
		MasterConfig: func(_ int, cfg *master.Config) {
			cfg.Jobs = e.l
			cfg.Checkpoint.Bandwidth, cfg.Checkpoint.Burst = 1, 1
		},
	})
	jobCfg := e.c.ClientConfig()
	e.l.handle(writeJob, func(ctx context.Context, env client.JobEnvironment) error {
		return e.runWrite(ctx, jobCfg, env)
	})
	e.cl = e.c.Client(tb, func(cc *client.Config) { cc.RecomputeWait = 10 * time.Minute })
	e.holdCheckpoints(tb)
	return e
}

// holdCheckpoints writes a 1 MiB ASYNC_THROUGH file and waits until it is PERSISTED: the
// throttle's one token let it start and it left the bucket a million seconds in debt,
// so no job output is checkpointed during the benchmark.
func (e *lineageEnv) holdCheckpoints(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	if _, err := bench.WriteFile(ctx, e.cl, "/checkpoint-debt", client.WriteAsyncThrough, bench.Payload(1<<20, 99)); err != nil {
		tb.Fatal(err)
	}
	err := bench.Poll(ctx, time.Minute, 10*time.Millisecond, func() (bool, error) {
		fi, err := e.cl.Stat(ctx, "/checkpoint-debt")
		return err == nil && fi.Persistence == sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED, err
	})
	if err != nil {
		tb.Fatalf("the checkpoint of /checkpoint-debt: %v", err)
	}
}

// runWrite is writeJob's body: connect as the job, write e.data to its output and report
// how long the write took.
func (e *lineageEnv) runWrite(ctx context.Context, cfg client.Config, env client.JobEnvironment) error {
	j, err := client.NewJob(ctx, cfg, env)
	if err != nil {
		return err
	}
	defer j.Close()
	if len(env.Outputs) != 1 {
		return fmt.Errorf("want one output, have %d", len(env.Outputs))
	}
	start := time.Now()
	w, err := j.CreateOutput(ctx, env.Outputs[0])
	if err != nil {
		return err
	}
	for off := 0; off < len(e.data); off += bench.IOBuf {
		if _, err := w.Write(e.data[off:min(off+bench.IOBuf, len(e.data))]); err != nil {
			return errors.Join(err, w.Abort())
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	select {
	case e.tookCh <- time.Since(start):
	default:
	}
	return nil
}

// runJob submits writeJob with output out and waits until it completed. It returns the
// job's ID, the time from the submit to COMPLETED as the client sees it, and the run's
// write time.
func (e *lineageEnv) runJob(ctx context.Context, out string) (id string, wall, write time.Duration, err error) {
	for len(e.tookCh) > 0 {
		<-e.tookCh // a write of a run that ended after its job was gone
	}
	start := time.Now()
	id, err = e.cl.SubmitJob(ctx, &sluicepb.JobSpec{Name: "write", Command: []string{writeJob}, Outputs: []string{out}})
	if err != nil {
		return "", 0, 0, fmt.Errorf("submit: %w", err)
	}
	if err := e.waitCompleted(ctx, id); err != nil {
		return id, 0, 0, err
	}
	wall = time.Since(start)
	select {
	case write = <-e.tookCh:
	default:
		return id, wall, 0, fmt.Errorf("job %s completed without reporting its write", id)
	}
	return id, wall, write, nil
}

// waitCompleted polls the job every few milliseconds until it is COMPLETED; a job that
// ends otherwise is an error.
func (e *lineageEnv) waitCompleted(ctx context.Context, id string) error {
	return bench.WaitJob(ctx, e.cl, id, 2*time.Millisecond)
}

// holderSlot returns the slot of the one executor holding every block of path.
func (e *lineageEnv) holderSlot(ctx context.Context, path string) (int, error) {
	bl, err := e.cl.BlockLocations(ctx, path)
	if err != nil {
		return -1, err
	}
	slot := -1
	for _, b := range bl.GetBlocks() {
		if len(b.GetLocations()) != 1 {
			return -1, fmt.Errorf("%s block %d has %d copies, want 1", path, b.GetBlock().GetBlockId(), len(b.GetLocations()))
		}
		s := e.c.ExecutorIndex(b.GetLocations()[0].GetExecutorId())
		if slot >= 0 && s != slot {
			return -1, fmt.Errorf("%s spans executors %d and %d", path, slot, s)
		}
		slot = s
	}
	if slot < 0 {
		return -1, fmt.Errorf("no running executor holds %s", path)
	}
	return slot, nil
}

// crcOf returns the CRC32C of b.
func crcOf(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// readCRC reads r to its end and returns the CRC32C of what it read and the byte count.
func readCRC(r io.Reader) (uint32, int64, error) {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	n, err := io.CopyBuffer(h, r, make([]byte, bench.IOBuf))
	return h.Sum32(), n, err
}

// attemptsOf returns the run count of a job.
func (e *lineageEnv) attemptsOf(ctx context.Context, id string) (int32, error) {
	j, err := e.cl.GetJob(ctx, id)
	if err != nil {
		return 0, err
	}
	return j.GetAttempts(), nil
}

// newPlainEnv starts a plain cluster of one executor (MEM on tmpfs) for the
// CACHE_THROUGH references, with the UFS registry reg (nil: file only).
func newPlainEnv(tb testing.TB, memSize, blockSize int64, reg ufs.Registry) (*testcluster.Cluster, *client.Client) {
	tb.Helper()
	c := testcluster.New(tb, testcluster.Config{Executors: 1, MemSize: memSize, BlockSize: blockSize,
		MemRoot: memRoot(tb), UFS: reg})
	return c, c.Client(tb)
}

// outPath names the output of round r of a benchmark.
func outPath(dir string, r int) string { return dir + "/out-" + strconv.Itoa(r) }
