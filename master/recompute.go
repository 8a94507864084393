package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/lineage"
	"github.com/sluicedata/sluice/master/state"
	"github.com/sluicedata/sluice/recompute"
)

// Recompute of lost lineage outputs. While this master leads, recomputeLoop plans the
// recovery of every LOST file that has lineage (recompute.NewPlan: a path is available
// when it is complete and not LOST, see readable) and
// executes the plans with one recompute.Runner: inputs first, at most
// RecomputeConfig.MaxConcurrent jobs at once, each job at most once at a time, with the
// priority of the job that needs the data.
//
// Decisions:
//   - Nothing of a recovery is journaled but its effects: a new leader plans again from
//     the files still LOST, which is how a master restart resumes a recompute.
//   - A run first drops the old copies of the job's outputs and journals ResetJobOutputs
//     (every output back to an INCOMPLETE placeholder, LOST), then asks the job runner
//     (jobs_run.go) for a run marked as a recompute and waits for its end. Completing a
//     reset output makes it NOT_PERSISTED again (state.applyCompleteFile).
//   - A COMPLETED rerun is checked against the outputs of the job's first completion
//     (state.Job.OutputFacts) with recompute.CheckOutput; a mismatch is journaled on the
//     job (JobOutputMismatch, shown as its message) and logged at Error: the job is not
//     deterministic. The rebuilt bytes are served all the same.
//   - A step runs only once a live executor with free capacity is registered; failed
//     runs are retried after a growing wait, and a run that failed because its
//     executors were gone is not counted against MaxAttempts (recompute_wait.go).
//   - A failed recovery is remembered per lost file for RecomputeConfig.RetryAfter:
//     readers waiting for the file fail at once with FILE_LOST naming the job and why
//     (a dependent names the job whose failure stopped it). Only a read after RetryAfter
//     starts a new attempt, so a job that keeps failing is not rerun in a loop. Lost
//     files without lineage fail readers at once.

// RecomputeConfig configures the recompute of lost lineage outputs.
type RecomputeConfig struct {
	// MaxConcurrent bounds the jobs rerunning at once. At least 1.
	MaxConcurrent int
	// MaxAttempts bounds the runs of one job within one recovery. At least 1. A run
	// that failed because every executor it had was gone by its end is not counted
	// (recompute_wait.go).
	MaxAttempts int
	// ReadWait bounds how long a read of a LOST file (GetBlockLocations with
	// wait_for_recompute) waits for its recompute, whatever the caller's deadline.
	// Positive.
	ReadWait time.Duration
	// RetryAfter is how long a failed recovery is reported to readers before a read
	// starts another attempt (nothing else retries it). Positive.
	RetryAfter time.Duration
	// RetryBase is the wait before the second run of a job within one recovery, doubled
	// before each further run up to RetryMax. Positive, RetryMax at least RetryBase.
	RetryBase, RetryMax time.Duration
	// ScanInterval is how often the leader looks for LOST files that no recovery
	// handles (losses also wake it at once). Positive.
	ScanInterval time.Duration
}

// DefaultRecomputeConfig returns 4 concurrent jobs, 2 attempts each, 1 s before a job's
// second run (doubled up to 30 s), reads waiting up to 10 minutes, failures retried
// after a minute, a scan every second.
func DefaultRecomputeConfig() RecomputeConfig {
	return RecomputeConfig{MaxConcurrent: 4, MaxAttempts: 2, ReadWait: 10 * time.Minute,
		RetryAfter: time.Minute, RetryBase: time.Second, RetryMax: 30 * time.Second, ScanInterval: time.Second}
}

// Validate reports a field out of range, wrapping ErrInvalidConfig.
func (c RecomputeConfig) Validate() error {
	if c.MaxConcurrent < 1 || c.MaxAttempts < 1 || c.ReadWait <= 0 || c.RetryAfter <= 0 || c.ScanInterval <= 0 {
		return fmt.Errorf("recompute: MaxConcurrent %d and MaxAttempts %d must be at least 1, ReadWait %v, RetryAfter %v and ScanInterval %v positive: %w",
			c.MaxConcurrent, c.MaxAttempts, c.ReadWait, c.RetryAfter, c.ScanInterval, ErrInvalidConfig)
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		return fmt.Errorf("recompute: RetryBase %v must be positive and RetryMax %v at least RetryBase: %w",
			c.RetryBase, c.RetryMax, ErrInvalidConfig)
	}
	return nil
}

