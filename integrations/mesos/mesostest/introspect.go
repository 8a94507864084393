package mesostest

import (
	"fmt"
	"sort"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// FrameworkState is a snapshot of one framework the master knows.
type FrameworkState struct {
	ID        string
	Name      string
	Principal string
	Roles     []string
	// Connected is true while a scheduler stream is open.
	Connected bool
	// Removed is true after TEARDOWN or the failover timeout.
	Removed         bool
	SuppressedRoles []string
	FailoverTimeout time.Duration
	Info            mesos.FrameworkInfo
}

// TaskState is a snapshot of one task.
type TaskState struct {
	FrameworkID string
	AgentID     string
	ID          string
	// ExecutorID is the custom or default executor's ID; empty for command tasks.
	ExecutorID string
	State      mesos.TaskState
	// Active is false for completed tasks (terminal and acknowledged, or removed).
	Active bool
	// PID is the process running the task (a command task's command, or the custom executor);
	// 0 if none is running.
	PID int
	// Sandbox is the task's sandbox directory (the executor's for custom executors).
	Sandbox string
	// Unacknowledged counts status updates not yet acknowledged.
	Unacknowledged int
	Resources      []mesos.Resource
}

// ExecutorState is a snapshot of one executor.
type ExecutorState struct {
	FrameworkID string
	AgentID     string
	ID          string
	PID         int
	Subscribed  bool
	Connected   bool
	Sandbox     string
	TaskIDs     []string
}

// AgentState is a snapshot of one agent.
type AgentState struct {
	ID       string
	Hostname string
	// Endpoint is the agent's executor API HOST:PORT (MESOS_AGENT_ENDPOINT).
	Endpoint string
	Total    []mesos.Resource
	Used     []mesos.Resource
	Offered  []mesos.Resource
}

// OfferState is a snapshot of an outstanding offer.
type OfferState struct {
	ID          string
	FrameworkID string
	AgentID     string
	Role        string
	Resources   []mesos.Resource
}

// Frameworks returns every framework the master knows, by ID.
func (m *Master) Frameworks() []FrameworkState {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []FrameworkState
	for _, f := range m.frameworks {
		fs := FrameworkState{ID: f.id, Name: f.info.Name, Principal: f.principal, Roles: append([]string(nil), f.roles...),
			Connected: f.sub != nil, Removed: f.removed, Info: f.info,
			FailoverTimeout: time.Duration(f.info.GetFailoverTimeout() * float64(time.Second))}
		for r := range f.suppressed {
			fs.SuppressedRoles = append(fs.SuppressedRoles, r)
		}
		sort.Strings(fs.SuppressedRoles)
		out = append(out, fs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Tasks returns every active and completed task, active first, each group by framework and ID.
func (m *Master) Tasks() []TaskState {
	m.mu.Lock()
	defer m.mu.Unlock()
	var active, done []TaskState
	for _, f := range m.frameworks {
		for _, t := range f.tasks {
			active = append(active, taskState(t, true))
		}
		for _, t := range f.completed {
			done = append(done, taskState(t, false))
		}
	}
	less := func(s []TaskState) func(i, j int) bool {
		return func(i, j int) bool {
			if s[i].FrameworkID != s[j].FrameworkID {
				return s[i].FrameworkID < s[j].FrameworkID
			}
			return s[i].ID < s[j].ID
		}
	}
	sort.Slice(active, less(active))
	sort.Slice(done, less(done))
	return append(active, done...)
}

func taskState(t *task, active bool) TaskState {
	ts := TaskState{FrameworkID: t.fw.id, AgentID: t.agent.id, ID: t.id, State: t.state, Active: active,
		Sandbox: t.sandbox, Unacknowledged: len(t.pending), Resources: t.res.toResources(resourceFormat{})}
	if t.exec != nil {
		ts.ExecutorID = t.exec.id
		if !t.exec.builtin() {
			ts.Sandbox = t.exec.sandbox
			if p := t.exec.proc; p != nil && !p.exited && active && !terminal(t.state) {
				ts.PID = p.pid
			}
		}
	}
	if p := t.proc; p != nil && !p.exited {
		ts.PID = p.pid
	}
	return ts
}

// Executors returns the live custom and default executors on all agents.
func (m *Master) Executors() []ExecutorState {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ExecutorState
	for _, a := range m.agents {
		for _, e := range a.executors {
			es := ExecutorState{FrameworkID: e.fw.id, AgentID: a.id, ID: e.id, Subscribed: e.subscribed,
				Connected: e.sub != nil || e.builtin(), Sandbox: e.sandbox}
			if e.proc != nil && !e.proc.exited {
				es.PID = e.proc.pid
			}
			for id := range e.tasks {
				es.TaskIDs = append(es.TaskIDs, id)
			}
			sort.Strings(es.TaskIDs)
			out = append(out, es)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].AgentID != out[j].AgentID {
			return out[i].AgentID < out[j].AgentID
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Agents returns the registered agents by ID.
func (m *Master) Agents() []AgentState {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []AgentState
	for _, a := range m.agents {
		out = append(out, m.agentStateLocked(a))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (m *Master) agentStateLocked(a *agent) AgentState {
	offered := pool{}
	for _, o := range m.offers {
		if o.agent == a {
			offered = offered.add(o.res)
		}
	}
	return AgentState{ID: a.id, Hostname: a.cfg.Hostname, Endpoint: a.endpoint,
		Total: a.total.toResources(resourceFormat{}), Used: a.usedLocked().toResources(resourceFormat{}),
		Offered: offered.toResources(resourceFormat{})}
}

// Offers returns the outstanding offers by ID.
func (m *Master) Offers() []OfferState {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []OfferState
	for _, o := range m.offers {
		out = append(out, OfferState{ID: o.id, FrameworkID: o.fw.id, AgentID: o.agent.id, Role: o.role,
			Resources: o.res.toResources(resourceFormat{})})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// KillTaskProcess simulates a crash: it SIGKILLs the process running an active task — the
// command of a command task or default-executor task, or the custom executor of any other
// task (which fails all that executor's tasks). With several frameworks using the same task
// ID, the first framework by ID is chosen.
func (m *Master) KillTaskProcess(taskID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range sortedKeys(m.frameworks) {
		t := m.frameworks[id].tasks[taskID]
		if t == nil || terminal(t.state) {
			continue
		}
		p := t.proc
		if !t.runByAgent() {
			p = t.exec.proc
		}
		if p == nil || p.exited {
			return fmt.Errorf("mesostest: task %s has no running process: %w", taskID, ErrNotFound)
		}
		p.signal(sigKill)
		return nil
	}
	return fmt.Errorf("mesostest: task %s: %w", taskID, ErrNotFound)
}
