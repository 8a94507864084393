package nomad

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/scheduler"
)

func TestViewOf(t *testing.T) {
	started := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	ended := started.Add(time.Minute)
	state := func(s string, events ...*api.TaskEvent) map[string]*api.TaskState {
		ts := &api.TaskState{State: s, Events: events}
		if s != "pending" {
			ts.StartedAt = started
		}
		if s == "dead" {
			ts.FinishedAt = ended
		}
		return map[string]*api.TaskState{taskTaskName: ts}
	}
	exit := func(code, sig int) *api.TaskEvent {
		return &api.TaskEvent{Type: api.TaskTerminated, ExitCode: code, Signal: sig}
	}
	run := api.AllocDesiredStatusRun
	for _, tc := range []struct {
		name   string
		alloc  allocFacts
		killed bool
		want   allocView
		ok     bool
		msg    string // a substring of the message
	}{
		{"placed, not started", allocFacts{ClientStatus: "pending", DesiredStatus: run}, false,
			allocView{State: scheduler.StatePending}, true, ""},
		{"alloc running, task starting", allocFacts{ClientStatus: "running", DesiredStatus: run, TaskStates: state("pending")}, false,
			allocView{State: scheduler.StatePending}, true, ""},
		{"running", allocFacts{ClientStatus: "running", DesiredStatus: run, TaskStates: state("running")}, false,
			allocView{State: scheduler.StateRunning, Started: started}, true, ""},
		{"exit 0", allocFacts{ClientStatus: "complete", DesiredStatus: run, TaskStates: state("dead", exit(0, 0))}, false,
			allocView{State: scheduler.StateFinished, Started: started, Ended: ended}, true, "exit status 0"},
		{"exit 3", allocFacts{ClientStatus: "failed", DesiredStatus: run, TaskStates: state("dead", exit(3, 0))}, false,
			allocView{State: scheduler.StateFailed, ExitCode: 3, Started: started, Ended: ended}, true, "exit status 3"},
		{"signal from elsewhere", allocFacts{ClientStatus: "failed", DesiredStatus: run, TaskStates: state("dead", exit(0, 9))}, false,
			allocView{State: scheduler.StateFailed, ExitCode: -1, Started: started, Ended: ended}, true, "signal 9"},
		{"killed by Sluice", allocFacts{ClientStatus: "complete", DesiredStatus: api.AllocDesiredStatusStop, TaskStates: state("dead", exit(0, 15))}, true,
			allocView{State: scheduler.StateKilled, ExitCode: -1, Started: started, Ended: ended}, true, "killed"},
		{"stopped from outside", allocFacts{ClientStatus: "complete", DesiredStatus: api.AllocDesiredStatusStop, DesiredDescription: "alloc was stopped", TaskStates: state("dead", exit(0, 0))}, false,
			allocView{State: scheduler.StateFailed, Started: started, Ended: ended}, true, "stopped from outside Sluice (alloc was stopped)"},
		{"node lost", allocFacts{ClientStatus: "lost", DesiredStatus: api.AllocDesiredStatusStop, ClientDescription: "alloc is lost since its node is down", TaskStates: state("running")}, false,
			allocView{State: scheduler.StateLost, ExitCode: -1, Started: started}, true, "node is down"},
		{"killed while its node was lost", allocFacts{ClientStatus: "lost", TaskStates: state("running")}, true,
			allocView{State: scheduler.StateKilled, ExitCode: 0, Started: started}, true, "killed"},
		{"driver failure", allocFacts{ClientStatus: "failed", DesiredStatus: run, TaskStates: state("pending", &api.TaskEvent{Type: api.TaskDriverFailure, DriverError: "no such file"})}, false,
			allocView{State: scheduler.StateFailed, ExitCode: -1}, true, "no such file"},
		{"failed with no task state", allocFacts{ClientStatus: "failed", DesiredStatus: run}, false,
			allocView{State: scheduler.StateFailed, ExitCode: -1}, true, "never started"},
		{"disconnected client", allocFacts{ClientStatus: "unknown", DesiredStatus: run, TaskStates: state("running")}, false,
			allocView{Started: started}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := viewOf(tc.alloc, taskTaskName, tc.killed)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !tc.ok {
				return
			}
			if !strings.Contains(got.Message, tc.msg) {
				t.Errorf("message %q lacks %q", got.Message, tc.msg)
			}
			if tc.want.Ended.IsZero() && got.State.Terminal() {
				if got.Ended.IsZero() {
					t.Errorf("terminal view without an end time")
				}
				got.Ended = time.Time{}
			}
			got.Message = ""
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("viewOf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPortsOf(t *testing.T) {
	got := portsOf([]string{"rpc", "web-ui", "missing"}, []api.PortMapping{{Label: "rpc", Value: 20001}, {Label: "web_ui", Value: 20002}, {Label: "other", Value: 1}})
	want := map[string]int{"rpc": 20001, "web-ui": 20002}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("portsOf (-want +got):\n%s", diff)
	}
	if got := portsOf(nil, []api.PortMapping{{Label: "rpc", Value: 1}}); got != nil {
		t.Errorf("portsOf without names = %v, want nil", got)
	}
}
