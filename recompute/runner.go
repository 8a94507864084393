package recompute

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/sluicedata/sluice/lineage"
)

// Launcher runs jobs again; the master implements it over the framework scheduler.
type Launcher interface {
	// Launch runs one attempt (1, 2, …) of s.Job with s.Priority and blocks until the run
	// ends. It returns nil when the job exited 0 and left its outputs complete, and an
	// error saying why otherwise (exit status, lost node, incomplete output). It must
	// return soon after ctx is cancelled, killing or abandoning the run. The Runner calls
	// it from several goroutines at once, never twice at once for the same job. Before
	// a launch the master resets the job's outputs to incomplete placeholders; it may
	// instead return nil at once when every output is available already (another
	// Execute rebuilt them a moment ago).
	Launch(ctx context.Context, s Step, attempt int) error
}

// Errors of Execute, found in each failed step's *JobError with errors.Is.
var (
	// ErrJobFailed reports a job whose every attempt failed.
	ErrJobFailed = errors.New("recompute: job failed")
	// ErrDependencyFailed reports a job not run because a job it depends on failed.
	ErrDependencyFailed = errors.New("recompute: dependency failed")
	// ErrInvalidPlan reports a step that a hand-made plan lists twice or that waits for
	// itself; NewPlan never produces one.
	ErrInvalidPlan = errors.New("recompute: invalid plan")
	// ErrInvalidConfig reports a Config that fails Validate.
	ErrInvalidConfig = errors.New("recompute: invalid config")
)

// JobError is the outcome of a step that did not rebuild its files.
type JobError struct {
	// Job is the step's job.
	Job lineage.Job
	// Attempts counts the runs made, 0 when the job never ran.
	Attempts int
	// Cause is the last attempt's error, the context's error, or the *JobError of the
	// failed job this one depends on — so a dependent's error also matches what its
	// dependency's matches (ErrJobFailed included): test ErrDependencyFailed first.
	Cause error
	// kind is ErrJobFailed, ErrDependencyFailed, ErrInvalidPlan or nil (cancelled).
	kind error
}

// Error names the job and why it did not rebuild its files; a dependent names the job
// whose own failure stopped it, however far up the chain.
func (e *JobError) Error() string {
	switch root := e.root(); {
	case root != e:
		return fmt.Sprintf("recompute of %s not run: it depends on %s, which failed: %v", e.Job.Label(), root.Job.Label(), root.Cause)
	case e.Attempts == 0:
		return fmt.Sprintf("recompute of %s not run: %v", e.Job.Label(), e.Cause)
	default:
		return fmt.Sprintf("recompute of %s failed after %d attempt(s): %v", e.Job.Label(), e.Attempts, e.Cause)
	}
}

// root follows dependency failures up to the job that failed by itself.
func (e *JobError) root() *JobError {
	for errors.Is(e.kind, ErrDependencyFailed) {
		dep, ok := e.Cause.(*JobError)
		if !ok {
			break
		}
		e = dep
	}
	return e
}

// Unwrap returns the sentinel of the failure's kind and its cause.
func (e *JobError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.Cause}
	}
	return []error{e.kind, e.Cause}
}

// Report is the outcome of Execute.
type Report struct {
	// Completed are the IDs of the jobs that ran successfully, in completion order.
	Completed []uint64
	// Failed are the steps that did not, in plan order.
	Failed []*JobError
}

