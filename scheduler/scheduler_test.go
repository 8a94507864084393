package scheduler_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// The tests of this file run in synctest bubbles: time is fake, so time.Sleep only moves
// the bubble's clock, and synctest.Wait returns once the Scheduler has done all it can.

// harness is a Scheduler on a FakeBackend, with its losses recorded.
type harness struct {
	t     *testing.T
	fake  *schedulertest.FakeBackend
	sched *scheduler.Scheduler
	done  chan error
	stop  context.CancelFunc

	mu     sync.Mutex
	losses []loss
}

type loss struct {
	ev scheduler.TaskEvent
	at time.Time
}

// executorTask is the ExecutorTask of the tests: the slot index in the argv.
func executorTask(i int) scheduler.Task {
	return scheduler.Task{Command: []string{"sluice", "executor", "--index", strconv.Itoa(i)}, Env: map[string]string{"A": "b"}}
}

// newHarness builds a Scheduler with two executors on a FakeBackend configured by fc,
// changed by change, and starts Run. It must be called inside a synctest bubble.
func newHarness(t *testing.T, fc schedulertest.FakeConfig, change func(*scheduler.Config)) *harness {
	t.Helper()
	h := &harness{t: t, fake: schedulertest.NewFakeBackend(fc), done: make(chan error, 1)}
	t.Cleanup(func() { h.fake.Close() })
	cfg := scheduler.DefaultConfig()
	cfg.Backend = h.fake
	cfg.Executors = 2
	cfg.ExecutorTask = executorTask
	cfg.OnLoss = func(ctx context.Context, ev scheduler.TaskEvent) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.losses = append(h.losses, loss{ev, time.Now()})
	}
	if change != nil {
		change(&cfg)
	}
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.sched = s
	ctx, cancel := context.WithCancel(t.Context())
	h.stop = cancel
	go func() { h.done <- s.Run(ctx) }()
	synctest.Wait()
	return h
}

// shutdown cancels Run and returns its error.
func (h *harness) shutdown() error {
	h.stop()
	return <-h.done
}

func (h *harness) lossList() []loss {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.losses)
}

// live returns the live task of executor slot i, failing if there is none.
func (h *harness) live(i int) scheduler.TaskID {
	h.t.Helper()
	st := h.sched.Executors()[i]
	if st.TaskID == "" || st.State != scheduler.StateRunning {
		h.t.Fatalf("executor %d has no running task: %+v", i, st)
	}
	return st.TaskID
}

func TestScheduler_LaunchesDesiredCluster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, schedulertest.FakeConfig{}, func(c *scheduler.Config) {
			c.Masters = 1
			c.MasterTask = func(i int) scheduler.Task {
				return scheduler.Task{Name: "the-master", Command: []string{"sluice", "master"}}
			}
		})
		launches := h.fake.Launches()
		var got []scheduler.Task
		for _, l := range launches {
			got = append(got, l.Task)
		}
		want := []scheduler.Task{
			{Name: "the-master", Kind: scheduler.KindMaster, Command: []string{"sluice", "master"},
				Labels: map[string]string{scheduler.LabelSlot: "master-0", scheduler.LabelAttempt: "1"}},
			{Name: "executor-0", Kind: scheduler.KindExecutor, Command: []string{"sluice", "executor", "--index", "0"}, Env: map[string]string{"A": "b"},
				Labels: map[string]string{scheduler.LabelSlot: "executor-0", scheduler.LabelAttempt: "1"}},
			{Name: "executor-1", Kind: scheduler.KindExecutor, Command: []string{"sluice", "executor", "--index", "1"}, Env: map[string]string{"A": "b"},
				Labels: map[string]string{scheduler.LabelSlot: "executor-1", scheduler.LabelAttempt: "1"}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("launched tasks (-want +got):\n%s", diff)
		}
		for i, st := range h.sched.Executors() {
			if st.State != scheduler.StateRunning || st.TaskID != launches[i+1].ID || st.Node != schedulertest.FakeNode || st.PID == 0 ||
				st.Slot != "executor-"+strconv.Itoa(i) || st.Index != i || st.Restarts != 0 || st.LastExit != nil {
				t.Errorf("executor %d: %+v", i, st)
			}
		}
		if m := h.sched.Masters(); len(m) != 1 || m[0].TaskID != launches[0].ID || m[0].Kind != scheduler.KindMaster {
			t.Errorf("masters: %+v", m)
		}
		if err := h.shutdown(); err != nil {
			t.Errorf("Run: %v", err)
		}
		if diff := cmp.Diff(h.fake.Live(), []scheduler.TaskID(nil)); diff != "" {
			t.Errorf("tasks left running after shutdown: %v", h.fake.Live())
		}
		if l := h.lossList(); len(l) != 0 {
			t.Errorf("a shutdown reported losses: %+v", l)
		}
	})
}

