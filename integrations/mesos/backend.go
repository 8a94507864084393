package mesos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	schedpb "github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/sluicedata/sluice/scheduler"
)

// Backend is a Mesos framework: a scheduler.Backend on the Mesos v1 scheduler HTTP API.
// Build it with New; it subscribes at once and keeps subscribing until the ctx given
// to New ends or Close is called. All methods are safe for concurrent use.
//
// Launch queues a task; offers place it (see match), and Mesos status updates become
// the task's events. Ending New's ctx drops the subscription and leaves the tasks
// running (Mesos keeps them for FailoverTimeout, and a new Backend with the same
// FrameworkIDFile finds them); Close kills them first; Teardown has Mesos kill them and
// forget the framework.
type Backend struct {
	cfg       Config
	log       *slog.Logger
	caller    calls.Caller
	transport *http.Transport
	fan       scheduler.Fanout
	// kick wakes the event loop: a task became pending, or offers are wanted.
	kick chan struct{}
	// cancel ends the event loop; done is closed when it has ended.
	cancel context.CancelFunc
	done   chan struct{}
	// recovered is closed once the tasks kept by an earlier run have been reconciled
	// (or RecoveryTimeout has passed since the first subscription).
	recovered chan struct{}

	// mu guards the fields below and every task.
	mu          sync.Mutex
	closed      bool
	frameworkID string
	connected   bool
	suppressed  bool
	// revive is set when a task became pending since the last REVIVE.
	revive bool
	// wantOffers is set by Nodes while no agent is known.
	wantOffers bool
	seq        uint64
	tasks      map[scheduler.TaskID]*task
	// endedOrder lists ended tasks still in tasks, oldest first (see maxEnded).
	endedOrder []scheduler.TaskID
	agents     map[string]*agent
	// nodesSeen is closed and replaced whenever an agent is first seen.
	nodesSeen chan struct{}
	// recovering is true until recovered is closed.
	recovering bool
	// tornDown stops resubscription once TEARDOWN is under way.
	tornDown bool
	// heartbeat is the heartbeat interval of the current subscription.
	heartbeat time.Duration
	// holdUntil is when a job held for locality may take any agent; recoveryBy ends
	// the wait for kept tasks; adoptBy is when recovered service tasks nobody claimed
	// are killed. Zero when unset.
	holdUntil, recoveryBy, adoptBy time.Time
}

// task is one task of the backend: launched by Launch, or kept by an earlier run.
type task struct {
	id      scheduler.TaskID
	t       scheduler.Task
	pending *pendingTask // set while it waits for an offer
	// agentID and host are where it was placed; executorID is set for executors.
	agentID, host, executorID string
	ports                     map[string]int
	state                     scheduler.State
	exitCode                  int
	message                   string
	pid                       int
	killed                    bool
	// recovered: kept by an earlier run and not (yet) claimed by a Launch; confirmed:
	// Mesos has reported it since this Backend subscribed.
	recovered, confirmed bool
	started, ended       time.Time
}

// agent is a Mesos agent seen in an offer.
type agent struct {
	id, host string
	// offered is what its last offer held (cpus, mem, disk usable by the role).
	offered scheduler.Resources
}

var (
	_ scheduler.Backend        = (*Backend)(nil)
	_ scheduler.StatusReporter = (*Backend)(nil)
	_ io.Closer                = (*Backend)(nil)
)

