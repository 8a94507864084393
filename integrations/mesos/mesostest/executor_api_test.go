package mesostest

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	schedcalls "github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// testExec plays an executor from inside the test, over mesos-go's executor client, for an
// executor whose real process (sleep) never subscribes itself.
type testExec struct {
	t      *testing.T
	sender calls.Sender
	sub    calls.Sender
	tr     *http.Transport
	resp   mesos.Response
	events chan *mexec.Event
	wg     sync.WaitGroup
}

func newTestExec(t *testing.T, endpoint, fwID, execID string) *testExec {
	cli := httpcli.New(httpcli.Endpoint("http://"+endpoint+"/api/v1/executor"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]))
	te := &testExec{t: t}
	cli.With(httpcli.Do(httpcli.With(httpcli.Transport(func(tr *http.Transport) { te.tr = tr }))))
	opts := mexec.CallOptions{calls.Framework(fwID), calls.Executor(execID)}
	te.sender = calls.SenderWith(httpexec.NewSender(cli.Send), opts...)
	te.sub = calls.SenderWith(httpexec.NewSender(cli.Send, httpcli.Close(true)), opts...)
	t.Cleanup(func() { te.disconnect(); te.tr.CloseIdleConnections() })
	return te
}

// subscribe opens the event stream and waits for SUBSCRIBED.
func (te *testExec) subscribe() {
	te.t.Helper()
	resp, err := te.sub.Send(context.Background(), calls.NonStreaming(calls.Subscribe(nil, nil)))
	if err != nil {
		te.t.Fatalf("executor subscribe: %v", err)
	}
	te.resp = resp
	te.events = make(chan *mexec.Event, 64)
	te.wg.Add(1)
	go func(ch chan *mexec.Event) {
		defer te.wg.Done()
		defer close(ch)
		for {
			var e mexec.Event
			if err := resp.Decode(&e); err != nil {
				return
			}
			ch <- &e
		}
	}(te.events)
	if e := te.next(mexec.Event_SUBSCRIBED); e.Subscribed.ContainerID == nil {
		te.t.Error("SUBSCRIBED without a container ID")
	}
}

// next returns the next event of type typ, skipping heartbeats only.
func (te *testExec) next(typ mexec.Event_Type) *mexec.Event {
	te.t.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for {
		select {
		case e, ok := <-te.events:
			if !ok {
				te.t.Fatalf("executor stream ended waiting for %s", typ)
			}
			if e.Type == mexec.Event_HEARTBEAT && typ != mexec.Event_HEARTBEAT {
				continue
			}
			if e.Type != typ {
				te.t.Fatalf("executor got %s, want %s", e.Type, typ)
			}
			return e
		case <-timeout.C:
			te.t.Fatalf("timed out waiting for executor event %s", typ)
		}
	}
}

func (te *testExec) disconnect() {
	if te.resp != nil {
		te.resp.Close()
		te.wg.Wait()
		te.resp = nil
	}
}

func (te *testExec) update(taskID string, state mesos.TaskState) {
	te.t.Helper()
	uuid, _ := newUUID()
	st := mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}, State: state.Enum(), UUID: uuid}
	if err := calls.SendNoData(context.Background(), te.sender, calls.NonStreaming(calls.Update(st))); err != nil {
		te.t.Fatalf("update: %v", err)
	}
}

func sleepExecutor(id string) *mesos.ExecutorInfo {
	return &mesos.ExecutorInfo{Type: mesos.ExecutorInfo_CUSTOM, ExecutorID: mesos.ExecutorID{Value: id},
		Command: &mesos.CommandInfo{Value: ptr("exec sleep 1000")}, Resources: taskResources(0.1, 32)}
}

func TestExecutorAPI_ResubscribeAndMessages(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	info := frameworkInfo("checkpoint", 0)
	info.Checkpoint = ptr(true)
	s := subscribe(t, m, info, nil)
	launchOnExecutor(t, s, sleepExecutor("e1"), "x1", "")
	var es ExecutorState
	waitFor(t, "the executor process", func() bool {
		execs := m.Executors()
		if len(execs) == 1 && execs[0].PID != 0 {
			es = execs[0]
			return true
		}
		return false
	})
	te := newTestExec(t, m.Agents()[0].Endpoint, s.fwID, "e1")
	te.subscribe()
	if e := te.next(mexec.Event_LAUNCH); e.Launch.Task.TaskID.Value != "x1" {
		t.Fatalf("LAUNCH of %s", e.Launch.Task.TaskID.Value)
	}
	te.update("x1", mesos.TASK_RUNNING)
	running := s.awaitUpdate("x1", mesos.TASK_RUNNING)
	s.ack(running)
	if e := te.next(mexec.Event_ACKNOWLEDGED); string(e.Acknowledged.UUID) != string(running.UUID) {
		t.Errorf("ACKNOWLEDGED uuid %x, want %x", e.Acknowledged.UUID, running.UUID)
	}

	s.mustCall(schedcalls.Message("a1", "e1", []byte("to executor")))
	if e := te.next(mexec.Event_MESSAGE); string(e.Message.Data) != "to executor" {
		t.Errorf("executor got message %q", e.Message.Data)
	}
	if err := calls.SendNoData(context.Background(), te.sender, calls.NonStreaming(calls.Message([]byte("to scheduler")))); err != nil {
		t.Fatal(err)
	}
	ev := s.await(func(e *scheduler.Event) bool { return e.Type == scheduler.Event_MESSAGE })
	if ev.Message.ExecutorID.Value != "e1" || string(ev.Message.Data) != "to scheduler" {
		t.Errorf("scheduler got message %+v", ev.Message)
	}

	// A checkpointing framework's executor survives a disconnect and re-subscribes.
	te.disconnect()
	waitFor(t, "the agent to see the disconnect", func() bool { return !m.Executors()[0].Connected })
	s.mustCall(schedcalls.Kill("x1", "a1"))
	te.subscribe()
	if e := te.next(mexec.Event_KILL); e.Kill.TaskID.Value != "x1" {
		t.Errorf("KILL of %s after re-subscribing", e.Kill.TaskID.Value)
	}
	te.update("x1", mesos.TASK_KILLED)
	s.awaitState("x1", mesos.TASK_KILLED)
	if now := m.Executors(); len(now) != 1 || now[0].PID != es.PID {
		t.Errorf("executors after re-subscribing: %+v", now)
	}
}

func TestExecutorAPI_RegistrationTimeout(t *testing.T) {
	agent := smallAgent("a1")
	agent.ExecutorRegistrationTimeout = 100 * time.Millisecond
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{agent} })
	s := subscribe(t, m, frameworkInfo("timeout", 0), nil)
	launchOnExecutor(t, s, sleepExecutor("e1"), "x1", "")
	st := s.awaitState("x1", mesos.TASK_FAILED)
	if st.GetReason() != mesos.REASON_EXECUTOR_REGISTRATION_TIMEOUT {
		t.Errorf("reason %s", st.GetReason())
	}
}
