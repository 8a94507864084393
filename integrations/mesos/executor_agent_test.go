package mesos

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
)

// fakeAgent is the executor side of a Mesos agent's v1 HTTP API, enough to drive the
// executor adapter: SUBSCRIBE answered with a RecordIO stream of protobuf events that the
// test feeds, UPDATE recorded (and acknowledged when autoAck is set). It binds to
// 127.0.0.1 and stops with the test.
type fakeAgent struct {
	t   *testing.T
	srv *httptest.Server
	// quit ends every stream when the agent stops.
	quit     chan struct{}
	quitOnce sync.Once

	// mu guards the fields below.
	mu      sync.Mutex
	autoAck bool
	subs    []*executor.Call_Subscribe
	updates []mesosv1.TaskStatus
	cur     *agentStream
}

// agentStream is one subscription's event stream.
type agentStream struct {
	events chan *executor.Event
	drop   chan struct{}
}

func newFakeAgent(t *testing.T, autoAck bool) *fakeAgent {
	a := &fakeAgent{t: t, quit: make(chan struct{}), autoAck: autoAck}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.stop)
	return a
}

// stop ends the streams and the server: the agent is gone.
func (a *fakeAgent) stop() {
	a.quitOnce.Do(func() { close(a.quit) })
	a.srv.CloseClientConnections()
	a.srv.Close()
}

func (a *fakeAgent) endpoint() string { return a.srv.Listener.Addr().String() }

func (a *fakeAgent) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != executorAPIPath {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var call executor.Call
	if err := call.Unmarshal(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if call.FrameworkID.Value != "fw-1" || call.ExecutorID.Value != "exec-1" {
		http.Error(w, "wrong framework or executor ID", http.StatusBadRequest)
		return
	}
	switch call.GetType() {
	case executor.Call_SUBSCRIBE:
		a.subscribe(w, r, call.Subscribe)
	case executor.Call_UPDATE:
		a.mu.Lock()
		a.updates = append(a.updates, call.Update.Status)
		cur, ack := a.cur, a.autoAck
		a.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		if ack && cur != nil {
			cur.events <- ackOf(call.Update.Status)
		}
	default:
		http.Error(w, "unexpected call", http.StatusBadRequest)
	}
}

func (a *fakeAgent) subscribe(w http.ResponseWriter, r *http.Request, sub *executor.Call_Subscribe) {
	s := &agentStream{events: make(chan *executor.Event, 64), drop: make(chan struct{})}
	a.mu.Lock()
	a.subs = append(a.subs, sub)
	a.cur = s
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	write := func(e *executor.Event) bool {
		b, err := e.Marshal()
		if err != nil {
			a.t.Errorf("marshal event: %v", err)
			return false
		}
		if err := rw.WriteFrame(b); err != nil {
			return false
		}
		w.(http.Flusher).Flush()
		return true
	}
	host := "agent-host-1"
	if !write(&executor.Event{Type: executor.Event_SUBSCRIBED, Subscribed: &executor.Event_Subscribed{
		ExecutorInfo:  mesosv1.ExecutorInfo{ExecutorID: mesosv1.ExecutorID{Value: "exec-1"}},
		FrameworkInfo: mesosv1.FrameworkInfo{Name: "sluice", User: "nobody"},
		AgentInfo:     mesosv1.AgentInfo{Hostname: host, ID: &mesosv1.AgentID{Value: "agent-1"}},
	}}) {
		return
	}
	for {
		select {
		case e := <-s.events:
			if !write(e) {
				return
			}
		case <-s.drop:
			// Events queued before the drop still go out, in order.
			for {
				select {
				case e := <-s.events:
					if !write(e) {
						return
					}
				default:
					return
				}
			}
		case <-a.quit:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// waitSubs waits until the agent has received n subscriptions.
func (a *fakeAgent) waitSubs(n int) {
	a.t.Helper()
	waitFor(a.t, fmt.Sprintf("%d subscriptions", n), func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.subs) >= n && a.cur != nil
	})
}

// send queues an event on the current subscription.
func (a *fakeAgent) send(e *executor.Event) {
	a.t.Helper()
	a.mu.Lock()
	cur := a.cur
	a.mu.Unlock()
	if cur == nil {
		a.t.Fatal("no subscription to send on")
	}
	cur.events <- e
}

// drop ends the current subscription's stream.
func (a *fakeAgent) drop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur != nil {
		close(a.cur.drop)
		a.cur = nil
	}
}

// states returns the states of the updates received so far, as "TASK_X".
func (a *fakeAgent) states() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, u := range a.updates {
		out = append(out, u.GetState().String())
	}
	return out
}

