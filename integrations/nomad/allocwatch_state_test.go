package nomad

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/scheduler"
)

// stub is an executor allocation with its task in state taskState after restarts.
func stub(id, client, taskState string, restarts uint64) *api.AllocationListStub {
	s := &api.AllocationListStub{ID: id, NodeID: "node-" + id, ClientStatus: client, DesiredStatus: api.AllocDesiredStatusRun}
	if taskState != "" {
		s.TaskStates = map[string]*api.TaskState{"executor": {State: taskState, Restarts: restarts}}
	}
	return s
}

func TestExecTracker(t *testing.T) {
	type ev struct {
		id     string
		state  scheduler.State
		reason string // substring
	}
	steps := []struct {
		name  string
		stubs []*api.AllocationListStub
		want  []ev
	}{
		{"a placed", []*api.AllocationListStub{stub("a", "pending", "", 0)}, nil},
		{"a runs", []*api.AllocationListStub{stub("a", "running", "running", 0)}, []ev{{"a", scheduler.StateRunning, ""}}},
		{"no change", []*api.AllocationListStub{stub("a", "running", "running", 0)}, nil},
		{"a's task dies, Nomad restarts it", []*api.AllocationListStub{stub("a", "running", "pending", 1)},
			[]ev{{"a", scheduler.StateLost, "restart 1"}}},
		{"a runs again", []*api.AllocationListStub{stub("a", "running", "running", 1)}, []ev{{"a", scheduler.StateRunning, ""}}},
		{"a restarted between two lists", []*api.AllocationListStub{stub("a", "running", "running", 2)},
			[]ev{{"a", scheduler.StateLost, "restart 2"}, {"a", scheduler.StateRunning, ""}}},
		{"a fails, b replaces it", []*api.AllocationListStub{stub("a", "failed", "dead", 2), stub("b", "running", "running", 0)},
			[]ev{{"a", scheduler.StateLost, "allocation failed"}, {"b", scheduler.StateRunning, ""}}},
		{"a still failed", []*api.AllocationListStub{stub("a", "failed", "dead", 2), stub("b", "running", "running", 0)}, nil},
		{"b's node disconnects", []*api.AllocationListStub{stub("a", "failed", "dead", 2), stub("b", "unknown", "running", 0)},
			[]ev{{"b", scheduler.StateLost, "disconnected"}}},
		{"b reconnects", []*api.AllocationListStub{stub("a", "failed", "dead", 2), stub("b", "running", "running", 0)},
			[]ev{{"b", scheduler.StateRunning, ""}}},
		{"b lost with its node, c pending", []*api.AllocationListStub{stub("b", "lost", "running", 0), stub("c", "pending", "", 0)},
			[]ev{{"b", scheduler.StateLost, "lost"}}},
		{"c runs", []*api.AllocationListStub{stub("b", "lost", "running", 0), stub("c", "running", "running", 0)},
			[]ev{{"c", scheduler.StateRunning, ""}}},
		{"c garbage-collected while running", []*api.AllocationListStub{stub("b", "lost", "running", 0)},
			[]ev{{"c", scheduler.StateLost, "gone"}}},
		{"d appears already complete", []*api.AllocationListStub{stub("d", "complete", "dead", 0)},
			[]ev{{"d", scheduler.StateLost, "stopped"}}},
	}
	tr := newExecTracker("executor")
	tr.baseline([]*api.AllocationListStub{stub("old", "failed", "dead", 0)})
	now := time.Now()
	for _, step := range steps {
		got := tr.update(step.stubs, now)
		if len(got) != len(step.want) {
			t.Fatalf("%s: events %+v, want %+v", step.name, got, step.want)
		}
		for i, w := range step.want {
			g := got[i]
			if string(g.TaskID) != w.id || g.State != w.state || !strings.Contains(g.Reason, w.reason) || g.Time != now {
				t.Errorf("%s: event %d = %+v, want %+v", step.name, i, g, w)
			}
			if g.Node != "node-"+w.id {
				t.Errorf("%s: event %d on node %q, want node-%s", step.name, i, g.Node, w.id)
			}
		}
	}
}

func TestExecTracker_BaselineRunningYieldsNoEvent(t *testing.T) {
	tr := newExecTracker("executor")
	tr.baseline([]*api.AllocationListStub{stub("a", "running", "running", 3)})
	if got := tr.update([]*api.AllocationListStub{stub("a", "running", "running", 3)}, time.Now()); len(got) != 0 {
		t.Errorf("events %+v for an allocation running since before the watch", got)
	}
	got := tr.update([]*api.AllocationListStub{stub("a", "running", "running", 4)}, time.Now())
	if len(got) != 2 || got[0].State != scheduler.StateLost || got[1].State != scheduler.StateRunning {
		t.Errorf("events %+v after a restart, want lost then running", got)
	}
}

func TestExecutorWatch_NomadDownAtStart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Address = "http://127.0.0.1:1" // nothing listens: every query fails at once
	w, err := NewExecutorWatch(ExecutorWatchConfig{Nomad: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := w.WatchExecutors(ctx)
	if err != nil {
		t.Fatalf("WatchExecutors with Nomad down: %v, want a watch that waits for Nomad", err)
	}
	if _, err := w.Executors(t.Context()); err == nil {
		t.Error("Executors with Nomad down: no error")
	}
	cancel()
	for ev := range ch {
		t.Errorf("event %+v with Nomad down", ev)
	}
}
