package local

import (
	"path/filepath"
	"testing"

	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// TestScheduler_OnLocalProcesses runs the Scheduler on real processes, the way
// `sluice local` does: two executors run; kill -9 one and a new one comes, with a loss
// report; a job runs once; cancelling Run stops every executor.
func TestScheduler_OnLocalProcesses(t *testing.T) {
	b := newBackend(t)
	dir := t.TempDir()
	cfg := scheduler.DefaultConfig()
	cfg.Backend = b
	cfg.Executors = 2
	cfg.ExecutorTask = schedulertest.ReadyExecutor(dir)
	s := schedulertest.StartScheduler(t, cfg)

	running := func() []scheduler.ExecutorStatus {
		var out []scheduler.ExecutorStatus
		for _, st := range s.Executors() {
			if st.State == scheduler.StateRunning {
				out = append(out, st)
			}
		}
		return out
	}
	schedulertest.Eventually(t, "two running executors", func() bool { return len(running()) == 2 })
	victim := s.Executors()[0]
	schedulertest.WaitFile(t, filepath.Join(dir, string(victim.TaskID)))
	lose := schedulertest.ShellCommands().Lose
	lose(t, b, victim.TaskID)
	schedulertest.Eventually(t, "a replacement for "+string(victim.TaskID), func() bool {
		st := s.Executors()[0]
		return st.State == scheduler.StateRunning && st.TaskID != victim.TaskID && st.Restarts == 1
	})
	if losses := s.Losses(); len(losses) != 1 || losses[0].TaskID != victim.TaskID || losses[0].State != scheduler.StateFailed {
		t.Errorf("losses %+v, want one failure of %s", losses, victim.TaskID)
	}

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
	ts, err := s.TaskStatus(t.Context(), job)
	if err != nil || ts.LogPath == "" {
		t.Errorf("TaskStatus = %+v, %v", ts, err)
	}

	last := s.Executors()
	s.Stop(t)
	alive := schedulertest.ShellCommands().Alive
	for i, st := range s.Executors() {
		if st.State != scheduler.StateKilled {
			t.Errorf("executor %d after Run: %+v", i, st)
		}
		id := last[i].TaskID
		schedulertest.Eventually(t, "no process of "+string(id), func() bool { return !alive(t, b, id) })
	}
	if n := len(s.Losses()); n != 1 {
		t.Errorf("%d losses after shutdown, want still 1", n)
	}
}
