package mesostest

import (
	"errors"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// runSleepTask launches a long-running command task on the first offer, leaving the rest of
// the offer unfiltered, and waits for RUNNING.
func runSleepTask(t *testing.T, s *testSched, taskID string) {
	t.Helper()
	o := s.awaitOffers()[0]
	call := acceptCall(o, mesos.TaskInfo{Name: taskID, TaskID: mesos.TaskID{Value: taskID}, AgentID: o.AgentID,
		Resources: taskResources(0.1, 32), Command: &mesos.CommandInfo{Value: ptr("exec sleep 1000")}})
	call.Accept.Filters = &mesos.Filters{RefuseSeconds: ptr(0.0)}
	s.mustCall(call)
	s.awaitState(taskID, mesos.TASK_RUNNING)
}

func TestMaster_FailoverResubscribe(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	info := frameworkInfo("failover", time.Hour)
	s := subscribe(t, m, info, nil)
	runSleepTask(t, s, "t1")
	ts, _ := taskByID(m, "t1")
	s.close()
	waitFor(t, "the master to see the disconnect", func() bool { return !m.Frameworks()[0].Connected })

	info.ID = &mesos.FrameworkID{Value: s.fwID}
	s2 := subscribe(t, m, info, nil)
	if s2.fwID != s.fwID {
		t.Fatalf("re-subscribed as %s, want %s", s2.fwID, s.fwID)
	}
	if now, _ := taskByID(m, "t1"); !now.Active || now.PID != ts.PID || now.State != mesos.TASK_RUNNING {
		t.Fatalf("after failover t1 is %+v, want the same running process %d", now, ts.PID)
	}
	s2.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE, Reconcile: &scheduler.Call_Reconcile{}})
	if st := s2.awaitUpdate("t1", -1); st.GetState() != mesos.TASK_RUNNING || st.GetReason() != mesos.REASON_RECONCILIATION {
		t.Errorf("reconciled t1 as %s (%s)", st.GetState(), st.GetReason())
	}
	// A second subscription with the same ID takes over; the first stream gets ERROR and ends.
	s3 := subscribe(t, m, info, nil)
	s2.await(func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_ERROR && e.Error.Message == "Framework failed over"
	})
	if err := s2.call(&scheduler.Call{Type: scheduler.Call_REVIVE}); err == nil {
		t.Error("a call on the failed-over stream succeeded")
	}
	s3.mustCall(&scheduler.Call{Type: scheduler.Call_REVIVE})
}

func TestMaster_FailoverTimeoutRemovesFramework(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	info := frameworkInfo("timeout", 100*time.Millisecond)
	s := subscribe(t, m, info, nil)
	runSleepTask(t, s, "t1")
	ts, _ := taskByID(m, "t1")
	s.close()
	waitFor(t, "the framework's removal", func() bool { return m.Frameworks()[0].Removed })
	waitFor(t, "the task's process to be killed", func() bool { return processGone(ts.PID) })
	if now, _ := taskByID(m, "t1"); now.Active || now.State != mesos.TASK_KILLED {
		t.Errorf("after the failover timeout t1 is %+v", now)
	}
	if a := m.Agents()[0]; len(a.Used) != 0 {
		t.Errorf("agent still uses %v", a.Used)
	}
	info.ID = &mesos.FrameworkID{Value: s.fwID}
	s2, err := trySubscribe(t, m, info, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2.await(func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_ERROR && e.Error.Message == "Framework has been removed"
	})
}

