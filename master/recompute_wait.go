package master

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicedata/sluice/lineage"
)

// Waiting for executors and backing off between runs of a recompute step.
//
// Decisions:
//   - A run starts only once at least one live executor with free capacity (a tier
//     total above its use) is registered: when the only executor of a cluster dies, its
//     replacement (relaunched by Nomad, Mesos or `sluice local`) registers a little
//     later, and a job started before would find no executor to write to. The wait is
//     logged once, bounded by RecomputeConfig.ReadWait (the readers of the lost files
//     wait as long) and by the leadership; when it runs out, the step fails with an
//     error saying so, and the Runner's next attempt of the step fails at once with the
//     same error rather than waiting again. After the wait the step checks its outputs
//     again: an executor that came back with its blocks made them readable, and
//     nothing runs.
//   - Before every run but a step's first, the step waits RetryBase, doubled at each
//     run, up to RetryMax (recomputeBackoff), instead of rerunning at once.
//   - A failed run whose executors are all gone at its end (none of the executors live
//     with free capacity when it started is live any more) failed for want of an
//     executor, not because of the job: it is not counted against MaxAttempts. The step
//     waits for an executor again and reruns, at most maxUncountedRuns times per counted
//     attempt, so flapping executors cannot rerun a job in a loop either. A run that
//     fails while one of its executors is still live counts.

// maxUncountedRuns bounds the failed runs of one attempt that are not counted against
// RecomputeConfig.MaxAttempts because their executors were gone (see above).
const maxUncountedRuns = 3

// executorPollInterval is how often a step waiting for an executor looks again without
// a registration: an executor's free capacity changes with its heartbeats.
const executorPollInterval = 250 * time.Millisecond

// recomputeBackoff returns the wait before the next run of a step that has run runs
// times: nothing before the first run, then base, doubled at each run, capped at limit.
func recomputeBackoff(base, limit time.Duration, runs int) time.Duration {
	if runs <= 0 || base <= 0 {
		return 0
	}
	d := base
	for i := 1; i < runs && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// stepRuns is the bookkeeping of one step over the Runner's attempts of it (the Runner
// never runs a job twice at once, so one goroutine uses it at a time).
type stepRuns struct {
	// runs counts the runs launched, counted or not; it sets the backoff.
	runs int
	// noExecutor is the error of a wait for an executor that ran out; later attempts
	// return it at once.
	noExecutor error
}

// stepStart returns the bookkeeping of job id for an attempt, fresh for attempt 1.
func (r *recomputer) stepStart(id uint64, attempt int) *stepRuns {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.steps[id]
	if !ok || attempt <= 1 {
		st = &stepRuns{}
		r.steps[id] = st
	}
	return st
}

// stepEnd forgets job id's bookkeeping once its step succeeded or ran its last attempt.
func (r *recomputer) stepEnd(id uint64, attempt, maxAttempts int, err error) {
	if err != nil && attempt < maxAttempts {
		return
	}
	r.mu.Lock()
	delete(r.steps, id)
	r.mu.Unlock()
}

// executorWatch returns a channel closed at the next executor registration.
func (r *recomputer) executorWatch() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.execCh == nil {
		r.execCh = make(chan struct{})
	}
	return r.execCh
}

// executorJoined wakes the steps waiting for an executor (RegisterExecutor calls it).
func (r *recomputer) executorJoined() {
	r.mu.Lock()
	if r.execCh != nil {
		close(r.execCh)
		r.execCh = nil
	}
	r.mu.Unlock()
}

// waitingSteps returns the number of steps waiting for an executor now.
func (r *recomputer) waitingSteps() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waiting
}

func (r *recomputer) addWaiting(d int) {
	r.mu.Lock()
	r.waiting += d
	r.mu.Unlock()
}

// freeExecutors returns the IDs of the live executors with free capacity.
func (m *Master) freeExecutors() []uint64 {
	var ids []uint64
	for _, e := range m.blocks.list(false) {
		if e.GetCapacityBytes() > e.GetUsedBytes() {
			ids = append(ids, e.GetId())
		}
	}
	return ids
}

// anyLive reports whether one of the executors ids is still live.
func (m *Master) anyLive(ids []uint64) bool {
	for _, id := range ids {
		if m.blocks.live(id) {
			return true
		}
	}
	return false
}

// waitExecutors returns the live executors with free capacity, waiting for one to
// register when there is none, up to RecomputeConfig.ReadWait. It logs the wait once.
// It fails with ctx's error when ctx ends, and with an error wrapping ErrUnavailable
// when the wait runs out.
func (m *Master) waitExecutors(ctx context.Context, j lineage.Job) ([]uint64, error) {
	watch := m.rec.executorWatch()
	if ids := m.freeExecutors(); len(ids) > 0 {
		return ids, nil
	}
	wait := m.cfg.Recompute.ReadWait
	m.log.Warn("recompute waits for a live executor with free capacity to register before running its job",
		"job_id", j.ID, "job", j.Label(), "max_wait", wait)
	m.rec.addWaiting(1)
	defer m.rec.addWaiting(-1)
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(executorPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-watch:
		case <-tick.C:
		case <-wctx.Done():
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("no live executor with free capacity registered within %v to run it: %w", wait, ErrUnavailable)
		}
		watch = m.rec.executorWatch()
		if ids := m.freeExecutors(); len(ids) > 0 {
			m.log.Info("executor available: recompute goes on", "job_id", j.ID, "waited", time.Since(start).Round(time.Millisecond))
			return ids, nil
		}
	}
}

// backOff waits before run runs+1 of a step (recomputeBackoff), or until ctx ends.
func (m *Master) backOff(ctx context.Context, j lineage.Job, runs int) error {
	d := recomputeBackoff(m.cfg.Recompute.RetryBase, m.cfg.Recompute.RetryMax, runs)
	if d <= 0 {
		return nil
	}
	m.log.Info("recompute waits before running its job again", "job_id", j.ID, "runs", runs, "wait", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