// TestScheduler_RelaunchesLostExecutor checks the level-based promise: kill one executor
// (any way) and one new one comes, after a loss report.
func TestScheduler_RelaunchesLostExecutor(t *testing.T) {
	ends := map[string]func(f *schedulertest.FakeBackend, id scheduler.TaskID){
		"failed":         func(f *schedulertest.FakeBackend, id scheduler.TaskID) { f.Fail(id, 1) },
		"lost":           func(f *schedulertest.FakeBackend, id scheduler.TaskID) { f.Lose(id) },
		"exited":         func(f *schedulertest.FakeBackend, id scheduler.TaskID) { f.Finish(id) },
		"killed-outside": func(f *schedulertest.FakeBackend, id scheduler.TaskID) { f.Kill(context.Background(), id) },
		"killed-by-sigkill": func(f *schedulertest.FakeBackend, id scheduler.TaskID) {
			f.Emit(scheduler.TaskEvent{TaskID: id, State: scheduler.StateFailed, ExitCode: -1, Message: "killed by signal 9 (killed)"})
		},
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, schedulertest.FakeConfig{}, nil)
				time.Sleep(time.Minute) // a stable run: relaunched at once
				old := h.live(1)
				lostAt := time.Now()
				end(h.fake, old)
				synctest.Wait()

				losses := h.lossList()
				if len(losses) != 1 || losses[0].ev.TaskID != old || !losses[0].at.Equal(lostAt) {
					t.Fatalf("losses %+v, want one for %s at once", losses, old)
				}
				st := h.sched.Executors()[1]
				if st.TaskID == "" || st.TaskID == old || st.State != scheduler.StateRunning || st.Restarts != 1 ||
					st.LastExit == nil || st.LastExit.TaskID != old {
					t.Errorf("executor 1 after its loss: %+v", st)
				}
				launches := h.fake.Launches()
				last := launches[len(launches)-1]
				if len(launches) != 3 || last.Task.Name != "executor-1" || last.Task.Labels[scheduler.LabelAttempt] != "2" ||
					!slices.Equal(last.Task.Command, executorTask(1).Command) {
					t.Errorf("relaunch: %+v", launches)
				}
				if live := h.fake.Live(); len(live) != 2 {
					t.Errorf("live tasks %v, want exactly 2", live)
				}
				if err := h.shutdown(); err != nil {
					t.Errorf("Run: %v", err)
				}
			})
		})
	}
}

