package mesos

import (
	"regexp"
	"strconv"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/sluicedata/sluice/scheduler"
)

// stateOf maps a Mesos task state to the scheduler's. killed says whether the backend
// was asked to kill the task: its end is then Killed whatever Mesos calls it (a task
// killed by Mesos or an operator is Failed). Unknown states are Lost: the backend does
// not know what became of the task.
func stateOf(s mesosv1.TaskState, killed bool) scheduler.State {
	var st scheduler.State
	switch s {
	case mesosv1.TASK_STAGING, mesosv1.TASK_STARTING:
		return scheduler.StatePending
	case mesosv1.TASK_RUNNING, mesosv1.TASK_KILLING:
		return scheduler.StateRunning
	case mesosv1.TASK_FINISHED:
		st = scheduler.StateFinished
	case mesosv1.TASK_FAILED, mesosv1.TASK_ERROR, mesosv1.TASK_KILLED:
		st = scheduler.StateFailed
	default: // LOST, DROPPED, UNREACHABLE, GONE, GONE_BY_OPERATOR, UNKNOWN
		st = scheduler.StateLost
	}
	if killed {
		return scheduler.StateKilled
	}
	return st
}

// exitPattern finds the exit status or signal in the message of a terminal update, as
// the Mesos command executor writes it ("Command exited with status 3", "Command
// terminated with signal Killed").
var exitPattern = regexp.MustCompile(`exited with status (-?\d+)|(terminated with signal|killed by signal)`)

// exitCodeOf returns the exit code of a terminal update: 0 for TASK_FINISHED, the
// status or -1 for a signal when the message says so, 0 when it is unknown.
func exitCodeOf(s mesosv1.TaskState, message string) int {
	if s == mesosv1.TASK_FINISHED {
		return 0
	}
	m := exitPattern.FindStringSubmatch(message)
	switch {
	case m == nil:
		return 0
	case m[1] != "":
		if n, err := strconv.Atoi(m[1]); err == nil {
			return n
		}
		return 0
	}
	return -1
}

// statusMessage is the message of an event built from an update: Mesos's message, or
// the state, reason and source when it has none.
func statusMessage(st mesosv1.TaskStatus) string {
	if m := st.GetMessage(); m != "" {
		return m
	}
	msg := st.GetState().String()
	if st.Reason != nil {
		msg += " (" + st.GetReason().String() + ")"
	}
	if st.Source != nil {
		msg += " from " + st.GetSource().String()
	}
	return msg
}
