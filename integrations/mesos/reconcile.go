package mesos

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/sluicedata/sluice/scheduler"
)

// Recovery after a restart of the framework scheduler:
//  1. New reads the tasks an earlier run launched (FrameworkIDFile + ".tasks.json") as
//     recovered tasks, and subscribes with the kept framework ID;
//  2. SUBSCRIBED starts explicit reconciliation of them (then implicit reconciliation);
//     each update confirms one;
//  3. recovery ends when every recovered task has been confirmed or RecoveryTimeout
//     has passed since the first subscription; Launch of service tasks waits for it;
//  4. Launch adopts a confirmed live recovered task of the same kind and slot label
//     (see Backend.Launch) instead of launching a new one;
//  5. AdoptGrace after recovery, recovered masters and executors nobody claimed are
//     killed, and so is one confirmed live later: each would duplicate a slot.
//
// Recovered jobs are kept as they are: their events reach watchers and Kill works.

// checkRecoveryLocked ends recovery once every recovered task is confirmed. b.mu is
// held.
func (b *Backend) checkRecoveryLocked(now time.Time) {
	if !b.recovering {
		return
	}
	for _, tk := range b.tasks {
		if tk.recovered && !tk.confirmed && !tk.state.Terminal() {
			return
		}
	}
	b.finishRecoveryLocked(now)
}

// finishRecoveryLocked ends recovery: Launch stops waiting, and the adoption window
// opens if recovered service tasks run. b.mu is held.
func (b *Backend) finishRecoveryLocked(now time.Time) {
	if !b.recovering {
		return
	}
	b.recovering = false
	b.recoveryBy = time.Time{}
	close(b.recovered)
	var live, unconfirmed int
	for _, tk := range b.tasks {
		switch {
		case !tk.recovered || tk.state.Terminal():
		case !tk.confirmed:
			unconfirmed++
		case tk.t.Kind != scheduler.KindJob:
			live++
		}
	}
	if live > 0 {
		b.adoptBy = now.Add(b.cfg.AdoptGrace)
	}
	b.log.Info("mesos_recovery_done", "service_tasks_to_adopt", live, "unconfirmed", unconfirmed)
}

// armTimer sets timer to the earliest pending deadline (locality hold, recovery,
// adoption), or an hour when there is none.
func (b *Backend) armTimer(timer *time.Timer) {
	b.mu.Lock()
	var next time.Time
	for _, t := range []time.Time{b.holdUntil, b.recoveryBy, b.adoptBy} {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	b.mu.Unlock()
	d := time.Hour
	if !next.IsZero() {
		d = max(time.Until(next), 0)
	}
	timer.Reset(d)
}

// onTimer handles the deadlines: a locality hold that ended revives offers, the end of
// the recovery wait ends recovery, the end of the adoption window kills the recovered
// service tasks nobody claimed.
func (b *Backend) onTimer(ctx context.Context) {
	now := time.Now()
	var kills []killReq
	b.mu.Lock()
	if !b.holdUntil.IsZero() && !now.Before(b.holdUntil) {
		b.holdUntil = time.Time{}
		b.revive = true
	}
	if b.recovering && !b.recoveryBy.IsZero() && !now.Before(b.recoveryBy) {
		b.finishRecoveryLocked(now)
	}
	if !b.adoptBy.IsZero() && !now.Before(b.adoptBy) {
		b.adoptBy = time.Time{}
		for _, tk := range b.tasks {
			if tk.recovered && !tk.killed && !tk.state.Terminal() && tk.t.Kind != scheduler.KindJob {
				tk.killed = true
				kills = append(kills, killReq{string(tk.id), tk.agentID})
			}
		}
		if len(kills) > 0 {
			b.persistLocked()
		}
	}
	b.mu.Unlock()
	for _, k := range kills {
		b.log.Warn("killing_unclaimed_task", "task_id", k.task, "agent", k.agent)
		b.call(ctx, calls.Kill(k.task, k.agent))
	}
	b.updateOffers(ctx)
}

// persistLocked writes the launched live tasks to the tasks file. A failure is logged:
// the tasks still run, only a restart would not adopt them. b.mu is held.
func (b *Backend) persistLocked() {
	path := b.cfg.tasksFile()
	if path == "" || b.frameworkID == "" {
		return
	}
	var kept []keptTask
	for _, id := range slices.Sorted(maps.Keys(b.tasks)) {
		tk := b.tasks[id]
		if tk.pending != nil || tk.state.Terminal() || tk.agentID == "" {
			continue
		}
		kept = append(kept, keptTask{
			ID: tk.id, Name: tk.t.Name, Kind: tk.t.Kind, AgentID: tk.agentID, Host: tk.host,
			ExecutorID: tk.executorID, Labels: tk.t.Labels, Ports: tk.ports, Killed: tk.killed,
		})
	}
	if err := writeTasks(path, b.frameworkID, kept); err != nil {
		b.log.Error("tasks_not_saved", "error", err)
	}
}
