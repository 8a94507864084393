package mesos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
)

// executorAPIPath is the agent's executor API endpoint.
const executorAPIPath = "/api/v1/executor"

// firstSubscribeWindow is how long an executor without framework checkpointing keeps
// trying its first subscription (the agent may not serve yet); once subscribed, a
// broken stream ends it at once, as Mesos wants of non-checkpointed executors.
const firstSubscribeWindow = 15 * time.Second

// defaultBackoffMax caps the subscription backoff when the agent gives none.
const defaultBackoffMax = 2 * time.Second

// executorLoop is one run of RunExecutor. Every field below the mutex-free line is
// owned by the loop goroutine; connection and task goroutines talk to it through
// channels.
type executorLoop struct {
	cfg    ExecutorConfig
	run    RunFunc
	log    *slog.Logger
	hc     *http.Client
	ownsHC bool
	sender calls.Sender
	// wg counts the connection goroutines, which close() waits for.
	wg sync.WaitGroup

	// Loop goroutine state.
	connEvents chan connEvent
	gen        int // generation of the current connection
	connCancel context.CancelFunc
	connected  bool
	subscribed bool // ever subscribed
	// disconnectedAt is when the last connection ended (or the loop started); retryAt
	// when the next subscription is due (zero when none is).
	disconnectedAt time.Time
	retryAt        time.Time
	backoff        time.Duration
	agentHost      string
	// unacked are the status updates the agent has not acknowledged, oldest first, with
	// the generation of the connection each was last sent on.
	unacked []pendingUpdate
	task    *runningTask
	// shutdown is set by SHUTDOWN or the end of the caller's ctx; fatal by a loss of
	// the agent beyond recovery.
	shutdown bool
	fatal    error
	// ackDeadline bounds the wait for the final acknowledgements once the task ended.
	ackDeadline time.Time
}

// pendingUpdate is an unacknowledged status update.
type pendingUpdate struct {
	update executor.Call_Update
	gen    int
}

// connEvent is what a connection goroutine reports: an event, or the end (err set).
type connEvent struct {
	gen int
	ev  *executor.Event
	err error
}

// runningTask is the executor's task.
type runningTask struct {
	info  mesosv1.TaskInfo
	acked bool // an update of it was acknowledged
	// ready and done are fed by the run goroutine; readyOnce guards ready.
	ready     chan struct{}
	readyOnce sync.Once
	done      chan error
	cancel    context.CancelFunc
	running   bool // TASK_RUNNING sent
	killing   bool
	killMsg   string
	killBy    time.Time // when TASK_KILLED goes out even if run has not returned
	ended     bool      // the terminal update was made
	result    error
}

func newExecutorLoop(cfg ExecutorConfig, run RunFunc) *executorLoop {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	x := &executorLoop{
		cfg:        cfg,
		run:        run,
		log:        log.With("component", "mesos.executor", "executor_id", cfg.Agent.ExecutorID),
		hc:         cfg.HTTPClient,
		connEvents: make(chan connEvent),
		backoff:    cfg.BackoffMin,
	}
	if x.hc == nil {
		dialer := &net.Dialer{Timeout: cfg.CallTimeout, KeepAlive: 15 * time.Second}
		x.hc = &http.Client{Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			ResponseHeaderTimeout: cfg.CallTimeout,
			MaxIdleConnsPerHost:   2,
		}}
		x.ownsHC = true
	}
	endpoint := url.URL{Scheme: "http", Host: cfg.Agent.AgentEndpoint, Path: executorAPIPath}
	cli := httpcli.New(
		httpcli.Endpoint(endpoint.String()),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(x.hc.Do),
	)
	x.sender = calls.SenderWith(httpexec.NewSender(cli.Send),
		calls.Framework(cfg.Agent.FrameworkID), calls.Executor(cfg.Agent.ExecutorID))
	return x
}

// close ends the current connection and waits for the connection goroutines.
func (x *executorLoop) close() {
	if x.connCancel != nil {
		x.connCancel()
	}
	x.wg.Wait()
	if x.ownsHC {
		x.hc.CloseIdleConnections()
	}
}

