package nomad

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// TestScheduler_OnNomad runs the Scheduler with the Nomad backend on the dev agent: an
// executor runs as a service job; kill -9 its processes and the Scheduler launches a
// new one with a loss report; a job runs once as a batch job; cancelling Run stops the
// executor.
func TestScheduler_OnNomad(t *testing.T) {
	b := newTestBackend(t)
	dir := t.TempDir()
	var mu sync.Mutex
	var losses []scheduler.TaskEvent
	cfg := scheduler.DefaultConfig()
	cfg.Backend = b
	cfg.Executors = 1
	cfg.ExecutorTask = func(i int) scheduler.Task {
		return scheduler.Task{Command: []string{"/bin/sh", "-c", `sleep 600 & : > "$0/$SLUICE_TASK_ID"; wait`, dir}}
	}
	cfg.OnLoss = func(ctx context.Context, ev scheduler.TaskEvent) {
		mu.Lock()
		defer mu.Unlock()
		losses = append(losses, ev)
	}
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	schedulertest.Eventually(t, "a running executor", func() bool { return s.Executors()[0].State == scheduler.StateRunning })
	victim := s.Executors()[0].TaskID
	schedulertest.WaitFile(t, filepath.Join(dir, string(victim)))
	nomadCommands().Lose(t, b, victim)
	schedulertest.Eventually(t, "a replacement for "+string(victim), func() bool {
		st := s.Executors()[0]
		return st.State == scheduler.StateRunning && st.TaskID != victim && st.Restarts == 1
	})
	mu.Lock()
	if len(losses) != 1 || losses[0].TaskID != victim || losses[0].State != scheduler.StateFailed {
		t.Errorf("losses %+v, want one failure of %s", losses, victim)
	}
	mu.Unlock()
	// The lost executor's job is stopped, so that Nomad does not run it again.
	schedulertest.Eventually(t, "the lost executor's job to be stopped", func() bool {
		job, _, err := b.API().Jobs().Info(string(victim), nil)
		return err == nil && job.Stop != nil && *job.Stop
	})

	events := schedulertest.NewEvents(s.Subscribe(t.Context()))
	job, err := s.LaunchJob(t.Context(), scheduler.Task{Name: "job", Command: []string{"/bin/sh", "-c", "exit 4"}})
	if err != nil {
		t.Fatal(err)
	}
	if end := events.End(t, job); end.ExitCode != 4 {
		t.Errorf("job ended %+v", end)
	}
	if st, err := s.JobStatus(job); err != nil || st.State != scheduler.StateFailed || st.ExitCode != 4 {
		t.Errorf("JobStatus = %+v, %v", st, err)
	}

	last := s.Executors()[0].TaskID
	schedulertest.WaitFile(t, filepath.Join(dir, string(last)))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(schedulertest.WaitTimeout):
		t.Fatal("Run did not return after cancel")
	}
	if st := s.Executors()[0]; st.State != scheduler.StateKilled {
		t.Errorf("executor after Run: %+v", st)
	}
	schedulertest.Eventually(t, "no process of "+string(last), func() bool { return len(taskPIDs(last)) == 0 })
	if _, _, err := b.API().Jobs().Info(string(last), nil); err == nil {
		t.Errorf("executor job %s still registered after Run", last)
	}
}
