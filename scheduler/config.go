package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Scheduler. Start from DefaultConfig and set Backend and the tasks.
type Config struct {
	// Backend launches and watches the tasks. Required.
	Backend Backend
	// Executors is the number of executors to keep running (0 for none).
	Executors int
	// ExecutorTask returns the task of executor slot i (0 ≤ i < Executors). It is called
	// at every launch of the slot, so a relaunch gets the same task; its Kind is set to
	// KindExecutor and an empty Name to "executor-<i>". Required when Executors > 0.
	ExecutorTask func(i int) Task
	// Masters is the number of masters to keep running (0 when the master runs in this
	// process, as in `sluice local`).
	Masters int
	// MasterTask is ExecutorTask for master slots ("master-<i>"). Required when
	// Masters > 0.
	MasterTask func(i int) Task
	// RelaunchBackoff bounds how fast a crashing service task is relaunched.
	RelaunchBackoff Backoff
	// StopTimeout bounds how long Run waits, once its ctx ends, for the service tasks
	// it kills to end.
	StopTimeout time.Duration
	// JobHistory is how many ended jobs JobStatus still knows; older ones are forgotten
	// first. Running jobs are always kept.
	JobHistory int
	// OnLoss, when set, is called at once for every service task (executor or master)
	// that ends without the Scheduler having killed it, before it is relaunched: it is
	// how cmd/sluice tells the master of a lost executor without waiting for heartbeats
	// to time out. It runs on its own goroutine (calls may overlap), gets Run's ctx and
	// must return when that ctx ends.
	OnLoss func(ctx context.Context, ev TaskEvent)
	// Logger receives the Scheduler's logs; nil discards them.
	Logger *slog.Logger
}

// Backoff is the relaunch policy for service tasks.
//
// A task that ends after running at least StableAfter is relaunched at once. A task that
// ends sooner (or whose launch fails) counts as a crash; after the n-th crash in a row
// the slot waits Initial·2^(n-1), at most Max, before the next launch.
type Backoff struct {
	// Initial is the wait after the first crash in a row.
	Initial time.Duration
	// Max caps the wait.
	Max time.Duration
	// StableAfter is how long a task must run for its end to reset the crash count.
	StableAfter time.Duration
}

// Delay returns the wait before the next launch after crashes crashes in a row.
func (b Backoff) Delay(crashes int) time.Duration {
	if crashes <= 0 {
		return 0
	}
	d := b.Initial
	for i := 1; i < crashes && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// DefaultConfig returns the defaults: no tasks, a backoff of 500 ms doubling up to
// 30 s with a 10 s stability window, a 30 s stop timeout and 1000 ended jobs kept.
func DefaultConfig() Config {
	return Config{
		RelaunchBackoff: Backoff{
			Initial:     500 * time.Millisecond,
			Max:         30 * time.Second,
			StableAfter: 10 * time.Second,
		},
		StopTimeout: 30 * time.Second,
		JobHistory:  1000,
	}
}

// Validate reports the first problem of c, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	switch {
	case c.Backend == nil:
		return bad("no backend")
	case c.Executors < 0:
		return bad("executors %d < 0", c.Executors)
	case c.Executors > 0 && c.ExecutorTask == nil:
		return bad("executors %d without an executor task", c.Executors)
	case c.Masters < 0:
		return bad("masters %d < 0", c.Masters)
	case c.Masters > 0 && c.MasterTask == nil:
		return bad("masters %d without a master task", c.Masters)
	case c.RelaunchBackoff.Initial <= 0:
		return bad("relaunch backoff initial %v <= 0", c.RelaunchBackoff.Initial)
	case c.RelaunchBackoff.Max < c.RelaunchBackoff.Initial:
		return bad("relaunch backoff max %v < initial %v", c.RelaunchBackoff.Max, c.RelaunchBackoff.Initial)
	case c.RelaunchBackoff.StableAfter < 0:
		return bad("relaunch backoff stable-after %v < 0", c.RelaunchBackoff.StableAfter)
	case c.StopTimeout <= 0:
		return bad("stop timeout %v <= 0", c.StopTimeout)
	case c.JobHistory < 0:
		return bad("job history %d < 0", c.JobHistory)
	}
	return nil
}
