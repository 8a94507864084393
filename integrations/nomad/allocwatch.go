package nomad

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/framework"
)

// Names in the executor job of a deployment ("<prefix>-executor", see jobspec.go) that
// the ExecutorWatch reads by default.
const (
	defaultExecutorTask = "executor"
	defaultExecutorPort = framework.RPCPortName
)

// ExecutorWatchConfig configures an ExecutorWatch.
type ExecutorWatchConfig struct {
	// Nomad is how to reach the cluster (address, token, region, namespace, TLS) and
	// the job prefix.
	Nomad Config
	// JobID is the executor job; empty means "<Nomad.JobPrefix>-executor".
	JobID string
	// Task is the executor's task in the job's group; empty means "executor".
	Task string
	// Port is the label of the executor's RPC port; empty means "rpc".
	Port string
	// Logger receives the watch's logs; nil discards them.
	Logger *slog.Logger
}

// ExecutorWatch is the framework.ExecutorSource of a deployment on Nomad: the
// executors are the allocations of the executor job, which Nomad keeps running (it
// restarts and reschedules them); the Scheduler does not manage them. An executor's
// TaskID is its allocation ID (the executor registers with NOMAD_ALLOC_ID as
// SLUICE_TASK_ID). Close it when done. Methods are safe for concurrent use.
//
// Every allocation that stops running is reported lost at once: one that becomes
// failed, lost or complete (stopped, drained, scaled down, or its node is down), one
// that Nomad's client reports unknown (disconnected), one whose task restarts (its
// memory is gone; a Running event follows when it runs again), and one that vanishes
// from the job's list.
type ExecutorWatch struct {
	cfg  ExecutorWatchConfig
	log  *slog.Logger
	api  *api.Client
	node nodeAddrs

	closing chan struct{}
	// mu orders WatchExecutors' wg.Add before Close's wg.Wait; it guards closed.
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

var _ framework.ExecutorSource = (*ExecutorWatch)(nil)

// NewExecutorWatch checks cfg and connects to the Nomad API; it does not wait for the
// cluster.
func NewExecutorWatch(cfg ExecutorWatchConfig) (*ExecutorWatch, error) {
	if cfg.JobID == "" {
		cfg.JobID = cfg.Nomad.JobPrefix + "-executor"
	}
	if cfg.Task == "" {
		cfg.Task = defaultExecutorTask
	}
	if cfg.Port == "" {
		cfg.Port = defaultExecutorPort
	}
	c, err := NewAPIClient(cfg.Nomad)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &ExecutorWatch{
		cfg:     cfg,
		log:     log.With("component", "nomad.executors", "job", cfg.JobID),
		api:     c,
		closing: make(chan struct{}),
	}
	w.node.api = c
	return w, nil
}

// Executors lists the allocations of the executor job that Nomad wants running and
// that have not ended: running ones (with their RPC address) and pending ones.
func (w *ExecutorWatch) Executors(ctx context.Context) ([]framework.ExecutorTask, error) {
	stubs, _, err := w.api.Jobs().Allocations(w.cfg.JobID, false, w.queryOpts(ctx, 0))
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("list the allocations of Nomad job %s: %w", w.cfg.JobID, err)
	}
	var out []framework.ExecutorTask
	for _, s := range stubs {
		if s.DesiredStatus != api.AllocDesiredStatusRun || terminalClient(s.ClientStatus) {
			continue
		}
		st := execStateOf(factsOfStub(s), w.cfg.Task)
		if st.state != scheduler.StateRunning && st.state != scheduler.StatePending {
			continue
		}
		var host, rpc string
		if st.state == scheduler.StateRunning {
			host, rpc = w.addrs(ctx, s)
		} else {
			host = w.node.addr(ctx, s.NodeID)
		}
		e := framework.ExecutorTask{
			TaskID: scheduler.TaskID(s.ID), Backend: "nomad", Node: s.NodeID, Host: host,
			State: st.state, Restarts: int(st.restarts),
		}
		if st.state == scheduler.StateRunning {
			e.RPCAddress, e.Started = rpc, st.started
		}
		out = append(out, e)
	}
	return out, nil
}

