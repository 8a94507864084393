package recompute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicedata/sluice/lineage/lineagetest"
)

// fakeLauncher records launches. A launched job blocks until the test finishes it with
// finish, unless decide is set, which answers at once.
type fakeLauncher struct {
	// decide, when set, answers every launch at once.
	decide func(s Step, attempt int) error
	// mu guards the fields below.
	mu       sync.Mutex
	outcome  map[uint64]chan error
	started  []uint64
	active   map[uint64]int
	cur      int
	peak     int
	overlap  bool
	attempts map[uint64]int
}

func newFake() *fakeLauncher {
	return &fakeLauncher{outcome: map[uint64]chan error{}, active: map[uint64]int{}, attempts: map[uint64]int{}}
}

// ch returns job id's outcome channel; f.mu must be held.
func (f *fakeLauncher) ch(id uint64) chan error {
	c, ok := f.outcome[id]
	if !ok {
		c = make(chan error)
		f.outcome[id] = c
	}
	return c
}

func (f *fakeLauncher) Launch(ctx context.Context, s Step, attempt int) error {
	id := s.Job.ID
	f.mu.Lock()
	f.started = append(f.started, id)
	f.attempts[id] = attempt
	if f.active[id] > 0 {
		f.overlap = true
	}
	f.active[id]++
	f.cur++
	f.peak = max(f.peak, f.cur)
	c := f.ch(id)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active[id]--
		f.cur--
		f.mu.Unlock()
	}()
	if f.decide != nil {
		return f.decide(s, attempt)
	}
	select {
	case err := <-c:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish ends the running attempt of job id with err; it blocks until the job runs.
func (f *fakeLauncher) finish(id uint64, err error) {
	f.mu.Lock()
	c := f.ch(id)
	f.mu.Unlock()
	c <- err
}

func (f *fakeLauncher) launched() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.started)
}

func newRunner(t *testing.T, l Launcher, maxConcurrent, maxAttempts int) *Runner {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Launcher, cfg.MaxConcurrent, cfg.MaxAttempts = l, maxConcurrent, maxAttempts
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// execute starts Execute in the background.
func execute(ctx context.Context, r *Runner, p Plan) <-chan Report {
	done := make(chan Report, 1)
	go func() { done <- r.Execute(ctx, p) }()
	return done
}

// step makes a plan step for job id with a priority and the steps it waits for.
func step(id uint64, prio int, after ...uint64) Step {
	return Step{Job: job(id, prio, "", fmt.Sprintf("/o%d", id)), Priority: prio, After: after}
}

// wantLaunched waits for the bubble to settle and compares the launches so far, in any
// order: jobs started together race to the launcher.
func wantLaunched(t *testing.T, f *fakeLauncher, want ...uint64) {
	t.Helper()
	synctest.Wait()
	if diff := cmp.Diff(slices.Sorted(slices.Values(want)), slices.Sorted(slices.Values(f.launched()))); diff != "" {
		t.Fatalf("launched (-want +got):\n%s", diff)
	}
}

func TestRunner_PriorityAndBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		r := newRunner(t, f, 2, 1)
		done := execute(t.Context(), r, Plan{Steps: []Step{step(1, 1), step(2, 5), step(3, 3), step(4, 5), step(5, 2)}})
		wantLaunched(t, f, 2, 4)
		f.finish(2, nil)
		wantLaunched(t, f, 2, 4, 3)
		f.finish(4, nil)
		wantLaunched(t, f, 2, 4, 3, 5)
		f.finish(3, nil)
		wantLaunched(t, f, 2, 4, 3, 5, 1)
		f.finish(5, nil)
		synctest.Wait()
		f.finish(1, nil)
		rep := <-done
		if diff := cmp.Diff([]uint64{2, 4, 3, 5, 1}, rep.Completed); diff != "" || rep.Err() != nil {
			t.Errorf("completed (-want +got):\n%s\nerr %v", diff, rep.Err())
		}
		if f.peak != 2 {
			t.Errorf("peak concurrency %d, want 2", f.peak)
		}
	})
}

