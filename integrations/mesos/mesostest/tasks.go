package mesostest

import (
	"os/exec"
	"path/filepath"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// runByAgent reports whether the stand-in runs t's command itself: command tasks (acting as
// Mesos' command executor) and tasks of a DEFAULT executor (acting as the default executor).
func (t *task) runByAgent() bool { return t.exec == nil || t.exec.builtin() }

// startCommandTaskLocked prepares t's sandbox and starts its command, reporting TASK_STARTING
// and TASK_RUNNING once the process runs.
func (m *Master) startCommandTaskLocked(t *task) {
	a, fw := t.agent, t.fw
	execID := t.id
	_, containerID := newUUID()
	sandbox := m.sandboxDir(a, fw.id, execID, containerID)
	if t.exec != nil {
		execID = t.exec.id
		sandbox = filepath.Join(t.exec.sandbox, "tasks", t.id)
	}
	t.sandbox = sandbox
	t.delivered = true
	ci := *t.info.Command
	env := m.executorEnv(a, fw, execID, sandbox, &ci, false)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		err := prepareSandbox(m.ctx, sandbox, &ci)
		var cmd *exec.Cmd
		if err == nil {
			cmd, err = buildCmd(&ci, sandbox, env)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.closed || a.removed || fw.removed || terminal(t.state) {
			if cmd != nil {
				closeCmdFiles(cmd)
			}
			return
		}
		if t.killing {
			if cmd != nil {
				closeCmdFiles(cmd)
			}
			m.agentUpdateLocked(t, mesos.SOURCE_EXECUTOR, mesos.TASK_KILLED, mesos.REASON_TASK_KILLED_DURING_LAUNCH.Enum(),
				"Task killed before it was launched")
			m.commandTaskDoneLocked(t, 0)
			return
		}
		var p *process
		if err == nil {
			p, err = m.startProcessLocked(cmd, func(p *process) { m.commandExitedLocked(t, p) })
		}
		if err != nil {
			m.agentUpdateLocked(t, mesos.SOURCE_AGENT, mesos.TASK_FAILED, mesos.REASON_CONTAINER_LAUNCH_FAILED.Enum(),
				"Failed to launch container: "+err.Error())
			m.commandTaskDoneLocked(t, 1<<8)
			return
		}
		t.proc = p
		m.agentUpdateLocked(t, mesos.SOURCE_EXECUTOR, mesos.TASK_STARTING, nil, "")
		m.agentUpdateLocked(t, mesos.SOURCE_EXECUTOR, mesos.TASK_RUNNING, nil, "")
	}()
}

// commandExitedLocked reports the end of a command task's process the way Mesos' command
// executor does: TASK_FINISHED on status 0, TASK_KILLED after a KILL, TASK_FAILED otherwise.
func (m *Master) commandExitedLocked(t *task, p *process) {
	if m.closed || t.agent.removed || t.fw.removed || terminal(t.state) {
		return
	}
	msg := exitMessage(p.status)
	switch {
	case t.killing:
		m.agentUpdateLocked(t, mesos.SOURCE_EXECUTOR, mesos.TASK_KILLED, nil, msg)
	case p.status.Exited() && p.status.ExitStatus() == 0:
		m.agentUpdateLocked(t, mesos.SOURCE_EXECUTOR, mesos.TASK_FINISHED, nil, msg)
	default:
		m.agentUpdateLocked(t, mesos.SOURCE_EXECUTOR, mesos.TASK_FAILED, nil, msg)
	}
	m.commandTaskDoneLocked(t, int32(p.status))
}

// commandTaskDoneLocked ends the executor around a finished command: a command task's own
// executor exits (a FAILURE event, as a real master forwards the command executor's exit);
// a default executor kills the rest of a failed group and exits when no task is left.
func (m *Master) commandTaskDoneLocked(t *task, status int32) {
	if t.exec == nil {
		// Mesos' command executor exits once its terminal update is acknowledged; the
		// FAILURE event follows that acknowledgement (see acknowledgeLocked).
		t.executorExit = &status
		if len(t.pending) == 0 {
			m.sendLocked(t.fw, failureEvent(t.agent.id, t.id, t.executorExit))
		}
		return
	}
	e := t.exec
	if t.state != mesos.TASK_FINISHED {
		for _, o := range e.tasks {
			if o != t && !terminal(o.state) {
				m.killTaskLocked(o, nil)
			}
		}
	}
	for _, o := range e.tasks {
		if !terminal(o.state) {
			return
		}
	}
	// Like Mesos' default executor, it exits once its tasks' terminal updates are
	// acknowledged (see completeTaskLocked).
	e.exiting = true
	m.endDefaultExecutorLocked(e)
}

// endDefaultExecutorLocked ends an exiting default executor once none of its tasks awaits an
// acknowledgement.
func (m *Master) endDefaultExecutorLocked(e *executor) {
	if e.exiting && len(e.tasks) == 0 {
		m.executorTerminatedLocked(e, 0, mesos.REASON_EXECUTOR_TERMINATED, "Default executor exited")
	}
}

func failureEvent(agentID, executorID string, status *int32) *scheduler.Event {
	f := &scheduler.Event_Failure{AgentID: &mesos.AgentID{Value: agentID}, Status: status}
	if executorID != "" {
		f.ExecutorID = &mesos.ExecutorID{Value: executorID}
	}
	return &scheduler.Event{Type: scheduler.Event_FAILURE, Failure: f}
}

// killLocked applies KILL. Unknown tasks are answered as explicit reconciliation would.
func (m *Master) killLocked(fw *framework, k *scheduler.Call_Kill) {
	t := fw.tasks[k.TaskID.Value]
	if t == nil {
		m.reconcileLocked(fw, []scheduler.Call_Reconcile_Task{{TaskID: k.TaskID, AgentID: k.AgentID}})
		return
	}
	m.killTaskLocked(t, k.KillPolicy)
}

// killTaskLocked kills t: SIGTERM then SIGKILL after the grace period for tasks the stand-in
// runs (TASK_KILLING first for frameworks with that capability), a KILL event for tasks of a
// custom executor, TASK_KILLED at once for tasks not yet delivered.
func (m *Master) killTaskLocked(t *task, policy *mesos.KillPolicy) {
	if terminal(t.state) {
		return
	}
	grace := t.agent.cfg.KillGracePeriod
	if policy == nil {
		policy = t.info.KillPolicy
	}
	if policy != nil && policy.GracePeriod != nil {
		grace = time.Duration(policy.GracePeriod.Nanoseconds)
	}
	if t.runByAgent() {
		if t.killing {
			return
		}
		t.killing = true
		if t.proc != nil {
			if t.fw.hasCapability(mesos.FrameworkInfo_Capability_TASK_KILLING_STATE) {
				m.agentUpdateLocked(t, mesos.SOURCE_EXECUTOR, mesos.TASK_KILLING, nil, "")
			}
			m.terminateLocked(t.proc, grace)
		}
		return
	}
	e := t.exec
	t.killing = true
	if !t.delivered {
		for i, q := range e.queued {
			for _, qt := range q.tasks {
				if qt == t {
					e.queued = append(e.queued[:i:i], e.queued[i+1:]...)
					for _, gt := range q.tasks {
						m.agentUpdateLocked(gt, mesos.SOURCE_AGENT, mesos.TASK_KILLED,
							mesos.REASON_TASK_KILLED_DURING_LAUNCH.Enum(), "Killed before delivery to the executor")
					}
					return
				}
			}
		}
		return
	}
	if e.sub == nil {
		t.killPending = true
		return
	}
	m.sendExecutorLocked(e, &mexec.Event{Type: mexec.Event_KILL,
		Kill: &mexec.Event_Kill{TaskID: t.info.TaskID, KillPolicy: policy}})
}
