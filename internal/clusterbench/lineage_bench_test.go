package clusterbench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/internal/bench"
	"github.com/sluicedata/sluice/internal/miniotest"
	"github.com/sluicedata/sluice/ufs"
	"github.com/sluicedata/sluice/ufs/local"
	"github.com/sluicedata/sluice/ufs/s3"
)

// The lineage benchmarks (issue 4):
//
//   - BenchmarkLineageWrite: a lineage job writing its output (client.Job.CreateOutput
//     on the placeholder SubmitJob made: MUST_CACHE, protected by lineage) beside a
//     client writing the same bytes CACHE_THROUGH, durable in the UFS when Close
//     returns: to the local UFS on disk (fsynced) in /local, to MinIO on loopback in
//     /minio. The Tachyon paper's headline was lineage writes 110x faster than
//     in-memory HDFS with replication.
//   - BenchmarkRecovery: a job writing a 1 GiB output, SIGKILL-like loss of the executor
//     holding it before any checkpoint, and the read that waits for the master's
//     recompute (plan, reset of the output, rerun of the job, commit), beside the
//     original run.

// lineageWriteRounds is how many paired rounds one iteration of BenchmarkLineageWrite
// runs; the ratio is their median.
const lineageWriteRounds = 3

// lineageWriteRound writes data once as a job's output in le and once CACHE_THROUGH
// through ct under ctDir, the leader alternating with the round, and deletes both files
// again. It returns the job's write time and the CACHE_THROUGH write time.
func lineageWriteRound(ctx context.Context, le *lineageEnv, ct *client.Client, ctDir string, data []byte, round int) (job, through time.Duration, err error) {
	jobOut, ctOut := outPath("/lineage-write", round), outPath(ctDir, round)
	runJob := func() error {
		_, _, job, err = le.runJob(ctx, jobOut)
		if err != nil {
			return err
		}
		_, err = le.cl.Delete(ctx, jobOut, client.DeleteOptions{})
		return err
	}
	runCT := func() error {
		through, err = bench.WriteFile(ctx, ct, ctOut, client.WriteCacheThrough, data)
		if err != nil {
			return err
		}
		_, err = ct.Delete(ctx, ctOut, client.DeleteOptions{})
		return err
	}
	first, second := runJob, runCT
	if round%2 == 1 {
		first, second = runCT, runJob
	}
	if err := first(); err != nil {
		return 0, 0, err
	}
	if err := second(); err != nil {
		return 0, 0, err
	}
	return job, through, nil
}

