package mesos

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
	schedpb "github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/sluicedata/sluice/scheduler"
)

// The handlers of the event loop. Each takes b.mu to change the tasks and publish their
// events, and makes its Mesos calls after releasing it.

// killReq is a KILL to send.
type killReq struct{ task, agent string }

// onSubscribed records the framework ID and heartbeat interval, reconciles the known
// tasks explicitly and implicitly, and sends again the KILLs whose end has not been
// reported.
func (b *Backend) onSubscribed(ctx context.Context, sub *schedpb.Event_Subscribed) {
	id := sub.GetFrameworkID().GetValue()
	hb := defaultHeartbeat
	if s := sub.GetHeartbeatIntervalSeconds(); s > 0 {
		hb = time.Duration(s * float64(time.Second))
	}
	now := time.Now()
	b.mu.Lock()
	if old := b.frameworkID; old != "" && old != id {
		b.dropAllLocked("framework "+old+" is gone; subscribed as "+id, now)
	}
	b.frameworkID, b.connected, b.suppressed, b.heartbeat = id, true, false, hb
	if err := writeFrameworkID(b.cfg.FrameworkIDFile, id); err != nil {
		b.log.Error("framework_id_not_saved", "framework_id", id, "error", err)
	}
	if b.recovering && b.recoveryBy.IsZero() {
		b.recoveryBy = now.Add(b.cfg.RecoveryTimeout)
	}
	recon := make(map[string]string)
	var kills []killReq
	for _, tk := range b.tasks {
		if tk.pending != nil || tk.state.Terminal() {
			continue
		}
		recon[string(tk.id)] = tk.agentID
		if tk.killed {
			kills = append(kills, killReq{string(tk.id), tk.agentID})
		}
	}
	b.persistLocked()
	b.mu.Unlock()
	b.log.Info("mesos_subscribed", "framework_id", id, "heartbeat", hb, "reconciling", len(recon))
	if len(recon) > 0 {
		b.call(ctx, calls.Reconcile(calls.ReconcileTasks(recon)))
	}
	b.call(ctx, calls.Reconcile())
	for _, k := range kills {
		b.call(ctx, calls.Kill(k.task, k.agent))
	}
	b.updateOffers(ctx)
}

// dropAllLocked ends every task as lost: the framework they belonged to is gone. b.mu
// is held.
func (b *Backend) dropAllLocked(why string, now time.Time) {
	for _, tk := range b.tasks {
		if tk.pending != nil || tk.state.Terminal() {
			continue
		}
		b.endLocked(tk, lostOrKilled(tk), 0, why, now)
	}
	if b.recovering {
		b.finishRecoveryLocked(now)
	}
	b.persistLocked()
}

// lostOrKilled is the end of a task that Mesos lost: Killed if it was being killed.
func lostOrKilled(tk *task) scheduler.State {
	if tk.killed {
		return scheduler.StateKilled
	}
	return scheduler.StateLost
}

// forgetFramework gives up the framework ID after Mesos refused it repeatedly: the
// next subscription registers a new framework.
func (b *Backend) forgetFramework(msg string) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.frameworkID
	if old == "" {
		return
	}
	b.log.Error("framework_id_forgotten", "framework_id", old, "error", msg)
	b.dropAllLocked("framework "+old+" refused by mesos: "+msg, now)
	b.frameworkID = ""
	if err := writeFrameworkID(b.cfg.FrameworkIDFile, ""); err != nil {
		b.log.Error("framework_id_not_removed", "error", err)
	}
}

