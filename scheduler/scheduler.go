package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Scheduler keeps the desired cluster on one Backend and launches jobs on it. Build it
// with New and drive it with Run; every other method is safe for concurrent use, before,
// during and after Run.
type Scheduler struct {
	cfg  Config
	log  *slog.Logger
	subs Fanout

	// mu guards the fields below. It is never held across a Backend call.
	mu     sync.Mutex
	phase  phase
	slots  []*slot
	byTask map[TaskID]*slot // current task of each slot
	jobs   map[TaskID]*job
	ended  []TaskID // ended jobs still in jobs, oldest first
	early  map[TaskID][]TaskEvent
	// earlyOrder lists the keys of early, oldest first, to bound it.
	earlyOrder []TaskID
}

// phase is where a Scheduler is in its life.
type phase int

const (
	phaseNew phase = iota
	phaseRunning
	phaseStopped
)

// maxEarly bounds the events kept for task IDs not (yet) known: events of a job that
// arrive before its LaunchJob call has recorded the ID.
const maxEarly = 1024

// slot is one desired service task (an executor or a master). Only the Run goroutine
// changes a slot, under Scheduler.mu.
type slot struct {
	kind  Kind
	index int
	name  string
	// task is the current launch; "" while waiting to launch.
	task  TaskID
	state State
	node  string
	pid   int
	// since is when the slot entered state.
	since time.Time
	// launches counts Launch calls; restarts counts relaunches after losses; crashes
	// counts short-lived attempts in a row (see Backoff).
	launches int
	restarts int
	crashes  int
	// next is the earliest time of the next launch while task is "".
	next time.Time
	// stopping is set when Run shuts down: the slot is not relaunched.
	stopping bool
	// last is the terminal event of the previous attempt.
	last TaskEvent
}

// ServiceStatus is the state of one service slot (an executor or a master).
type ServiceStatus struct {
	// Slot is the slot's name ("executor-0"), stable across relaunches; Index its number.
	Slot  string
	Kind  Kind
	Index int
	// TaskID is the current launch; empty while the slot waits to be relaunched.
	TaskID TaskID
	// State is pending (waiting, launching or placed), running, or, after Run has
	// stopped, the terminal state of the last task.
	State State
	// Node and PID are those of the current task, when known.
	Node string
	PID  int
	// Since is when the slot entered State.
	Since time.Time
	// Restarts counts the relaunches after losses.
	Restarts int
	// NextLaunch is when a waiting slot is launched again (zero if not waiting).
	NextLaunch time.Time
	// LastExit is the terminal event of the previous task of this slot, if any.
	LastExit *TaskEvent
}

// ExecutorStatus is the status of an executor slot.
type ExecutorStatus = ServiceStatus

// New checks cfg and returns a Scheduler that does nothing until Run.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{
		cfg:    cfg,
		log:    log.With("component", "scheduler", "backend", cfg.Backend.Name()),
		byTask: make(map[TaskID]*slot),
		jobs:   make(map[TaskID]*job),
		early:  make(map[TaskID][]TaskEvent),
	}
	for i := range cfg.Masters {
		s.slots = append(s.slots, &slot{kind: KindMaster, index: i, name: "master-" + strconv.Itoa(i), state: StatePending})
	}
	for i := range cfg.Executors {
		s.slots = append(s.slots, &slot{kind: KindExecutor, index: i, name: "executor-" + strconv.Itoa(i), state: StatePending})
	}
	return s, nil
}