// Err joins the failures; nil when every step completed.
func (r Report) Err() error {
	errs := make([]error, len(r.Failed))
	for i, e := range r.Failed {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Config configures a Runner.
type Config struct {
	// Launcher runs the jobs. Required.
	Launcher Launcher
	// MaxConcurrent bounds the jobs running at once over every Execute of the Runner.
	MaxConcurrent int
	// MaxAttempts bounds the runs of one job within one Execute; a failed attempt is
	// retried at once unless the context is done.
	MaxAttempts int
	// Logger receives a line per attempt that starts, succeeds or fails.
	Logger *slog.Logger
}

// DefaultConfig returns 4 concurrent jobs, 2 attempts each, and slog.Default; the
// Launcher is left for the caller.
func DefaultConfig() Config {
	return Config{MaxConcurrent: 4, MaxAttempts: 2, Logger: slog.Default()}
}

// Validate reports a missing Launcher or Logger or a bound below 1, wrapping
// ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.Launcher == nil:
		return fmt.Errorf("no launcher: %w", ErrInvalidConfig)
	case c.Logger == nil:
		return fmt.Errorf("no logger: %w", ErrInvalidConfig)
	case c.MaxConcurrent < 1:
		return fmt.Errorf("max concurrent %d < 1: %w", c.MaxConcurrent, ErrInvalidConfig)
	case c.MaxAttempts < 1:
		return fmt.Errorf("max attempts %d < 1: %w", c.MaxAttempts, ErrInvalidConfig)
	}
	return nil
}

// Runner executes recompute plans with bounded concurrency. It is safe for concurrent
// use: several Executes share its concurrency bound, and a job that one Execute runs is
// joined, not run again, by another that reaches it meanwhile.
type Runner struct {
	cfg Config
	log *slog.Logger
	// slots holds one token per running job.
	slots chan struct{}
	// mu guards running.
	mu sync.Mutex
	// running maps each job being run to its flight.
	running map[uint64]*flight
}

// flight is one run of a job (all its attempts), which other Executes may join.
type flight struct {
	done chan struct{}
	// err, attempts and cancelled (the owner's context ended the run) are written
	// before done is closed.
	err       error
	attempts  int
	cancelled bool
}

// NewRunner returns a Runner; it starts no goroutine.
func NewRunner(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Runner{
		cfg: cfg, log: cfg.Logger.With("component", "recompute"),
		slots: make(chan struct{}, cfg.MaxConcurrent), running: map[uint64]*flight{},
	}, nil
}

