package mesostest

import (
	"os/exec"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
)

// builtin reports a DEFAULT executor, which the stand-in plays itself without a process.
func (e *executor) builtin() bool { return e.info.Type == mesos.ExecutorInfo_DEFAULT }

// newExecutorLocked registers an executor on a and, for a custom executor, starts its command
// in a fresh sandbox with the MESOS_* environment.
func (m *Master) newExecutorLocked(fw *framework, a *agent, info mesos.ExecutorInfo, res pool) *executor {
	_, containerID := newUUID()
	info.FrameworkID = &mesos.FrameworkID{Value: fw.id}
	e := &executor{id: info.ExecutorID.Value, fw: fw, agent: a, info: info, res: res, containerID: containerID,
		tasks: map[string]*task{}, startedAt: time.Now()}
	e.sandbox = m.sandboxDir(a, fw.id, e.id, containerID)
	a.executors[execKey(fw.id, e.id)] = e
	if e.builtin() {
		e.subscribed = true
		return e
	}
	ci := *info.Command
	env := m.executorEnv(a, fw, e.id, e.sandbox, &ci, false)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		err := prepareSandbox(m.ctx, e.sandbox, &ci)
		var cmd *exec.Cmd
		if err == nil {
			cmd, err = buildCmd(&ci, e.sandbox, env)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.closed || a.removed || fw.removed || e.terminated {
			if cmd != nil {
				closeCmdFiles(cmd)
			}
			if !m.closed && !a.removed {
				// Shut down before it started: it goes, and its resources with it.
				m.executorTerminatedLocked(e, 0, mesos.REASON_EXECUTOR_TERMINATED, "Executor shut down before it started")
			}
			return
		}
		var p *process
		if err == nil {
			p, err = m.startProcessLocked(cmd, func(p *process) { m.executorExitedLocked(e, p) })
		}
		if err != nil {
			status := int32(1 << 8)
			m.executorTerminatedLocked(e, status, mesos.REASON_CONTAINER_LAUNCH_FAILED, "Failed to launch executor: "+err.Error())
			return
		}
		e.proc = p
		e.startedAt = time.Now()
	}()
	return e
}

// deliverLocked hands a launch to its executor: the stand-in's default executor starts the
// commands, a subscribed custom executor gets LAUNCH or LAUNCH_GROUP, others queue it.
func (m *Master) deliverLocked(e *executor, ql queuedLaunch) {
	switch {
	case e.builtin():
		for _, t := range ql.tasks {
			m.startCommandTaskLocked(t)
		}
	case e.sub != nil:
		m.sendLaunchLocked(e, ql)
	default:
		e.queued = append(e.queued, ql)
	}
}

func (m *Master) sendLaunchLocked(e *executor, ql queuedLaunch) {
	for _, t := range ql.tasks {
		t.delivered = true
	}
	if !ql.group {
		m.sendExecutorLocked(e, &mexec.Event{Type: mexec.Event_LAUNCH,
			Launch: &mexec.Event_Launch{Task: ql.tasks[0].info}})
		return
	}
	var tis []mesos.TaskInfo
	for _, t := range ql.tasks {
		tis = append(tis, t.info)
	}
	m.sendExecutorLocked(e, &mexec.Event{Type: mexec.Event_LAUNCH_GROUP,
		LaunchGroup: &mexec.Event_LaunchGroup{TaskGroup: mesos.TaskGroupInfo{Tasks: tis}}})
}

// sendExecutorLocked encodes ev for e's stream, if it is connected.
func (m *Master) sendExecutorLocked(e *executor, ev *mexec.Event) {
	if e.sub == nil {
		return
	}
	e.sub.q.push(mustEncode(e.sub.codec, ev))
}

func executorMessageEvent(data []byte) *mexec.Event {
	return &mexec.Event{Type: mexec.Event_MESSAGE, Message: &mexec.Event_Message{Data: data}}
}

