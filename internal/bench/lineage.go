package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
)

// Rows of the lineage group.
const (
	FigJobWrite   = "lineage job's output write"
	FigRecovery   = "recovery of a lost output (kill → read back)"
	RefOriginal   = "the original job run (submit → completed)"
	lineageSeed   = 4
	jobCheckEvery = 2 * time.Millisecond
)

// RunWriteJob is the body of the lineage figures' job: it connects as the job of env,
// writes Payload(size, seed) to its one output and then the write's duration in
// nanoseconds, as decimal text, to the local file tookFile. The timing is not an output:
// a job's outputs must be the same on every run (a recompute checks them). The payload
// is made before the clock starts.
func RunWriteJob(ctx context.Context, cfg client.Config, env client.JobEnvironment, size int64, seed uint64, tookFile string) error {
	if len(env.Outputs) != 1 {
		return fmt.Errorf("bench write job: want 1 output, have %d: %w", len(env.Outputs), ErrInvalidConfig)
	}
	data := Payload(int(size), seed)
	j, err := client.NewJob(ctx, cfg, env)
	if err != nil {
		return err
	}
	defer j.Close()
	start := time.Now()
	w, err := j.CreateOutput(ctx, env.Outputs[0])
	if err != nil {
		return err
	}
	if err := WriteData(w, data); err != nil {
		return errors.Join(err, w.Abort())
	}
	took := time.Since(start)
	return os.WriteFile(tookFile, []byte(strconv.FormatInt(took.Nanoseconds(), 10)), 0o644)
}