// recomputer is the leader's bookkeeping of recoveries. Safe for concurrent use.
type recomputer struct {
	wake chan struct{}
	// mu guards the fields below.
	mu sync.Mutex
	// active are the lost paths an Execute is rebuilding now.
	active map[string]bool
	// failed are the lost paths whose last recovery failed, with why and when.
	failed map[string]recomputeFailure
	// runner is the current leadership's Runner (nil while not leading).
	runner *recompute.Runner
	// steps holds the bookkeeping of the steps being run, by job ID; waiting counts
	// those waiting for an executor; execCh is closed at the next executor
	// registration (recompute_wait.go).
	steps   map[uint64]*stepRuns
	waiting int
	execCh  chan struct{}

	runs, failures, mismatches prometheus.Counter
}

type recomputeFailure struct {
	err error
	at  time.Time
}

func newRecomputer() *recomputer {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "master", Name: name, Help: help})
	}
	return &recomputer{wake: make(chan struct{}, 1), active: make(map[string]bool), failed: make(map[string]recomputeFailure),
		steps:      make(map[uint64]*stepRuns),
		runs:       c("recompute_runs_total", "Job runs launched to rebuild lost outputs."),
		failures:   c("recompute_failures_total", "Recompute runs that failed."),
		mismatches: c("recompute_nondeterministic_outputs_total", "Rebuilt outputs that differ from the original.")}
}

// kick wakes the recompute loop.
func (r *recomputer) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// failure returns the recorded failure of a lost path and when it happened.
func (r *recomputer) failure(p string) (recomputeFailure, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.failed[p]
	return f, ok
}

// retry forgets the failure of a lost path recorded at, if it is still that one, so
// that the next scan plans the path again.
func (r *recomputer) retry(p string, at time.Time) {
	r.mu.Lock()
	if f, ok := r.failed[p]; ok && f.at.Equal(at) {
		delete(r.failed, p)
	}
	r.mu.Unlock()
	r.kick()
}

// recomputeLoop plans and runs recoveries while this master leads.
func (m *Master) recomputeLoop(ctx context.Context) {
	r := m.rec
	runner, err := recompute.NewRunner(recompute.Config{Launcher: recomputeLauncher{m: m},
		MaxConcurrent: m.cfg.Recompute.MaxConcurrent, MaxAttempts: m.cfg.Recompute.MaxAttempts,
		Logger: recomputeLogger(m.cfg.Logger)})
	if err != nil {
		m.log.Error("cannot start recompute", "err", err)
		return
	}
	r.mu.Lock()
	r.runner = runner
	r.active = make(map[string]bool)
	r.failed = make(map[string]recomputeFailure)
	r.steps = make(map[uint64]*stepRuns)
	r.mu.Unlock()
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		r.mu.Lock()
		r.runner = nil
		r.mu.Unlock()
	}()
	tick := time.NewTicker(m.cfg.Recompute.ScanInterval)
	defer tick.Stop()
	for {
		m.planRecomputes(ctx, runner, &wg)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-r.wake:
		}
	}
}

// recomputeLogger is the Runner's logger: the master's base logger, to which the Runner
// adds its own component key.
func recomputeLogger(base *slog.Logger) *slog.Logger {
	if base == nil {
		return slog.New(slog.DiscardHandler)
	}
	return base
}

// planRecomputes plans the recovery of the LOST files with lineage that no recovery
// handles and has not failed lately, and runs the plan in a goroutine of wg.
func (m *Master) planRecomputes(ctx context.Context, runner *recompute.Runner, wg *sync.WaitGroup) {
	r := m.rec
	now := time.Now()
	var lost []string
	v := m.st.View()
	stillLost := make(map[string]bool)
	for in := range v.FilesByPersistence(state.Lost) {
		stillLost[in.Path] = true
		if _, recorded := v.Job(in.JobID); !recorded {
			// No lineage (reported when it was lost; readers fail at once), or bound to a
			// job ID nothing recorded: only its blocks coming back can make it readable.
			continue
		}
		r.mu.Lock()
		_, failed := r.failed[in.Path]
		busy := r.active[in.Path] || failed // a failure is retried when a read asks
		r.mu.Unlock()
		if !busy {
			lost = append(lost, in.Path)
		}
	}
	r.mu.Lock()
	for p := range r.failed {
		if !stillLost[p] {
			delete(r.failed, p) // readable again, deleted, or renamed
		}
	}
	r.mu.Unlock()
	if len(lost) == 0 || ctx.Err() != nil {
		return
	}
	var plan recompute.Plan
	m.st.Lineage(func(v *state.View, g *lineage.Graph) {
		plan = recompute.NewPlan(g, lost, func(p string) bool { return m.readable(v, p) })
	})
	r.mu.Lock()
	for _, u := range plan.Unrecoverable {
		err := &recompute.LostDataError{Files: []recompute.Unrecoverable{u}}
		r.failed[u.Path] = recomputeFailure{err: err, at: now}
		m.log.Error("lost file cannot be recomputed", "path", u.Path, "job_id", u.JobID, "err", err)
	}
	var planned []string
	for _, p := range lost {
		if _, bad := r.failed[p]; !bad {
			r.active[p] = true
			planned = append(planned, p)
		}
	}
	r.mu.Unlock()
	if len(plan.Unrecoverable) > 0 {
		m.notify() // readers waiting for those files fail now
	}
	if len(plan.Steps) == 0 {
		m.settleRecompute(planned, plan, recompute.Report{})
		return
	}
	jobs := make([]uint64, 0, len(plan.Steps))
	for _, s := range plan.Steps {
		jobs = append(jobs, s.Job.ID)
	}
	m.log.Info("recomputing lost files", "files", len(planned), "jobs", jobs)
	wg.Go(func() {
		rep := runner.Execute(ctx, plan)
		m.settleRecompute(planned, plan, rep)
	})
}

