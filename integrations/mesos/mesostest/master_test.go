package mesostest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

func TestMaster_LaunchCommandTask(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec encoding.Codec
	}{
		{"protobuf", codecs.ByMediaType[codecs.MediaTypeProtobuf]},
		{"json", codecs.ByMediaType[codecs.MediaTypeJSON]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
			s := subscribe(t, m, frameworkInfo("launch", 0), &tc.codec)
			if !strings.HasPrefix(s.fwID, m.ID()+"-") {
				t.Errorf("framework ID %q does not start with the master ID %q", s.fwID, m.ID())
			}
			offers := s.awaitOffers()
			if len(offers) != 1 {
				t.Fatalf("got %d offers, want 1", len(offers))
			}
			o := offers[0]
			if o.AgentID.Value != "a1" || o.Hostname != "127.0.0.1" {
				t.Errorf("offer from %s on %s, want a1 on 127.0.0.1", o.AgentID.Value, o.Hostname)
			}
			if got := []float64{scalar(o.Resources, "cpus"), scalar(o.Resources, "mem"), scalar(o.Resources, "disk")}; got[0] != 2 || got[1] != 1024 || got[2] != 2048 {
				t.Errorf("offered cpus/mem/disk %v, want [2 1024 2048]", got)
			}
			if p := ports(o.Resources); len(p) != 1 || p[0] != (mesos.Value_Range{Begin: 31000, End: 31009}) {
				t.Errorf("offered ports %v, want [31000-31009]", p)
			}
			cmd := `echo "$MESOS_SANDBOX|$MESOS_FRAMEWORK_ID|$MESOS_EXECUTOR_ID|$MESOS_AGENT_ENDPOINT|$GREETING" > out.txt`
			ti := mesos.TaskInfo{Name: "t1", TaskID: mesos.TaskID{Value: "t1"}, AgentID: o.AgentID,
				Resources: taskResources(0.5, 128, 31005),
				Command: &mesos.CommandInfo{Value: ptr(cmd), Environment: &mesos.Environment{Variables: []mesos.Environment_Variable{
					{Name: "GREETING", Value: ptr("hello")}}}}}
			s.mustCall(acceptCall(o, ti))
			for _, state := range []mesos.TaskState{mesos.TASK_STARTING, mesos.TASK_RUNNING} {
				st := s.awaitAcked("t1", state)
				if st.GetSource() != mesos.SOURCE_EXECUTOR || st.AgentID.Value != "a1" {
					t.Errorf("%s from %s on %v", state, st.GetSource(), st.AgentID)
				}
			}
			st := s.awaitAcked("t1", mesos.TASK_FINISHED)
			if st.GetMessage() != "Command exited with status 0" {
				t.Errorf("TASK_FINISHED message %q", st.GetMessage())
			}
			ts, ok := taskByID(m, "t1")
			if !ok {
				t.Fatal("task t1 unknown to the master")
			}
			out, err := os.ReadFile(filepath.Join(ts.Sandbox, "out.txt"))
			if err != nil {
				t.Fatal(err)
			}
			agent := m.Agents()[0]
			want := strings.Join([]string{ts.Sandbox, s.fwID, "t1", agent.Endpoint, "hello"}, "|") + "\n"
			if string(out) != want {
				t.Errorf("task saw %q, want %q", out, want)
			}
			if !strings.HasPrefix(ts.Sandbox, filepath.Join(m.cfg.WorkDir, "slaves", "a1", "frameworks", s.fwID, "executors", "t1", "runs")) {
				t.Errorf("sandbox %s is not laid out as a Mesos work_dir", ts.Sandbox)
			}
			// The command executor's exit reaches the framework as a FAILURE event, as on a real master.
			s.await(func(e *scheduler.Event) bool {
				return e.Type == scheduler.Event_FAILURE && e.Failure.GetExecutorID().GetValue() == "t1"
			})
			waitFor(t, "the task to complete", func() bool {
				ts, _ := taskByID(m, "t1")
				return !ts.Active && ts.State == mesos.TASK_FINISHED
			})
		})
	}
}

// acceptCall accepts offer o launching tasks.
func acceptCall(o mesos.Offer, tasks ...mesos.TaskInfo) *scheduler.Call {
	return &scheduler.Call{Type: scheduler.Call_ACCEPT, Accept: &scheduler.Call_Accept{
		OfferIDs:   []mesos.OfferID{o.ID},
		Operations: []mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH, Launch: &mesos.Offer_Operation_Launch{TaskInfos: tasks}}},
	}}
}

