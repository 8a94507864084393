package framework

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/sluicedata/sluice/scheduler"
)

// ExecutorTask is one executor the framework scheduler keeps running.
type ExecutorTask struct {
	// TaskID is the executor's task on the backend; the executor registers with the
	// master with it (SLUICE_TASK_ID), so loss reports find it.
	TaskID scheduler.TaskID
	// Backend is the backend's name ("local", "nomad", "mesos"); empty lets the Server
	// fill in ServerConfig.Backend.
	Backend string
	// Node is the backend's node ID; Host the node's host name.
	Node, Host string
	// RPCAddress is the executor's gRPC address, host:port, once known.
	RPCAddress string
	// State is the task's state (pending or running; terminal for a slot waiting to
	// be relaunched).
	State scheduler.State
	// Started is when the task entered State.
	Started time.Time
	// Restarts counts the relaunches after losses.
	Restarts int
}

// ExecutorEvent is one change of an executor task: it runs, or it ended (a terminal
// State), which the Server reports as EXECUTOR_LOST.
type ExecutorEvent struct {
	TaskID scheduler.TaskID
	// State is scheduler.StateRunning or a terminal state.
	State scheduler.State
	// Node, Host and RPCAddress locate the executor, when known.
	Node, Host, RPCAddress string
	// Reason explains a terminal state ("exit status 2", "node lost").
	Reason string
	// Time is when the change was observed.
	Time time.Time
}

// ExecutorSource is where a Server learns of executors. The Scheduler's slots are the
// default (SchedulerExecutors); a backend whose cluster manager keeps the executors
// itself (Nomad) implements it over that manager. Methods are safe for concurrent use.
type ExecutorSource interface {
	// Executors lists the executor tasks now.
	Executors(ctx context.Context) ([]ExecutorTask, error)
	// WatchExecutors streams executor events from the moment it is called until ctx
	// ends, in order per task, never dropping one while the channel is read. Every
	// terminal event reported is a loss: ends the source caused on purpose (a shutdown)
	// are left out. The channel is closed when ctx ends or the source stops.
	WatchExecutors(ctx context.Context) (<-chan ExecutorEvent, error)
}

// RPCPortName is the port name (scheduler.Resources.Ports) whose port, as a
// scheduler.StatusReporter reports it, makes an executor's RPCAddress.
const RPCPortName = "rpc"

// SchedulerExecutors is the ExecutorSource of the executors a Scheduler keeps in its
// slots (Config.Executors). Hosts come from the backend's Nodes; RPC addresses from a
// StatusReporter backend's RPCPortName port. Every end of an executor task is a loss,
// except the kills of the Scheduler's shutdown (StateKilled: the backend contract
// reports killed only for a Kill, and the Scheduler kills its executors only then).
func SchedulerExecutors(s *scheduler.Scheduler) ExecutorSource {
	return &schedExecutors{s: s, hosts: newNodeHosts(s.Nodes)}
}

// schedExecutors is SchedulerExecutors' source.
type schedExecutors struct {
	s     *scheduler.Scheduler
	hosts *nodeHosts
}

// Executors lists the Scheduler's executor slots that have a task.
func (e *schedExecutors) Executors(ctx context.Context) ([]ExecutorTask, error) {
	var out []ExecutorTask
	for _, st := range e.s.Executors() {
		if st.TaskID == "" {
			continue
		}
		host := e.hosts.host(ctx, st.Node)
		out = append(out, ExecutorTask{TaskID: st.TaskID, Node: st.Node, Host: host,
			RPCAddress: e.rpcAddress(ctx, st.TaskID, host), State: st.State, Started: st.Since, Restarts: st.Restarts})
	}
	return out, nil
}

// WatchExecutors converts the Scheduler's executor events.
func (e *schedExecutors) WatchExecutors(ctx context.Context) (<-chan ExecutorEvent, error) {
	in := e.s.Subscribe(ctx)
	out := make(chan ExecutorEvent)
	go func() {
		defer close(out)
		for ev := range in {
			if ev.Kind != scheduler.KindExecutor || ev.State == scheduler.StatePending || ev.State == scheduler.StateKilled {
				continue
			}
			host := e.hosts.host(ctx, ev.Node)
			ee := ExecutorEvent{TaskID: ev.TaskID, State: ev.State, Node: ev.Node, Host: host, Reason: ev.Message, Time: ev.Time}
			if ev.State == scheduler.StateRunning {
				ee.RPCAddress = e.rpcAddress(ctx, ev.TaskID, host)
			}
			select {
			case out <- ee:
			case <-ctx.Done():
				for range in {
				}
				return
			}
		}
	}()
	return out, nil
}

// rpcAddress is host and the task's RPCPortName port, or "" when unknown.
func (e *schedExecutors) rpcAddress(ctx context.Context, id scheduler.TaskID, host string) string {
	if host == "" {
		return ""
	}
	st, err := e.s.TaskStatus(ctx, id)
	if err != nil {
		return ""
	}
	port, ok := st.Ports[RPCPortName]
	if !ok || port <= 0 {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
