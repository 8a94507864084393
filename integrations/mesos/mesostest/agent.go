package mesostest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
)

// AddAgent starts an agent (its executor API on its own 127.0.0.1 port) and registers it with
// the master; its resources are offered from the next allocation.
func (m *Master) AddAgent(cfg AgentConfig) (AgentState, error) {
	if err := cfg.validate(); err != nil {
		return AgentState{}, fmt.Errorf("mesostest: agent: %w", err)
	}
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return AgentState{}, fmt.Errorf("mesostest: agent listen: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		ln.Close()
		return AgentState{}, ErrClosed
	}
	if cfg.ID == "" {
		cfg.ID = m.id + "-S" + itoa(m.nextAgent)
		m.nextAgent++
	}
	if m.agents[cfg.ID] != nil || m.removedAgents[cfg.ID] {
		ln.Close()
		return AgentState{}, fmt.Errorf("mesostest: agent %s: %w", cfg.ID, ErrExists)
	}
	total := pool{unreserved: bucketFrom(*cfg.Resources)}
	for role, r := range cfg.Reserved {
		total[role] = bucketFrom(r)
	}
	a := &agent{id: cfg.ID, cfg: cfg, total: total.compact(), ln: ln, endpoint: ln.Addr().String(),
		executors: map[string]*executor{}, tasks: map[string]*task{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/executor", func(w http.ResponseWriter, r *http.Request) { m.serveExecutor(a, w, r) })
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	m.agents[a.id] = a
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("agent serve", "agent_id", a.id, "err", err)
		}
	}()
	m.log.Info("agent added", "agent_id", a.id, "endpoint", a.endpoint)
	m.allocateSoon()
	return m.agentStateLocked(a), nil
}

// RemoveAgent removes an agent as if it were shut down and marked gone: outstanding offers are
// rescinded, its processes are SIGKILLed, each live task gets TASK_LOST (TASK_GONE for
// partition-aware frameworks) with REASON_AGENT_REMOVED from the master, and every connected
// framework gets a FAILURE event naming the agent.
func (m *Master) RemoveAgent(id string) error {
	m.mu.Lock()
	a := m.agents[id]
	if a == nil || m.closed {
		m.mu.Unlock()
		return fmt.Errorf("mesostest: agent %s: %w", id, ErrNotFound)
	}
	a.removed = true
	delete(m.agents, id)
	m.removedAgents[id] = true
	for _, o := range m.offers {
		if o.agent == a {
			m.rescindOfferLocked(o)
		}
	}
	m.killAgentProcessesLocked(a)
	for _, k := range sortedKeys(a.tasks) {
		t := a.tasks[k]
		if terminal(t.state) {
			m.completeTaskLocked(t)
			continue
		}
		state := mesos.TASK_LOST
		if t.fw.partitionAware() {
			state = mesos.TASK_GONE
		}
		t.pending = nil
		m.taskUpdateLocked(t, mesos.TaskStatus{State: state.Enum(), Source: mesos.SOURCE_MASTER.Enum(),
			Reason: mesos.REASON_AGENT_REMOVED.Enum(), Message: ptr("Agent " + id + " removed")})
	}
	for _, e := range a.executors {
		e.terminated = true
	}
	clear(a.executors)
	for _, f := range m.frameworks {
		if !f.removed {
			m.sendLocked(f, failureEvent(id, "", nil))
		}
	}
	m.mu.Unlock()
	_ = a.srv.Close()
	m.allocateSoon()
	return nil
}

