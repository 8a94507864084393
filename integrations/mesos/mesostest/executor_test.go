package mesostest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// helperExecutorInfo runs this test binary as the helper executor, speaking codec to the agent.
func helperExecutorInfo(t *testing.T, id, codec string) *mesos.ExecutorInfo {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &mesos.ExecutorInfo{
		Type:       mesos.ExecutorInfo_CUSTOM,
		ExecutorID: mesos.ExecutorID{Value: id},
		Command: &mesos.CommandInfo{Value: ptr(bin), Shell: ptr(false), Arguments: []string{bin},
			Environment: &mesos.Environment{Variables: []mesos.Environment_Variable{
				{Name: helperEnv, Value: ptr("1")}, {Name: "HELPER_CODEC", Value: ptr(codec)},
				// A race-enabled binary sleeps a second at exit unless told not to.
				{Name: "GORACE", Value: ptr("atexit_sleep_ms=0")}}}},
		Resources: taskResources(0.1, 32),
	}
}

// launchOnExecutor accepts the next offer with one task for ei carrying data.
func launchOnExecutor(t *testing.T, s *testSched, ei *mesos.ExecutorInfo, taskID, data string) mesos.Offer {
	t.Helper()
	o := s.awaitOffers()[0]
	ti := mesos.TaskInfo{Name: taskID, TaskID: mesos.TaskID{Value: taskID}, AgentID: o.AgentID,
		Resources: taskResources(0.1, 32), Executor: ei, Data: []byte(data)}
	call := acceptCall(o, ti)
	call.Accept.Filters = &mesos.Filters{RefuseSeconds: ptr(0.0)}
	s.mustCall(call)
	return o
}

func TestMaster_CustomExecutor(t *testing.T) {
	for _, codec := range []string{"json", "protobuf"} {
		t.Run(codec, func(t *testing.T) {
			m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
			s := subscribe(t, m, frameworkInfo("custom", 0, mesos.FrameworkInfo_Capability_PARTITION_AWARE), nil)
			ei := helperExecutorInfo(t, "e1", codec)

			launchOnExecutor(t, s, ei, "x1", "")
			running := s.awaitUpdate("x1", mesos.TASK_RUNNING)
			if running.GetSource() != mesos.SOURCE_EXECUTOR || running.GetExecutorID().GetValue() != "e1" || len(running.UUID) != 16 {
				t.Fatalf("RUNNING from %s, executor %v, uuid %x", running.GetSource(), running.ExecutorID, running.UUID)
			}
			s.ack(running)
			execs := m.Executors()
			if len(execs) != 1 || execs[0].ID != "e1" || !execs[0].Subscribed || execs[0].PID == 0 {
				t.Fatalf("executors %+v", execs)
			}
			acks := filepath.Join(execs[0].Sandbox, "acks")
			waitFor(t, "the executor's ACKNOWLEDGED event", func() bool {
				b, _ := os.ReadFile(acks)
				return strings.Contains(string(b), fmt.Sprintf("x1 %x", running.UUID))
			})
			env, err := os.ReadFile(filepath.Join(execs[0].Sandbox, "executor.env"))
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range []string{"MESOS_EXECUTOR_ID=e1", "MESOS_FRAMEWORK_ID=" + s.fwID, "MESOS_SANDBOX=" + execs[0].Sandbox,
				"MESOS_AGENT_ENDPOINT=" + m.Agents()[0].Endpoint, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=1secs", "MESOS_CHECKPOINT=0"} {
				if !strings.Contains(string(env), kv+"\n") {
					t.Errorf("executor environment lacks %s", kv)
				}
			}

			// A second task goes to the same executor process, which the offer names.
			o := launchOnExecutor(t, s, ei, "x2", helperFinish)
			if len(o.ExecutorIDs) != 1 || o.ExecutorIDs[0].Value != "e1" {
				t.Errorf("offer names executors %v, want [e1]", o.ExecutorIDs)
			}
			s.awaitState("x2", mesos.TASK_FINISHED)
			if now := m.Executors(); len(now) != 1 || now[0].PID != execs[0].PID {
				t.Fatalf("executors after a second task: %+v", now)
			}

			s.mustCall(calls.Kill("x1", "a1"))
			if st := s.awaitState("x1", mesos.TASK_KILLED); st.GetSource() != mesos.SOURCE_EXECUTOR {
				t.Errorf("TASK_KILLED from %s", st.GetSource())
			}

			// A crash of the executor fails its tasks and reports the executor's exit.
			launchOnExecutor(t, s, ei, "x3", "")
			s.awaitState("x3", mesos.TASK_RUNNING)
			if err := m.KillTaskProcess("x3"); err != nil {
				t.Fatal(err)
			}
			st := s.awaitState("x3", mesos.TASK_FAILED)
			if st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED || st.GetSource() != mesos.SOURCE_AGENT {
				t.Errorf("TASK_FAILED reason %s source %s", st.GetReason(), st.GetSource())
			}
			ev := s.await(func(e *scheduler.Event) bool { return e.Type == scheduler.Event_FAILURE && e.Failure.ExecutorID != nil })
			if f := ev.Failure; f.ExecutorID.Value != "e1" || f.GetAgentID().GetValue() != "a1" ||
				!syscall.WaitStatus(f.GetStatus()).Signaled() || syscall.WaitStatus(f.GetStatus()).Signal() != syscall.SIGKILL {
				t.Errorf("FAILURE %+v", f)
			}
			waitFor(t, "the executor's resources to return", func() bool { return len(m.Agents()[0].Used) == 0 })
		})
	}
}

