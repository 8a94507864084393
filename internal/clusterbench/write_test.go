package clusterbench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluicedata/sluice/client"
)

// writeTypes are the rows of BenchmarkWrite, in the order of the first round.
var writeTypes = []client.WriteType{client.WriteMustCache, client.WriteThrough, client.WriteCacheThrough, client.WriteAsyncThrough}

// writeTimes accumulates the durations of BenchmarkWrite's rows.
type writeTimes struct {
	// close is the time from Create to the return of Close, per write type.
	close map[client.WriteType]time.Duration
	// asyncDurable is, for ASYNC_THROUGH, the time from Create until Persist with Wait
	// returned (the file is durable in the UFS).
	asyncDurable time.Duration
}

// writeRound writes data once with every write type, the order rotated by round, each
// into an empty executor: after each row the file is deleted (from the UFS too) and the
// round waits, untimed, until the executors report no used bytes. ASYNC_THROUGH's
// background persist is waited for (Persist with Wait) before anything else runs, and
// timed separately.
func (e *env) writeRound(ctx context.Context, data []byte, round int, into *writeTimes) error {
	for k := range writeTypes {
		wt := writeTypes[(round+k)%len(writeTypes)]
		path := fmt.Sprintf("/bench/write-%s-%d", wt, round)
		d, err := writeFile(ctx, e.sc, path, wt, data)
		if err != nil {
			return err
		}
		into.close[wt] += d
		if wt == client.WriteAsyncThrough {
			t0 := time.Now()
			if _, err := e.sc.Persist(ctx, path, client.PersistOptions{Wait: true}); err != nil {
				return fmt.Errorf("wait for the persist of %s: %w", path, err)
			}
			into.asyncDurable += d + time.Since(t0)
		}
		if _, err := e.sc.Delete(ctx, path, client.DeleteOptions{}); err != nil {
			return fmt.Errorf("delete %s: %w", path, err)
		}
		if err := e.waitEmpty(ctx); err != nil {
			return err
		}
	}
	return nil
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
// for untimed, and reported as async-durable). THROUGH is the reference the issue names:
// the metric mustcache/through says how many times faster a memory write is than a
// durable UFS write of the same bytes in the same run.
func BenchmarkWrite(b *testing.B) {
	skipShort(b)
	e := newEnv(b, envConfig{memSize: benchSize + 2*benchBlock})
	data := payload(benchSize, 2)
	times := writeTimes{close: map[client.WriteType]time.Duration{}}
	before := e.sc.Stats()
	rounds := 0
	b.SetBytes(benchSize * int64(len(writeTypes)))
	for b.Loop() {
		if err := e.writeRound(b.Context(), data, rounds, &times); err != nil {
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
	for _, wt := range writeTypes {
		b.ReportMetric(mbps(benchSize, rounds, times.close[wt]), wt.String()+"-MB/s")
	}
	b.ReportMetric(mbps(benchSize, rounds, times.asyncDurable), "ASYNC_THROUGH-durable-MB/s")
	b.ReportMetric(times.close[client.WriteThrough].Seconds()/times.close[client.WriteMustCache].Seconds(), "mustcache/through")
}