// Run keeps the desired cluster until ctx ends: it launches every master and executor
// slot, watches the backend, and relaunches each service task that ends without having
// been killed by Run, after the slot's backoff (see Backoff), calling Config.OnLoss at
// once for it. Job events update JobStatus and go to subscribers.
//
// When ctx ends, Run kills the service tasks it launched, waits up to
// Config.StopTimeout for their end, and returns nil, or an error naming what could not be
// stopped. Jobs are left running (the backend's Close ends them). If the backend closes
// the watch channel, Run returns an error wrapping ErrClosed without killing anything.
// Run may be called once; later calls return ErrAlreadyRunning or ErrClosed.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	switch s.phase {
	case phaseRunning:
		s.mu.Unlock()
		return ErrAlreadyRunning
	case phaseStopped:
		s.mu.Unlock()
		return ErrClosed
	}
	s.phase = phaseRunning
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.phase = phaseStopped
		s.mu.Unlock()
		s.subs.Close()
	}()

	// The watch outlives ctx: after ctx ends, Run still needs the killed tasks' events.
	watchCtx, cancelWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWatch()
	evs, err := s.cfg.Backend.Watch(watchCtx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", s.cfg.Backend.Name(), err)
	}
	var losses sync.WaitGroup
	defer losses.Wait()
	s.log.Info("scheduler_started", "masters", s.cfg.Masters, "executors", s.cfg.Executors)

	for {
		wait := s.launchDue(ctx)
		var timer *time.Timer
		var due <-chan time.Time
		if wait >= 0 {
			timer = time.NewTimer(wait)
			due = timer.C
		}
		select {
		case <-ctx.Done():
			stopTimer(timer)
			return s.stop(ctx, evs)
		case ev, ok := <-evs:
			stopTimer(timer)
			if !ok {
				return fmt.Errorf("watch %s ended: %w", s.cfg.Backend.Name(), ErrClosed)
			}
			s.handle(ctx, ev, &losses)
		case <-due:
		}
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// launchDue launches every waiting slot whose time has come and returns how long until
// the next one is due, or -1 if none waits.
func (s *Scheduler) launchDue(ctx context.Context) time.Duration {
	next := time.Duration(-1)
	for _, sl := range s.slots {
		if sl.task != "" || sl.stopping || ctx.Err() != nil {
			continue
		}
		if wait := time.Until(sl.next); wait > 0 {
			if next < 0 || wait < next {
				next = wait
			}
			continue
		}
		s.launch(ctx, sl)
		if sl.task == "" && ctx.Err() == nil {
			if wait := time.Until(sl.next); next < 0 || wait < next {
				next = max(wait, 0)
			}
		}
	}
	return next
}

// launch starts one attempt of sl. A failed launch counts as a crash.
func (s *Scheduler) launch(ctx context.Context, sl *slot) {
	t := s.taskFor(sl)
	id, err := s.cfg.Backend.Launch(ctx, t)
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sl.launches++
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: not a crash
		}
		sl.crashes++
		sl.next = now.Add(s.cfg.RelaunchBackoff.Delay(sl.crashes))
		s.log.Warn("launch_failed", "slot", sl.name, "crashes", sl.crashes, "retry_at", sl.next, "error", err)
		return
	}
	sl.task, sl.state, sl.since, sl.node, sl.pid = id, StatePending, now, "", 0
	s.byTask[id] = sl
	s.log.Info("service_launched", "slot", sl.name, "task_id", id, "attempt", sl.launches)
}

// taskFor builds the task of sl's next attempt.
func (s *Scheduler) taskFor(sl *slot) Task {
	var t Task
	if sl.kind == KindMaster {
		t = s.cfg.MasterTask(sl.index).Clone()
	} else {
		t = s.cfg.ExecutorTask(sl.index).Clone()
	}
	t.Kind = sl.kind
	if t.Name == "" {
		t.Name = sl.name
	}
	if t.Labels == nil {
		t.Labels = make(map[string]string, 2)
	}
	t.Labels[LabelSlot] = sl.name
	t.Labels[LabelAttempt] = strconv.Itoa(sl.launches + 1)
	return t
}

// handle applies one backend event and passes it on to subscribers. A loss starts
// OnLoss on a goroutine counted by losses (nil while stopping).
func (s *Scheduler) handle(ctx context.Context, ev TaskEvent, losses *sync.WaitGroup) {
	now := time.Now()
	s.mu.Lock()
	lost := false
	if sl := s.byTask[ev.TaskID]; sl != nil {
		lost = s.serviceEvent(sl, ev, now)
	} else if j := s.jobs[ev.TaskID]; j != nil {
		s.jobEvent(j, ev, now)
	} else {
		s.stash(ev)
	}
	s.mu.Unlock()
	if lost && s.cfg.OnLoss != nil && losses != nil {
		losses.Add(1)
		go func() {
			defer losses.Done()
			s.cfg.OnLoss(ctx, ev)
		}()
	}
	s.subs.Publish(ev)
}

// serviceEvent applies ev to its slot and reports whether it is a loss. s.mu is held.
func (s *Scheduler) serviceEvent(sl *slot, ev TaskEvent, now time.Time) bool {
	switch {
	case ev.State == StateRunning || ev.State == StatePending:
		if ev.State != sl.state {
			sl.since = now
		}
		sl.state = ev.State
		sl.node, sl.pid = ev.Node, ev.PID
		return false
	case !ev.State.Terminal():
		return false
	}
	delete(s.byTask, ev.TaskID)
	wasRunning, ran := sl.state == StateRunning, now.Sub(sl.since)
	sl.task, sl.pid, sl.last, sl.since = "", 0, ev, now
	if sl.stopping {
		sl.state = ev.State
		return false
	}
	if wasRunning && ran >= s.cfg.RelaunchBackoff.StableAfter {
		sl.crashes = 0
	} else {
		sl.crashes++
	}
	sl.restarts++
	sl.state = StatePending
	sl.next = now.Add(s.cfg.RelaunchBackoff.Delay(sl.crashes))
	s.log.Warn("service_lost", "slot", sl.name, "task_id", ev.TaskID, "state", ev.State,
		"exit_code", ev.ExitCode, "message", ev.Message, "relaunch_at", sl.next)
	return true
}