// waitState waits for an update with the given state and returns it.
func (a *fakeAgent) waitState(state mesosv1.TaskState) mesosv1.TaskStatus {
	a.t.Helper()
	var got mesosv1.TaskStatus
	waitFor(a.t, "update "+state.String(), func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, u := range a.updates {
			if u.GetState() == state {
				got = u
				return true
			}
		}
		return false
	})
	return got
}

// subscription returns the i-th subscribe call received.
func (a *fakeAgent) subscription(i int) *executor.Call_Subscribe {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.subs[i]
}

func ackOf(st mesosv1.TaskStatus) *executor.Event {
	return &executor.Event{Type: executor.Event_ACKNOWLEDGED, Acknowledged: &executor.Event_Acknowledged{
		TaskID: st.TaskID, UUID: st.UUID,
	}}
}

func launchEvent(t mesosv1.TaskInfo) *executor.Event {
	return &executor.Event{Type: executor.Event_LAUNCH, Launch: &executor.Event_Launch{Task: t}}
}

func killEvent(id string) *executor.Event {
	return &executor.Event{Type: executor.Event_KILL, Kill: &executor.Event_Kill{TaskID: mesosv1.TaskID{Value: id}}}
}

// testTask is a task as the Sluice framework launches it: environment in data, two
// named ports.
func testTask(t *testing.T, id string) mesosv1.TaskInfo {
	t.Helper()
	data, err := EncodeTaskData(TaskData{Env: map[string]string{"SLUICE_MASTER": "10.0.0.1:19998"}})
	if err != nil {
		t.Fatal(err)
	}
	return mesosv1.TaskInfo{
		Name:    "executor-0",
		TaskID:  mesosv1.TaskID{Value: id},
		AgentID: mesosv1.AgentID{Value: "agent-1"},
		Resources: []mesosv1.Resource{
			{Name: "cpus", Type: mesosv1.SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: 1}},
			{Name: "ports", Type: mesosv1.RANGES.Enum(), Ranges: &mesosv1.Value_Ranges{Range: []mesosv1.Value_Range{{Begin: 31000, End: 31001}}}},
		},
		Labels: &mesosv1.Labels{Labels: []mesosv1.Label{{Key: LabelPortNames, Value: strPtr("rpc,http")}}},
		Data:   data,
	}
}

func strPtr(s string) *string { return &s }

// testExecutorConfig is an adapter configuration for a, with short waits.
func testExecutorConfig(a *fakeAgent, checkpoint bool) ExecutorConfig {
	cfg := DefaultExecutorConfig()
	cfg.Agent = config.Config{
		FrameworkID:                 "fw-1",
		ExecutorID:                  "exec-1",
		AgentEndpoint:               a.endpoint(),
		ExecutorShutdownGracePeriod: 5 * time.Second,
		Checkpoint:                  checkpoint,
	}
	if checkpoint {
		cfg.Agent.RecoveryTimeout = time.Minute
		cfg.Agent.SubscriptionBackoffMax = 100 * time.Millisecond
	}
	cfg.BackoffMin = 10 * time.Millisecond
	return cfg
}

// waitFor polls cond every 10 ms until it holds, failing the test after a generous
// deadline (no test asserts on time).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// containsInOrder reports whether want is a subsequence of got.
func containsInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func statesString(s []string) string { return strings.Join(slices.Clone(s), ",") }