// TestScheduler_CrashLoopBackoff checks that an executor that keeps dying at once is
// relaunched after 0.5 s, 1 s, 2 s ... at most 30 s, that OnLoss is called at once each
// time, and that a stable run resets the count.
func TestScheduler_CrashLoopBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, schedulertest.FakeConfig{}, func(c *scheduler.Config) { c.Executors = 1 })
		backoff := scheduler.DefaultConfig().RelaunchBackoff
		crash := func() time.Time {
			id := h.live(0)
			at := time.Now()
			h.fake.Fail(id, 2)
			synctest.Wait()
			return at
		}
		var want, got []time.Duration
		var crashes []time.Time
		for n := 1; n <= 8; n++ {
			before := len(h.fake.Launches())
			at := crash()
			crashes = append(crashes, at)
			st := h.sched.Executors()[0]
			if st.TaskID != "" || !st.NextLaunch.Equal(at.Add(backoff.Delay(n))) {
				t.Fatalf("crash %d: slot %+v, want a wait of %v", n, st, backoff.Delay(n))
			}
			// Crash the new task as soon as it is launched, so that it never runs
			// long enough to reset the count.
			time.Sleep(backoff.Delay(n))
			synctest.Wait()
			if len(h.fake.Launches()) != before+1 {
				t.Fatalf("crash %d: %d launches, want %d", n, len(h.fake.Launches()), before+1)
			}
			want = append(want, backoff.Delay(n))
			got = append(got, h.fake.Launches()[before].At.Sub(at))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("relaunch delays (-want +got):\n%s", diff)
		}
		// OnLoss is called at the crash, not at the relaunch.
		var lossTimes []time.Time
		for _, l := range h.lossList() {
			lossTimes = append(lossTimes, l.at)
		}
		if diff := cmp.Diff(crashes, lossTimes); diff != "" {
			t.Errorf("loss report times (-crash +reported):\n%s", diff)
		}
		// A run longer than StableAfter resets the count: relaunched at once, and the
		// next crash waits Initial again.
		time.Sleep(backoff.StableAfter)
		before := len(h.fake.Launches())
		crash()
		if len(h.fake.Launches()) != before+1 {
			t.Fatalf("after a stable run the executor was not relaunched at once")
		}
		at := crash()
		if st := h.sched.Executors()[0]; !st.NextLaunch.Equal(at.Add(backoff.Initial)) {
			t.Errorf("after a reset, the first crash waits until %v, want %v", st.NextLaunch, at.Add(backoff.Initial))
		}
		if err := h.shutdown(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestScheduler_LaunchFailureBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		failures := 3
		fc := schedulertest.FakeConfig{LaunchError: func(task scheduler.Task) error {
			mu.Lock()
			defer mu.Unlock()
			if failures > 0 {
				failures--
				return errors.New("no capacity")
			}
			return nil
		}}
		start := time.Now()
		h := newHarness(t, fc, func(c *scheduler.Config) { c.Executors = 1 })
		if st := h.sched.Executors()[0]; st.TaskID != "" || !st.NextLaunch.Equal(start.Add(500*time.Millisecond)) {
			t.Fatalf("after a failed launch: %+v", st)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		var got []time.Duration
		for _, l := range h.fake.Launches() {
			got = append(got, l.At.Sub(start))
		}
		// Failed launches count as crashes; the fourth launch succeeds.
		want := []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("launch times (-want +got):\n%s", diff)
		}
		if st := h.sched.Executors()[0]; st.State != scheduler.StateRunning {
			t.Errorf("executor after the launch succeeded: %+v", st)
		}
		if len(h.lossList()) != 0 {
			t.Errorf("failed launches reported as losses: %+v", h.lossList())
		}
		if err := h.shutdown(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestScheduler_Jobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, schedulertest.FakeConfig{}, func(c *scheduler.Config) { c.Executors = 1 })
		events := schedulertest.NewEvents(h.sched.Subscribe(t.Context()))
		job := scheduler.Task{Name: "wordcount", Command: []string{"wc"}, Priority: 3}
		id, err := h.sched.LaunchJob(t.Context(), job)
		if err != nil {
			t.Fatal(err)
		}
		if last := h.fake.Launches()[len(h.fake.Launches())-1]; last.ID != id || last.Task.Kind != scheduler.KindJob {
			t.Errorf("job launch recorded as %+v", last)
		}
		if ev := events.Next(t, id); ev.State != scheduler.StateRunning {
			t.Errorf("first job event %+v", ev)
		}
		launched := time.Now()
		time.Sleep(time.Second)
		h.fake.Fail(id, 2)
		if ev := events.Next(t, id); ev.State != scheduler.StateFailed || ev.ExitCode != 2 {
			t.Errorf("job end event %+v", ev)
		}
		// Subscribe's events come after the Scheduler applied them.
		st, err := h.sched.JobStatus(id)
		if err != nil {
			t.Fatal(err)
		}
		want := scheduler.JobStatus{ID: id, Name: "wordcount", Priority: 3, State: scheduler.StateFailed, ExitCode: 2,
			Message: "exit status 2", Node: schedulertest.FakeNode, PID: st.PID, Launched: launched, Started: launched,
			Ended: launched.Add(time.Second)}
		if diff := cmp.Diff(want, st); diff != "" {
			t.Errorf("JobStatus (-want +got):\n%s", diff)
		}
		// A job is never relaunched, and its failure is no loss.
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(h.fake.Launches()); n != 2 {
			t.Errorf("%d launches, want 2 (one executor, one job)", n)
		}
		if len(h.lossList()) != 0 {
			t.Errorf("a job's failure was reported as a loss: %+v", h.lossList())
		}

		// Kill a running job; killing it again, or killing an unknown one.
		id2, err := h.sched.Launch(t.Context(), scheduler.Task{Kind: scheduler.KindJob, Command: []string{"sleep"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.sched.KillJob(t.Context(), id2); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if st, _ := h.sched.JobStatus(id2); st.State != scheduler.StateKilled {
			t.Errorf("killed job: %+v", st)
		}
		if err := h.sched.KillJob(t.Context(), id2); err != nil {
			t.Errorf("KillJob of an ended job: %v", err)
		}
		if k := h.fake.Kills(); len(k) != 1 {
			t.Errorf("backend kills %v, want one", k)
		}
		if err := h.sched.KillJob(t.Context(), "nope"); !errors.Is(err, scheduler.ErrUnknownTask) {
			t.Errorf("KillJob(unknown) = %v", err)
		}
		if _, err := h.sched.JobStatus("nope"); !errors.Is(err, scheduler.ErrUnknownTask) {
			t.Errorf("JobStatus(unknown) = %v", err)
		}
		if _, err := h.sched.LaunchJob(t.Context(), scheduler.Task{Kind: scheduler.KindExecutor, Command: []string{"x"}}); !errors.Is(err, scheduler.ErrInvalidTask) {
			t.Errorf("LaunchJob of an executor = %v", err)
		}
		if _, err := h.sched.LaunchJob(t.Context(), scheduler.Task{}); !errors.Is(err, scheduler.ErrInvalidTask) {
			t.Errorf("LaunchJob without command = %v", err)
		}
		if got := h.sched.Jobs(); len(got) != 2 || got[0].ID != id || got[1].ID != id2 {
			t.Errorf("Jobs() = %+v", got)
		}
		if _, err := h.sched.TaskStatus(t.Context(), id2); err != nil {
			t.Errorf("TaskStatus through a StatusReporter backend: %v", err)
		}

		// Jobs are left running at shutdown; executors are killed.
		id3, err := h.sched.LaunchJob(t.Context(), scheduler.Task{Command: []string{"sleep"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.shutdown(); err != nil {
			t.Errorf("Run: %v", err)
		}
		if live := h.fake.Live(); !slices.Equal(live, []scheduler.TaskID{id3}) {
			t.Errorf("live after shutdown %v, want only the job %s", live, id3)
		}
		events.Closed(t)
		if _, err := h.sched.LaunchJob(t.Context(), job); !errors.Is(err, scheduler.ErrClosed) {
			t.Errorf("LaunchJob after Run = %v, want ErrClosed", err)
		}
		if _, ok := <-h.sched.Subscribe(t.Context()); ok {
			t.Error("Subscribe after Run returned an open channel")
		}
	})
}

func TestScheduler_JobEventsBeforeRegistration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// With ManualStart off, the fake reports the job running inside Launch, before
		// LaunchJob records the ID; a fast job may even end before.
		h := newHarness(t, schedulertest.FakeConfig{}, func(c *scheduler.Config) { c.Executors = 0 })
		for range 3 {
			id, err := h.sched.LaunchJob(t.Context(), scheduler.Task{Command: []string{"true"}})
			if err != nil {
				t.Fatal(err)
			}
			h.fake.Finish(id)
			synctest.Wait()
			if st, err := h.sched.JobStatus(id); err != nil || st.State != scheduler.StateFinished || st.Started.IsZero() {
				t.Errorf("job %s: %+v, %v", id, st, err)
			}
		}
		if err := h.shutdown(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestScheduler_JobHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, schedulertest.FakeConfig{}, func(c *scheduler.Config) { c.Executors, c.JobHistory = 0, 2 })
		var ids []scheduler.TaskID
		for range 3 {
			id, err := h.sched.LaunchJob(t.Context(), scheduler.Task{Command: []string{"true"}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		running, err := h.sched.LaunchJob(t.Context(), scheduler.Task{Command: []string{"sleep"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			h.fake.Finish(id)
		}
		synctest.Wait()
		if _, err := h.sched.JobStatus(ids[0]); !errors.Is(err, scheduler.ErrUnknownTask) {
			t.Errorf("the oldest ended job is still known: %v", err)
		}
		for _, id := range append(ids[1:], running) {
			if _, err := h.sched.JobStatus(id); err != nil {
				t.Errorf("job %s forgotten: %v", id, err)
			}
		}
		if err := h.shutdown(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestScheduler_ShutdownWaitsForKills(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, schedulertest.FakeConfig{ManualKill: true}, nil)
		a, b := h.live(0), h.live(1)
		h.stop()
		synctest.Wait()
		if k := h.fake.Kills(); len(k) != 2 || !slices.Contains(k, a) || !slices.Contains(k, b) {
			t.Fatalf("kills %v, want %s and %s", k, a, b)
		}
		h.fake.Emit(scheduler.TaskEvent{TaskID: a, State: scheduler.StateKilled})
		synctest.Wait()
		select {
		case err := <-h.done:
			t.Fatalf("Run returned %v before every executor ended", err)
		default:
		}
		if n := len(h.fake.Launches()); n != 2 {
			t.Errorf("an executor killed at shutdown was relaunched (%d launches)", n)
		}
		h.fake.Emit(scheduler.TaskEvent{TaskID: b, State: scheduler.StateKilled})
		if err := <-h.done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if st := h.sched.Executors(); st[0].State != scheduler.StateKilled || st[1].State != scheduler.StateKilled {
			t.Errorf("executors after shutdown: %+v", st)
		}
		if len(h.lossList()) != 0 {
			t.Errorf("shutdown kills reported as losses: %+v", h.lossList())
		}
	})
}

func TestScheduler_ShutdownTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, schedulertest.FakeConfig{ManualKill: true}, func(c *scheduler.Config) { c.Executors = 1 })
		start := time.Now()
		err := h.shutdown()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run = %v, want a deadline error", err)
		}
		if d := time.Since(start); d != scheduler.DefaultConfig().StopTimeout {
			t.Errorf("Run waited %v, want the stop timeout", d)
		}
	})
}

func TestScheduler_RunTwiceAndClosedWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, schedulertest.FakeConfig{}, nil)
		if err := h.sched.Run(t.Context()); !errors.Is(err, scheduler.ErrAlreadyRunning) {
			t.Errorf("second Run = %v", err)
		}
		// The backend going away ends Run with ErrClosed.
		h.fake.Close()
		if err := <-h.done; !errors.Is(err, scheduler.ErrClosed) {
			t.Errorf("Run after the backend closed = %v", err)
		}
		if err := h.sched.Run(t.Context()); !errors.Is(err, scheduler.ErrClosed) {
			t.Errorf("Run after Run = %v", err)
		}
		h.stop()
	})
}