// benchLineageWrite runs the paired rounds against the CACHE_THROUGH client ct (files
// under ctDir) and reports the throughputs and the median ratio.
func benchLineageWrite(b *testing.B, le *lineageEnv, ct *client.Client, ctDir, refName string) {
	var p bench.Pairs
	b.SetBytes(int64(len(le.data)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for r := range lineageWriteRounds {
			job, through, err := lineageWriteRound(b.Context(), le, ct, ctDir, le.data, i*lineageWriteRounds+r)
			if err != nil {
				b.Fatal(err)
			}
			p.Add(job, through)
		}
	}
	job, through := p.Total()
	b.ReportMetric(bench.MBps(int64(len(le.data)), len(p.Measured), job), "job-MB/s")
	b.ReportMetric(bench.MBps(int64(len(le.data)), len(p.Ref), through), refName+"-MB/s")
	b.ReportMetric(p.Ratio(), "job/"+refName)
}

func BenchmarkLineageWrite(b *testing.B) {
	skipShort(b)
	data := bench.Payload(benchSize, 7)
	b.Run("local", func(b *testing.B) {
		le := newLineageEnv(b, 1, 2*benchSize, benchBlock, data)
		_, ct := newPlainEnv(b, 2*benchSize, benchBlock, nil)
		benchLineageWrite(b, le, ct, "/ct", "through-local")
	})
	b.Run("minio", func(b *testing.B) {
		srv := miniotest.Start(b)
		bucket := srv.NewBucket(b)
		le := newLineageEnv(b, 1, 2*benchSize, benchBlock, data)
		_, ct := newPlainEnv(b, 2*benchSize, benchBlock, ufs.Registry{"file": local.Factory, "s3": s3.Factory})
		_, err := ct.Mount(b.Context(), "/minio", "s3://"+bucket+"/ct", client.MountOptions{Options: map[string]string{
			s3.OptEndpoint: srv.Endpoint, s3.OptAccessKey: srv.AccessKey, s3.OptSecretKey: srv.SecretKey,
			s3.OptSecure: "false", s3.OptRegion: miniotest.Region,
		}})
		if err != nil {
			b.Fatalf("mount MinIO: %v", err)
		}
		benchLineageWrite(b, le, ct, "/minio", "through-minio")
	})
}

// recoveryTimes are the figures of one recovery round.
type recoveryTimes struct {
	// original is the first run, from SubmitJob to COMPLETED; originalWrite its write.
	original, originalWrite time.Duration
	// recover is from the executor's loss to the return of Open, which waited for the
	// recompute; read the read of the whole rebuilt file after it.
	recover, read time.Duration
}

// recoveryRound runs the job into out, loses the executor holding the output, reads it
// back through the recompute and checks the bytes and that the job ran twice; the killed
// executor is restarted empty and the output deleted before it returns.
func recoveryRound(ctx context.Context, le *lineageEnv, out string) (recoveryTimes, error) {
	var t recoveryTimes
	id, orig, write, err := le.runJob(ctx, out)
	if err != nil {
		return t, err
	}
	t.original, t.originalWrite = orig, write
	slot, err := le.holderSlot(ctx, out)
	if err != nil {
		return t, err
	}
	start := time.Now()
	le.c.KillExecutor(slot)
	r, err := le.cl.Open(ctx, out, client.OpenOptions{})
	if err != nil {
		return t, fmt.Errorf("open %s after the loss: %w", out, err)
	}
	t.recover = time.Since(start)
	crc, n, err := readCRC(r)
	r.Close()
	t.read = time.Since(start) - t.recover
	if err != nil {
		return t, fmt.Errorf("read %s after the loss: %w", out, err)
	}
	if want := crcOf(le.data); n != int64(len(le.data)) || crc != want {
		return t, fmt.Errorf("%s read back %d bytes with CRC32C %08x, want %d with %08x", out, n, crc, len(le.data), want)
	}
	if runs, err := le.attemptsOf(ctx, id); err != nil || runs != 2 {
		return t, fmt.Errorf("job %s ran %d times (%v), want 2: the first run and one recompute", id, runs, err)
	}
	le.c.RestartExecutor(slot)
	if _, err := le.cl.Delete(ctx, out, client.DeleteOptions{}); err != nil {
		return t, err
	}
	// Executors drop a deleted file's blocks at their next heartbeats: wait, so that the
	// next round's output fits on one executor again.
	err = bench.Poll(ctx, time.Minute, 10*time.Millisecond, func() (bool, error) {
		var used int64
		for _, e := range le.c.LiveExecutors() {
			used += e.GetUsedBytes()
		}
		return used < int64(len(le.data)), nil
	})
	return t, err
}

func BenchmarkRecovery(b *testing.B) {
	skipShort(b)
	// Two executors, each with room for the output: the recompute writes it on the
	// survivor while the killed one is gone.
	le := newLineageEnv(b, 2, benchSize*5/2, benchBlock, bench.Payload(benchSize, 8))
	var orig, write, rec, read time.Duration
	n := 0
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t, err := recoveryRound(b.Context(), le, outPath("/recovery", i))
		if err != nil {
			b.Fatal(err)
		}
		orig, write, rec, read = orig+t.original, write+t.originalWrite, rec+t.recover, read+t.read
		n++
	}
	s := func(d time.Duration) float64 { return d.Seconds() / float64(n) }
	b.ReportMetric(s(orig), "original-s")
	b.ReportMetric(s(write), "original-write-s")
	b.ReportMetric(s(rec), "recover-s")
	b.ReportMetric(s(read), "read-after-s")
	b.ReportMetric(rec.Seconds()/orig.Seconds(), "recover/original")
}
