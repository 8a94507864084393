package nomad

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/framework"
)

// execState is an executor allocation as the framework sees it: pending, running or
// lost (any end, or a disconnected client).
type execState struct {
	state    scheduler.State
	restarts uint64
	started  time.Time
	reason   string
}

// execStateOf reads the executor task named task in allocation f.
func execStateOf(f allocFacts, task string) execState {
	ts := f.TaskStates[task]
	var st execState
	if ts != nil {
		st.restarts, st.started = ts.Restarts, ts.StartedAt
	}
	switch f.ClientStatus {
	case api.AllocClientStatusPending:
		st.state = scheduler.StatePending
	case api.AllocClientStatusRunning:
		st.state = scheduler.StatePending // starting or restarting
		if ts != nil && ts.State == "running" {
			st.state = scheduler.StateRunning
		}
	case api.AllocClientStatusLost:
		st.state, st.reason = scheduler.StateLost, "allocation lost: "+describe(f.ClientDescription, "its node is down")
	case api.AllocClientStatusUnknown:
		st.state, st.reason = scheduler.StateLost, "allocation unknown: its node is disconnected"
	case api.AllocClientStatusFailed:
		_, msg := exitOf(ts)
		st.state, st.reason = scheduler.StateLost, "allocation failed: "+msg
	case api.AllocClientStatusComplete:
		_, msg := exitOf(ts)
		st.state = scheduler.StateLost
		st.reason = fmt.Sprintf("allocation stopped (%s): %s", describe(f.DesiredDescription, f.DesiredStatus), msg)
	default:
		st.state = scheduler.StatePending
	}
	return st
}

// execTracker turns successive lists of the executor job's allocations into executor
// events. It is used by one goroutine.
type execTracker struct {
	task string
	// based is set once baseline has run.
	based bool
	seen  map[string]*trackedAlloc
	stubs map[string]*api.AllocationListStub
}

// trackedAlloc is what was last reported of an allocation.
type trackedAlloc struct {
	reported scheduler.State
	restarts uint64
}

func newExecTracker(task string) *execTracker {
	return &execTracker{task: task, seen: make(map[string]*trackedAlloc), stubs: make(map[string]*api.AllocationListStub)}
}

// baseline records the allocations as they are, without events.
func (t *execTracker) baseline(stubs []*api.AllocationListStub) {
	t.based = true
	for _, s := range stubs {
		st := execStateOf(factsOfStub(s), t.task)
		t.seen[s.ID] = &trackedAlloc{reported: st.state, restarts: st.restarts}
		t.stubs[s.ID] = s
	}
}

// stub returns the last listed stub of an allocation, nil when gone.
func (t *execTracker) stub(id string) *api.AllocationListStub { return t.stubs[id] }

// update compares a new list with what was reported and returns the events, oldest
// allocation first: Running when an allocation's task runs (again); Lost when it ends,
// is disconnected, restarts or vanishes while reported running.
func (t *execTracker) update(stubs []*api.AllocationListStub, now time.Time) []framework.ExecutorEvent {
	stubs = slices.Clone(stubs)
	slices.SortFunc(stubs, func(a, b *api.AllocationListStub) int {
		return cmp.Or(cmp.Compare(a.CreateIndex, b.CreateIndex), cmp.Compare(a.ID, b.ID))
	})
	var out []framework.ExecutorEvent
	emit := func(s *api.AllocationListStub, state scheduler.State, reason string) {
		out = append(out, framework.ExecutorEvent{TaskID: scheduler.TaskID(s.ID), State: state, Node: s.NodeID, Reason: reason, Time: now})
	}
	present := make(map[string]bool, len(stubs))
	for _, s := range stubs {
		present[s.ID] = true
		t.stubs[s.ID] = s
		st := execStateOf(factsOfStub(s), t.task)
		tr, ok := t.seen[s.ID]
		if !ok {
			tr = &trackedAlloc{reported: scheduler.StatePending, restarts: st.restarts}
			t.seen[s.ID] = tr
		}
		switch {
		case st.state == scheduler.StateLost:
			if tr.reported != scheduler.StateLost {
				emit(s, scheduler.StateLost, st.reason)
				tr.reported = scheduler.StateLost
			}
		case tr.reported == scheduler.StateRunning && (st.state != scheduler.StateRunning || st.restarts > tr.restarts):
			emit(s, scheduler.StateLost, fmt.Sprintf("executor task restarted (restart %d)", st.restarts))
			tr.reported = scheduler.StateLost
			if st.state == scheduler.StateRunning {
				emit(s, scheduler.StateRunning, "")
				tr.reported = scheduler.StateRunning
			}
		case st.state == scheduler.StateRunning && tr.reported != scheduler.StateRunning:
			emit(s, scheduler.StateRunning, "")
			tr.reported = scheduler.StateRunning
		}
		tr.restarts = st.restarts
	}
	var gone []string
	for id := range t.seen {
		if !present[id] {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		if t.seen[id].reported == scheduler.StateRunning {
			out = append(out, framework.ExecutorEvent{TaskID: scheduler.TaskID(id), State: scheduler.StateLost,
				Node: nodeOf(t.stubs[id]), Reason: "allocation gone from the executor job", Time: now})
		}
		delete(t.seen, id)
		delete(t.stubs, id)
	}
	return out
}

func nodeOf(s *api.AllocationListStub) string {
	if s == nil {
		return ""
	}
	return s.NodeID
}