// Running returns the IDs of the jobs being run now, ascending.
func (r *Runner) Running() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]uint64, 0, len(r.running))
	for id := range r.running {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// outcome is what a worker reports about step i.
type outcome struct {
	i        int
	err      error
	attempts int
	// again asks for the step to go back to the ready queue.
	again bool
}

// Execute runs the steps of p: a step starts once the steps in its After have
// completed, the ready step with the highest priority first (plan order among equals),
// at most Config.MaxConcurrent at once over the Runner. A step that fails fails every
// step depending on it, which never run. A ready step whose job another Execute of the
// Runner runs now joins that run without taking a slot and shares its outcome, unless
// the run was cut short by its owner's cancellation: then it is queued again. When ctx
// is done no new step starts, running
// ones are cancelled through the Launcher, and the steps not completed are reported with
// the context's error. Execute returns when every goroutine it started has ended; it
// never waits on anything else, so it cannot hang on a plan, even a malformed one.
// p.Unrecoverable is not Execute's business: see Plan.Err.
func (r *Runner) Execute(ctx context.Context, p Plan) Report {
	x := newExecution(p)
	results := make(chan outcome, len(p.Steps))
	var wg sync.WaitGroup
	defer wg.Wait()
	inFlight := 0
	ctxDone := ctx.Done()
	for x.pending > 0 {
		if err := ctx.Err(); err != nil {
			// Settles what has not started, including steps sent back to the queue.
			x.cancel(err)
		}
		// Ready jobs that another Execute runs now are joined without a slot.
		for _, i := range x.takeRunning(r.isRunning) {
			inFlight++
			wg.Add(1)
			go r.work(ctx, &wg, x.steps[i], i, results, false)
		}
		if x.pending == 0 {
			break
		}
		if x.ready.Len() == 0 && inFlight == 0 {
			// Nothing runs and nothing can start: the rest waits on a cycle.
			x.failStuck()
			break
		}
		var slots chan struct{}
		if x.ready.Len() > 0 {
			slots = r.slots
		}
		select {
		case slots <- struct{}{}:
			i := heap.Pop(&x.ready).(int)
			inFlight++
			wg.Add(1)
			go r.work(ctx, &wg, x.steps[i], i, results, true)
		case o := <-results:
			inFlight--
			x.finish(o)
		case <-ctxDone:
			// The top of the loop settles the steps that have not started.
			ctxDone = nil
		}
	}
	return x.report()
}

// isRunning reports whether some Execute runs job id now.
func (r *Runner) isRunning(id uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.running[id]
	return ok
}

// work runs, or joins the run of, one step and reports its outcome. With slot it holds
// a slot token, which it gives back as soon as it knows it does not run the job itself,
// or when the run ends. A joined run that its owner's cancellation cut short is
// reported as to be run again, unless ctx is done too.
func (r *Runner) work(ctx context.Context, wg *sync.WaitGroup, s Step, i int, results chan<- outcome, slot bool) {
	defer wg.Done()
	release := func() {
		if slot {
			<-r.slots
			slot = false
		}
	}
	id := s.Job.ID
	r.mu.Lock()
	fl, joined := r.running[id]
	if !joined && slot {
		fl = &flight{done: make(chan struct{})}
		r.running[id] = fl
	}
	r.mu.Unlock()
	if !joined && fl == nil {
		// The run to join ended meanwhile: run the step again, with a slot.
		results <- outcome{i: i, again: true}
		return
	}
	if joined {
		release()
		select {
		case <-fl.done:
			again := fl.cancelled && ctx.Err() == nil
			results <- outcome{i: i, err: fl.err, attempts: fl.attempts, again: again}
		case <-ctx.Done():
			results <- outcome{i: i, err: ctx.Err()}
		}
		return
	}
	attempts, err := r.attempts(ctx, s)
	r.mu.Lock()
	fl.err, fl.attempts, fl.cancelled = err, attempts, err != nil && ctx.Err() != nil
	delete(r.running, id)
	close(fl.done)
	r.mu.Unlock()
	release()
	results <- outcome{i: i, err: err, attempts: attempts}
}

// attempts runs s up to MaxAttempts times until one succeeds or ctx is done, and
// returns the number of attempts made with the last error.
func (r *Runner) attempts(ctx context.Context, s Step) (int, error) {
	log := r.log.With("job_id", s.Job.ID, "job_name", s.Job.Name, "priority", s.Priority)
	var err error
	for n := 1; n <= r.cfg.MaxAttempts; n++ {
		if ctx.Err() != nil {
			return n - 1, ctx.Err()
		}
		log.Info("recompute attempt started", "attempt", n)
		if err = r.cfg.Launcher.Launch(ctx, s, n); err == nil {
			log.Info("recompute attempt succeeded", "attempt", n)
			return n, nil
		}
		log.Warn("recompute attempt failed", "attempt", n, "err", err)
	}
	return r.cfg.MaxAttempts, err
}

// execution is the bookkeeping of one Execute, owned by its goroutine.
type execution struct {
	steps []Step
	// waits counts, per step, the After steps not completed yet.
	waits []int
	// dependents lists, per step, the steps whose After names it.
	dependents [][]int
	// settled marks the steps whose outcome is known; errs holds the failures.
	settled   []bool
	errs      []*JobError
	completed []uint64
	ready     readyHeap
	pending   int
}

func newExecution(p Plan) *execution {
	n := len(p.Steps)
	x := &execution{
		steps: p.Steps, waits: make([]int, n), dependents: make([][]int, n),
		settled: make([]bool, n), errs: make([]*JobError, n), pending: n,
	}
	x.ready.steps = p.Steps
	index := make(map[uint64]int, n)
	for i, s := range p.Steps {
		if _, dup := index[s.Job.ID]; dup {
			x.fail(i, &JobError{Job: s.Job, Cause: fmt.Errorf("job %d listed twice", s.Job.ID), kind: ErrInvalidPlan})
			continue
		}
		index[s.Job.ID] = i
	}
	for i, s := range p.Steps {
		if x.settled[i] {
			continue
		}
		for _, a := range slices.Compact(slices.Sorted(slices.Values(s.After))) {
			// Steps outside the plan are taken as available.
			if j, ok := index[a]; ok {
				x.waits[i]++
				x.dependents[j] = append(x.dependents[j], i)
			}
		}
	}
	for i := range p.Steps {
		if !x.settled[i] && x.waits[i] == 0 {
			heap.Push(&x.ready, i)
		}
	}
	return x
}

// fail settles step i with err and, transitively, every step depending on it.
func (x *execution) fail(i int, err *JobError) {
	if x.settled[i] {
		return
	}
	x.settled[i], x.errs[i] = true, err
	x.pending--
	for _, d := range x.dependents[i] {
		x.fail(d, &JobError{Job: x.steps[d].Job, Cause: err, kind: ErrDependencyFailed})
	}
}

// finish records a worker's outcome.
func (x *execution) finish(o outcome) {
	s := x.steps[o.i]
	if o.again {
		heap.Push(&x.ready, o.i)
		return
	}
	if o.err != nil {
		kind := ErrJobFailed
		if o.attempts == 0 {
			kind = nil
		}
		x.fail(o.i, &JobError{Job: s.Job, Attempts: o.attempts, Cause: o.err, kind: kind})
		return
	}
	x.settled[o.i] = true
	x.pending--
	x.completed = append(x.completed, s.Job.ID)
	for _, d := range x.dependents[o.i] {
		if x.waits[d]--; x.waits[d] == 0 && !x.settled[d] {
			heap.Push(&x.ready, d)
		}
	}
}

// takeRunning removes from the ready queue the steps whose job running reports as
// running now, and returns them.
func (x *execution) takeRunning(running func(uint64) bool) []int {
	var taken []int
	kept := x.ready.idx[:0]
	for _, i := range x.ready.idx {
		if running(x.steps[i].Job.ID) {
			taken = append(taken, i)
		} else {
			kept = append(kept, i)
		}
	}
	if len(taken) > 0 {
		x.ready.idx = kept
		heap.Init(&x.ready)
	}
	return taken
}

// cancel settles every step that has not started with cause; running steps report
// their own outcome.
func (x *execution) cancel(cause error) {
	idle := slices.Clone(x.ready.idx)
	x.ready.idx = x.ready.idx[:0]
	for i := range x.steps {
		if !x.settled[i] && x.waits[i] > 0 {
			idle = append(idle, i)
		}
	}
	for _, i := range idle {
		x.settled[i], x.errs[i] = true, &JobError{Job: x.steps[i].Job, Cause: cause}
		x.pending--
	}
}

// failStuck settles the steps that wait on a cycle.
func (x *execution) failStuck() {
	for i := range x.steps {
		if !x.settled[i] {
			x.fail(i, &JobError{Job: x.steps[i].Job, Cause: errors.New("its After steps wait on each other"), kind: ErrInvalidPlan})
		}
	}
}

func (x *execution) report() Report {
	rep := Report{Completed: x.completed}
	for _, e := range x.errs {
		if e != nil {
			rep.Failed = append(rep.Failed, e)
		}
	}
	return rep
}

// readyHeap orders ready steps by priority (higher first), then plan order.
type readyHeap struct {
	steps []Step
	idx   []int
}

func (h readyHeap) Len() int { return len(h.idx) }
func (h readyHeap) Less(a, b int) bool {
	i, j := h.idx[a], h.idx[b]
	return cmp.Or(cmp.Compare(h.steps[j].Priority, h.steps[i].Priority), cmp.Compare(i, j)) < 0
}
func (h readyHeap) Swap(a, b int) { h.idx[a], h.idx[b] = h.idx[b], h.idx[a] }
func (h *readyHeap) Push(v any)   { h.idx = append(h.idx, v.(int)) }
func (h *readyHeap) Pop() any {
	v := h.idx[len(h.idx)-1]
	h.idx = h.idx[:len(h.idx)-1]
	return v
}