// executorExitedLocked handles the exit of a custom executor's process.
func (m *Master) executorExitedLocked(e *executor, p *process) {
	m.log.Info("executor exited", "agent_id", e.agent.id, "executor_id", e.id, "status", exitMessage(p.status))
	if m.closed || e.agent.removed {
		return
	}
	reason, msg := mesos.REASON_EXECUTOR_TERMINATED, "Executor terminated: "+exitMessage(p.status)
	switch {
	case !e.subscribed && time.Since(e.startedAt) >= e.agent.cfg.ExecutorRegistrationTimeout:
		reason, msg = mesos.REASON_EXECUTOR_REGISTRATION_TIMEOUT, "Executor did not subscribe in time"
	case !e.disconnectedAt.IsZero() && time.Since(e.disconnectedAt) >= e.agent.cfg.RecoveryTimeout:
		reason, msg = mesos.REASON_EXECUTOR_REREGISTRATION_TIMEOUT, "Executor did not re-subscribe in time"
	}
	m.executorTerminatedLocked(e, int32(p.status), reason, msg)
}

// executorTerminatedLocked removes e: its live tasks fail (TASK_KILLED for those being killed)
// with reliable agent updates, its resources return, and the framework gets a FAILURE event
// whose status is the executor's raw wait status.
func (m *Master) executorTerminatedLocked(e *executor, status int32, reason mesos.TaskStatus_Reason, msg string) {
	if e.terminated {
		return
	}
	e.terminated = true
	if e.sub != nil {
		e.sub.q.close()
		e.sub = nil
	}
	if e.proc != nil {
		e.proc.signal(sigKill)
	}
	if !e.fw.removed {
		for _, id := range sortedKeys(e.tasks) {
			t := e.tasks[id]
			if terminal(t.state) {
				continue
			}
			if t.proc != nil {
				t.proc.signal(sigKill)
			}
			state := mesos.TASK_FAILED
			if t.killing {
				state = mesos.TASK_KILLED
			}
			m.agentUpdateLocked(t, mesos.SOURCE_AGENT, state, reason.Enum(), msg)
		}
		m.sendLocked(e.fw, failureEvent(e.agent.id, e.id, &status))
	}
	if e.agent.executors[execKey(e.fw.id, e.id)] == e {
		delete(e.agent.executors, execKey(e.fw.id, e.id))
	}
	m.allocateSoon()
}

// shutdownExecutorLocked asks e to shut down: SHUTDOWN on its stream and SIGKILL after the
// shutdown grace period (the ExecutorInfo's, else the agent's); the default executor kills
// its tasks.
func (m *Master) shutdownExecutorLocked(e *executor) {
	if e.terminated {
		return
	}
	if e.builtin() {
		for _, t := range e.tasks {
			m.killTaskLocked(t, nil)
		}
		return
	}
	if !e.shutdownDeadline.IsZero() {
		return
	}
	e.shutdownDeadline = time.Now().Add(m.shutdownGrace(e))
	m.log.Info("executor shutdown", "agent_id", e.agent.id, "executor_id", e.id, "grace", m.shutdownGrace(e))
	if e.sub == nil {
		e.proc.signal(sigKill)
		return
	}
	m.sendExecutorLocked(e, &mexec.Event{Type: mexec.Event_SHUTDOWN})
}

// executorTimeoutsLocked enforces the registration, recovery and shutdown timeouts of e.
func (m *Master) executorTimeoutsLocked(e *executor, now time.Time) {
	if e.terminated || e.builtin() || e.proc == nil {
		return
	}
	cfg := e.agent.cfg
	switch {
	case !e.subscribed && now.Sub(e.startedAt) >= cfg.ExecutorRegistrationTimeout,
		!e.disconnectedAt.IsZero() && now.Sub(e.disconnectedAt) >= cfg.RecoveryTimeout,
		!e.shutdownDeadline.IsZero() && !now.Before(e.shutdownDeadline):
		e.proc.signal(sigKill)
	}
}

// executorDisconnected handles the end of an executor's stream: a checkpointing framework's
// executor may re-subscribe within the recovery timeout; any other has the shutdown grace
// period to exit before it is killed.
func (m *Master) executorDisconnected(e *executor, sub *execSub) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.sub != sub || m.closed {
		return
	}
	e.sub = nil
	sub.q.close()
	if e.fw.info.GetCheckpoint() {
		e.disconnectedAt = time.Now()
		return
	}
	if e.shutdownDeadline.IsZero() {
		e.shutdownDeadline = time.Now().Add(m.shutdownGrace(e))
	}
}

// shutdownGrace is e's shutdown grace period: the ExecutorInfo's, else the agent's.
func (m *Master) shutdownGrace(e *executor) time.Duration {
	if e.info.ShutdownGracePeriod != nil {
		return time.Duration(e.info.ShutdownGracePeriod.Nanoseconds)
	}
	return e.agent.cfg.ExecutorShutdownGracePeriod
}
