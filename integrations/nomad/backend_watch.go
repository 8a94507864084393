package nomad

import (
	"context"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/scheduler"
)

// watchLoop follows Nomad's event stream (topic Allocation) until ctx ends, applying
// the allocations of this Backend's jobs. After every (re)connection, and every
// resyncInterval, it lists the allocations of the live tasks, so that events sent
// while it was not connected are not lost. A broken stream is reopened from the last
// index seen, with a growing pause.
func (b *Backend) watchLoop(ctx context.Context) {
	defer b.wg.Done()
	tick := time.NewTicker(resyncInterval)
	defer tick.Stop()
	var index uint64
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		topics := map[api.Topic][]string{api.TopicAllocation: {"*"}}
		stream, err := b.api.EventStream().Stream(ctx, topics, index, b.queryOpts(ctx))
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("event_stream_failed", "err", err, "retry_in", pause)
			}
			b.resync(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(2*pause, 5*time.Second)
			continue
		}
		pause = 100 * time.Millisecond
		b.resync(ctx)
		index = b.consume(ctx, stream, index, tick.C)
	}
}

// consume applies the events of one stream until it breaks or ctx ends, resyncing at
// every tick, and returns the last index seen.
func (b *Backend) consume(ctx context.Context, stream <-chan *api.Events, index uint64, tick <-chan time.Time) uint64 {
	for {
		select {
		case <-ctx.Done():
			return index
		case <-tick:
			b.resync(ctx)
		case evs, ok := <-stream:
			if !ok {
				return index
			}
			if evs.Err != nil {
				if ctx.Err() == nil {
					b.log.Warn("event_stream_broken", "err", evs.Err, "index", index)
				}
				return index
			}
			for i := range evs.Events {
				e := &evs.Events[i]
				if e.Topic != api.TopicAllocation {
					continue
				}
				a, err := e.Allocation()
				if err != nil || a == nil {
					continue
				}
				b.applyAndStop(ctx, factsOf(a))
			}
			index = evs.Index
		}
	}
}

// resync refreshes every live task from the allocation list of its job.
func (b *Backend) resync(ctx context.Context) {
	b.mu.Lock()
	var live []*task
	for _, tk := range b.tasks {
		if !tk.state.Terminal() {
			live = append(live, tk)
		}
	}
	b.mu.Unlock()
	for _, tk := range live {
		if ctx.Err() != nil {
			return
		}
		if err := b.refresh(ctx, tk, false); err != nil {
			b.log.Warn("resync_failed", "task_id", tk.id, "err", err)
		}
	}
}

// refresh applies the allocations of tk's job. afterKill says its job has been
// deregistered: if it has no allocation, none will come, and the task is killed.
func (b *Backend) refresh(ctx context.Context, tk *task, afterKill bool) error {
	stubs, _, err := b.api.Jobs().Allocations(string(tk.id), true, b.queryOpts(ctx))
	if err != nil && !isNotFound(err) {
		return err
	}
	for _, s := range stubs {
		b.applyAndStop(ctx, factsOfStub(s))
	}
	if afterKill && len(stubs) == 0 {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !tk.state.Terminal() {
			b.endLocked(tk, allocView{State: scheduler.StateKilled, ExitCode: -1,
				Message: "killed before Nomad placed it", Ended: time.Now()})
		}
	}
	return nil
}

// applyAndStop applies f and, when the task ended on its own in a way Nomad would
// answer with a replacement allocation, stops the job (the Scheduler decides on
// relaunches, with a new task).
func (b *Backend) applyAndStop(ctx context.Context, f allocFacts) {
	if !b.apply(f) {
		return
	}
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, _, err := b.api.Jobs().Deregister(f.JobID, false, b.writeOpts(stopCtx)); err != nil && !isNotFound(err) {
		b.log.Warn("stop_ended_job_failed", "task_id", f.JobID, "err", err)
	}
}

// apply moves the task of f's job forward to the state f shows, publishing the events
// of the move; it never moves a task back, and only the first allocation of a job
// counts. It reports whether the job must now be stopped: a service task that ended
// without Kill, or any task lost with its node.
func (b *Backend) apply(f allocFacts) (stop bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	tk := b.tasks[scheduler.TaskID(f.JobID)]
	if tk == nil || tk.state.Terminal() || (tk.allocID != "" && tk.allocID != f.ID) {
		return false
	}
	v, ok := viewOf(f, taskTaskName, tk.killed)
	if !ok {
		return false
	}
	tk.allocID = f.ID
	if f.NodeID != "" {
		tk.node = f.NodeID
	}
	if ports := portsOf(tk.ports, f.Ports); ports != nil {
		tk.portMap = ports
	}
	now := time.Now()
	if tk.state != scheduler.StateRunning && (v.State == scheduler.StateRunning || v.State.Terminal() && !v.Started.IsZero()) {
		tk.state, tk.started = scheduler.StateRunning, v.Started
		if tk.started.IsZero() {
			tk.started = now
		}
		b.fan.Publish(scheduler.TaskEvent{TaskID: tk.id, Kind: tk.kind, State: scheduler.StateRunning, Node: tk.node, Time: now})
		b.log.Info("task_running", "task_id", tk.id, "alloc_id", f.ID, "node", tk.node)
	}
	if !v.State.Terminal() {
		return false
	}
	b.endLocked(tk, v)
	return !tk.killed && (tk.kind != scheduler.KindJob || v.State == scheduler.StateLost)
}

// endLocked records the terminal state v of tk and publishes it. b.mu must be held.
func (b *Backend) endLocked(tk *task, v allocView) {
	tk.state, tk.exitCode, tk.message, tk.ended = v.State, v.ExitCode, v.Message, v.Ended
	if tk.ended.IsZero() {
		tk.ended = time.Now()
	}
	close(tk.done)
	b.fan.Publish(scheduler.TaskEvent{TaskID: tk.id, Kind: tk.kind, State: v.State, ExitCode: v.ExitCode,
		Message: v.Message, Node: tk.node, Time: time.Now()})
	b.log.Info("task_ended", "task_id", tk.id, "state", v.State, "exit_code", v.ExitCode, "message", v.Message)
}