// settleRecompute records the outcome of a recovery of the lost paths planned: the
// failure of the step that should have rebuilt each one that is still LOST.
func (m *Master) settleRecompute(planned []string, plan recompute.Plan, rep recompute.Report) {
	r := m.rec
	now := time.Now()
	cause := make(map[string]error)
	for _, f := range rep.Failed {
		for _, s := range plan.Steps {
			if s.Job.ID == f.Job.ID {
				for _, p := range s.Rebuilds {
					cause[p] = f
				}
			}
		}
	}
	r.mu.Lock()
	for _, p := range planned {
		delete(r.active, p)
		if err, ok := cause[p]; ok && !errors.Is(err, context.Canceled) {
			r.failed[p] = recomputeFailure{err: err, at: now}
		}
	}
	r.mu.Unlock()
	for _, f := range rep.Failed {
		if !errors.Is(f, context.Canceled) {
			m.log.Error("recompute failed", "job_id", f.Job.ID, "err", f)
		}
	}
	m.notify() // readers re-check: rebuilt, or failed
	r.kick()   // files lost again meanwhile
}

// readable reports whether path p can be read now: a complete file that is not LOST
// (PERSISTED, or with every block copied on some executor: the loss of the last copy
// makes a file LOST at once), or a directory whose files that no job produces are all
// readable (recompute.NewPlan asks about those only). The journaled state decides, not
// the block map, which after a master restart is empty until executors register again.
func (m *Master) readable(v *state.View, p string) bool {
	in, err := v.Get(p)
	if err != nil {
		return false
	}
	if !in.Directory {
		return fileReadable(in)
	}
	errUnreadable := errors.New("unreadable")
	return v.Walk(p, func(c state.Inode) error {
		if !c.Directory && c.JobID == 0 && !fileReadable(c) {
			return errUnreadable
		}
		return nil
	}) == nil
}

func fileReadable(in state.Inode) bool {
	return in.Complete && in.PersistenceState != state.Lost
}

// lostError is the FILE_LOST error of a read of a LOST file, naming its job.
func lostError(in state.Inode, why string) error {
	de := &detailError{path: in.Path, err: fmt.Errorf("%s: %s: %w", in.Path, why, ErrFileLost)}
	if in.JobID != 0 {
		de.jobID = strconv.FormatUint(in.JobID, 10)
	}
	return de
}

// waitRecompute waits for a LOST file to be rebuilt, or for the next journaled change
// (ch), up to RecomputeConfig.ReadWait and a little before ctx's deadline. It fails
// with FILE_LOST at once for a file without lineage or whose recovery failed lately
// (naming the job and why), and when the wait runs out.
func (m *Master) waitRecompute(ctx context.Context, in state.Inode, ch <-chan struct{}) error {
	if in.JobID == 0 {
		return lostError(in, "no checkpoint and no lineage can rebuild it (data lost)")
	}
	if f, failed := m.rec.failure(in.Path); failed {
		if time.Since(f.at) < m.cfg.Recompute.RetryAfter {
			return lostError(in, fmt.Sprintf("recompute by job %d failed: %v", in.JobID, f.err))
		}
		m.rec.retry(in.Path, f.at)
	}
	m.rec.kick() // make sure its recompute is scheduled
	wctx, cancel := answerBefore(ctx)
	defer cancel()
	wctx, cancel2 := context.WithTimeout(wctx, m.cfg.Recompute.ReadWait)
	defer cancel2()
	if err := m.waitChange(wctx, ch); err != nil {
		if wctx.Err() != nil && ctx.Err() == nil {
			return lostError(in, fmt.Sprintf("not recomputed in time by job %d", in.JobID))
		}
		return err
	}
	return nil
}