func TestMaster_ExecutorExit(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	s := subscribe(t, m, frameworkInfo("exit", 0), nil)
	launchOnExecutor(t, s, helperExecutorInfo(t, "e1", "json"), "x1", helperExit)
	s.awaitState("x1", mesos.TASK_FAILED)
	ev := s.await(func(e *scheduler.Event) bool { return e.Type == scheduler.Event_FAILURE })
	if ws := syscall.WaitStatus(ev.Failure.GetStatus()); !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("FAILURE status %d, want an exit with status 3", ev.Failure.GetStatus())
	}
	if len(m.Executors()) != 0 {
		t.Errorf("executors after the exit: %+v", m.Executors())
	}
}

func TestMaster_ShutdownExecutor(t *testing.T) {
	agent := smallAgent("a1")
	// Long enough for the helper to exit by itself on a loaded machine.
	agent.ExecutorShutdownGracePeriod = waitTimeout
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{agent} })
	s := subscribe(t, m, frameworkInfo("shutdown", 0), nil)
	launchOnExecutor(t, s, helperExecutorInfo(t, "e1", "protobuf"), "x1", "")
	s.awaitState("x1", mesos.TASK_RUNNING)
	s.mustCall(calls.Shutdown("e1", "a1"))
	// The helper exits 0 on SHUTDOWN; its unfinished task fails.
	s.awaitState("x1", mesos.TASK_FAILED)
	ev := s.await(func(e *scheduler.Event) bool { return e.Type == scheduler.Event_FAILURE })
	if ws := syscall.WaitStatus(ev.Failure.GetStatus()); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("executor exit status %d after SHUTDOWN, want 0", ev.Failure.GetStatus())
	}
}

func TestMaster_LaunchGroup(t *testing.T) {
	for _, tc := range []struct {
		name string
		exec func(t *testing.T) *mesos.ExecutorInfo
	}{
		{"default executor", func(*testing.T) *mesos.ExecutorInfo {
			return &mesos.ExecutorInfo{Type: mesos.ExecutorInfo_DEFAULT, ExecutorID: mesos.ExecutorID{Value: "g1"},
				Resources: taskResources(0.1, 32)}
		}},
		{"custom executor", func(t *testing.T) *mesos.ExecutorInfo { return helperExecutorInfo(t, "g1", "json") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
			s := subscribe(t, m, frameworkInfo("group", 0), nil)
			o := s.awaitOffers()[0]
			var tasks []mesos.TaskInfo
			for _, id := range []string{"g-a", "g-b"} {
				tasks = append(tasks, mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
					Resources: taskResources(0.1, 32), Command: &mesos.CommandInfo{Value: ptr("echo " + id + " > out")},
					Data: []byte(helperFinish)})
			}
			s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(*tc.exec(t), tasks...)}.WithOffers(o.ID)))
			for _, id := range []string{"g-a", "g-b"} {
				if st := s.awaitState(id, mesos.TASK_FINISHED); st.GetExecutorID().GetValue() != "g1" {
					t.Errorf("%s finished under executor %v", id, st.ExecutorID)
				}
			}
		})
	}
}
