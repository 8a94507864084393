package nomad

import (
	"fmt"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/scheduler"
)

// allocFacts is what the Backend reads of an allocation, from an api.Allocation (event
// stream, Info) or an api.AllocationListStub (lists).
type allocFacts struct {
	ID, JobID, NodeID                 string
	ClientStatus, ClientDescription   string
	DesiredStatus, DesiredDescription string
	TaskStates                        map[string]*api.TaskState
	Ports                             []api.PortMapping
}

func factsOf(a *api.Allocation) allocFacts {
	f := allocFacts{
		ID: a.ID, JobID: a.JobID, NodeID: a.NodeID,
		ClientStatus: a.ClientStatus, ClientDescription: a.ClientDescription,
		DesiredStatus: a.DesiredStatus, DesiredDescription: a.DesiredDescription,
		TaskStates: a.TaskStates,
	}
	if a.AllocatedResources != nil {
		f.Ports = a.AllocatedResources.Shared.Ports
	}
	return f
}

func factsOfStub(a *api.AllocationListStub) allocFacts {
	f := allocFacts{
		ID: a.ID, JobID: a.JobID, NodeID: a.NodeID,
		ClientStatus: a.ClientStatus, ClientDescription: a.ClientDescription,
		DesiredStatus: a.DesiredStatus, DesiredDescription: a.DesiredDescription,
		TaskStates: a.TaskStates,
	}
	if a.AllocatedResources != nil {
		f.Ports = a.AllocatedResources.Shared.Ports
	}
	return f
}

// terminalClient reports whether a client status is an end: the allocation's tasks are
// gone (or, for lost, their node is).
func terminalClient(status string) bool {
	switch status {
	case api.AllocClientStatusComplete, api.AllocClientStatusFailed, api.AllocClientStatusLost:
		return true
	}
	return false
}

// allocView is the scheduler's reading of an allocation of a task's job.
type allocView struct {
	State    scheduler.State
	ExitCode int
	Message  string
	// Started is when the task's process started (zero if it never did); Ended when
	// it ended.
	Started, Ended time.Time
}

// viewOf maps an allocation to the state of the task it runs (the task named task in
// it). killed says Kill was called for the task. The mapping:
//   - client status pending, or running while the task is not yet running: pending;
//   - running with the task running: running;
//   - any end after Kill: killed;
//   - lost (its node is down or gone): lost;
//   - complete with exit code 0, not stopped from outside: finished;
//   - anything else that ended: failed, with the exit code of the task's last
//     Terminated event (-1 for a signal, or when the task never ran), including a task
//     stopped from outside Sluice (`nomad job stop`, `nomad alloc stop`, a drain).
//
// unknown (a disconnected client) and other statuses keep the task's state: ok=false.
func viewOf(a allocFacts, task string, killed bool) (v allocView, ok bool) {
	ts := a.TaskStates[task]
	if ts != nil {
		v.Started, v.Ended = ts.StartedAt, ts.FinishedAt
	}
	switch a.ClientStatus {
	case api.AllocClientStatusPending:
		v.State = scheduler.StatePending
		return v, true
	case api.AllocClientStatusRunning:
		v.State = scheduler.StatePending
		if ts != nil && ts.State == "running" {
			v.State = scheduler.StateRunning
		}
		return v, true
	case api.AllocClientStatusComplete, api.AllocClientStatusFailed, api.AllocClientStatusLost:
	default:
		return v, false
	}
	if v.Ended.IsZero() {
		v.Ended = time.Now()
	}
	v.ExitCode, v.Message = exitOf(ts)
	switch {
	case killed:
		v.State, v.Message = scheduler.StateKilled, "killed: "+v.Message
	case a.ClientStatus == api.AllocClientStatusLost:
		v.State, v.ExitCode = scheduler.StateLost, -1
		v.Message = "allocation lost: " + describe(a.ClientDescription, "its node is down")
	case a.DesiredStatus != api.AllocDesiredStatusRun:
		v.State = scheduler.StateFailed
		v.Message = fmt.Sprintf("stopped from outside Sluice (%s): %s", describe(a.DesiredDescription, a.DesiredStatus), v.Message)
	case a.ClientStatus == api.AllocClientStatusComplete && v.ExitCode == 0:
		v.State = scheduler.StateFinished
	default:
		v.State = scheduler.StateFailed
		if v.ExitCode == 0 && a.ClientStatus == api.AllocClientStatusFailed {
			// Failed without a failing exit: a setup or driver failure.
			v.ExitCode = -1
		}
	}
	return v, true
}

// exitOf reads the exit code and a message from a task's events: the last Terminated
// event gives the code (-1 for a signal); a driver or setup failure explains a task
// that never ran.
func exitOf(ts *api.TaskState) (int, string) {
	if ts == nil {
		return -1, "the task never started"
	}
	for i := len(ts.Events) - 1; i >= 0; i-- {
		e := ts.Events[i]
		if e == nil {
			continue
		}
		switch e.Type {
		case api.TaskTerminated:
			if e.Signal != 0 {
				return -1, fmt.Sprintf("killed by signal %d", e.Signal)
			}
			msg := fmt.Sprintf("exit status %d", e.ExitCode)
			if e.Message != "" {
				msg += " (" + e.Message + ")"
			}
			return e.ExitCode, msg
		case api.TaskDriverFailure, api.TaskSetupFailure:
			return -1, e.Type + ": " + describe(e.DriverError, describe(e.DisplayMessage, e.Message))
		}
	}
	if ts.Failed {
		return -1, "failed: " + lastMessage(ts)
	}
	return 0, describe(lastMessage(ts), "ended")
}

// lastMessage is the display message of the task's last event.
func lastMessage(ts *api.TaskState) string {
	for i := len(ts.Events) - 1; i >= 0; i-- {
		if e := ts.Events[i]; e != nil {
			return describe(e.DisplayMessage, e.Type)
		}
	}
	return ""
}

// describe is s, or def when s is empty.
func describe(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// portsOf maps the alloc's port labels back to the task's port names.
func portsOf(names []string, mappings []api.PortMapping) map[string]int {
	if len(names) == 0 || len(mappings) == 0 {
		return nil
	}
	byLabel := make(map[string]int, len(mappings))
	for _, m := range mappings {
		byLabel[m.Label] = m.Value
	}
	out := make(map[string]int, len(names))
	for _, n := range names {
		if v, ok := byLabel[portLabel(n)]; ok {
			out[n] = v
		}
	}
	return out
}