// recomputeLauncher runs one step of a recovery through the job runner (see above and
// recompute_wait.go).
type recomputeLauncher struct{ m *Master }

// Launch runs one counted attempt of a step: it backs off after earlier runs, waits for
// a live executor with free capacity, resets the job's outputs, starts a recompute run
// and waits for its end, and runs again (uncounted) when the run failed because its
// executors were gone; see recompute.Launcher.
func (l recomputeLauncher) Launch(ctx context.Context, s recompute.Step, attempt int) error {
	r := l.m.rec
	st := r.stepStart(s.Job.ID, attempt)
	err := l.attempt(ctx, s, st)
	r.stepEnd(s.Job.ID, attempt, l.m.cfg.Recompute.MaxAttempts, err)
	return err
}

// attempt is Launch with the step's bookkeeping.
func (l recomputeLauncher) attempt(ctx context.Context, s recompute.Step, st *stepRuns) error {
	m := l.m
	if st.noExecutor != nil {
		return st.noExecutor // an earlier attempt waited ReadWait for an executor already
	}
	runner, err := m.waitJobRunner(ctx)
	if err != nil {
		return err
	}
	for uncounted := 0; ; uncounted++ {
		if err := m.backOff(ctx, s.Job, st.runs); err != nil {
			return err
		}
		if done, err := m.stepDone(s.Job.ID); done || err != nil {
			return err
		}
		execs, err := m.waitExecutors(ctx, s.Job)
		if err != nil {
			if ctx.Err() == nil {
				st.noExecutor = err
			}
			return err
		}
		// An executor that came back with the blocks made the outputs readable.
		if done, err := m.stepDone(s.Job.ID); done || err != nil {
			return err
		}
		st.runs++
		err = m.runRecompute(ctx, runner, s.Job.ID, s.Priority)
		if err == nil || ctx.Err() != nil || m.anyLive(execs) {
			return err
		}
		if uncounted == maxUncountedRuns {
			return fmt.Errorf("%w (its executors were gone at the end of %d runs in a row)", err, maxUncountedRuns+1)
		}
		m.log.Warn("recompute run failed after its executors were gone: not counted, run again once one is live",
			"job_id", s.Job.ID, "job", s.Job.Label(), "err", err)
	}
}

// stepDone reports whether job id needs no run: every output is readable (rebuilt a
// moment ago by another recovery, or its executor came back). It fails when the job's
// record is gone.
func (m *Master) stepDone(id uint64) (bool, error) {
	v := m.st.View()
	j, ok := v.Job(id)
	if !ok {
		return false, fmt.Errorf("lineage record gone: %w", ErrNotFound)
	}
	return m.outputsReadable(v, j), nil
}

// runRecompute drops the old copies of job id's outputs, resets them, runs the job as a
// recompute and waits for the end of the run: nil when it completed, an error naming
// the run and why otherwise.
func (m *Master) runRecompute(ctx context.Context, runner *jobRunner, id uint64, priority int) error {
	v := m.st.View()
	j, ok := v.Job(id)
	if !ok {
		return fmt.Errorf("lineage record gone: %w", ErrNotFound)
	}
	for _, p := range j.Outputs {
		if in, err := v.Get(p); err == nil && !in.Directory && in.JobID == j.ID && in.Complete {
			m.blocks.removeBlocks(in.BlockIDs())
		}
	}
	if _, err := m.apply(ctx, state.EntryResetJobOutputs, &sluicepb.ResetJobOutputsEntry{JobId: j.ID, TimeMs: nowMs()}); err != nil {
		return fmt.Errorf("reset outputs: %w", err)
	}
	m.rec.runs.Inc()
	started, err := runner.launch(ctx, launchRequest{jobID: j.ID, priority: priority, recompute: true})
	if err != nil {
		m.rec.failures.Inc()
		return err
	}
	end, err := m.waitJobEnd(ctx, j.ID, started.Attempts)
	if err != nil {
		return err
	}
	if end.State != lineage.StateCompleted {
		m.rec.failures.Inc()
		why := end.Message
		if why == "" {
			why = "exit status " + strconv.Itoa(int(end.ExitCode))
		}
		return fmt.Errorf("run %d %v: %s", end.Attempts, end.State, why)
	}
	m.checkRecomputed(ctx, end)
	return nil
}