// lineageGroup measures a job writing its output (MUST_CACHE, protected by lineage)
// beside a CACHE_THROUGH write of the same bytes to the local UFS, and the recovery of
// an output whose executor is killed beside the job's original run.
func (r *runner) lineageGroup(ctx context.Context) error {
	if r.cfg.Lineage == nil {
		r.skip(GroupLineage, FigJobWrite, UnitMBps, RefCacheThroughLocal, nil, r.cfg.LineageSkip)
		r.skip(GroupLineage, FigRecovery, UnitSeconds, RefOriginal, nil, r.cfg.LineageSkip)
		return nil
	}
	r.progress(GroupLineage, "setup", 0)
	mount, _, err := r.localUFS(ctx)
	if err != nil {
		return err
	}
	data := Payload(int(r.cfg.Size), lineageSeed)
	crc := crc32.Checksum(data, crcTable)
	base, err := r.usedBytes(ctx)
	if err != nil {
		return err
	}
	execs, err := r.sc.Executors(ctx, false)
	if err != nil {
		return err
	}
	dir := r.path("lineage")
	clean := func(paths ...string) error {
		for _, p := range paths {
			if _, err := r.sc.Delete(ctx, p, client.DeleteOptions{}); err != nil && !errors.Is(err, client.ErrNotFound) {
				return err
			}
		}
		return r.waitUsedAtMost(ctx, base)
	}
	mb := func(d time.Duration) float64 { return MBps(int64(len(data)), 1, d) }
	for run := 1; run <= r.cfg.Runs; run++ {
		r.progress(GroupLineage, FigJobWrite, run)
		out := fmt.Sprintf("%s/write-%d", dir, run)
		job, ct, err := pairedRun(run, func() (time.Duration, error) {
			_, _, took, err := r.runWriteJob(ctx, out)
			return took, errors.Join(err, clean(out))
		}, func() (time.Duration, error) {
			p := fmt.Sprintf("%s/lineage-ct-%d", mount, run)
			d, err := WriteFile(ctx, r.sc, p, client.WriteCacheThrough, data)
			return d, errors.Join(err, clean(p))
		})
		if err != nil {
			return fmt.Errorf("%s: %w", FigJobWrite, err)
		}
		r.add(GroupLineage, FigJobWrite, UnitMBps, RefCacheThroughLocal, nil, mb(job), mb(ct))

		r.progress(GroupLineage, FigRecovery, run)
		out = fmt.Sprintf("%s/recover-%d", dir, run)
		rec, orig, err := r.recoveryRound(ctx, out, int64(len(data)), crc, len(execs))
		if err != nil {
			return fmt.Errorf("%s: %w", FigRecovery, err)
		}
		r.add(GroupLineage, FigRecovery, UnitSeconds, RefOriginal, nil, rec.Seconds(), orig.Seconds())
		if err := clean(out); err != nil {
			return err
		}
	}
	return nil
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// runWriteJob submits the write job with output out, waits until it completed, and
// returns its ID, the time from submit to COMPLETED and the write time the job reported.
func (r *runner) runWriteJob(ctx context.Context, out string) (id string, wall, took time.Duration, err error) {
	tookFile := filepath.Join(r.cfg.Scratch, "job-took")
	if err := os.Remove(tookFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", 0, 0, err
	}
	start := time.Now()
	id, err = r.sc.SubmitJob(ctx, &sluicepb.JobSpec{
		Name:    "sluice-bench-write",
		Command: r.cfg.Lineage.WriteJobCommand(r.cfg.Size, lineageSeed, tookFile),
		Outputs: []string{out},
	})
	if err != nil {
		return "", 0, 0, fmt.Errorf("submit the write job: %w", err)
	}
	if err := r.waitJob(ctx, id); err != nil {
		return id, 0, 0, err
	}
	wall = time.Since(start)
	b, err := os.ReadFile(tookFile)
	if err != nil {
		return id, wall, 0, fmt.Errorf("the write job's timing: %w", err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return id, wall, 0, fmt.Errorf("the write job's timing: %w", err)
	}
	return id, wall, time.Duration(ns), nil
}

// waitJob polls the job until it is COMPLETED; a job that ends otherwise is an error.
func (r *runner) waitJob(ctx context.Context, id string) error {
	return WaitJob(ctx, r.sc, id, jobCheckEvery)
}

// WaitJob polls job id every interval until it is COMPLETED; a job that ends otherwise
// is an error naming its state, message and log tail.
func WaitJob(ctx context.Context, cl *client.Client, id string, every time.Duration) error {
	return Poll(ctx, 10*time.Minute, every, func() (bool, error) {
		j, err := cl.GetJob(ctx, id)
		if err != nil {
			return false, err
		}
		switch j.GetState() {
		case sluicepb.JobState_JOB_STATE_COMPLETED:
			return true, nil
		case sluicepb.JobState_JOB_STATE_FAILED, sluicepb.JobState_JOB_STATE_KILLED:
			return false, fmt.Errorf("job %s %v: %s %s", id, j.GetState(), j.GetMessage(), j.GetLogTail())
		}
		return false, nil
	})
}

// recoveryRound runs the write job into out, kills the executors holding the output
// before it is checkpointed, and reads it back through Open, which waits for the
// master's recompute. It returns the time from the kill to the end of the read (bytes
// checked) and the original run's submit-to-completed time, and waits until the
// scheduler has replaced the killed executors (want of them live).
func (r *runner) recoveryRound(ctx context.Context, out string, size int64, crc uint32, want int) (recovery, original time.Duration, err error) {
	id, original, _, err := r.runWriteJob(ctx, out)
	if err != nil {
		return 0, 0, err
	}
	bl, err := r.sc.BlockLocations(ctx, out)
	if err != nil {
		return 0, 0, err
	}
	var holders []uint64
	for _, b := range bl.GetBlocks() {
		for _, l := range b.GetLocations() {
			if !slices.Contains(holders, l.GetExecutorId()) {
				holders = append(holders, l.GetExecutorId())
			}
		}
	}
	if bl.GetFile().GetPersistenceState() == sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED {
		r.note(FigRecovery + ": an output was checkpointed before its executor was killed; that run read it from the UFS")
	}
	execs, err := r.sc.Executors(ctx, false)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	for _, e := range execs {
		if slices.Contains(holders, e.GetId()) {
			if err := r.cfg.Lineage.KillExecutor(ctx, e); err != nil {
				return 0, 0, err
			}
		}
	}
	rd, err := r.sc.Open(ctx, out, client.OpenOptions{})
	if err != nil {
		return 0, 0, fmt.Errorf("open %s after the loss: %w", out, err)
	}
	h := crc32.New(crcTable)
	n, err := io.CopyBuffer(h, ReaderOnly{rd}, make([]byte, 1<<20))
	rd.Close()
	recovery = time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s after the loss: %w", out, err)
	}
	if n != size || h.Sum32() != crc {
		return 0, 0, fmt.Errorf("%s read back %d bytes with CRC32C %08x, want %d with %08x", out, n, h.Sum32(), size, crc)
	}
	if j, err := r.sc.GetJob(ctx, id); err == nil && j.GetAttempts() < 2 {
		r.note(FigRecovery + ": a run read the output without a recompute (it was checkpointed first)")
	}
	err = Poll(ctx, time.Minute, 10*time.Millisecond, func() (bool, error) {
		live, err := r.sc.Executors(ctx, false)
		return len(live) >= want, err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("wait for the killed executors' replacements: %w", err)
	}
	return recovery, original, nil
}