func TestScheduler_NotRunning(t *testing.T) {
	cfg := scheduler.DefaultConfig()
	cfg.Backend = schedulertest.NewFakeBackend(schedulertest.FakeConfig{})
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LaunchJob(t.Context(), scheduler.Task{Command: []string{"x"}}); !errors.Is(err, scheduler.ErrNotRunning) {
		t.Errorf("LaunchJob before Run = %v", err)
	}
	if len(s.Executors()) != 0 || len(s.Masters()) != 0 || len(s.Jobs()) != 0 {
		t.Error("an idle Scheduler reports tasks")
	}
	if nodes, err := s.Nodes(t.Context()); err != nil || len(nodes) != 1 || nodes[0].ID != schedulertest.FakeNode {
		t.Errorf("Nodes() = %+v, %v", nodes, err)
	}
}

// noStatus hides the FakeBackend's StatusReporter.
type noStatus struct{ scheduler.Backend }

func TestScheduler_TaskStatusUnsupported(t *testing.T) {
	cfg := scheduler.DefaultConfig()
	cfg.Backend = noStatus{schedulertest.NewFakeBackend(schedulertest.FakeConfig{})}
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TaskStatus(t.Context(), "x"); !errors.Is(err, scheduler.ErrUnsupported) {
		t.Errorf("TaskStatus = %v, want ErrUnsupported", err)
	}
}