// New checks cfg, reads the framework ID and kept tasks, and starts subscribing to the
// Mesos master in the background; it does not wait for the subscription. The
// subscription lasts until ctx ends or Close is called.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fid, err := readFrameworkID(cfg.FrameworkIDFile)
	if err != nil {
		return nil, err
	}
	kept, err := readTasks(cfg.tasksFile(), fid)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		cfg:         cfg,
		log:         log.With("component", "scheduler.mesos"),
		kick:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		recovered:   make(chan struct{}),
		frameworkID: fid,
		tasks:       make(map[scheduler.TaskID]*task),
		agents:      make(map[string]*agent),
		nodesSeen:   make(chan struct{}),
	}
	for _, k := range kept {
		b.tasks[k.ID] = &task{
			id:         k.ID,
			t:          scheduler.Task{Name: k.Name, Kind: k.Kind, Labels: k.Labels},
			agentID:    k.AgentID,
			host:       k.Host,
			executorID: k.ExecutorID,
			ports:      k.Ports,
			state:      scheduler.StatePending,
			killed:     k.Killed,
			recovered:  true,
		}
	}
	b.recovering = len(kept) > 0
	if !b.recovering {
		close(b.recovered)
	}
	cli := b.httpClient()
	b.caller = b.withFrameworkID(httpsched.NewCaller(cli))
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel = cancel
	stop := context.AfterFunc(ctx, cancel)
	go func() {
		defer close(b.done)
		defer stop()
		b.run(loopCtx)
	}()
	b.log.Info("mesos_backend_started", "master", cfg.Master, "framework_id", fid, "kept_tasks", len(kept))
	return b, nil
}

// httpClient builds the HTTP client of the scheduler API: protobuf, basic
// authentication when a principal is set, and a transport Close can release.
func (b *Backend) httpClient() *httpcli.Client {
	opts := slices.Clone(httpcli.DefaultConfigOpt)
	opts = append(opts, httpcli.Transport(func(t *http.Transport) {
		b.transport = t
		t.Proxy = nil // the master is reached directly
	}))
	if b.cfg.Principal != "" {
		opts = append(opts, httpcli.BasicAuth(b.cfg.Principal, b.cfg.Secret))
	}
	return httpcli.New(
		httpcli.Endpoint("http://"+b.cfg.Master+"/api/v1/scheduler"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(opts...)),
	)
}

// withFrameworkID fills the framework ID into every call but SUBSCRIBE.
func (b *Backend) withFrameworkID(c calls.Caller) calls.Caller {
	return calls.CallerFunc(func(ctx context.Context, call *schedpb.Call) (mesosv1.Response, error) {
		if call.GetType() != schedpb.Call_SUBSCRIBE {
			b.mu.Lock()
			call.FrameworkID = &mesosv1.FrameworkID{Value: b.frameworkID}
			b.mu.Unlock()
		}
		return c.Call(ctx, call)
	})
}

// Name returns "mesos".
func (b *Backend) Name() string { return "mesos" }

// FrameworkID returns the framework ID Mesos gave this framework, "" before the first
// subscription of a new framework.
func (b *Backend) FrameworkID() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.frameworkID
}

