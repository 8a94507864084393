package mesostest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"go.uber.org/goleak"
)

// helperEnv makes the test binary run as a custom executor (see helper_executor_test.go).
const helperEnv = "MESOSTEST_HELPER_EXECUTOR"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(runHelperExecutor())
	}
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait of the tests; under -race on a loaded machine processes are slow.
const waitTimeout = 60 * time.Second

// newTestMaster starts a master with fast intervals and the given agents; it is closed at cleanup.
func newTestMaster(t *testing.T, mutate func(*Config)) *Master {
	t.Helper()
	cfg := DefaultConfig()
	cfg.WorkDir = t.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.HeartbeatInterval = 200 * time.Millisecond
	cfg.AllocationInterval = 20 * time.Millisecond
	cfg.StatusUpdateRetryInterval = 100 * time.Millisecond
	cfg.StatusUpdateRetryMax = 400 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return m
}

// smallAgent is an agent with 2 cpus, 1024 MB, 2048 MB disk and ports 31000-31009.
func smallAgent(id string) AgentConfig {
	return AgentConfig{ID: id, Resources: &Resources{CPUs: 2, MemMB: 1024, DiskMB: 2048,
		Ports: []PortRange{{31000, 31009}}}, KillGracePeriod: 200 * time.Millisecond,
		ExecutorShutdownGracePeriod: time.Second}
}

// testSched is a framework scheduler driven by a test through mesos-go's httpsched client.
type testSched struct {
	t      *testing.T
	caller calls.Caller
	fwID   string
	resp   mesos.Response
	tr     *http.Transport

	// mu guards events, done and err.
	mu     sync.Mutex
	cond   *sync.Cond
	events []*scheduler.Event
	done   bool
	err    error
	wg     sync.WaitGroup
}

// frameworkInfo is a framework with the given failover timeout and capabilities.
func frameworkInfo(name string, failover time.Duration, caps ...mesos.FrameworkInfo_Capability_Type) *mesos.FrameworkInfo {
	info := &mesos.FrameworkInfo{User: "sluice", Name: name, FailoverTimeout: ptr(failover.Seconds())}
	for _, c := range caps {
		info.Capabilities = append(info.Capabilities, mesos.FrameworkInfo_Capability{Type: c})
	}
	return info
}

// subscribe connects a scheduler with codec (nil = protobuf) and waits for SUBSCRIBED.
func subscribe(t *testing.T, m *Master, info *mesos.FrameworkInfo, codec *encoding.Codec, opts ...httpcli.Opt) *testSched {
	t.Helper()
	s, err := trySubscribe(t, m, info, codec, opts...)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	ev := s.await(func(e *scheduler.Event) bool { return e.Type == scheduler.Event_SUBSCRIBED })
	s.fwID = ev.Subscribed.FrameworkID.Value
	return s
}

func trySubscribe(t *testing.T, m *Master, info *mesos.FrameworkInfo, codec *encoding.Codec, opts ...httpcli.Opt) (*testSched, error) {
	t.Helper()
	c := codecs.ByMediaType[codecs.MediaTypeProtobuf]
	if codec != nil {
		c = *codec
	}
	s := &testSched{t: t}
	s.cond = sync.NewCond(&s.mu)
	cli := httpcli.New(append([]httpcli.Opt{
		httpcli.Endpoint(m.SchedulerURL()),
		httpcli.Codec(c),
		httpcli.Do(httpcli.With(httpcli.Timeout(30*time.Second), httpcli.Transport(func(tr *http.Transport) { s.tr = tr }))),
	}, opts...)...)
	// httpsched retries any failed SUBSCRIBE as if redirected (9 times, up to 13s apart); the
	// stand-in never redirects, so tests of rejected subscriptions fail at once.
	s.caller = httpsched.NewCaller(cli, httpsched.MaxRedirects(0))
	resp, err := s.caller.Call(context.Background(), calls.Subscribe(info))
	if err != nil {
		if resp != nil {
			resp.Close()
		}
		s.tr.CloseIdleConnections()
		return nil, err
	}
	s.resp = resp
	s.wg.Add(1)
	go s.read()
	t.Cleanup(s.close)
	return s, nil
}

func (s *testSched) read() {
	defer s.wg.Done()
	for {
		var e scheduler.Event
		err := s.resp.Decode(&e)
		s.mu.Lock()
		if err != nil {
			s.done, s.err = true, err
			s.cond.Broadcast()
			s.mu.Unlock()
			return
		}
		s.events = append(s.events, &e)
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

// close ends the subscription (the master sees a disconnect) and waits for the reader.
func (s *testSched) close() {
	s.resp.Close()
	s.wg.Wait()
	s.tr.CloseIdleConnections()
}

// await returns (and consumes) the oldest unconsumed event matching pred, leaving the others
// for later awaits; it fails the test at the deadline or when the stream ends first.
func (s *testSched) await(pred func(*scheduler.Event) bool) *scheduler.Event {
	s.t.Helper()
	ev, err := s.tryAwait(pred, waitTimeout)
	if err != nil {
		s.t.Fatal(err)
	}
	return ev
}

func (s *testSched) tryAwait(pred func(*scheduler.Event) bool, timeout time.Duration) (*scheduler.Event, error) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for i, e := range s.events {
			if pred(e) {
				s.events = slices.Delete(s.events, i, i+1)
				return e, nil
			}
		}
		if s.done {
			return nil, fmt.Errorf("stream ended before the awaited event: %w", s.err)
		}
		if !time.Now().Before(deadline) {
			return nil, errors.New("timed out waiting for an event")
		}
		s.cond.Wait()
	}
}

