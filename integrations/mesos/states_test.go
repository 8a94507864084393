package mesos

import (
	"testing"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/sluicedata/sluice/scheduler"
)

func TestStateOf(t *testing.T) {
	cases := []struct {
		mesos        mesosv1.TaskState
		want, killed scheduler.State
	}{
		{mesosv1.TASK_STAGING, scheduler.StatePending, scheduler.StatePending},
		{mesosv1.TASK_STARTING, scheduler.StatePending, scheduler.StatePending},
		{mesosv1.TASK_RUNNING, scheduler.StateRunning, scheduler.StateRunning},
		{mesosv1.TASK_KILLING, scheduler.StateRunning, scheduler.StateRunning},
		{mesosv1.TASK_FINISHED, scheduler.StateFinished, scheduler.StateKilled},
		{mesosv1.TASK_FAILED, scheduler.StateFailed, scheduler.StateKilled},
		{mesosv1.TASK_ERROR, scheduler.StateFailed, scheduler.StateKilled},
		{mesosv1.TASK_KILLED, scheduler.StateFailed, scheduler.StateKilled},
		{mesosv1.TASK_LOST, scheduler.StateLost, scheduler.StateKilled},
		{mesosv1.TASK_DROPPED, scheduler.StateLost, scheduler.StateKilled},
		{mesosv1.TASK_UNREACHABLE, scheduler.StateLost, scheduler.StateKilled},
		{mesosv1.TASK_GONE, scheduler.StateLost, scheduler.StateKilled},
		{mesosv1.TASK_GONE_BY_OPERATOR, scheduler.StateLost, scheduler.StateKilled},
		{mesosv1.TASK_UNKNOWN, scheduler.StateLost, scheduler.StateKilled},
		{mesosv1.TaskState(99), scheduler.StateLost, scheduler.StateKilled},
	}
	for _, c := range cases {
		if got := stateOf(c.mesos, false); got != c.want {
			t.Errorf("stateOf(%v, not killed) = %s, want %s", c.mesos, got, c.want)
		}
		if got := stateOf(c.mesos, true); got != c.killed {
			t.Errorf("stateOf(%v, killed) = %s, want %s", c.mesos, got, c.killed)
		}
		if live := liveState(c.mesos); live == c.want.Terminal() {
			t.Errorf("liveState(%v) = %v, but %s is terminal = %v", c.mesos, live, c.want, c.want.Terminal())
		}
	}
}

func TestExitCodeOf(t *testing.T) {
	cases := []struct {
		state mesosv1.TaskState
		msg   string
		want  int
	}{
		{mesosv1.TASK_FINISHED, "Command exited with status 0", 0},
		{mesosv1.TASK_FINISHED, "", 0},
		{mesosv1.TASK_FAILED, "Command exited with status 3", 3},
		{mesosv1.TASK_FAILED, "Command exited with status 255 (pid 12)", 255},
		{mesosv1.TASK_FAILED, "Command terminated with signal Killed", -1},
		{mesosv1.TASK_KILLED, "Command terminated with signal Terminated", -1},
		{mesosv1.TASK_FAILED, "out of memory", 0},
		{mesosv1.TASK_LOST, "", 0},
	}
	for _, c := range cases {
		if got := exitCodeOf(c.state, c.msg); got != c.want {
			t.Errorf("exitCodeOf(%v, %q) = %d, want %d", c.state, c.msg, got, c.want)
		}
	}
}

func TestStatusMessage(t *testing.T) {
	msg := "Command exited with status 3"
	if got := statusMessage(mesosv1.TaskStatus{State: mesosv1.TASK_FAILED.Enum(), Message: &msg}); got != msg {
		t.Errorf("statusMessage with a message = %q", got)
	}
	got := statusMessage(mesosv1.TaskStatus{
		State:  mesosv1.TASK_LOST.Enum(),
		Reason: mesosv1.REASON_AGENT_REMOVED.Enum(),
		Source: mesosv1.SOURCE_MASTER.Enum(),
	})
	if want := "TASK_LOST (REASON_AGENT_REMOVED) from SOURCE_MASTER"; got != want {
		t.Errorf("statusMessage without a message = %q, want %q", got, want)
	}
}