// stash keeps ev for a task ID not known yet. s.mu is held.
func (s *Scheduler) stash(ev TaskEvent) {
	if _, ok := s.early[ev.TaskID]; !ok {
		s.earlyOrder = append(s.earlyOrder, ev.TaskID)
		for len(s.earlyOrder) > maxEarly {
			delete(s.early, s.earlyOrder[0])
			s.earlyOrder = s.earlyOrder[1:]
		}
	}
	s.early[ev.TaskID] = append(s.early[ev.TaskID], ev)
}

// takeEarly removes and returns the events stashed for id. s.mu is held.
func (s *Scheduler) takeEarly(id TaskID) []TaskEvent {
	evs, ok := s.early[id]
	if !ok {
		return nil
	}
	delete(s.early, id)
	s.earlyOrder = slices.DeleteFunc(s.earlyOrder, func(e TaskID) bool { return e == id })
	return evs
}

// stop kills every service task still running and waits for their end, up to
// Config.StopTimeout.
func (s *Scheduler) stop(ctx context.Context, evs <-chan TaskEvent) error {
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.StopTimeout)
	defer cancel()
	pending := make(map[TaskID]bool)
	s.mu.Lock()
	for _, sl := range s.slots {
		sl.stopping = true
		if sl.task != "" {
			pending[sl.task] = true
		}
	}
	s.mu.Unlock()
	s.log.Info("scheduler_stopping", "tasks", len(pending))

	type result struct {
		id  TaskID
		err error
	}
	results := make(chan result, len(pending))
	for id := range pending {
		go func() { results <- result{id, s.cfg.Backend.Kill(stopCtx, id)} }()
	}
	var errs []error
	kills := len(pending)
	for kills > 0 || len(pending) > 0 {
		select {
		case r := <-results:
			kills--
			if r.err != nil && !errors.Is(r.err, ErrUnknownTask) {
				errs = append(errs, fmt.Errorf("kill %s: %w", r.id, r.err))
				delete(pending, r.id) // its end may never be reported
			}
		case ev, ok := <-evs:
			if !ok {
				evs = nil
				if len(pending) > 0 {
					errs = append(errs, fmt.Errorf("watch ended with %d tasks not stopped: %w", len(pending), ErrClosed))
				}
				clear(pending)
				continue
			}
			s.handle(ctx, ev, nil)
			if ev.State.Terminal() {
				delete(pending, ev.TaskID)
			}
		case <-stopCtx.Done():
			if len(pending) > 0 {
				errs = append(errs, fmt.Errorf("tasks %v not stopped: %w", slices.Sorted(maps.Keys(pending)), stopCtx.Err()))
			}
			for ; kills > 0; kills-- {
				<-results // Kill honours stopCtx, which has ended
			}
			clear(pending)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop %s tasks: %w", s.cfg.Backend.Name(), err)
	}
	s.log.Info("scheduler_stopped")
	return nil
}

// Executors returns the status of every executor slot, by index.
func (s *Scheduler) Executors() []ExecutorStatus {
	return s.services(KindExecutor)
}

// Masters returns the status of every master slot, by index.
func (s *Scheduler) Masters() []ServiceStatus {
	return s.services(KindMaster)
}

func (s *Scheduler) services(k Kind) []ServiceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ServiceStatus
	for _, sl := range s.slots {
		if sl.kind != k {
			continue
		}
		st := ServiceStatus{
			Slot: sl.name, Kind: sl.kind, Index: sl.index, TaskID: sl.task, State: sl.state,
			Node: sl.node, PID: sl.pid, Since: sl.since, Restarts: sl.restarts,
		}
		if sl.task == "" && !sl.stopping {
			st.NextLaunch = sl.next
		}
		if sl.last.TaskID != "" {
			last := sl.last
			st.LastExit = &last
		}
		out = append(out, st)
	}
	return out
}

// Subscribe returns a channel of every event the backend reports (service tasks and
// jobs), each sent after the Scheduler has applied it, so JobStatus and Executors
// already reflect it. The channel is closed when ctx ends or Run returns; it is closed at
// once if Run has already returned. Events are never dropped while the channel is read.
func (s *Scheduler) Subscribe(ctx context.Context) <-chan TaskEvent {
	ch, err := s.subs.Watch(ctx)
	if err != nil {
		closed := make(chan TaskEvent)
		close(closed)
		return closed
	}
	return ch
}

// Nodes lists the backend's nodes, for placement and data locality hints.
func (s *Scheduler) Nodes(ctx context.Context) ([]Node, error) {
	nodes, err := s.cfg.Backend.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("nodes of %s: %w", s.cfg.Backend.Name(), err)
	}
	return nodes, nil
}

// TaskStatus returns the backend's status of a task (PID, log file) when the backend is
// a StatusReporter, and ErrUnsupported otherwise.
func (s *Scheduler) TaskStatus(ctx context.Context, id TaskID) (TaskStatus, error) {
	sr, ok := s.cfg.Backend.(StatusReporter)
	if !ok {
		return TaskStatus{}, fmt.Errorf("task status on %s: %w", s.cfg.Backend.Name(), ErrUnsupported)
	}
	return sr.Status(ctx, id)
}