func TestMaster_UpdateResentUntilAcknowledged(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	s := subscribe(t, m, frameworkInfo("resend", 0), nil)
	o := s.awaitOffers()[0]
	s.launch(o, "t1", "exit 0", taskResources(0.1, 32))
	first := s.awaitUpdate("t1", mesos.TASK_STARTING)
	// Not acknowledged: the same update (same uuid) comes again, and nothing newer for t1 first.
	again := s.awaitUpdate("t1", -1)
	if again.GetState() != mesos.TASK_STARTING || string(again.UUID) != string(first.UUID) {
		t.Fatalf("after an unacknowledged TASK_STARTING got %s (same uuid: %v)", again.GetState(), string(again.UUID) == string(first.UUID))
	}
	s.ack(again)
	running := s.awaitUpdate("t1", -1)
	if running.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("after acknowledging TASK_STARTING got %s, want TASK_RUNNING", running.GetState())
	}
	s.ack(running)
	s.awaitAcked("t1", mesos.TASK_FINISHED)
	waitFor(t, "no unacknowledged update", func() bool {
		ts, _ := taskByID(m, "t1")
		return !ts.Active && ts.Unacknowledged == 0
	})
}

func TestMaster_KillCommandTask(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cmd     string
		caps    []mesos.FrameworkInfo_Capability_Type
		message string
	}{
		{"sigterm", "exec sleep 1000", nil, "Command terminated with signal Terminated"},
		{"sigkill after grace", `trap "" TERM; touch ready; while :; do sleep 1; done`,
			[]mesos.FrameworkInfo_Capability_Type{mesos.FrameworkInfo_Capability_TASK_KILLING_STATE},
			"Command terminated with signal Killed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
			s := subscribe(t, m, frameworkInfo("kill", 0, tc.caps...), nil)
			o := s.awaitOffers()[0]
			s.launch(o, "t1", tc.cmd, taskResources(0.1, 32))
			s.awaitAcked("t1", mesos.TASK_STARTING)
			s.awaitAcked("t1", mesos.TASK_RUNNING)
			ts, _ := taskByID(m, "t1")
			if ts.PID == 0 {
				t.Fatal("running task has no process")
			}
			if strings.Contains(tc.cmd, "touch ready") {
				waitFor(t, "the TERM trap", func() bool {
					_, err := os.Stat(filepath.Join(ts.Sandbox, "ready"))
					return err == nil
				})
			}
			s.mustCall(&scheduler.Call{Type: scheduler.Call_KILL, Kill: &scheduler.Call_Kill{TaskID: mesos.TaskID{Value: "t1"}}})
			if len(tc.caps) > 0 {
				s.awaitAcked("t1", mesos.TASK_KILLING)
			}
			st := s.awaitAcked("t1", mesos.TASK_KILLED)
			if st.GetMessage() != tc.message {
				t.Errorf("TASK_KILLED message %q, want %q", st.GetMessage(), tc.message)
			}
			waitFor(t, "the process to be gone", func() bool { return processGone(ts.PID) })
		})
	}
}

func TestMaster_CommandTaskFailure(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	s := subscribe(t, m, frameworkInfo("fail", 0), nil)
	o := s.awaitOffers()[0]
	s.launch(o, "exit7", "exit 7", taskResources(0.1, 32))
	st := s.awaitState("exit7", mesos.TASK_FAILED)
	if st.GetMessage() != "Command exited with status 7" {
		t.Errorf("message %q", st.GetMessage())
	}
	o = s.awaitOffers()[0]
	s.launch(o, "crash", "exec sleep 1000", taskResources(0.1, 32))
	s.awaitState("crash", mesos.TASK_RUNNING)
	if err := m.KillTaskProcess("crash"); err != nil {
		t.Fatal(err)
	}
	st = s.awaitAcked("crash", mesos.TASK_FAILED)
	if st.GetMessage() != "Command terminated with signal Killed" {
		t.Errorf("message %q", st.GetMessage())
	}
	if err := m.KillTaskProcess("crash"); err == nil {
		t.Error("KillTaskProcess of a finished task succeeded")
	}
}

func TestMaster_Reconcile(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	s := subscribe(t, m, frameworkInfo("reconcile", 0), nil)
	o := s.awaitOffers()[0]
	s.launch(o, "t1", "exec sleep 1000", taskResources(0.1, 32))
	s.awaitAcked("t1", mesos.TASK_STARTING)
	s.awaitAcked("t1", mesos.TASK_RUNNING)

	isReconcile := func(id string) func(*scheduler.Event) bool {
		return func(e *scheduler.Event) bool {
			return e.Type == scheduler.Event_UPDATE && e.Update.Status.TaskID.Value == id &&
				e.Update.Status.GetReason() == mesos.REASON_RECONCILIATION
		}
	}
	s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE, Reconcile: &scheduler.Call_Reconcile{}})
	st := s.await(isReconcile("t1")).Update.Status
	if st.GetState() != mesos.TASK_RUNNING || len(st.UUID) != 0 {
		t.Errorf("implicit reconciliation: %s with uuid %x, want TASK_RUNNING without uuid", st.GetState(), st.UUID)
	}
	s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE, Reconcile: &scheduler.Call_Reconcile{Tasks: []scheduler.Call_Reconcile_Task{
		{TaskID: mesos.TaskID{Value: "t1"}, AgentID: &mesos.AgentID{Value: "a1"}},
		{TaskID: mesos.TaskID{Value: "nope"}, AgentID: &mesos.AgentID{Value: "a1"}},
	}}})
	if st := s.await(isReconcile("t1")).Update.Status; st.GetState() != mesos.TASK_RUNNING {
		t.Errorf("explicit reconciliation of t1: %s", st.GetState())
	}
	if st := s.await(isReconcile("nope")).Update.Status; st.GetState() != mesos.TASK_LOST {
		t.Errorf("explicit reconciliation of an unknown task: %s, want TASK_LOST", st.GetState())
	}
}