// outputsReadable reports whether every output of j can be read now.
func (m *Master) outputsReadable(v *state.View, j state.Job) bool {
	for _, p := range j.Outputs {
		if !m.readable(v, p) {
			return false
		}
	}
	return true
}

// waitJobRunner returns the leader's job runner once it is published (it reconciles the
// runs of a former leader first), or an error when there is no framework scheduler or
// ctx ends.
func (m *Master) waitJobRunner(ctx context.Context) (*jobRunner, error) {
	if m.cfg.Jobs == nil {
		return nil, fmt.Errorf("no framework scheduler to run jobs; %s: %w", noSchedulerHint, ErrUnavailable)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if r := m.jobRunner.Load(); r != nil {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// waitJobEnd waits until run attempt of job id has ended and returns the job then.
func (m *Master) waitJobEnd(ctx context.Context, id uint64, attempt int32) (state.Job, error) {
	for {
		ch := m.changed()
		j, ok := m.st.View().Job(id)
		switch {
		case !ok:
			return state.Job{}, fmt.Errorf("lineage record deleted during the run: %w", ErrNotFound)
		case j.Attempts != attempt:
			return state.Job{}, fmt.Errorf("run %d replaced by run %d", attempt, j.Attempts)
		case j.Ended():
			return j, nil
		}
		if err := m.waitChange(ctx, ch); err != nil {
			return state.Job{}, err
		}
	}
}

// checkRecomputed compares the outputs of a completed rerun with the original ones and
// flags the job as non-deterministic when one differs.
func (m *Master) checkRecomputed(ctx context.Context, j state.Job) {
	v := m.st.View()
	var errs []error
	for _, f := range j.OutputFacts {
		in, err := v.Get(f.Path)
		if err != nil {
			continue
		}
		orig := recompute.Fingerprint{Length: f.Length, Checksum: f.Checksum}
		got := recompute.Fingerprint{Length: in.Length, Checksum: in.Checksum}
		if err := recompute.CheckOutput(f.Path, j.ID, orig, got); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return
	}
	err := errors.Join(errs...)
	m.rec.mismatches.Add(float64(len(errs)))
	m.log.Error("NON-DETERMINISTIC JOB: a recomputed output differs from the original", "job_id", j.ID,
		"job", j.Label(), "attempt", j.Attempts, "err", err)
	msg := "non-deterministic: " + err.Error()
	if _, aerr := m.apply(ctx, state.EntryJobOutputMismatch, &sluicepb.JobOutputMismatchEntry{
		JobId: j.ID, Attempt: j.Attempts, Message: msg, TimeMs: nowMs()}); aerr != nil {
		m.log.Error("cannot record non-deterministic job", "job_id", j.ID, "err", aerr)
	}
}

// recomputeCollectors are the metrics of checkpoint and recompute, registered with the
// master's others.
func (m *Master) recomputeCollectors() []prometheus.Collector {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "master", Name: name, Help: help}, f)
	}
	return []prometheus.Collector{m.rec.runs, m.rec.failures, m.rec.mismatches,
		gauge("recompute_running_jobs", "Jobs rerunning now to rebuild lost outputs.", func() float64 {
			m.rec.mu.Lock()
			r := m.rec.runner
			m.rec.mu.Unlock()
			if r == nil {
				return 0
			}
			return float64(len(r.Running()))
		}),
		gauge("recompute_waiting_for_executor_jobs", "Recompute jobs waiting for a live executor with free capacity.", func() float64 {
			return float64(m.rec.waitingSteps())
		}),
		gauge("checkpoint_waiting_files", "Files waiting for their checkpoint (in flight included).", func() float64 {
			n, _, _ := m.persist.waitingTotals(time.Now())
			return float64(n)
		}),
		gauge("checkpoint_waiting_bytes", "Bytes of the files waiting for their checkpoint.", func() float64 {
			_, b, _ := m.persist.waitingTotals(time.Now())
			return float64(b)
		}),
		gauge("checkpoint_lag_seconds", "Age of the oldest file waiting for its checkpoint.", func() float64 {
			_, _, lag := m.persist.waitingTotals(time.Now())
			return lag.Seconds()
		}),
		gauge("checkpoint_throughput_bytes_per_second", "Bytes checkpointed per second over the throughput window.",
			m.checkpointThroughput),
	}
}
