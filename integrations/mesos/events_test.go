package mesos

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
	schedpb "github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// callLog records the calls a Backend makes, in order, as "TYPE arg…".
type callLog struct {
	mu    sync.Mutex
	calls []*schedpb.Call
}

func (l *callLog) Call(_ context.Context, c *schedpb.Call) (mesosv1.Response, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
	return nil, nil
}

// take returns the calls so far, summarized, and forgets them.
func (l *callLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.calls {
		s := c.GetType().String()
		switch c.GetType() {
		case schedpb.Call_KILL:
			s += " " + c.GetKill().TaskID.Value + "@" + c.GetKill().GetAgentID().GetValue()
		case schedpb.Call_ACKNOWLEDGE:
			s += " " + c.GetAcknowledge().TaskID.Value + " " + string(c.GetAcknowledge().UUID)
		case schedpb.Call_ACCEPT:
			for _, op := range c.GetAccept().Operations {
				for _, ti := range op.GetLaunch().GetTaskInfos() {
					s += " " + ti.TaskID.Value
				}
			}
		case schedpb.Call_DECLINE:
			for _, id := range c.GetDecline().OfferIDs {
				s += " " + id.Value
			}
		}
		out = append(out, s)
	}
	l.calls = nil
	return out
}

// handlerBackend is a Backend without an event loop, subscribed, whose calls go to log:
// the handlers are called directly.
func handlerBackend(t *testing.T) (*Backend, *callLog, *schedulertest.Events) {
	cfg := DefaultConfig()
	cfg.Master = "127.0.0.1:1"
	log := &callLog{}
	b := &Backend{
		cfg: cfg, log: testLogger(t), caller: log, kick: make(chan struct{}, 1),
		done: make(chan struct{}), recovered: make(chan struct{}), frameworkID: "fw",
		connected: true, tasks: make(map[scheduler.TaskID]*task), agents: make(map[string]*agent),
		nodesSeen: make(chan struct{}),
	}
	close(b.recovered)
	t.Cleanup(b.fan.Close)
	ch, err := b.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return b, log, schedulertest.NewEvents(ch)
}

// running adds a task placed on agent and running.
func running(b *Backend, id scheduler.TaskID, kind scheduler.Kind, agent, executor string) *task {
	tk := &task{id: id, t: scheduler.Task{Name: string(id), Kind: kind}, agentID: agent, executorID: executor, state: scheduler.StateRunning}
	b.tasks[id] = tk
	return tk
}

func status(id string, state mesosv1.TaskState, agent, uuid string) *mesosv1.TaskStatus {
	st := &mesosv1.TaskStatus{TaskID: mesosv1.TaskID{Value: id}, State: state.Enum(), AgentID: &mesosv1.AgentID{Value: agent}}
	if uuid != "" {
		st.UUID = []byte(uuid)
	}
	return st
}

