package mesostest

import (
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
