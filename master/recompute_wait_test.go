package master

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
)

func TestRecomputeBackoff(t *testing.T) {
	for _, tc := range []struct {
		name        string
		base, limit time.Duration
		runs        int
		want        time.Duration
	}{
		{name: "before the first run", base: time.Second, limit: 30 * time.Second, runs: 0, want: 0},
		{name: "negative runs", base: time.Second, limit: 30 * time.Second, runs: -1, want: 0},
		{name: "after one run", base: time.Second, limit: 30 * time.Second, runs: 1, want: time.Second},
		{name: "after two runs", base: time.Second, limit: 30 * time.Second, runs: 2, want: 2 * time.Second},
		{name: "after three runs", base: time.Second, limit: 30 * time.Second, runs: 3, want: 4 * time.Second},
		{name: "after five runs", base: time.Second, limit: 30 * time.Second, runs: 5, want: 16 * time.Second},
		{name: "capped", base: time.Second, limit: 30 * time.Second, runs: 6, want: 30 * time.Second},
		{name: "capped far out", base: time.Second, limit: 30 * time.Second, runs: 1000, want: 30 * time.Second},
		{name: "limit equal to base", base: time.Second, limit: time.Second, runs: 4, want: time.Second},
		{name: "no base", base: 0, limit: time.Second, runs: 3, want: 0},
		{name: "milliseconds", base: 20 * time.Millisecond, limit: 100 * time.Millisecond, runs: 3, want: 80 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := recomputeBackoff(tc.base, tc.limit, tc.runs); got != tc.want {
				t.Errorf("recomputeBackoff(%v, %v, %d) = %v, want %v", tc.base, tc.limit, tc.runs, got, tc.want)
			}
		})
	}
}