func TestOnUpdate(t *testing.T) {
	b, log, ev := handlerBackend(t)
	ctx := t.Context()
	running(b, "job", scheduler.KindJob, "a1", "")
	b.tasks["job"].state = scheduler.StatePending

	b.onUpdate(ctx, status("job", mesosv1.TASK_RUNNING, "a1", "u1"))
	if e := ev.Next(t, "job"); e.State != scheduler.StateRunning || e.Node != "a1" {
		t.Errorf("event %+v, want running on a1", e)
	}
	msg := "Command exited with status 7"
	st := status("job", mesosv1.TASK_FAILED, "a1", "u2")
	st.Message = &msg
	b.onUpdate(ctx, st)
	if e := ev.Next(t, "job"); e.State != scheduler.StateFailed || e.ExitCode != 7 || e.Message != msg {
		t.Errorf("event %+v, want failed with exit code 7", e)
	}
	// A live update of an ended task, or of a task nobody knows, is answered with KILL.
	b.onUpdate(ctx, status("job", mesosv1.TASK_RUNNING, "a1", "u3"))
	b.onUpdate(ctx, status("stranger", mesosv1.TASK_STARTING, "a2", ""))
	// A terminal update of a stranger is only acknowledged.
	b.onUpdate(ctx, status("gone", mesosv1.TASK_FINISHED, "a2", "u4"))
	want := []string{"ACKNOWLEDGE job u1", "ACKNOWLEDGE job u2", "KILL job@a1", "ACKNOWLEDGE job u3", "KILL stranger@a2", "ACKNOWLEDGE gone u4"}
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestOnUpdate_Killed(t *testing.T) {
	b, _, ev := handlerBackend(t)
	tk := running(b, "svc", scheduler.KindExecutor, "a1", "svc")
	tk.killed = true
	b.onUpdate(t.Context(), status("svc", mesosv1.TASK_FAILED, "a1", ""))
	if e := ev.Next(t, "svc"); e.State != scheduler.StateKilled {
		t.Errorf("a task killed by the backend ended %+v, want killed", e)
	}
}

func TestOnFailure(t *testing.T) {
	b, _, ev := handlerBackend(t)
	running(b, "cmd", scheduler.KindJob, "a1", "")
	running(b, "exec1", scheduler.KindExecutor, "a1", "exec1")
	running(b, "exec2", scheduler.KindExecutor, "a2", "exec2")
	killed := running(b, "exec3", scheduler.KindExecutor, "a2", "exec3")
	killed.killed = true
	running(b, "other", scheduler.KindMaster, "a3", "")
	b.agents["a2"] = &agent{id: "a2", host: "h2"}
	code := int32(9)

	// A command task's executor: the task's own update says how it ended.
	b.onFailure(&schedpb.Event_Failure{AgentID: &mesosv1.AgentID{Value: "a1"}, ExecutorID: &mesosv1.ExecutorID{Value: "cmd"}})
	// A custom executor exited: its task is lost.
	b.onFailure(&schedpb.Event_Failure{AgentID: &mesosv1.AgentID{Value: "a1"}, ExecutorID: &mesosv1.ExecutorID{Value: "exec1"}, Status: &code})
	if e := ev.Next(t, "exec1"); e.State != scheduler.StateLost || e.Message != "executor exec1 exited on agent a1 with status 9" {
		t.Errorf("exec1 event %+v", e)
	}
	// An agent removed: its tasks are lost (killed, for the one being killed).
	b.onFailure(&schedpb.Event_Failure{AgentID: &mesosv1.AgentID{Value: "a2"}})
	if e := ev.Next(t, "exec2"); e.State != scheduler.StateLost {
		t.Errorf("exec2 event %+v", e)
	}
	if e := ev.Next(t, "exec3"); e.State != scheduler.StateKilled {
		t.Errorf("exec3 event %+v", e)
	}
	var live []string
	for id, tk := range b.tasks {
		if !tk.state.Terminal() {
			live = append(live, string(id))
		}
	}
	slices.Sort(live)
	if diff := cmp.Diff([]string{"cmd", "other"}, live); diff != "" {
		t.Errorf("live tasks (-want +got):\n%s", diff)
	}
	if _, ok := b.agents["a2"]; ok {
		t.Error("the removed agent is still a node")
	}
}

func TestOnOffers(t *testing.T) {
	b, log, ev := handlerBackend(t)
	ctx := t.Context()
	id, err := b.Launch(ctx, scheduler.Task{Name: "m", Kind: scheduler.KindMaster, Command: []string{"sluice", "master"},
		Resources: scheduler.Resources{CPU: 1, MemMB: 512, Ports: []string{"rpc"}}})
	if err != nil {
		t.Fatal(err)
	}
	if e := ev.Next(t, id); e.State != scheduler.StatePending {
		t.Errorf("first event %+v, want pending", e)
	}
	b.onKick(ctx)
	b.onOffers(ctx, []mesosv1.Offer{
		offer("small", res(resCPUs, 0.5, ""), res(resMem, 4096, ""), portRes(31000, 31000, "")),
		big("large"),
	})
	want := []string{"REVIVE", "ACCEPT " + string(id), "DECLINE offer-small", "SUPPRESS"}
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	st, err := b.Status(ctx, id)
	if err != nil || st.Node != "large" || st.Ports["rpc"] < 31000 || st.Ports["rpc"] > 31009 || st.State != scheduler.StatePending {
		t.Errorf("status after placement %+v, %v", st, err)
	}
	nodes, err := b.Nodes(ctx)
	if err != nil || len(nodes) != 2 || nodes[0].ID != "large" || nodes[0].Resources.CPU != 9 {
		t.Errorf("nodes %+v, %v; want large (8 offered + 1 used) and small", nodes, err)
	}
	// Nothing pending: offers are declined and stay suppressed.
	b.onOffers(ctx, []mesosv1.Offer{big("other")})
	if diff := cmp.Diff([]string{"DECLINE offer-other"}, log.take()); diff != "" {
		t.Errorf("calls with nothing pending (-want +got):\n%s", diff)
	}
	// A failed ACCEPT ends the tasks as lost.
	id2, err := b.Launch(ctx, scheduler.Task{Name: "j", Kind: scheduler.KindJob, Command: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	b.caller = calls.CallerFunc(func(context.Context, *schedpb.Call) (mesosv1.Response, error) {
		return nil, context.DeadlineExceeded
	})
	b.onOffers(ctx, []mesosv1.Offer{big("x")})
	if e := ev.End(t, id2); e.State != scheduler.StateLost {
		t.Errorf("task of a failed ACCEPT ended %+v, want lost", e)
	}
}

// TestRecovery_Timeout: kept tasks that Mesos does not report within the recovery wait
// are not adopted; one reported live later duplicates a slot and is killed.
func TestRecovery_Timeout(t *testing.T) {
	b, log, _ := handlerBackend(t)
	b.recovered = make(chan struct{})
	b.recovering = true
	ctx := t.Context()
	slot := map[string]string{scheduler.LabelSlot: "executor-0"}
	for _, id := range []scheduler.TaskID{"old-exec", "old-job"} {
		kind := scheduler.KindExecutor
		if id == "old-job" {
			kind = scheduler.KindJob
		}
		b.tasks[id] = &task{id: id, t: scheduler.Task{Name: string(id), Kind: kind, Labels: slot},
			agentID: "a1", state: scheduler.StatePending, recovered: true}
	}
	b.onSubscribed(ctx, &schedpb.Event_Subscribed{FrameworkID: &mesosv1.FrameworkID{Value: "fw"}})
	got := log.take()
	if len(got) < 2 || got[0] != "RECONCILE" || got[1] != "RECONCILE" {
		t.Fatalf("calls after SUBSCRIBED %v, want explicit then implicit reconciliation", got)
	}
	if b.recoveryBy.IsZero() {
		t.Fatal("no recovery deadline after SUBSCRIBED")
	}
	// The job is reported; the executor is not, and the wait ends.
	b.onUpdate(ctx, status("old-job", mesosv1.TASK_RUNNING, "a1", ""))
	b.recoveryBy = time.Now()
	b.onTimer(ctx)
	select {
	case <-b.recovered:
	default:
		t.Fatal("recovery did not end at its deadline")
	}
	launch := scheduler.Task{Name: "executor-0", Kind: scheduler.KindExecutor, Command: []string{"x"}, Labels: slot}
	id, err := b.Launch(ctx, launch)
	if err != nil || id == "old-exec" {
		t.Fatalf("Launch = %s, %v: an unconfirmed task must not be adopted", id, err)
	}
	log.take()
	b.onUpdate(ctx, status("old-exec", mesosv1.TASK_RUNNING, "a1", ""))
	if diff := cmp.Diff([]string{"KILL old-exec@a1"}, log.take()); diff != "" {
		t.Errorf("calls for the late executor (-want +got):\n%s", diff)
	}
	if tk := b.tasks["old-job"]; tk.killed || tk.state != scheduler.StateRunning {
		t.Errorf("recovered job %+v, want running and left alone", tk)
	}
}