// Launch queues t for the next offer that fits it and returns its Mesos task ID
// ("<name>.<12 hex digits>"); a Pending event follows at once, Running once Mesos
// reports the task running.
//
// Adoption: while tasks kept by an earlier run of this framework are being reconciled,
// Launch of a master or executor with the label scheduler.LabelSlot waits for the
// reconciliation (bounded by ctx and RecoveryTimeout). If such a task of the same kind
// and slot still runs, Launch returns its ID instead of launching another, and an event
// with its current state follows: a restarted framework scheduler takes its running
// executors back instead of duplicating them.
func (b *Backend) Launch(ctx context.Context, t scheduler.Task) (scheduler.TaskID, error) {
	if err := t.Validate(); err != nil {
		return "", err
	}
	pinned, static, err := placementOf(t)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	slot := t.Labels[scheduler.LabelSlot]
	if slot != "" && t.Kind != scheduler.KindJob {
		select {
		case <-b.recovered:
		case <-b.done:
		case <-ctx.Done():
			return "", fmt.Errorf("launch %q: waiting for recovered tasks: %w", taskName(t), ctx.Err())
		}
	}
	t = t.Clone()
	if t.Resources.CPU <= 0 {
		t.Resources.CPU = b.cfg.DefaultTask.CPU
	}
	if t.Resources.MemMB <= 0 {
		t.Resources.MemMB = b.cfg.DefaultTask.MemMB
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.detached() {
		return "", fmt.Errorf("launch %q: %w", taskName(t), scheduler.ErrClosed)
	}
	if slot != "" {
		if old := b.adoptable(t.Kind, slot); old != nil {
			// The task keeps running as it was launched; the new command, environment and
			// resources only describe it (a different --mem-size takes a relaunch).
			old.recovered = false
			old.t.Command, old.t.Env, old.t.Resources = t.Command, t.Env, t.Resources
			b.fan.Publish(old.event(now))
			b.log.Info("task_adopted", "task_id", old.id, "slot", slot, "state", old.state, "agent", old.agentID)
			return old.id, nil
		}
	}
	b.seq++
	id := newTaskID(taskName(t))
	tk := &task{id: id, t: t, state: scheduler.StatePending}
	tk.pending = &pendingTask{id: id, task: t, queued: now, seq: b.seq, agent: pinned, static: static}
	b.tasks[id] = tk
	b.revive = true
	b.fan.Publish(tk.event(now))
	b.wake()
	b.log.Info("task_queued", "task_id", id, "kind", t.Kind, "cpu", t.Resources.CPU, "mem_mb", t.Resources.MemMB, "ports", t.Resources.Ports)
	return id, nil
}

// adoptable returns a confirmed, live, unclaimed recovered task of kind and slot. b.mu
// is held.
func (b *Backend) adoptable(kind scheduler.Kind, slot string) *task {
	for _, tk := range b.tasks {
		if tk.recovered && tk.confirmed && !tk.killed && !tk.state.Terminal() &&
			tk.t.Kind == kind && tk.t.Labels[scheduler.LabelSlot] == slot {
			return tk
		}
	}
	return nil
}

// detached reports whether the event loop has ended (New's ctx ended or Close): the
// backend can no longer reach Mesos, and leaves its tasks as they are.
func (b *Backend) detached() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// wake kicks the event loop without blocking.
func (b *Backend) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// event is the task's current state as an event. b.mu is held.
func (tk *task) event(now time.Time) scheduler.TaskEvent {
	return scheduler.TaskEvent{
		TaskID: tk.id, Kind: tk.t.Kind, State: tk.state, ExitCode: tk.exitCode,
		Message: tk.message, Node: tk.agentID, PID: tk.pid, Time: now,
	}
}

// Kill kills a task: a task still waiting for an offer ends at once, a launched one is
// sent a KILL (again after each subscription until Mesos reports its end). Its
// terminal event is Killed. A task that has ended is left alone (nil); an unknown ID is
// scheduler.ErrUnknownTask. Kill returns once the KILL call is made; if the call fails
// (Mesos unreachable) it is logged and retried after the next subscription. Once New's
// ctx has ended, Kill changes nothing and returns scheduler.ErrClosed: the tasks are
// left to the next scheduler of this framework.
func (b *Backend) Kill(ctx context.Context, id scheduler.TaskID) error {
	now := time.Now()
	b.mu.Lock()
	tk, ok := b.tasks[id]
	switch {
	case b.detached():
		b.mu.Unlock()
		return fmt.Errorf("kill %s: subscription ended: %w", id, scheduler.ErrClosed)
	case !ok:
		b.mu.Unlock()
		return fmt.Errorf("kill %s: %w", id, scheduler.ErrUnknownTask)
	case tk.state.Terminal():
		b.mu.Unlock()
		return nil
	case tk.pending != nil:
		tk.pending = nil
		tk.killed = true
		b.endLocked(tk, scheduler.StateKilled, 0, "killed before it was placed", now)
		b.mu.Unlock()
		return nil
	}
	tk.killed = true
	agentID := tk.agentID
	b.persistLocked()
	b.mu.Unlock()
	if err := calls.CallNoData(ctx, b.caller, calls.Kill(string(id), agentID)); err != nil {
		b.log.Warn("kill_call_failed", "task_id", id, "error", err)
	}
	return nil
}

// maxEnded bounds the ended tasks a Backend remembers (for Status and Kill); older ones
// are forgotten first. It is well above the Scheduler's default job history.
const maxEnded = 10000

// endLocked ends tk in state and publishes it. b.mu is held.
func (b *Backend) endLocked(tk *task, state scheduler.State, code int, msg string, now time.Time) {
	tk.state, tk.exitCode, tk.message, tk.ended = state, code, msg, now
	b.fan.Publish(tk.event(now))
	b.log.Info("task_ended", "task_id", tk.id, "state", state, "exit_code", code, "message", msg)
	b.endedOrder = append(b.endedOrder, tk.id)
	for len(b.endedOrder) > maxEnded {
		delete(b.tasks, b.endedOrder[0])
		b.endedOrder[0] = ""
		b.endedOrder = b.endedOrder[1:]
	}
}

// Watch streams the events of every task of this Backend from now on, until ctx ends or
// Close is called. After Close it returns scheduler.ErrClosed.
func (b *Backend) Watch(ctx context.Context) (<-chan scheduler.TaskEvent, error) {
	ch, err := b.fan.Watch(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch mesos tasks: %w", err)
	}
	return ch, nil
}

// Nodes lists the agents seen in offers: ID the agent ID, Host its host name,
// Resources what its last offer held plus what this framework's live tasks take there.
// While no agent is known it asks Mesos for offers and waits for one, until ctx ends
// or the subscription does (scheduler.ErrClosed). Known agents are listed even after
// Close.
func (b *Backend) Nodes(ctx context.Context) ([]scheduler.Node, error) {
	return b.NodesAtLeast(ctx, 1)
}

// NodesAtLeast is Nodes waiting until at least n agents are known (n < 1 counts as 1):
// while fewer are, it asks Mesos for offers, so that agents not yet seen make
// themselves known. Errors are those of Nodes; on ctx's end the error wraps ctx.Err().
func (b *Backend) NodesAtLeast(ctx context.Context, n int) ([]scheduler.Node, error) {
	n = max(n, 1)
	for {
		b.mu.Lock()
		if len(b.agents) >= n {
			nodes := b.nodesLocked()
			b.mu.Unlock()
			return nodes, nil
		}
		if b.closed || b.detached() {
			b.mu.Unlock()
			return nil, fmt.Errorf("nodes: %d of %d agent(s) known and %w", len(b.agents), n, scheduler.ErrClosed)
		}
		b.wantOffers = true
		seen := b.nodesSeen
		b.mu.Unlock()
		b.wake()
		select {
		case <-seen:
		case <-b.done:
			return nil, fmt.Errorf("nodes: subscription ended: %w", scheduler.ErrClosed)
		case <-ctx.Done():
			return nil, fmt.Errorf("nodes: %d mesos agent(s) offered resources, want %d: %w", b.knownAgents(), n, ctx.Err())
		}
	}
}

// knownAgents is the number of agents known.
func (b *Backend) knownAgents() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.agents)
}