func TestMaster_InvalidAccept(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	s := subscribe(t, m, frameworkInfo("invalid", 0), nil)
	o := s.awaitOffers()[0]
	tooBig := mesos.TaskInfo{Name: "big", TaskID: mesos.TaskID{Value: "big"}, AgentID: o.AgentID,
		Resources: taskResources(3, 32), Command: &mesos.CommandInfo{Value: ptr("true")}}
	badPort := mesos.TaskInfo{Name: "port", TaskID: mesos.TaskID{Value: "port"}, AgentID: o.AgentID,
		Resources: taskResources(0.1, 32, 40000), Command: &mesos.CommandInfo{Value: ptr("true")}}
	noCommand := mesos.TaskInfo{Name: "nocmd", TaskID: mesos.TaskID{Value: "nocmd"}, AgentID: o.AgentID,
		Resources: taskResources(0.1, 32)}
	defaultExec := mesos.TaskInfo{Name: "defexec", TaskID: mesos.TaskID{Value: "defexec"}, AgentID: o.AgentID,
		Resources: taskResources(0.1, 32), Executor: &mesos.ExecutorInfo{Type: mesos.ExecutorInfo_DEFAULT,
			ExecutorID: mesos.ExecutorID{Value: "d"}}}
	dup := mesos.TaskInfo{Name: "dup", TaskID: mesos.TaskID{Value: "dup"}, AgentID: o.AgentID,
		Resources: taskResources(0.1, 32), Command: &mesos.CommandInfo{Value: ptr("exec sleep 1000")}}
	s.mustCall(acceptCall(o, tooBig, badPort, noCommand, defaultExec, dup, dup))
	for _, id := range []string{"big", "port", "nocmd", "defexec", "dup"} {
		st := s.awaitUpdate(id, mesos.TASK_ERROR)
		if st.GetReason() != mesos.REASON_TASK_INVALID || len(st.UUID) != 0 {
			t.Errorf("%s: reason %s, uuid %x", id, st.GetReason(), st.UUID)
		}
	}
	// The offer is used up: accepting it again drops the task.
	again := mesos.TaskInfo{Name: "again", TaskID: mesos.TaskID{Value: "again"}, AgentID: o.AgentID,
		Resources: taskResources(0.1, 32), Command: &mesos.CommandInfo{Value: ptr("true")}}
	s.mustCall(acceptCall(o, again))
	st := s.awaitUpdate("again", mesos.TASK_LOST)
	if st.GetReason() != mesos.REASON_INVALID_OFFERS {
		t.Errorf("reason %s, want REASON_INVALID_OFFERS", st.GetReason())
	}
}

func TestMaster_FetchURIs(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat data.txt > copied.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "payload") }))
	defer srv.Close()
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	s := subscribe(t, m, frameworkInfo("fetch", 0), nil)
	o := s.awaitOffers()[0]
	ti := mesos.TaskInfo{Name: "f1", TaskID: mesos.TaskID{Value: "f1"}, AgentID: o.AgentID, Resources: taskResources(0.1, 32),
		Command: &mesos.CommandInfo{Value: ptr("./run.sh"), URIs: []mesos.CommandInfo_URI{
			{Value: "file://" + script, Executable: ptr(true)},
			{Value: srv.URL + "/blob", OutputFile: ptr("data.txt")},
		}}}
	s.mustCall(acceptCall(o, ti))
	s.awaitState("f1", mesos.TASK_FINISHED)
	ts, _ := taskByID(m, "f1")
	if b, err := os.ReadFile(filepath.Join(ts.Sandbox, "copied.txt")); err != nil || string(b) != "payload" {
		t.Errorf("task output %q, %v", b, err)
	}

	// A URI that cannot be fetched fails the launch.
	o = s.awaitOffers()[0]
	bad := mesos.TaskInfo{Name: "f2", TaskID: mesos.TaskID{Value: "f2"}, AgentID: o.AgentID, Resources: taskResources(0.1, 32),
		Command: &mesos.CommandInfo{Value: ptr("true"), URIs: []mesos.CommandInfo_URI{{Value: filepath.Join(dir, "missing")}}}}
	s.mustCall(acceptCall(o, bad))
	if st := s.awaitState("f2", mesos.TASK_FAILED); st.GetReason() != mesos.REASON_CONTAINER_LAUNCH_FAILED {
		t.Errorf("reason %s", st.GetReason())
	}
}
