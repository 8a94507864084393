package schedulertest

import (
	"testing"

	"github.com/sluicedata/sluice/scheduler"
)

func TestStartScheduler_RecordsLossesAndStops(t *testing.T) {
	f := NewFakeBackend(FakeConfig{})
	defer f.Close()
	cfg := scheduler.DefaultConfig()
	cfg.Backend = f
	cfg.Executors = 1
	cfg.ExecutorTask = ReadyExecutor(t.TempDir())
	s := StartScheduler(t, cfg)
	Eventually(t, "a running executor", func() bool { return s.Executors()[0].State == scheduler.StateRunning })
	victim := s.Executors()[0].TaskID
	f.Lose(victim)
	Eventually(t, "a loss report", func() bool { return len(s.Losses()) == 1 })
	if got := s.Losses()[0].TaskID; got != victim {
		t.Errorf("loss of %s, want %s", got, victim)
	}
	Eventually(t, "a replacement", func() bool {
		st := s.Executors()[0]
		return st.State == scheduler.StateRunning && st.TaskID != victim
	})
	s.Stop(t)
	if st := s.Executors()[0]; st.State != scheduler.StateKilled {
		t.Errorf("executor after Stop: %+v", st)
	}
}