// loop is RunExecutor's body.
func (x *executorLoop) loop(ctx context.Context) error {
	x.disconnectedAt = time.Now()
	x.connect()
	ctxDone := ctx.Done()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		if done, err := x.finished(); done {
			return err
		}
		var ready <-chan struct{}
		var taskDone <-chan error
		if t := x.task; t != nil && !t.ended {
			taskDone = t.done
			if !t.running {
				ready = t.ready
			}
		}
		wake.Reset(x.nextWake())
		select {
		case <-ctxDone:
			ctxDone = nil
			x.log.Info("executor_stopping", "reason", context.Cause(ctx))
			x.beginShutdown("executor process stopped")
		case ce := <-x.connEvents:
			if ce.gen != x.gen {
				continue // a connection given up already
			}
			if ce.err != nil {
				x.lost(ce.err)
				continue
			}
			x.handle(ce.ev)
		case <-ready:
			x.task.running = true
			x.update(mesosv1.TASK_RUNNING, "")
		case err := <-taskDone:
			x.taskEnded(err)
		case <-wake.C:
			x.timers()
		}
	}
}

// finished reports whether the loop is done, and its result.
func (x *executorLoop) finished() (bool, error) {
	t := x.task
	switch {
	case x.fatal != nil && (t == nil || t.ended):
		return true, x.fatal
	case t != nil && t.ended && (len(x.unacked) == 0 || !x.ackDeadline.After(time.Now())):
		if len(x.unacked) > 0 {
			x.log.Warn("final_update_not_acknowledged", "unacked", len(x.unacked))
		}
		return true, t.result
	case t == nil && x.shutdown:
		return true, nil
	}
	return false, nil
}

// nextWake is the time until the earliest deadline (retry, kill, acknowledgements).
func (x *executorLoop) nextWake() time.Duration {
	next := time.Now().Add(time.Hour)
	for _, d := range []time.Time{x.retryAt, x.ackDeadline} {
		if !d.IsZero() && d.Before(next) {
			next = d
		}
	}
	if t := x.task; t != nil && t.killing && !t.ended && t.killBy.Before(next) {
		next = t.killBy
	}
	return max(time.Until(next), 0)
}

// timers acts on the deadlines that have passed.
func (x *executorLoop) timers() {
	now := time.Now()
	if !x.retryAt.IsZero() && !x.retryAt.After(now) {
		x.retryAt = time.Time{}
		x.connect()
	}
	if t := x.task; t != nil && t.killing && !t.ended && !t.killBy.After(now) {
		x.log.Warn("task_did_not_stop_in_grace", "task_id", t.info.TaskID.Value)
		t.ended = true
		x.ackDeadline = now.Add(x.cfg.AckTimeout)
		x.update(mesosv1.TASK_KILLED, t.killMsg+" (did not stop within its grace period)")
	}
}

// connect starts a subscription on a new connection goroutine, carrying the launched
// task while no update of it is acknowledged and every unacknowledged update.
func (x *executorLoop) connect() {
	if x.connCancel != nil {
		x.connCancel()
	}
	x.gen++
	var tasks []mesosv1.TaskInfo
	if t := x.task; t != nil && !t.acked {
		tasks = append(tasks, t.info)
	}
	var updates []executor.Call_Update
	for i := range x.unacked {
		updates = append(updates, x.unacked[i].update)
		x.unacked[i].gen = x.gen
	}
	call := calls.Subscribe(tasks, updates)
	ctx, cancel := context.WithCancel(context.Background())
	x.connCancel = cancel
	gen := x.gen
	x.log.Info("subscribing", "agent", x.cfg.Agent.AgentEndpoint, "unacked_updates", len(updates), "attempt_gen", gen)
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		x.stream(ctx, gen, call)
	}()
}

// stream runs one subscription and reports its events, then its end, to the loop.
func (x *executorLoop) stream(ctx context.Context, gen int, call *executor.Call) {
	send := func(ce connEvent) bool {
		select {
		case x.connEvents <- ce:
			return true
		case <-ctx.Done():
			return false
		}
	}
	resp, err := x.sender.Send(ctx, calls.NonStreaming(call))
	if resp != nil {
		defer resp.Close()
	}
	if err == nil && resp == nil {
		err = errors.New("subscription answered without a stream")
	}
	if err != nil {
		send(connEvent{gen: gen, err: fmt.Errorf("subscribe: %w", err)})
		return
	}
	for {
		var e executor.Event
		if err := resp.Decode(&e); err != nil {
			send(connEvent{gen: gen, err: fmt.Errorf("event stream: %w", err)})
			return
		}
		if !send(connEvent{gen: gen, ev: &e}) {
			return
		}
	}
}