// onOffers records the agents, places pending tasks and answers every offer: ACCEPT
// with LAUNCH for those that got tasks, DECLINE with a refuse filter for the others.
func (b *Backend) onOffers(ctx context.Context, offers []mesosv1.Offer) {
	now := time.Now()
	b.mu.Lock()
	for _, o := range offers {
		b.seeAgentLocked(o)
	}
	b.wantOffers = false
	in := matchInput{
		offers: offers, role: b.cfg.Role, executor: b.cfg.Executor, now: now, localityWait: b.cfg.LocalityWait,
		executorAgents: make(map[string]bool), masterAgents: make(map[string]bool),
		pick: rand.Uint64N,
	}
	for _, tk := range b.tasks {
		switch {
		case tk.pending != nil:
			in.pending = append(in.pending, tk.pending)
		case tk.state.Terminal():
		case tk.t.Kind == scheduler.KindExecutor:
			in.executorAgents[tk.agentID] = true
		case tk.t.Kind == scheduler.KindMaster:
			in.masterAgents[tk.agentID] = true
		}
	}
	res := match(in)
	launches := make(map[int][]mesosv1.TaskInfo)
	for _, p := range res.placements {
		tk := b.tasks[p.task.id]
		o := offers[p.offer]
		ti, err := buildTaskInfo(b.frameworkID, o.AgentID.Value, p, b.cfg.Executor.Wrapper)
		tk.pending = nil
		tk.agentID, tk.host = o.AgentID.Value, o.Hostname
		if err != nil {
			b.endLocked(tk, scheduler.StateFailed, 0, "build task info: "+err.Error(), now)
			continue
		}
		tk.ports = make(map[string]int, len(p.ports))
		for i, name := range tk.t.Resources.Ports {
			tk.ports[name] = int(p.ports[i])
		}
		if ti.Executor != nil {
			tk.executorID = ti.Executor.ExecutorID.Value
		}
		launches[p.offer] = append(launches[p.offer], ti)
		b.log.Info("task_placed", "task_id", tk.id, "agent", tk.agentID, "host", tk.host, "ports", tk.ports)
	}
	b.holdUntil = res.holdUntil
	if len(res.placements) > 0 {
		b.persistLocked()
	}
	b.mu.Unlock()

	refuse := b.cfg.RefuseSeconds
	if !res.holdUntil.IsZero() {
		refuse = max(min(refuse, res.holdUntil.Sub(now)), 100*time.Millisecond)
	}
	var declines []mesosv1.OfferID
	for i, o := range offers {
		tis := launches[i]
		if len(tis) == 0 {
			declines = append(declines, o.ID)
			continue
		}
		accept := calls.Accept(calls.OfferOperations{calls.OpLaunch(tis...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(refuse))
		if err := calls.CallNoData(ctx, b.caller, accept); err != nil {
			b.launchFailed(tis, err)
		}
	}
	if len(declines) > 0 {
		b.call(ctx, calls.Decline(declines...).With(calls.RefuseSeconds(refuse)))
	}
	b.updateOffers(ctx)
}

// seeAgentLocked records the agent of an offer. b.mu is held.
func (b *Backend) seeAgentLocked(o mesosv1.Offer) {
	var r scheduler.Resources
	for _, a := range usable(o.Resources, b.cfg.Role) {
		switch a.meta.Name {
		case resCPUs:
			r.CPU += a.scalar
		case resMem:
			r.MemMB += int64(a.scalar)
		case resDisk:
			r.DiskMB += int64(a.scalar)
		}
	}
	id := o.AgentID.Value
	if _, ok := b.agents[id]; !ok {
		close(b.nodesSeen)
		b.nodesSeen = make(chan struct{})
	}
	b.agents[id] = &agent{id: id, host: o.Hostname, offered: r}
}

// launchFailed ends the tasks of an ACCEPT that failed as lost: Mesos may or may not
// have them (if it does, their updates find them ended and they are killed).
func (b *Backend) launchFailed(tis []mesosv1.TaskInfo, err error) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ti := range tis {
		if tk := b.tasks[scheduler.TaskID(ti.TaskID.Value)]; tk != nil && !tk.state.Terminal() {
			b.endLocked(tk, lostOrKilled(tk), 0, "launch failed: "+err.Error(), now)
		}
	}
	b.persistLocked()
}

// updateOffers revives offers when a task became pending (or Nodes wants agents) and
// suppresses them when nothing is pending.
func (b *Backend) updateOffers(ctx context.Context) {
	b.mu.Lock()
	need := b.wantOffers
	for _, tk := range b.tasks {
		if tk.pending != nil {
			need = true
			break
		}
	}
	var c *schedpb.Call
	switch {
	case !b.connected:
	case need && (b.suppressed || b.revive):
		c = calls.Revive()
		b.suppressed, b.revive = false, false
	case !need && !b.suppressed:
		c = calls.Suppress()
		b.suppressed = true
	}
	b.mu.Unlock()
	if c != nil {
		b.call(ctx, c)
	}
}

// onKick answers Launch and Nodes.
func (b *Backend) onKick(ctx context.Context) { b.updateOffers(ctx) }

// liveState reports whether a Mesos state is not terminal.
func liveState(s mesosv1.TaskState) bool {
	switch s {
	case mesosv1.TASK_STAGING, mesosv1.TASK_STARTING, mesosv1.TASK_RUNNING, mesosv1.TASK_KILLING:
		return true
	}
	return false
}

// onUpdate applies a status update and acknowledges it. A live update of a task that
// has ended here, or that this framework does not know, is answered with a KILL: the
// task is an orphan (it came back after being reported lost, or was launched by a run
// whose record is gone).
func (b *Backend) onUpdate(ctx context.Context, st *mesosv1.TaskStatus) {
	if st == nil {
		return
	}
	id := scheduler.TaskID(st.TaskID.Value)
	ms := st.GetState()
	agentID := st.GetAgentID().GetValue()
	now := time.Now()
	kill := false
	b.mu.Lock()
	tk := b.tasks[id]
	switch {
	case tk == nil || tk.state.Terminal():
		kill = liveState(ms)
	case tk.pending != nil:
	default:
		tk.confirmed = true
		if agentID != "" {
			tk.agentID = agentID
		}
		if pid := st.GetContainerStatus().GetExecutorPID(); pid != 0 {
			tk.pid = int(pid)
		}
		s := stateOf(ms, tk.killed)
		switch {
		case s.Terminal():
			b.endLocked(tk, s, exitCodeOf(ms, st.GetMessage()), statusMessage(*st), now)
			b.persistLocked()
		case s != tk.state:
			tk.state = s
			if s == scheduler.StateRunning && tk.started.IsZero() {
				tk.started = now
			}
			b.fan.Publish(tk.event(now))
		}
		if tk.recovered && b.adoptBy.IsZero() && !b.recovering && tk.t.Kind != scheduler.KindJob && !tk.killed && !tk.state.Terminal() {
			// Recovered after the adoption window: nobody will claim it.
			tk.killed, kill = true, true
		}
		b.checkRecoveryLocked(now)
	}
	b.mu.Unlock()
	if kill {
		b.log.Warn("killing_orphan_task", "task_id", id, "state", ms.String(), "agent", agentID)
		b.call(ctx, calls.Kill(string(id), agentID))
	}
	if len(st.UUID) > 0 && agentID != "" {
		b.call(ctx, calls.Acknowledge(agentID, string(id), st.UUID))
	}
}

// onFailure ends the tasks of a removed agent, or of an executor that exited, as lost.
func (b *Backend) onFailure(f *schedpb.Event_Failure) {
	if f == nil {
		return
	}
	agentID, execID := f.GetAgentID().GetValue(), f.GetExecutorID().GetValue()
	msg := "agent " + agentID + " removed"
	if execID != "" {
		msg = "executor " + execID + " exited on agent " + agentID
		if f.Status != nil {
			msg += " with status " + strconv.Itoa(int(f.GetStatus()))
		}
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if execID == "" {
		delete(b.agents, agentID)
	}
	n := 0
	for _, tk := range b.tasks {
		if tk.pending != nil || tk.state.Terminal() {
			continue
		}
		if (execID == "" && agentID != "" && tk.agentID == agentID) || (execID != "" && tk.executorID == execID) {
			b.endLocked(tk, lostOrKilled(tk), 0, msg, now)
			n++
		}
	}
	if n == 0 {
		// The executor of a task that has ended (a command task's, for one).
		b.log.Debug("mesos_failure", "agent", agentID, "executor", execID)
		return
	}
	b.log.Warn("mesos_failure", "agent", agentID, "executor", execID, "tasks_lost", n)
	b.persistLocked()
}
