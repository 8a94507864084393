package mesostest

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// callError is an HTTP status and reason for a rejected call.
type callError struct {
	code int
	msg  string
}

func errorf(code int, format string, args ...any) *callError {
	return &callError{code: code, msg: fmt.Sprintf(format, args...)}
}

// authenticate checks HTTP basic credentials when the master has any; it returns the principal.
func (m *Master) authenticate(r *http.Request) (string, bool) {
	if len(m.cfg.Credentials) == 0 {
		return "", true
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	secret, known := m.cfg.Credentials[user]
	if !known || subtle.ConstantTimeCompare([]byte(secret), []byte(pass)) != 1 {
		return "", false
	}
	return user, true
}

// serveScheduler is POST /api/v1/scheduler.
func (m *Master) serveScheduler(w http.ResponseWriter, r *http.Request) {
	principal, ok := m.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="mesos"`)
		httpError(w, http.StatusUnauthorized, "Authentication failed")
		return
	}
	var call scheduler.Call
	if !readCall(w, r, &call) {
		return
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		m.subscribe(w, r, &call, principal)
		return
	}
	m.mu.Lock()
	cerr := m.callLocked(&call, r.Header.Get("Mesos-Stream-Id"))
	m.mu.Unlock()
	if cerr != nil {
		httpError(w, cerr.code, "%s", cerr.msg)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// subscribe serves a SUBSCRIBE call: validates it, (re)registers the framework and streams its
// events until the client goes away, the framework fails over or is removed, or Close.
func (m *Master) subscribe(w http.ResponseWriter, r *http.Request, call *scheduler.Call, principal string) {
	reqCodec, _ := requestCodec(r)
	format, ok := negotiate(r, reqCodec)
	if !ok {
		httpError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow application/json or application/x-protobuf")
		return
	}
	if call.Subscribe == nil {
		httpError(w, http.StatusBadRequest, "Expecting 'subscribe' to be present")
		return
	}
	if call.Subscribe.FrameworkInfo == nil {
		httpError(w, http.StatusBadRequest, "Expecting 'subscribe.framework_info' to be present")
		return
	}
	info := *call.Subscribe.FrameworkInfo
	if info.ID != nil && call.FrameworkID != nil && info.ID.Value != call.FrameworkID.Value {
		httpError(w, http.StatusBadRequest, "'framework_id' differs from 'subscribe.framework_info.id'")
		return
	}
	if info.ID == nil && call.FrameworkID != nil {
		httpError(w, http.StatusBadRequest, "'subscribe.framework_info.id' is not set but 'framework_id' is")
		return
	}
	if principal != "" && info.GetPrincipal() != principal {
		httpError(w, http.StatusBadRequest, "Authenticated principal '%s' does not match principal '%s' set in `FrameworkInfo`",
			principal, info.GetPrincipal())
		return
	}
	if info.GetFailoverTimeout() < 0 {
		httpError(w, http.StatusBadRequest, "'failover_timeout' must not be negative")
		return
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		httpError(w, http.StatusServiceUnavailable, "Master is shutting down")
		return
	}
	fw, sub, removed := m.subscribeLocked(info, call.Subscribe.SuppressedRoles, format)
	m.mu.Unlock()
	if removed {
		// Mesos sets the stream ID header before it looks at the framework, then sends the
		// error on the stream and closes it.
		_, streamID := newUUID()
		sw := startStream(w, format, streamID)
		_ = sw.write([][]byte{mustEncode(format.codec, &scheduler.Event{
			Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: "Framework has been removed"}})})
		return
	}
	sw := startStream(w, format, sub.streamID)
	heartbeat := mustEncode(sub.codec, &scheduler.Event{Type: scheduler.Event_HEARTBEAT})
	m.pump(r, sw, sub.q, heartbeat, func() { m.schedulerDisconnected(fw, sub) })
}

// pump writes a stream's queued events and heartbeats until the queue closes or the client
// goes away; gone runs when the stream ends for any reason but a closed queue.
func (m *Master) pump(r *http.Request, sw *streamWriter, q *eventQueue, heartbeat []byte, gone func()) {
	hb := time.NewTicker(m.cfg.HeartbeatInterval)
	defer hb.Stop()
	for {
		select {
		case <-q.notify:
			items, closed := q.drain()
			if err := sw.write(items); err != nil {
				gone()
				return
			}
			if closed {
				return
			}
		case <-hb.C:
			if err := sw.write([][]byte{heartbeat}); err != nil {
				gone()
				return
			}
		case <-r.Context().Done():
			gone()
			return
		}
	}
}

// subscribeLocked registers a new framework or fails one over to a new stream. removed reports
// a framework ID the master already removed.
func (m *Master) subscribeLocked(info mesos.FrameworkInfo, suppressed []string, format streamFormat) (*framework, *schedSub, bool) {
	var fw *framework
	if info.ID != nil {
		fw = m.frameworks[info.ID.Value]
		if fw != nil && fw.removed {
			return fw, nil, true
		}
	}
	if fw == nil {
		id := ""
		if info.ID != nil {
			// A framework ID this master never issued: accept it, as a newly elected Mesos
			// master accepts frameworks re-registering after a master failover.
			id = info.ID.Value
		} else {
			id = fmt.Sprintf("%s-%04d", m.id, m.nextFramework)
			m.nextFramework++
		}
		fw = &framework{id: id, tasks: map[string]*task{}}
		m.frameworks[id] = fw
	}
	info.ID = &mesos.FrameworkID{Value: fw.id}
	fw.info = info
	fw.principal = info.GetPrincipal()
	fw.roles = frameworkRoles(info)
	fw.suppressed = map[string]bool{}
	for _, r := range suppressed {
		fw.suppressed[r] = true
	}
	if old := fw.sub; old != nil {
		old.q.push(mustEncode(old.codec, &scheduler.Event{
			Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: "Framework failed over"}}))
		old.q.close()
		m.removeOffersLocked(fw, false)
		fw.filters = nil
	}
	_, streamID := newUUID()
	sub := &schedSub{streamID: streamID, codec: format.codec, q: newEventQueue()}
	fw.sub = sub
	fw.failoverDeadline = time.Time{}
	hb := m.cfg.HeartbeatInterval.Seconds()
	m.sendLocked(fw, &scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{
		FrameworkID: &mesos.FrameworkID{Value: fw.id}, HeartbeatIntervalSeconds: &hb, MasterInfo: m.masterInfo()}})
	now := time.Now()
	for _, t := range fw.tasks {
		if len(t.pending) > 0 {
			t.retryDelay = 0
			m.sendHeadUpdateLocked(t, now)
		}
	}
	m.log.Info("framework subscribed", "framework_id", fw.id, "name", info.Name, "roles", fw.roles)
	m.allocateSoon()
	return fw, sub, false
}

// frameworkRoles returns the roles a framework subscribes with: FrameworkInfo.roles with the
// MULTI_ROLE capability, otherwise FrameworkInfo.role (default "*").
func frameworkRoles(info mesos.FrameworkInfo) []string {
	for _, c := range info.Capabilities {
		if c.Type == mesos.FrameworkInfo_Capability_MULTI_ROLE {
			return append([]string(nil), info.Roles...)
		}
	}
	return []string{info.GetRole()}
}

// schedulerDisconnected handles the end of a scheduler stream: the framework's offers are
// rescinded and its failover timer starts (a zero failover_timeout removes it at once).
func (m *Master) schedulerDisconnected(fw *framework, sub *schedSub) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if fw.sub != sub || m.closed {
		return
	}
	fw.sub = nil
	sub.q.close()
	m.removeOffersLocked(fw, false)
	// Mesos' allocator clears a deactivated framework's offer filters.
	fw.filters = nil
	timeout := time.Duration(fw.info.GetFailoverTimeout() * float64(time.Second))
	m.log.Info("framework disconnected", "framework_id", fw.id, "failover_timeout", timeout)
	if timeout <= 0 {
		m.removeFrameworkLocked(fw)
		return
	}
	fw.failoverDeadline = time.Now().Add(timeout)
}

// sendLocked encodes ev for fw's stream, if it is connected.
func (m *Master) sendLocked(fw *framework, ev *scheduler.Event) {
	if fw.sub == nil {
		return
	}
	fw.sub.q.push(mustEncode(fw.sub.codec, ev))
}

// callLocked dispatches a non-SUBSCRIBE call after checking the framework and stream ID.
func (m *Master) callLocked(call *scheduler.Call, streamID string) *callError {
	if call.FrameworkID == nil || call.FrameworkID.Value == "" {
		return errorf(http.StatusBadRequest, "Expecting 'framework_id' to be present")
	}
	fw := m.frameworks[call.FrameworkID.Value]
	if fw == nil || fw.removed {
		return errorf(http.StatusForbidden, "Framework cannot be found")
	}
	if fw.sub == nil {
		return errorf(http.StatusForbidden, "Framework is not subscribed")
	}
	if streamID == "" {
		return errorf(http.StatusBadRequest, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
	}
	if streamID != fw.sub.streamID {
		return errorf(http.StatusBadRequest, "The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s", streamID, fw.id)
	}
	switch call.Type {
	case scheduler.Call_TEARDOWN:
		m.log.Info("framework teardown", "framework_id", fw.id)
		m.removeFrameworkLocked(fw)
	case scheduler.Call_ACCEPT:
		if call.Accept == nil {
			return errorf(http.StatusBadRequest, "Expecting 'accept' to be present")
		}
		m.acceptLocked(fw, call.Accept)
	case scheduler.Call_DECLINE:
		if call.Decline == nil {
			return errorf(http.StatusBadRequest, "Expecting 'decline' to be present")
		}
		m.declineLocked(fw, call.Decline.OfferIDs, call.Decline.Filters)
	case scheduler.Call_REVIVE:
		var roles []string
		if call.Revive != nil {
			roles = call.Revive.Roles
		}
		m.reviveLocked(fw, roles)
	case scheduler.Call_SUPPRESS:
		var roles []string
		if call.Suppress != nil {
			roles = call.Suppress.Roles
		}
		m.suppressLocked(fw, roles)
	case scheduler.Call_KILL:
		if call.Kill == nil {
			return errorf(http.StatusBadRequest, "Expecting 'kill' to be present")
		}
		m.killLocked(fw, call.Kill)
	case scheduler.Call_SHUTDOWN:
		if call.Shutdown == nil {
			return errorf(http.StatusBadRequest, "Expecting 'shutdown' to be present")
		}
		if a := m.agents[call.Shutdown.AgentID.Value]; a != nil {
			if e := a.executors[execKey(fw.id, call.Shutdown.ExecutorID.Value)]; e != nil {
				m.shutdownExecutorLocked(e)
			}
		}
	case scheduler.Call_ACKNOWLEDGE:
		if call.Acknowledge == nil {
			return errorf(http.StatusBadRequest, "Expecting 'acknowledge' to be present")
		}
		return m.acknowledgeLocked(fw, call.Acknowledge)
	case scheduler.Call_RECONCILE:
		var tasks []scheduler.Call_Reconcile_Task
		if call.Reconcile != nil {
			tasks = call.Reconcile.Tasks
		}
		m.reconcileLocked(fw, tasks)
	case scheduler.Call_MESSAGE:
		if call.Message == nil {
			return errorf(http.StatusBadRequest, "Expecting 'message' to be present")
		}
		m.frameworkMessageLocked(fw, call.Message)
	case scheduler.Call_UPDATE_FRAMEWORK:
		if call.UpdateFramework == nil {
			return errorf(http.StatusBadRequest, "Expecting 'update_framework' to be present")
		}
		info := call.UpdateFramework.FrameworkInfo
		if info.ID == nil || info.ID.Value != fw.id {
			return errorf(http.StatusBadRequest, "'framework_info.id' must be the framework's ID")
		}
		fw.info = info
		fw.roles = frameworkRoles(info)
		fw.suppressed = map[string]bool{}
		for _, r := range call.UpdateFramework.SuppressedRoles {
			fw.suppressed[r] = true
		}
		m.removeOffersLocked(fw, true)
		m.allocateSoon()
	case scheduler.Call_REQUEST, scheduler.Call_ACCEPT_INVERSE_OFFERS, scheduler.Call_DECLINE_INVERSE_OFFERS:
		// No maintenance schedules and no allocator requests: Mesos' own allocator ignores
		// REQUEST, and there are never inverse offers to answer.
	default:
		return errorf(http.StatusBadRequest, "Call type %s is not supported by the stand-in master", call.Type)
	}
	return nil
}

// frameworkMessageLocked forwards a framework message to an executor's stream.
func (m *Master) frameworkMessageLocked(fw *framework, msg *scheduler.Call_Message) {
	a := m.agents[msg.AgentID.Value]
	if a == nil {
		return
	}
	e := a.executors[execKey(fw.id, msg.ExecutorID.Value)]
	if e == nil {
		return
	}
	m.sendExecutorLocked(e, executorMessageEvent(msg.Data))
}

func schedulerMessageEvent(agentID, executorID string, data []byte) *scheduler.Event {
	return &scheduler.Event{Type: scheduler.Event_MESSAGE, Message: &scheduler.Event_Message{
		AgentID: mesos.AgentID{Value: agentID}, ExecutorID: mesos.ExecutorID{Value: executorID}, Data: data}}
}

// removeFrameworkLocked removes fw (TEARDOWN or failover timeout): its stream ends, offers go,
// command tasks are SIGKILLed and executors shut down; no further updates are sent to it.
func (m *Master) removeFrameworkLocked(fw *framework) {
	if fw.removed {
		return
	}
	fw.removed = true
	if fw.sub != nil {
		fw.sub.q.close()
		fw.sub = nil
	}
	for _, o := range m.offers {
		if o.fw == fw {
			delete(m.offers, o.id)
		}
	}
	for _, t := range fw.tasks {
		if t.proc != nil {
			t.proc.signal(sigKill)
		}
		if !terminal(t.state) {
			t.state = mesos.TASK_KILLED
			t.latest.State = mesos.TASK_KILLED.Enum()
			t.latest.Reason = mesos.REASON_FRAMEWORK_REMOVED.Enum()
		}
		m.completeTaskLocked(t)
	}
	// Custom executors get SHUTDOWN and the grace period; default executors, whose tasks were
	// just killed, end now.
	for _, a := range m.agents {
		for _, e := range a.executors {
			switch {
			case e.fw != fw:
			case e.builtin():
				m.executorTerminatedLocked(e, int32(sigKill), mesos.REASON_EXECUTOR_TERMINATED, "Framework removed")
			default:
				m.shutdownExecutorLocked(e)
			}
		}
	}
	fw.filters = nil
	m.log.Info("framework removed", "framework_id", fw.id)
	m.allocateSoon()
}
