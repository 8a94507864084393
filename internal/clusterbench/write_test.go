package clusterbench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/internal/bench"
)

// writeTypes are the Sluice rows of BenchmarkWrite.
var writeTypes = []client.WriteType{client.WriteMustCache, client.WriteThrough, client.WriteCacheThrough, client.WriteAsyncThrough}

// Names of BenchmarkWrite's reference rows: the same bytes written with os.File into a
// file on the MEM tier's tmpfs (no fsync: tmpfs has no disk), and into a file beside the
// UFS on disk, fsynced before Close.
const (
	rowPlainTmpfs = "plain-tmpfs"
	rowPlainDisk  = "plain-disk-fsync"
)

// writeRows are the names of every row in the order of the first round.
var writeRows = append(func() (r []string) {
	for _, wt := range writeTypes {
		r = append(r, wt.String())
	}
	return r
}(), rowPlainTmpfs, rowPlainDisk)

// writeTimes holds, per row name, the duration of each round: for a Sluice row the time
// from Create to the return of Close, for a reference row from create to close.
// asyncDurable is, for ASYNC_THROUGH, the time from Create until Persist with Wait
// returned (the file is durable in the UFS).
type writeTimes struct {
	rows         map[string][]time.Duration
	asyncDurable time.Duration
}

func newWriteTimes() *writeTimes { return &writeTimes{rows: map[string][]time.Duration{}} }

// total returns the summed durations of a row.
func (t *writeTimes) total(row string) (d time.Duration) {
	for _, x := range t.rows[row] {
		d += x
	}
	return d
}

// ratio returns the median over the rounds of ref's duration over row's: how many times
// faster row is than ref in the same round.
func (t *writeTimes) ratio(row, ref string) float64 {
	var p bench.Pairs
	for i := range t.rows[row] {
		p.Add(t.rows[row][i], t.rows[ref][i])
	}
	return p.Ratio()
}

// writeRound writes data once per row, the order rotated by round, each into an empty
// executor: after each Sluice row the file is deleted (from the UFS too) and the round
// waits, untimed, until the executors report no used bytes. ASYNC_THROUGH's background
// persist is waited for (Persist with Wait) before anything else runs, and timed
// separately.
func (e *env) writeRound(ctx context.Context, data []byte, round int, into *writeTimes) error {
	for k := range writeRows {
		row := writeRows[(round+k)%len(writeRows)]
		var d time.Duration
		var err error
		switch row {
		case rowPlainTmpfs:
			d, err = bench.PlainWrite(filepath.Join(e.memDir, "plain"), data, false, false)
		case rowPlainDisk:
			d, err = bench.PlainWrite(filepath.Join(filepath.Dir(e.c.UFSDir()), "plain"), data, true, false)
		default:
			d, err = e.writeRow(ctx, data, round, writeTypes[slices.Index(writeRows, row)], into)
		}
		if err != nil {
			return err
		}
		into.rows[row] = append(into.rows[row], d)
	}
	return nil
}

// writeRow writes data with the write type, waits for its persist if it is
// ASYNC_THROUGH, deletes it and waits until the executors are empty again.
func (e *env) writeRow(ctx context.Context, data []byte, round int, wt client.WriteType, into *writeTimes) (time.Duration, error) {
	path := fmt.Sprintf("/bench/write-%s-%d", wt, round)
	d, err := bench.WriteFile(ctx, e.sc, path, wt, data)
	if err != nil {
		return 0, err
	}
	if wt == client.WriteAsyncThrough {
		t0 := time.Now()
		if _, err := e.sc.Persist(ctx, path, client.PersistOptions{Wait: true}); err != nil {
			return 0, fmt.Errorf("wait for the persist of %s: %w", path, err)
		}
		into.asyncDurable += d + time.Since(t0)
	}
	if _, err := e.sc.Delete(ctx, path, client.DeleteOptions{}); err != nil {
		return 0, fmt.Errorf("delete %s: %w", path, err)
	}
	return d, e.waitEmpty(ctx)
}

// waitEmpty polls the leader's executor list until every executor reports no used bytes
// (block removals travel with heartbeats), up to 30 s.
func (e *env) waitEmpty(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		infos, err := e.sc.Executors(ctx, false)
		if err != nil {
			return fmt.Errorf("list executors: %w", err)
		}
		var used int64
		for _, in := range infos {
			used += in.GetUsedBytes()
		}
		if used == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("executors still use %d bytes after deletes: %w", used, ctx.Err())
		case <-tick.C:
		}
	}
}

// BenchmarkWrite writes 1 GiB with each write type through a client on the executor's
// host: MUST_CACHE (short-circuit into the tmpfs MEM tier), THROUGH (streamed to the
// executor, which writes the local UFS on disk and fsyncs it), CACHE_THROUGH (memory,
// then a persist waited for) and ASYNC_THROUGH (memory; the background persist is waited
// for untimed, and reported as ASYNC_THROUGH-durable). THROUGH is the reference the issue
// names: mustcache/through says how many times faster a memory write is than a durable
// UFS write of the same bytes. Two plain os.File rows, a tmpfs file and an fsynced file on
// the UFS's disk, give mustcache/plain-tmpfs and through/plain-disk: how close each path
// comes to the medium under it. Ratios are medians over the rounds.
func BenchmarkWrite(b *testing.B) {
	skipShort(b)
	e := newEnv(b, envConfig{memSize: benchSize + 2*benchBlock})
	data := bench.Payload(benchSize, 2)
	times := newWriteTimes()
	before := e.sc.Stats()
	rounds := 0
	b.SetBytes(benchSize * int64(len(writeRows)))
	for b.Loop() {
		if err := e.writeRound(b.Context(), data, rounds, times); err != nil {
			b.Fatal(err)
		}
		rounds++
	}
	b.StopTimer()
	after := e.sc.Stats()
	// MUST_CACHE, CACHE_THROUGH and ASYNC_THROUGH go short-circuit; THROUGH streams.
	if got, want := after.BytesWrittenShortCircuit-before.BytesWrittenShortCircuit, int64(3*rounds)*benchSize; got != want {
		b.Fatalf("short-circuit bytes written = %d, want %d (stats %+v)", got, want, after)
	}
	if got, want := after.BytesWrittenUFS-before.BytesWrittenUFS, int64(rounds)*benchSize; got != want {
		b.Fatalf("THROUGH bytes written = %d, want %d (stats %+v)", got, want, after)
	}
	for _, row := range writeRows {
		b.ReportMetric(bench.MBps(benchSize, rounds, times.total(row)), row+"-MB/s")
	}
	b.ReportMetric(bench.MBps(benchSize, rounds, times.asyncDurable), "ASYNC_THROUGH-durable-MB/s")
	must, through := client.WriteMustCache.String(), client.WriteThrough.String()
	b.ReportMetric(times.ratio(must, through), "mustcache/through")
	b.ReportMetric(times.ratio(must, rowPlainTmpfs), "mustcache/plain-tmpfs")
	b.ReportMetric(times.ratio(through, rowPlainDisk), "through/plain-disk")
}