// lost handles the end of the current connection.
func (x *executorLoop) lost(err error) {
	if x.connCancel != nil {
		x.connCancel()
		x.connCancel = nil
	}
	x.gen++ // events still in flight from the old connection are ignored
	wasConnected := x.connected
	x.connected = false
	now := time.Now()
	if wasConnected {
		x.disconnectedAt = now
	}
	if t := x.task; t != nil && t.ended && len(x.unacked) == 0 {
		return // nothing left to say
	}
	window := firstSubscribeWindow
	switch {
	case x.cfg.Agent.Checkpoint:
		window = x.cfg.Agent.RecoveryTimeout
	case x.subscribed:
		window = 0
	}
	if now.Sub(x.disconnectedAt) >= window {
		x.log.Error("agent_lost", "error", err, "disconnected_for", now.Sub(x.disconnectedAt).Round(time.Millisecond),
			"checkpoint", x.cfg.Agent.Checkpoint)
		x.fatal = fmt.Errorf("%v: %w", err, ErrAgentDisconnected)
		x.beginKill("agent lost", x.cfg.KillGrace)
		return
	}
	backoffMax := x.cfg.Agent.SubscriptionBackoffMax
	if backoffMax <= 0 {
		backoffMax = defaultBackoffMax
	}
	x.retryAt = now.Add(x.backoff)
	x.log.Warn("agent_disconnected", "error", err, "retry_in", x.backoff)
	x.backoff = min(x.backoff*2, max(backoffMax, x.cfg.BackoffMin))
}

// handle applies one event of the agent.
func (x *executorLoop) handle(e *executor.Event) {
	switch e.GetType() {
	case executor.Event_SUBSCRIBED:
		s := e.GetSubscribed()
		x.connected, x.subscribed = true, true
		x.backoff = x.cfg.BackoffMin
		x.agentHost = s.AgentInfo.GetHostname()
		x.log.Info("subscribed", "agent_id", s.AgentInfo.GetID().GetValue(), "agent_host", x.agentHost,
			"framework", s.FrameworkInfo.GetName())
		// Updates made while the subscription was under way were not in the call.
		for i := range x.unacked {
			if x.unacked[i].gen != x.gen && !x.send(&x.unacked[i]) {
				return
			}
		}
	case executor.Event_LAUNCH:
		x.launch(e.GetLaunch().Task)
	case executor.Event_LAUNCH_GROUP:
		for _, t := range e.GetLaunchGroup().TaskGroup.Tasks {
			x.refuse(t.TaskID, "task groups are not supported by the sluice executor")
		}
	case executor.Event_KILL:
		k := e.GetKill()
		t := x.task
		if t == nil || t.info.TaskID.Value != k.TaskID.Value {
			x.log.Warn("kill_of_unknown_task", "task_id", k.TaskID.Value)
			x.refuseKill(k.TaskID)
			return
		}
		grace := x.cfg.KillGrace
		if p := t.info.GetKillPolicy(); p != nil && p.GracePeriod != nil {
			grace = time.Duration(p.GracePeriod.GetNanoseconds())
		}
		if p := k.GetKillPolicy(); p != nil && p.GracePeriod != nil {
			grace = time.Duration(p.GracePeriod.GetNanoseconds())
		}
		x.beginKill("killed by the framework", grace)
	case executor.Event_ACKNOWLEDGED:
		a := e.GetAcknowledged()
		x.unacked = slices.DeleteFunc(x.unacked, func(p pendingUpdate) bool {
			return string(p.update.Status.UUID) == string(a.UUID)
		})
		if t := x.task; t != nil && t.info.TaskID.Value == a.TaskID.Value {
			t.acked = true
		}
	case executor.Event_SHUTDOWN:
		x.log.Info("shutdown_requested")
		x.beginShutdown("executor shut down by the agent")
	case executor.Event_ERROR:
		x.lost(fmt.Errorf("agent error: %s", e.GetError().Message))
	case executor.Event_MESSAGE, executor.Event_HEARTBEAT:
	default:
		x.log.Warn("unknown_event", "type", e.GetType().String())
	}
}

// launch starts the task, or refuses a second one.
func (x *executorLoop) launch(info mesosv1.TaskInfo) {
	id := info.TaskID.Value
	if x.task != nil {
		if x.task.info.TaskID.Value == id {
			return // sent again; the first launch stands
		}
		x.refuse(info.TaskID, "the sluice executor runs one task")
		return
	}
	t := &runningTask{info: info, ready: make(chan struct{}), done: make(chan error, 1)}
	x.task = t
	if x.shutdown {
		x.endTask(mesosv1.TASK_KILLED, "executor is shutting down", nil)
		return
	}
	ti, err := taskInfo(info, x.agentHost)
	if err != nil {
		x.endTask(mesosv1.TASK_FAILED, err.Error(), fmt.Errorf("%w: %w", ErrTaskFailed, err))
		return
	}
	x.log.Info("task_launched", "task_id", id, "name", info.Name)
	x.update(mesosv1.TASK_STARTING, "")
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	go func() {
		err := x.run(ctx, ti, func() { t.readyOnce.Do(func() { close(t.ready) }) })
		t.done <- err
	}()
}