func TestMaster_Teardown(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	s := subscribe(t, m, frameworkInfo("teardown", time.Hour), nil)
	runSleepTask(t, s, "t1")
	// A custom executor's task and a default executor's task group run too.
	launchOnExecutor(t, s, sleepExecutor("custom"), "c1", "")
	o := s.awaitOffers()[0]
	group := mesos.TaskInfo{Name: "g1", TaskID: mesos.TaskID{Value: "g1"}, AgentID: o.AgentID,
		Resources: taskResources(0.1, 32), Command: &mesos.CommandInfo{Value: ptr("exec sleep 1000")}}
	def := mesos.ExecutorInfo{Type: mesos.ExecutorInfo_DEFAULT, ExecutorID: mesos.ExecutorID{Value: "default"},
		Resources: taskResources(0.1, 32)}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(def, group)}.WithOffers(o.ID)))
	s.awaitState("g1", mesos.TASK_RUNNING)
	var pids []int
	waitFor(t, "three processes", func() bool {
		pids = pids[:0]
		for _, ts := range m.Tasks() {
			if ts.PID != 0 {
				pids = append(pids, ts.PID)
			}
		}
		return len(pids) == 3
	})
	s.mustCall(&scheduler.Call{Type: scheduler.Call_TEARDOWN})
	for _, pid := range pids {
		waitFor(t, "the processes to be killed", func() bool { return processGone(pid) })
	}
	if fw := m.Frameworks()[0]; !fw.Removed || fw.Connected {
		t.Errorf("after TEARDOWN the framework is %+v", fw)
	}
	waitFor(t, "all resources back", func() bool { return len(m.Agents()[0].Used) == 0 && len(m.Executors()) == 0 })
}

func TestMaster_RemoveAgent(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps []mesos.FrameworkInfo_Capability_Type
		want mesos.TaskState
	}{
		{"lost", nil, mesos.TASK_LOST},
		{"gone", []mesos.FrameworkInfo_Capability_Type{mesos.FrameworkInfo_Capability_PARTITION_AWARE}, mesos.TASK_GONE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
			s := subscribe(t, m, frameworkInfo("remove", time.Hour, tc.caps...), nil)
			runSleepTask(t, s, "t1")
			ts, _ := taskByID(m, "t1")
			if err := m.RemoveAgent("a1"); err != nil {
				t.Fatal(err)
			}
			st := s.awaitUpdate("t1", tc.want)
			if st.GetReason() != mesos.REASON_AGENT_REMOVED || st.GetSource() != mesos.SOURCE_MASTER {
				t.Errorf("update reason %s source %s", st.GetReason(), st.GetSource())
			}
			s.await(func(e *scheduler.Event) bool {
				return e.Type == scheduler.Event_FAILURE && e.Failure.GetAgentID().GetValue() == "a1" && e.Failure.ExecutorID == nil
			})
			waitFor(t, "the task's process to be killed", func() bool { return processGone(ts.PID) })
			if err := m.RemoveAgent("a1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("second RemoveAgent: %v", err)
			}
			if _, err := m.AddAgent(smallAgent("a1")); !errors.Is(err, ErrExists) {
				t.Errorf("re-adding a removed agent ID: %v", err)
			}
			// The framework goes on with a new agent.
			if _, err := m.AddAgent(smallAgent("a2")); err != nil {
				t.Fatal(err)
			}
			s.awaitOffers("a2")
		})
	}
}

func TestMaster_Authentication(t *testing.T) {
	m := newTestMaster(t, func(c *Config) {
		c.Agents = []AgentConfig{smallAgent("a1")}
		c.Credentials = map[string]string{"sluice": "s3cret"}
	})
	info := frameworkInfo("auth", 0)
	info.Principal = ptr("sluice")
	for _, tc := range []struct {
		name string
		opts []httpcli.Opt
		code apierrors.Code
	}{
		{"no credentials", nil, apierrors.CodeNotAuthenticated},
		{"wrong secret", []httpcli.Opt{httpcli.Do(httpcli.With(httpcli.BasicAuth("sluice", "nope")))}, apierrors.CodeNotAuthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := trySubscribe(t, m, info, nil, tc.opts...)
			if !tc.code.Matches(err) {
				t.Fatalf("subscribe: %v, want HTTP %d", err, tc.code)
			}
		})
	}
	other := frameworkInfo("auth", 0)
	other.Principal = ptr("someone-else")
	if _, err := trySubscribe(t, m, other, nil, httpcli.Do(httpcli.With(httpcli.BasicAuth("sluice", "s3cret")))); !apierrors.CodeMalformedRequest.Matches(err) {
		t.Fatalf("subscribe with another principal: %v, want HTTP 400", err)
	}
	s := subscribe(t, m, info, nil, httpcli.Do(httpcli.With(httpcli.BasicAuth("sluice", "s3cret"))))
	s.awaitOffers("a1")
	if fw := m.Frameworks()[0]; fw.Principal != "sluice" {
		t.Errorf("principal %q", fw.Principal)
	}
}