// serveExecutor is an agent's POST /api/v1/executor.
func (m *Master) serveExecutor(a *agent, w http.ResponseWriter, r *http.Request) {
	var call mexec.Call
	if !readCall(w, r, &call) {
		return
	}
	if call.Type == mexec.Call_SUBSCRIBE {
		m.executorSubscribe(a, w, r, &call)
		return
	}
	m.mu.Lock()
	cerr := m.executorCallLocked(a, &call)
	m.mu.Unlock()
	if cerr != nil {
		httpError(w, cerr.code, "%s", cerr.msg)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// lookupExecutorLocked finds the custom executor a call names on a.
func (m *Master) lookupExecutorLocked(a *agent, call *mexec.Call) (*executor, *callError) {
	if a.removed || m.closed {
		return nil, errorf(http.StatusServiceUnavailable, "Agent is shutting down")
	}
	e := a.executors[execKey(call.FrameworkID.Value, call.ExecutorID.Value)]
	if e == nil || e.terminated || e.builtin() {
		return nil, errorf(http.StatusBadRequest, "Executor %s of framework %s is not running on this agent",
			call.ExecutorID.Value, call.FrameworkID.Value)
	}
	return e, nil
}

// executorSubscribe serves an executor's SUBSCRIBE: SUBSCRIBED, then the queued launches and
// kills, then events as they come, until the stream ends.
func (m *Master) executorSubscribe(a *agent, w http.ResponseWriter, r *http.Request, call *mexec.Call) {
	reqCodec, _ := requestCodec(r)
	format, ok := negotiate(r, reqCodec)
	if !ok {
		httpError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow application/json or application/x-protobuf")
		return
	}
	m.mu.Lock()
	e, cerr := m.lookupExecutorLocked(a, call)
	if cerr != nil {
		m.mu.Unlock()
		httpError(w, cerr.code, "%s", cerr.msg)
		return
	}
	if old := e.sub; old != nil {
		old.q.close()
	}
	sub := &execSub{codec: format.codec, q: newEventQueue()}
	e.sub = sub
	e.subscribed = true
	e.disconnectedAt = time.Time{}
	m.sendExecutorLocked(e, &mexec.Event{Type: mexec.Event_SUBSCRIBED, Subscribed: &mexec.Event_Subscribed{
		ExecutorInfo: e.info, FrameworkInfo: e.fw.info, AgentInfo: agentInfo(a),
		ContainerID: &mesos.ContainerID{Value: e.containerID}}})
	queued := e.queued
	e.queued = nil
	for _, q := range queued {
		m.sendLaunchLocked(e, q)
	}
	for _, t := range e.tasks {
		if t.killPending {
			t.killPending = false
			m.sendExecutorLocked(e, &mexec.Event{Type: mexec.Event_KILL, Kill: &mexec.Event_Kill{TaskID: t.info.TaskID}})
		}
	}
	if !e.shutdownDeadline.IsZero() {
		m.sendExecutorLocked(e, &mexec.Event{Type: mexec.Event_SHUTDOWN})
	}
	m.mu.Unlock()
	sw := startStream(w, format, "")
	heartbeat := mustEncode(sub.codec, &mexec.Event{Type: mexec.Event_HEARTBEAT})
	m.pump(r, sw, sub.q, heartbeat, func() { m.executorDisconnected(e, sub) })
}

// executorCallLocked handles UPDATE, MESSAGE and HEARTBEAT from a subscribed executor.
func (m *Master) executorCallLocked(a *agent, call *mexec.Call) *callError {
	e, cerr := m.lookupExecutorLocked(a, call)
	if cerr != nil {
		return cerr
	}
	if e.sub == nil {
		return errorf(http.StatusForbidden, "Executor is not subscribed")
	}
	switch call.Type {
	case mexec.Call_UPDATE:
		if call.Update == nil {
			return errorf(http.StatusBadRequest, "Expecting 'update' to be present")
		}
		st := call.Update.Status
		switch {
		case len(st.UUID) == 0:
			return errorf(http.StatusBadRequest, "'uuid' must be set in 'update.status'")
		case st.GetState() == mesos.TASK_STAGING:
			return errorf(http.StatusBadRequest, "An executor may not send TASK_STAGING")
		case st.Source != nil && st.GetSource() != mesos.SOURCE_EXECUTOR:
			return errorf(http.StatusBadRequest, "'update.status.source' must be SOURCE_EXECUTOR")
		}
		t := e.tasks[st.TaskID.Value]
		if t == nil {
			// A task the agent no longer tracks (completed, or never this executor's): the
			// update is accepted and dropped, as the agent's status update manager does for
			// updates of terminated tasks.
			m.log.Warn("status update for an unknown task dropped", "executor_id", e.id, "task_id", st.TaskID.Value)
			return nil
		}
		st.Source = mesos.SOURCE_EXECUTOR.Enum()
		m.taskUpdateLocked(t, st)
	case mexec.Call_MESSAGE:
		if call.Message == nil {
			return errorf(http.StatusBadRequest, "Expecting 'message' to be present")
		}
		m.sendLocked(e.fw, schedulerMessageEvent(a.id, e.id, call.Message.Data))
	case mexec.Call_HEARTBEAT:
	default:
		return errorf(http.StatusBadRequest, "Call type %s is not supported", call.Type)
	}
	return nil
}

// agentInfo describes a in executor SUBSCRIBED events.
func agentInfo(a *agent) mesos.AgentInfo {
	port := agentPort(a)
	return mesos.AgentInfo{Hostname: a.cfg.Hostname, Port: &port, ID: &mesos.AgentID{Value: a.id},
		Resources: a.total.toResources(resourceFormat{}), Attributes: agentAttributes(a)}
}

func agentPort(a *agent) int32 { return int32(a.ln.Addr().(*net.TCPAddr).Port) }

func agentAttributes(a *agent) []mesos.Attribute {
	var out []mesos.Attribute
	for _, k := range sortedKeys(a.cfg.Attributes) {
		out = append(out, mesos.Attribute{Name: k, Type: mesos.TEXT, Text: &mesos.Value_Text{Value: a.cfg.Attributes[k]}})
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