// taskEnded sends the terminal update for run's return.
func (x *executorLoop) taskEnded(err error) {
	t := x.task
	t.cancel()
	switch {
	case t.killing:
		msg := t.killMsg
		if err != nil {
			msg += ": " + err.Error()
		}
		x.endTask(mesosv1.TASK_KILLED, msg, nil)
	case err != nil:
		x.endTask(mesosv1.TASK_FAILED, err.Error(), fmt.Errorf("%w: %w", ErrTaskFailed, err))
	default:
		x.endTask(mesosv1.TASK_FINISHED, "", nil)
	}
}

// endTask marks the task ended with a terminal update.
func (x *executorLoop) endTask(state mesosv1.TaskState, msg string, result error) {
	t := x.task
	t.ended, t.result = true, result
	x.ackDeadline = time.Now().Add(x.cfg.AckTimeout)
	x.log.Info("task_ended", "task_id", t.info.TaskID.Value, "state", state.String(), "message", msg)
	x.update(state, msg)
}

// beginShutdown stops the task (if any) within most of the agent's shutdown grace period.
func (x *executorLoop) beginShutdown(msg string) {
	x.shutdown = true
	grace := x.cfg.KillGrace
	if g := x.cfg.Agent.ExecutorShutdownGracePeriod; g > 0 {
		// Leave the agent time to receive the update before it kills the executor.
		grace = max(g-time.Second, g/2)
	}
	x.beginKill(msg, grace)
}

// beginKill cancels the task's run; TASK_KILLED goes out when run returns, or after grace.
func (x *executorLoop) beginKill(msg string, grace time.Duration) {
	t := x.task
	if t == nil || t.ended {
		return
	}
	by := time.Now().Add(grace)
	if t.killing && !by.Before(t.killBy) {
		return // already being killed, at least as fast
	}
	if !t.killing {
		t.killMsg = msg
	}
	t.killing, t.killBy = true, by
	x.log.Info("killing_task", "task_id", t.info.TaskID.Value, "reason", msg, "grace", grace)
	if t.cancel != nil {
		t.cancel()
	}
}

// refuse fails a task this executor will not run.
func (x *executorLoop) refuse(id mesosv1.TaskID, msg string) {
	x.log.Warn("task_refused", "task_id", id.Value, "reason", msg)
	x.updateFor(id, mesosv1.TASK_FAILED, msg)
}

// refuseKill answers a KILL of a task the executor does not run, so that the framework
// does not wait for it.
func (x *executorLoop) refuseKill(id mesosv1.TaskID) {
	x.updateFor(id, mesosv1.TASK_KILLED, "task not running on this executor")
}

// update sends a status update of the executor's task.
func (x *executorLoop) update(state mesosv1.TaskState, msg string) {
	x.updateFor(x.task.info.TaskID, state, msg)
}

// updateFor records a status update as unacknowledged and sends it if subscribed; a
// failed send drops the connection, whose successor carries the update.
func (x *executorLoop) updateFor(id mesosv1.TaskID, state mesosv1.TaskState, msg string) {
	execID := mesosv1.ExecutorID{Value: x.cfg.Agent.ExecutorID}
	ts := float64(time.Now().UnixNano()) / 1e9
	st := mesosv1.TaskStatus{
		TaskID:     id,
		State:      state.Enum(),
		Source:     mesosv1.SOURCE_EXECUTOR.Enum(),
		ExecutorID: &execID,
		Timestamp:  &ts,
		UUID:       newUUID(),
	}
	if msg != "" {
		st.Message = &msg
	}
	x.unacked = append(x.unacked, pendingUpdate{update: executor.Call_Update{Status: st}, gen: -1})
	x.log.Debug("status_update", "task_id", id.Value, "state", state.String(), "uuid", hex.EncodeToString(st.UUID))
	if x.connected {
		x.send(&x.unacked[len(x.unacked)-1])
	}
}

// send posts one update on the current connection and reports success.
func (x *executorLoop) send(p *pendingUpdate) bool {
	p.gen = x.gen
	ctx, cancel := context.WithTimeout(context.Background(), x.cfg.CallTimeout)
	defer cancel()
	upd := p.update
	err := calls.SendNoData(ctx, x.sender, calls.NonStreaming(&executor.Call{Type: executor.Call_UPDATE, Update: &upd}))
	if err != nil {
		x.lost(fmt.Errorf("send status update: %w", err))
		return false
	}
	return true
}

// newUUID returns a random (version 4) UUID as 16 bytes, the form Mesos wants.
func newUUID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}