func TestRunner_DependenciesFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := graph(t, job(1, 1, "/in", "/a"), job(2, 5, "/a", "/b"), job(3, 0, "/a", "/c"), job(4, 2, "/b /c", "/d"))
		p := NewPlan(g, []string{"/d"}, availableExcept("/a", "/b", "/c", "/d"))
		f := newFake()
		r := newRunner(t, f, 4, 1)
		done := execute(t.Context(), r, p)
		wantLaunched(t, f, 1)
		f.finish(1, nil)
		wantLaunched(t, f, 1, 2, 3)
		f.finish(3, nil)
		wantLaunched(t, f, 1, 2, 3)
		f.finish(2, nil)
		wantLaunched(t, f, 1, 2, 3, 4)
		f.finish(4, nil)
		if rep := <-done; rep.Err() != nil || len(rep.Completed) != 4 {
			t.Errorf("report %+v", rep)
		}
	})
}

func TestRunner_FailurePropagates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("exit status 3")
		f := newFake()
		r := newRunner(t, f, 4, 2)
		done := execute(t.Context(), r, Plan{Steps: []Step{step(1, 0), step(2, 0, 1), step(3, 0, 2), step(4, 0)}})
		wantLaunched(t, f, 1, 4)
		f.finish(1, boom)
		wantLaunched(t, f, 1, 4, 1)
		f.finish(1, boom)
		f.finish(4, nil)
		rep := <-done
		if diff := cmp.Diff([]uint64{4}, rep.Completed); diff != "" {
			t.Errorf("completed (-want +got):\n%s", diff)
		}
		var msgs []string
		for _, e := range rep.Failed {
			msgs = append(msgs, e.Error())
			if !errors.Is(e, boom) {
				t.Errorf("%v does not wrap the launcher's error", e)
			}
		}
		want := []string{
			`recompute of job 1 "j1" failed after 2 attempt(s): exit status 3`,
			`recompute of job 2 "j2" not run: it depends on job 1 "j1", which failed: exit status 3`,
			`recompute of job 3 "j3" not run: it depends on job 1 "j1", which failed: exit status 3`,
		}
		if diff := cmp.Diff(want, msgs); diff != "" {
			t.Errorf("errors (-want +got):\n%s", diff)
		}
		if !errors.Is(rep.Failed[0], ErrJobFailed) || !errors.Is(rep.Failed[2], ErrDependencyFailed) {
			t.Errorf("sentinels: %v / %v", rep.Failed[0], rep.Failed[2])
		}
		if !errors.Is(rep.Err(), boom) {
			t.Errorf("Err() = %v", rep.Err())
		}
	})
}

func TestRunner_Retry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		r := newRunner(t, f, 1, 3)
		done := execute(t.Context(), r, Plan{Steps: []Step{step(1, 0)}})
		f.finish(1, errors.New("node lost"))
		f.finish(1, nil)
		if rep := <-done; rep.Err() != nil || f.attempts[1] != 2 {
			t.Errorf("report %+v after %d attempts", rep, f.attempts[1])
		}
	})
}

func TestRunner_JoinsRunningJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		r := newRunner(t, f, 4, 1)
		a := execute(t.Context(), r, Plan{Steps: []Step{step(1, 0)}})
		wantLaunched(t, f, 1)
		b := execute(t.Context(), r, Plan{Steps: []Step{step(1, 0), step(2, 0, 1)}})
		wantLaunched(t, f, 1)
		if diff := cmp.Diff([]uint64{1}, r.Running()); diff != "" {
			t.Errorf("running (-want +got):\n%s", diff)
		}
		f.finish(1, nil)
		wantLaunched(t, f, 1, 2)
		f.finish(2, nil)
		ra, rb := <-a, <-b
		if ra.Err() != nil || rb.Err() != nil || len(rb.Completed) != 2 {
			t.Errorf("reports %+v %+v", ra, rb)
		}
		if f.overlap {
			t.Errorf("a job ran twice at once")
		}
	})
}