// call sends a call with the framework ID set.
func (s *testSched) call(c *scheduler.Call) error {
	c.FrameworkID = &mesos.FrameworkID{Value: s.fwID}
	resp, err := s.caller.Call(context.Background(), c)
	if resp != nil {
		resp.Close()
	}
	return err
}

func (s *testSched) mustCall(c *scheduler.Call) {
	s.t.Helper()
	if err := s.call(c); err != nil {
		s.t.Fatalf("%s: %v", c.Type, err)
	}
}

// awaitOffers returns the next OFFERS event's offers whose agent is in agents (any if empty).
func (s *testSched) awaitOffers(agents ...string) []mesos.Offer {
	s.t.Helper()
	ev := s.await(func(e *scheduler.Event) bool {
		if e.Type != scheduler.Event_OFFERS {
			return false
		}
		for _, o := range e.Offers.Offers {
			if len(agents) == 0 || slices.Contains(agents, o.AgentID.Value) {
				return true
			}
		}
		return false
	})
	var out []mesos.Offer
	for _, o := range ev.Offers.Offers {
		if len(agents) == 0 || slices.Contains(agents, o.AgentID.Value) {
			out = append(out, o)
		}
	}
	return out
}

// awaitUpdate returns the next UPDATE of taskID in state (any state when state < 0).
func (s *testSched) awaitUpdate(taskID string, state mesos.TaskState) mesos.TaskStatus {
	s.t.Helper()
	ev := s.await(func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_UPDATE && e.Update.Status.TaskID.Value == taskID &&
			(state < 0 || e.Update.Status.GetState() == state)
	})
	return ev.Update.Status
}

// ack acknowledges a status update that carries a uuid.
func (s *testSched) ack(st mesos.TaskStatus) {
	s.t.Helper()
	if len(st.UUID) == 0 {
		s.t.Fatalf("update %s of %s has no uuid", st.GetState(), st.TaskID.Value)
	}
	s.mustCall(calls.Acknowledge(st.AgentID.Value, st.TaskID.Value, st.UUID))
}

// awaitAcked waits for the update of taskID in state and acknowledges it.
func (s *testSched) awaitAcked(taskID string, state mesos.TaskState) mesos.TaskStatus {
	s.t.Helper()
	st := s.awaitUpdate(taskID, state)
	s.ack(st)
	return st
}

// launch accepts offer with one task running shell command cmd using res.
func (s *testSched) launch(o mesos.Offer, taskID, cmd string, res []mesos.Resource) {
	s.t.Helper()
	ti := mesos.TaskInfo{Name: taskID, TaskID: mesos.TaskID{Value: taskID}, AgentID: o.AgentID, Resources: res,
		Command: &mesos.CommandInfo{Value: ptr(cmd)}}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID)))
}

// taskResources are cpus and mem (and ports, if any) for a task, unreserved.
func taskResources(cpus, mem float64, ports ...uint64) []mesos.Resource {
	p := pool{unreserved: bucket{cpus: cpus, mem: mem}}
	b := p[unreserved]
	for _, port := range ports {
		b.ports = addRanges(b.ports, mesos.Ranges{{Begin: port, End: port}})
	}
	p[unreserved] = b
	return p.toResources(resourceFormat{})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// taskByID returns the snapshot of a task.
func taskByID(m *Master, id string) (TaskState, bool) {
	for _, ts := range m.Tasks() {
		if ts.ID == id {
			return ts, true
		}
	}
	return TaskState{}, false
}

// scalar returns the named scalar's sum in rs.
func scalar(rs []mesos.Resource, name string) float64 {
	var v float64
	for _, r := range rs {
		if r.Name == name {
			v += r.GetScalar().GetValue()
		}
	}
	return v
}

// ports returns the port ranges in rs.
func ports(rs []mesos.Resource) mesos.Ranges {
	var out mesos.Ranges
	for _, r := range rs {
		if r.Name == "ports" {
			out = append(out, r.GetRanges().GetRange()...)
		}
	}
	return out
}

// awaitState acknowledges each update of taskID until one in state arrives, and returns it
// (acknowledged too).
func (s *testSched) awaitState(taskID string, state mesos.TaskState) mesos.TaskStatus {
	s.t.Helper()
	for {
		st := s.awaitUpdate(taskID, -1)
		if len(st.UUID) > 0 {
			s.ack(st)
		}
		if st.GetState() == state {
			return st
		}
		if terminal(st.GetState()) {
			s.t.Fatalf("task %s ended in %s (%s), want %s", taskID, st.GetState(), st.GetMessage(), state)
		}
	}
}
