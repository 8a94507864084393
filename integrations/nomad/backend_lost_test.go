package nomad

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicedata/sluice/internal/nomadtest"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// TestLostWithItsNode runs a service task and an executor allocation on a second
// client node, crashes that node's agent (the node stops heartbeating, as a machine cut
// off would) and checks that the Backend reports the task lost and stops its job, and
// that the ExecutorWatch reports the executor lost.
func TestLostWithItsNode(t *testing.T) {
	agent := nomadtest.StartWith(t, nomadtest.Options{FastHeartbeats: true})
	node := agent.AddClient(t)
	c := agent.API(t)
	// Only the second node takes work.
	if _, err := c.Nodes().ToggleEligibility(agent.NodeID(), false, nil); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Address, cfg.JobPrefix, cfg.KillTimeout = agent.Addr(), "lost", time.Second
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	w, err := NewExecutorWatch(ExecutorWatchConfig{Nomad: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	execCh, err := w.WatchExecutors(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	execEv := execEvents{execCh}
	ev := watchEvents(t, b)

	ready := filepath.Join(t.TempDir(), "ready")
	id := mustLaunch(t, b, scheduler.Task{Name: "far", Kind: scheduler.KindExecutor, Command: schedulertest.ShellCommands().Sleep(ready)})
	schedulertest.WaitFile(t, ready)
	first := ev.Next(t, id)
	if first.State == scheduler.StatePending {
		first = ev.Next(t, id)
	}
	if first.State != scheduler.StateRunning || first.Node != node.NodeID() {
		t.Fatalf("task %s: %+v, want running on the second node %s", id, first, node.NodeID())
	}
	if _, _, err := c.Jobs().Register(executorJob(cfg.JobPrefix+"-executor", "lost"), nil); err != nil {
		t.Fatal(err)
	}
	running := execEv.next(t)
	if running.State != scheduler.StateRunning || running.Node != node.NodeID() {
		t.Fatalf("executor event %+v, want running on the second node", running)
	}

	node.Crash()
	end := ev.End(t, id)
	if end.State != scheduler.StateLost || !strings.Contains(end.Message, "lost") || end.Node != node.NodeID() {
		t.Errorf("task on the crashed node ended %+v, want lost", end)
	}
	schedulertest.Eventually(t, "the lost task's job to be stopped", func() bool {
		job, _, err := c.Jobs().Info(string(id), nil)
		return err == nil && job.Stop != nil && *job.Stop
	})
	lost := execEv.next(t)
	if lost.TaskID != running.TaskID || lost.State != scheduler.StateLost || !strings.Contains(lost.Reason, "lost") {
		t.Errorf("executor event %+v, want %s lost", lost, running.TaskID)
	}
}