// nodesLocked lists the known agents by ID. b.mu is held.
func (b *Backend) nodesLocked() []scheduler.Node {
	used := make(map[string]scheduler.Resources)
	for _, tk := range b.tasks {
		if tk.pending == nil && !tk.state.Terminal() && tk.agentID != "" {
			u := used[tk.agentID]
			u.CPU += tk.t.Resources.CPU
			u.MemMB += tk.t.Resources.MemMB
			u.DiskMB += tk.t.Resources.DiskMB
			used[tk.agentID] = u
		}
	}
	var out []scheduler.Node
	for _, id := range slices.Sorted(maps.Keys(b.agents)) {
		a := b.agents[id]
		r, u := a.offered, used[id]
		out = append(out, scheduler.Node{ID: a.id, Host: a.host, Resources: scheduler.Resources{
			CPU: round3(r.CPU + u.CPU), MemMB: r.MemMB + u.MemMB, DiskMB: r.DiskMB + u.DiskMB,
		}})
	}
	return out
}

// Status returns what the backend knows of a task: state, agent, executor PID when the
// agent reports it, ports, and the end's exit code and message. Mesos keeps task logs
// in the agent's sandbox, so LogPath is empty.
func (b *Backend) Status(ctx context.Context, id scheduler.TaskID) (scheduler.TaskStatus, error) {
	if err := ctx.Err(); err != nil {
		return scheduler.TaskStatus{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	tk, ok := b.tasks[id]
	if !ok {
		return scheduler.TaskStatus{}, fmt.Errorf("status %s: %w", id, scheduler.ErrUnknownTask)
	}
	return scheduler.TaskStatus{
		ID: tk.id, Name: tk.t.Name, Kind: tk.t.Kind, State: tk.state, ExitCode: tk.exitCode,
		Message: tk.message, Node: tk.agentID, PID: tk.pid, Ports: maps.Clone(tk.ports),
		Started: tk.started, Ended: tk.ended,
	}, nil
}

// closeWait bounds how long Close waits for Mesos to report the end of the tasks it
// kills.
const closeWait = 30 * time.Second

// Close kills every task still live (see Kill), waits up to 30 s for Mesos to report
// their ends while subscribed, then ends the subscription and closes every watch
// channel; later calls fail with scheduler.ErrClosed. It does not tear the framework
// down: its ID stays valid for FailoverTimeout. It returns nil; calling it again only
// waits.
func (b *Backend) Close() error {
	b.mu.Lock()
	first := !b.closed
	b.closed = true
	var live []scheduler.TaskID
	for id, tk := range b.tasks {
		if !tk.state.Terminal() && first {
			live = append(live, id)
		}
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	for _, id := range live {
		_ = b.Kill(ctx, id)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for len(live) > 0 && b.isConnected() {
		live = slices.DeleteFunc(live, b.ended)
		select {
		case <-tick.C:
		case <-ctx.Done():
			b.log.Warn("close_tasks_not_stopped", "tasks", live)
			live = nil
		case <-b.done:
			live = nil
		}
	}
	b.cancel()
	<-b.done
	b.fan.Close()
	if b.transport != nil {
		b.transport.CloseIdleConnections()
	}
	return nil
}

// Teardown retires the framework: it sends TEARDOWN, so that Mesos kills every task
// of the framework and forgets it, ends the live tasks here as killed, removes the
// framework ID file and the tasks file, and closes the Backend. It fails, changing
// nothing, when Mesos cannot be reached; Close is then the way out (the framework stays
// registered until its failover timeout).
func (b *Backend) Teardown(ctx context.Context) error {
	b.mu.Lock()
	if b.closed || b.detached() || !b.connected {
		b.mu.Unlock()
		return fmt.Errorf("teardown: not subscribed: %w", scheduler.ErrClosed)
	}
	// No resubscription once Mesos has dropped the framework, and the tasks' ends, which
	// may still arrive, are kills.
	b.tornDown = true
	var flipped []*task
	for _, tk := range b.tasks {
		if !tk.state.Terminal() && !tk.killed {
			tk.killed = true
			flipped = append(flipped, tk)
		}
	}
	b.mu.Unlock()
	if err := calls.CallNoData(ctx, b.caller, &schedpb.Call{Type: schedpb.Call_TEARDOWN}); err != nil {
		b.mu.Lock()
		b.tornDown = false
		for _, tk := range flipped {
			tk.killed = false
		}
		b.mu.Unlock()
		return fmt.Errorf("teardown: %w", err)
	}
	now := time.Now()
	b.mu.Lock()
	b.closed = true
	for _, tk := range b.tasks {
		if !tk.state.Terminal() {
			tk.pending, tk.killed = nil, true
			b.endLocked(tk, scheduler.StateKilled, 0, "framework torn down", now)
		}
	}
	fid := b.frameworkID
	b.frameworkID = ""
	b.mu.Unlock()
	var errs []error
	for _, path := range []string{b.cfg.tasksFile(), b.cfg.FrameworkIDFile} {
		if err := writeFrameworkID(path, ""); err != nil { // "" removes the file
			errs = append(errs, err)
		}
	}
	b.log.Info("framework_torn_down", "framework_id", fid)
	b.cancel()
	<-b.done
	b.fan.Close()
	if b.transport != nil {
		b.transport.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

func (b *Backend) isConnected() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.connected
}

// ended reports whether task id has ended.
func (b *Backend) ended(id scheduler.TaskID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	tk := b.tasks[id]
	return tk == nil || tk.state.Terminal()
}
