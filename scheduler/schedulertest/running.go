package schedulertest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/scheduler"
)

// ReadyExecutor is a Config.ExecutorTask for tests on real backends: each executor runs
// /bin/sh with a child process that lives until the task is killed, and marks itself
// ready by creating a file in dir named after its task ID (wait for it with WaitFile).
func ReadyExecutor(dir string) func(i int) scheduler.Task {
	return func(i int) scheduler.Task {
		return scheduler.Task{Command: []string{"/bin/sh", "-c", `sleep 600 & : > "$0/$SLUICE_TASK_ID"; wait`, dir}}
	}
}

// Running is a Scheduler whose Run goroutine a test started with StartScheduler, with
// the losses it reported through Config.OnLoss. Its methods are safe for concurrent use.
type Running struct {
	*scheduler.Scheduler

	cancel context.CancelFunc
	// done is closed when Run has returned runErr.
	done   chan struct{}
	runErr error

	// mu guards losses.
	mu     sync.Mutex
	losses []scheduler.TaskEvent
}

// StartScheduler builds a Scheduler from cfg, with an OnLoss that records each report
// (cfg.OnLoss must be nil), and runs it in the background until Stop or the end of the
// test. It fails the test if scheduler.New rejects cfg.
func StartScheduler(t testing.TB, cfg scheduler.Config) *Running {
	t.Helper()
	r := &Running{done: make(chan struct{})}
	if cfg.OnLoss != nil {
		t.Fatal("schedulertest: StartScheduler records losses itself; leave Config.OnLoss nil")
	}
	cfg.OnLoss = func(ctx context.Context, ev scheduler.TaskEvent) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.losses = append(r.losses, ev)
	}
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Scheduler = s
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.runErr = s.Run(ctx)
		close(r.done)
	}()
	// A test that ends early, before Stop, still stops Run and waits for it a while.
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(WaitTimeout):
		}
	})
	return r
}

// Losses returns the losses reported so far, oldest first.
func (r *Running) Losses() []scheduler.TaskEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.losses)
}

// Stop cancels Run and waits for it, failing the test if Run returns an error or does
// not return within WaitTimeout.
func (r *Running) Stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.runErr != nil {
			t.Errorf("Run: %v", r.runErr)
		}
	case <-time.After(WaitTimeout):
		t.Fatal("Run did not return after cancel")
	}
}