// WatchExecutors streams executor events from now on: it reads the job's allocations
// once before it returns (the baseline, which yields no event; if Nomad does not answer
// then, the first answer is), then follows them with blocking queries until ctx ends
// or the watch is closed, when the channel is closed. Query errors are retried with a
// growing pause, so a Nomad outage delays events. After Close it returns
// scheduler.ErrClosed.
func (w *ExecutorWatch) WatchExecutors(ctx context.Context) (<-chan framework.ExecutorEvent, error) {
	if w.isClosed() {
		return nil, fmt.Errorf("watch executors: %w", scheduler.ErrClosed)
	}
	tr := newExecTracker(w.cfg.Task)
	var index uint64
	stubs, meta, err := w.api.Jobs().Allocations(w.cfg.JobID, true, w.queryOpts(ctx, 0))
	switch {
	case err != nil && !isNotFound(err):
		// follow takes the baseline once Nomad answers.
		w.log.Warn("executor_allocations_failed", "err", err)
	default:
		tr.baseline(stubs)
		if meta != nil {
			index = meta.LastIndex
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan framework.ExecutorEvent)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		cancel()
		return nil, fmt.Errorf("watch executors: %w", scheduler.ErrClosed)
	}
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		defer cancel()
		select {
		case <-w.closing:
		case <-ctx.Done():
		}
	}()
	go func() {
		defer w.wg.Done()
		defer close(out)
		w.follow(ctx, tr, index, out)
	}()
	return out, nil
}

// follow runs blocking queries from index and sends the tracker's events on out.
func (w *ExecutorWatch) follow(ctx context.Context, tr *execTracker, index uint64, out chan<- framework.ExecutorEvent) {
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		stubs, meta, err := w.api.Jobs().Allocations(w.cfg.JobID, true, w.queryOpts(ctx, index))
		if err != nil && !isNotFound(err) {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("executor_allocations_failed", "err", err, "retry_in", pause)
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, 5*time.Second)
			continue
		}
		pause = 100 * time.Millisecond
		if meta != nil {
			// A lower index means the servers' state was reset: start over from 0.
			if meta.LastIndex < index {
				index = 0
			} else {
				index = meta.LastIndex
			}
		}
		if !tr.based {
			tr.baseline(stubs)
			continue
		}
		for _, ev := range tr.update(stubs, time.Now()) {
			if ev.State == scheduler.StateRunning {
				ev.Host, ev.RPCAddress = w.addrs(ctx, tr.stub(string(ev.TaskID)))
			}
			if ev.Host == "" {
				ev.Host = w.node.addr(ctx, ev.Node)
			}
			w.log.Info("executor_event", "alloc_id", ev.TaskID, "state", ev.State, "reason", ev.Reason)
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}
}

// Close ends every watch (their channels close) and releases the API client's idle
// connections. Calling it again does nothing.
func (w *ExecutorWatch) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.closing)
	w.mu.Unlock()
	w.wg.Wait()
	w.api.Close()
	return nil
}

func (w *ExecutorWatch) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

func (w *ExecutorWatch) queryOpts(ctx context.Context, index uint64) *api.QueryOptions {
	q := &api.QueryOptions{Region: w.cfg.Nomad.Region, Namespace: w.cfg.Nomad.Namespace, WaitIndex: index}
	if index > 0 {
		q.WaitTime = 5 * time.Minute
	}
	return q.WithContext(ctx)
}

// addrs returns the host of an allocation (the address its RPC port is bound to, else
// its node's address) and its RPC address, host:port ("" without the port). List stubs
// carry no ports, so the allocation is read.
func (w *ExecutorWatch) addrs(ctx context.Context, s *api.AllocationListStub) (host, rpc string) {
	if s == nil {
		return "", ""
	}
	res := s.AllocatedResources
	if res == nil {
		if a, _, err := w.api.Allocations().Info(s.ID, w.queryOpts(ctx, 0)); err == nil {
			res = a.AllocatedResources
		}
	}
	var port int
	if res != nil {
		for _, p := range res.Shared.Ports {
			if p.Label == w.cfg.Port {
				host, port = p.HostIP, p.Value
			}
		}
	}
	if host == "" {
		host = w.node.addr(ctx, s.NodeID)
	}
	if host == "" || port == 0 {
		return host, ""
	}
	return host, net.JoinHostPort(host, strconv.Itoa(port))
}

// nodeAddrs caches the addresses of Nomad nodes.
type nodeAddrs struct {
	api *api.Client
	mu  sync.Mutex
	m   map[string]string
}

// addr returns the node's advertised address, "" when it cannot be read.
func (n *nodeAddrs) addr(ctx context.Context, nodeID string) string {
	if nodeID == "" {
		return ""
	}
	n.mu.Lock()
	a, ok := n.m[nodeID]
	n.mu.Unlock()
	if ok {
		return a
	}
	node, _, err := n.api.Nodes().Info(nodeID, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return ""
	}
	a = node.Attributes["unique.network.ip-address"]
	if h, _, err := net.SplitHostPort(node.HTTPAddr); a == "" && err == nil {
		a = h
	}
	n.mu.Lock()
	if n.m == nil {
		n.m = make(map[string]string)
	}
	n.m[nodeID] = a
	n.mu.Unlock()
	return a
}