func TestRunner_JoinsWithoutASlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		r := newRunner(t, f, 1, 1)
		a := execute(t.Context(), r, Plan{Steps: []Step{step(1, 0)}})
		wantLaunched(t, f, 1)
		// The only slot is taken by job 1, which b joins rather than runs again later.
		b := execute(t.Context(), r, Plan{Steps: []Step{step(1, 0), step(2, 0, 1)}})
		wantLaunched(t, f, 1)
		f.finish(1, nil)
		wantLaunched(t, f, 1, 2)
		f.finish(2, nil)
		if ra, rb := <-a, <-b; ra.Err() != nil || rb.Err() != nil {
			t.Errorf("reports %+v %+v", ra, rb)
		}
	})
}

func TestRunner_JoinedRunCancelledByItsOwner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		r := newRunner(t, f, 2, 1)
		ctxA, cancelA := context.WithCancel(t.Context())
		a := execute(ctxA, r, Plan{Steps: []Step{step(1, 0)}})
		wantLaunched(t, f, 1)
		b := execute(t.Context(), r, Plan{Steps: []Step{step(1, 0)}})
		wantLaunched(t, f, 1)
		cancelA()
		if ra := <-a; !errors.Is(ra.Err(), context.Canceled) {
			t.Errorf("owner's report %+v", ra)
		}
		// b, still wanted, runs the job itself.
		wantLaunched(t, f, 1, 1)
		f.finish(1, nil)
		if rb := <-b; rb.Err() != nil || len(rb.Completed) != 1 {
			t.Errorf("joiner's report %+v", rb)
		}
		if f.overlap {
			t.Errorf("a job ran twice at once")
		}
	})
}

func TestRunner_Cancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		r := newRunner(t, f, 1, 3)
		ctx, cancel := context.WithCancel(t.Context())
		done := execute(ctx, r, Plan{Steps: []Step{step(1, 1), step(2, 0, 1), step(3, 0)}})
		wantLaunched(t, f, 1)
		cancel()
		rep := <-done
		if len(rep.Completed) != 0 || len(rep.Failed) != 3 {
			t.Fatalf("report %+v", rep)
		}
		for _, e := range rep.Failed {
			if !errors.Is(e, context.Canceled) {
				t.Errorf("%v is not a cancellation", e)
			}
		}
		if got := f.launched(); len(got) != 1 {
			t.Errorf("launched %v after cancel", got)
		}
		if n := len(r.Running()); n != 0 {
			t.Errorf("%d jobs still marked running", n)
		}
	})
}

func TestRunner_InvalidPlan(t *testing.T) {
	f := newFake()
	f.decide = func(Step, int) error { return nil }
	r := newRunner(t, f, 2, 1)
	for _, tc := range []struct {
		name      string
		steps     []Step
		completed []uint64
		invalid   int
	}{
		{"cycle", []Step{step(1, 0, 2), step(2, 0, 1), step(3, 0)}, []uint64{3}, 2},
		{"self", []Step{step(1, 0, 1)}, nil, 1},
		{"duplicate", []Step{step(1, 0), step(1, 0)}, []uint64{1}, 1},
		{"after outside the plan", []Step{step(1, 0, 9)}, []uint64{1}, 0},
		{"empty", nil, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := r.Execute(t.Context(), Plan{Steps: tc.steps})
			if diff := cmp.Diff(tc.completed, rep.Completed); diff != "" {
				t.Errorf("completed (-want +got):\n%s", diff)
			}
			n := 0
			for _, e := range rep.Failed {
				if errors.Is(e, ErrInvalidPlan) {
					n++
				}
			}
			if n != tc.invalid || len(rep.Failed) != n {
				t.Errorf("failed %v, want %d invalid", rep.Failed, tc.invalid)
			}
		})
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := DefaultConfig()
	ok.Launcher = newFake()
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		valid  bool
	}{
		{"default with launcher", func(*Config) {}, true},
		{"no launcher", func(c *Config) { c.Launcher = nil }, false},
		{"no logger", func(c *Config) { c.Logger = nil }, false},
		{"zero concurrency", func(c *Config) { c.MaxConcurrent = 0 }, false},
		{"zero attempts", func(c *Config) { c.MaxAttempts = 0 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mutate(&c)
			err := c.Validate()
			if (err == nil) != tc.valid || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Errorf("Validate() = %v", err)
			}
			if _, err := NewRunner(c); (err == nil) != tc.valid {
				t.Errorf("NewRunner() = %v", err)
			}
		})
	}
}