func TestRecomputeConfig_ValidateRetry(t *testing.T) {
	for name, tweak := range map[string]func(*RecomputeConfig){
		"no retry base":        func(c *RecomputeConfig) { c.RetryBase = 0 },
		"negative retry base":  func(c *RecomputeConfig) { c.RetryBase = -time.Second },
		"retry max below base": func(c *RecomputeConfig) { c.RetryBase, c.RetryMax = 2*time.Second, time.Second },
		"no retry max":         func(c *RecomputeConfig) { c.RetryMax = 0 },
		"neither":              func(c *RecomputeConfig) { c.RetryBase, c.RetryMax = 0, 0 },
	} {
		t.Run(name, func(t *testing.T) {
			c := DefaultRecomputeConfig()
			tweak(&c)
			if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate() = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// fastRetries makes runs of a recompute follow each other after a millisecond.
func fastRetries(c *Config) {
	c.Recompute.RetryBase, c.Recompute.RetryMax = time.Millisecond, time.Millisecond
}

// readAsync reads p's block locations, waiting for a recompute, in a goroutine and
// returns the channel of its error.
func readAsync(t *testing.T, tm *testMaster, p string) <-chan error {
	ctx := callCtx(t)
	done := make(chan error, 1)
	go func() {
		_, err := tm.fs.GetBlockLocations(ctx, &sluicepb.GetBlockLocationsRequest{Path: p, WaitForRecompute: true})
		done <- err
	}()
	return done
}

// waitingForExecutor waits until a recompute step waits for an executor.
func waitingForExecutor(t *testing.T, tm *testMaster) {
	t.Helper()
	waitFor(t, "a recompute waiting for an executor", func() bool { return tm.m.rec.waitingSteps() == 1 })
}

func TestRecompute_WaitsForReplacementExecutor(t *testing.T) {
	tm, farm, jm, e0 := farmMaster(t, nil)
	// The cluster's only executor writes the output of a job without inputs, then dies.
	farmJob(t, farm, jm, "gen", e0.id, nil, []string{"/g/out"})
	lose(t, tm, e0)
	read := readAsync(t, tm, "/g/out")
	// No run starts while no executor is live; the reader keeps waiting.
	waitingForExecutor(t, tm)
	if got := farm.recomputes(); len(got) != 0 {
		t.Fatalf("recomputes %v launched while no executor was live", got)
	}
	select {
	case err := <-read:
		t.Fatalf("read ended while its recompute waited for an executor: %v", err)
	default:
	}
	// The replacement registers (with an ID chosen here, so the job writes to it).
	y := newFakeExecutor(t, tm, "127.0.0.1:7002")
	y.id = e0.id + 100
	farm.set(func(f *jobFarm) { f.exec["gen"] = y.id })
	y.register()
	if err := <-read; err != nil {
		t.Fatalf("read of the lost output: %v", err)
	}
	readLost(t, tm, "/g/out")
	if got := farm.recomputes(); !slices.Equal(got, []string{"gen"}) {
		t.Errorf("recomputes %v, want one run of gen", got)
	}
	if n := tm.m.rec.waitingSteps(); n != 0 {
		t.Errorf("%d steps still waiting for an executor", n)
	}
}

func TestRecompute_RunWithoutExecutorsNotCounted(t *testing.T) {
	// One attempt only: the run that failed for want of an executor must not use it.
	tm, farm, jm, e0 := farmMaster(t, func(c *Config) { fastRetries(c); c.Recompute.MaxAttempts = 1 })
	farmJob(t, farm, jm, "gen", e0.id, nil, []string{"/g/out"})
	y := newFakeExecutor(t, tm, "127.0.0.1:7002")
	y.register()
	farm.set(func(f *jobFarm) { f.exec["gen"], f.hold = y.id, true })
	lose(t, tm, e0)
	read := readAsync(t, tm, "/g/out")
	waitFor(t, "recompute on y", func() bool {
		var held int
		farm.set(func(f *jobFarm) { held = f.held })
		return held == 1
	})
	// y dies during the run, which then fails: its block cannot be committed.
	lose(t, tm, y)
	close(farm.release)
	waitingForExecutor(t, tm)
	z := newFakeExecutor(t, tm, "127.0.0.1:7003")
	z.id = y.id + 100
	farm.set(func(f *jobFarm) { f.exec["gen"] = z.id })
	z.register()
	if err := <-read; err != nil {
		t.Fatalf("read of the lost output: %v", err)
	}
	readLost(t, tm, "/g/out")
	if got := farm.recomputes(); !slices.Equal(got, []string{"gen", "gen"}) {
		t.Errorf("recomputes %v, want the failed run and the one on z", got)
	}
}

func TestRecompute_RealFailureGivesUpAfterMaxAttempts(t *testing.T) {
	tm, farm, jm, _ := farmMaster(t, func(c *Config) { fastRetries(c); c.Recompute.MaxAttempts = 3 })
	x := newFakeExecutor(t, tm, "127.0.0.1:7001")
	x.register()
	id := farmJob(t, farm, jm, "bad", x.id, []string{"/in"}, []string{"/b/out"})
	y := newFakeExecutor(t, tm, "127.0.0.1:7002")
	y.register()
	farm.set(func(f *jobFarm) { f.exec["bad"], f.fail["bad"] = y.id, true })
	lose(t, tm, x)
	_, err := tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: "/b/out", WaitForRecompute: true})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_LOST)
	for _, want := range []string{`job ` + id + ` "bad"`, "failed after 3 attempt(s)", "exit status 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("read of the failed job's output: %v; want %q in it", err, want)
		}
	}
	if d := detailOf(err); d.GetJobId() != id {
		t.Errorf("error detail %v, want job %s", d, id)
	}
	if got := farm.recomputes(); !slices.Equal(got, []string{"bad", "bad", "bad"}) {
		t.Errorf("recomputes %v, want MaxAttempts (3) runs of bad", got)
	}
}

func TestRecompute_NoExecutorWithinReadWait(t *testing.T) {
	tm, farm, jm, e0 := farmMaster(t, func(c *Config) { c.Recompute.ReadWait = 200 * time.Millisecond })
	id := farmJob(t, farm, jm, "gen", e0.id, nil, []string{"/g/out"})
	lose(t, tm, e0)
	waitFor(t, "the recovery given up", func() bool {
		_, failed := tm.m.rec.failure("/g/out")
		return failed
	})
	// Readers now fail at once, told why; nothing ran.
	_, err := tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: "/g/out", WaitForRecompute: true})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_LOST)
	for _, want := range []string{`job ` + id + ` "gen"`, "no live executor with free capacity"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("read of the lost output: %v; want %q in it", err, want)
		}
	}
	if got := farm.recomputes(); len(got) != 0 {
		t.Errorf("recomputes %v without any executor", got)
	}
}

func TestJobMaster_NoSchedulerNamesEveryScheduler(t *testing.T) {
	tm, _ := startMaster(t, nil)
	_, err := submit(t, sluicepb.NewJobMasterClient(tm.conn), nil, []string{"/o"})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED)
	for _, want := range []string{"sluice local", "sluice master --framework HOST:PORT",
		"sluice framework nomad deploy", "sluice framework mesos run"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("SubmitJob without a scheduler: %v; want %q in it", err, want)
		}
	}
}
