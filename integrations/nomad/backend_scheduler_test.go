package nomad

import (
	"path/filepath"
	"testing"

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
	cfg := scheduler.DefaultConfig()
	cfg.Backend = b
	cfg.Executors = 1
	cfg.ExecutorTask = schedulertest.ReadyExecutor(dir)
	s := schedulertest.StartScheduler(t, cfg)

	schedulertest.Eventually(t, "a running executor", func() bool { return s.Executors()[0].State == scheduler.StateRunning })
	victim := s.Executors()[0].TaskID
	schedulertest.WaitFile(t, filepath.Join(dir, string(victim)))
	nomadCommands().Lose(t, b, victim)
	schedulertest.Eventually(t, "a replacement for "+string(victim), func() bool {
		st := s.Executors()[0]
		return st.State == scheduler.StateRunning && st.TaskID != victim && st.Restarts == 1
	})
	if losses := s.Losses(); len(losses) != 1 || losses[0].TaskID != victim || losses[0].State != scheduler.StateFailed {
		t.Errorf("losses %+v, want one failure of %s", losses, victim)
	}
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
	s.Stop(t)
	if st := s.Executors()[0]; st.State != scheduler.StateKilled {
		t.Errorf("executor after Run: %+v", st)
	}
	schedulertest.Eventually(t, "no process of "+string(last), func() bool { return len(taskPIDs(last)) == 0 })
	if _, _, err := b.API().Jobs().Info(string(last), nil); err == nil {
		t.Errorf("executor job %s still registered after Run", last)
	}
}