// TestRunner_RandomPlans executes plans over random DAGs with a launcher that checks, at
// each launch, that every file the job reads is readable, and makes its outputs readable
// when it succeeds; some jobs always fail. Every requested file is rebuilt unless a job
// it needs failed, each job runs once, and dependents of a failure never run.
func TestRunner_RandomPlans(t *testing.T) {
	for seed := range uint64(100) {
		r := rand.New(rand.NewPCG(seed, 9))
		g := lineagetest.RandomGraph(r, 1+r.IntN(25))
		var mu sync.Mutex
		avail := map[string]bool{}
		var lost []string
		for _, j := range g.Jobs() {
			for _, in := range j.Inputs {
				if g.ProducerID(in) == 0 {
					avail[in] = true
				}
			}
			for _, o := range j.Outputs {
				avail[o] = r.IntN(3) == 0
				if !avail[o] && r.IntN(2) == 0 {
					lost = append(lost, o)
				}
			}
		}
		available := func(p string) bool { mu.Lock(); defer mu.Unlock(); return avail[p] }
		p := NewPlan(g, lost, available)
		broken := map[uint64]bool{}
		for _, s := range p.Steps {
			broken[s.Job.ID] = r.IntN(8) == 0
		}
		f := newFake()
		f.decide = func(s Step, _ int) error {
			produced, _ := g.Reads(s.Job.ID)
			for _, in := range produced {
				if !available(in) {
					return fmt.Errorf("seed %d: job %d launched before its input %s", seed, s.Job.ID, in)
				}
			}
			if broken[s.Job.ID] {
				return errors.New("broken")
			}
			mu.Lock()
			defer mu.Unlock()
			for _, o := range s.Job.Outputs {
				avail[o] = true
			}
			return nil
		}
		runner := newRunner(t, f, 1+r.IntN(4), 1)
		runner.log = slog.New(slog.DiscardHandler)
		rep := runner.Execute(t.Context(), p)
		if f.overlap {
			t.Fatalf("seed %d: a job ran twice at once", seed)
		}
		launched := f.launched()
		if len(launched) != len(slices.Compact(slices.Sorted(slices.Values(launched)))) {
			t.Fatalf("seed %d: a job ran twice: %v", seed, launched)
		}
		failed := map[uint64]bool{}
		for _, e := range rep.Failed {
			failed[e.Job.ID] = true
			if errors.Is(e, ErrDependencyFailed) && slices.Contains(launched, e.Job.ID) {
				t.Fatalf("seed %d: job %d ran after its dependency failed", seed, e.Job.ID)
			}
			if !errors.Is(e, ErrJobFailed) && !errors.Is(e, ErrDependencyFailed) {
				t.Fatalf("seed %d: unexpected failure %v", seed, e)
			}
			if !errors.Is(e, ErrDependencyFailed) && !broken[e.Job.ID] {
				t.Fatalf("seed %d: %v", seed, e)
			}
		}
		if len(rep.Completed)+len(rep.Failed) != len(p.Steps) {
			t.Fatalf("seed %d: %d completed + %d failed of %d steps", seed, len(rep.Completed), len(rep.Failed), len(p.Steps))
		}
		if len(rep.Failed) == 0 {
			for _, f := range lost {
				if !available(f) && !slices.ContainsFunc(p.Unrecoverable, func(u Unrecoverable) bool { return u.Path == f }) {
					t.Fatalf("seed %d: %s still lost after a clean run", seed, f)
				}
			}
		}
	}
}
