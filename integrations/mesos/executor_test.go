package mesos

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
)

// runAsync runs RunExecutor on a goroutine and returns the channel of its result.
func runAsync(ctx context.Context, cfg ExecutorConfig, run RunFunc) <-chan error {
	done := make(chan error, 1)
	go func() { done <- RunExecutor(ctx, cfg, run) }()
	return done
}

// launchTask runs RunExecutor against a and has a launch task-1 once it subscribed.
func launchTask(ctx context.Context, t *testing.T, a *fakeAgent, cfg ExecutorConfig, run RunFunc) <-chan error {
	t.Helper()
	done := runAsync(ctx, cfg, run)
	a.waitSubs(1)
	a.send(launchEvent(testTask(t, "task-1")))
	return done
}

// result waits for RunExecutor's return.
func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("RunExecutor did not return")
		return nil
	}
}

// serveUntil is a run function that signals ready, reports its task on got and returns
// nil when its ctx ends or release is closed, or fails with fail when that is set.
func serveUntil(got chan<- TaskInfo, release <-chan struct{}, fail error) RunFunc {
	return func(ctx context.Context, task TaskInfo, ready func()) error {
		ready()
		ready() // a second call does nothing
		got <- task
		select {
		case <-ctx.Done():
		case <-release:
		}
		return fail
	}
}

func TestRunExecutor_TaskFinishes(t *testing.T) {
	a := newFakeAgent(t, true)
	got := make(chan TaskInfo, 1)
	release := make(chan struct{})
	done := launchTask(t.Context(), t, a, testExecutorConfig(a, false), serveUntil(got, release, nil))
	task := <-got
	want := TaskInfo{
		ID: "task-1", Name: "executor-0", AgentID: "agent-1", Host: "agent-host-1",
		Env: map[string]string{
			"SLUICE_MASTER": "10.0.0.1:19998", "SLUICE_PORT_RPC": "31000", "SLUICE_PORT_HTTP": "31001",
			"SLUICE_TASK_ID": "task-1",
		},
		Ports:  map[string]int{"rpc": 31000, "http": 31001},
		Labels: map[string]string{LabelPortNames: "rpc,http"},
	}
	if diff := cmp.Diff(want, task); diff != "" {
		t.Errorf("task (-want +got):\n%s", diff)
	}
	a.waitState(mesosv1.TASK_RUNNING)
	close(release)
	if err := result(t, done); err != nil {
		t.Fatalf("RunExecutor: %v", err)
	}
	if got, want := a.states(), []string{"TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"}; !cmp.Equal(got, want) {
		t.Errorf("updates %v, want %v", got, want)
	}
	fin := a.waitState(mesosv1.TASK_FINISHED)
	if fin.GetSource() != mesosv1.SOURCE_EXECUTOR || fin.GetExecutorID().GetValue() != "exec-1" || len(fin.UUID) != 16 {
		t.Errorf("final update %+v: want source executor, executor exec-1 and a 16-byte UUID", fin)
	}
}

func TestRunExecutor_KillAndShutdown(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(a *fakeAgent)
	}{
		{"kill", func(a *fakeAgent) { a.send(killEvent("task-1")) }},
		{"shutdown", func(a *fakeAgent) { a.send(&executor.Event{Type: executor.Event_SHUTDOWN}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newFakeAgent(t, true)
			got := make(chan TaskInfo, 1)
			done := launchTask(t.Context(), t, a, testExecutorConfig(a, false), serveUntil(got, nil, nil))
			<-got
			a.waitState(mesosv1.TASK_RUNNING)
			tc.stop(a)
			if err := result(t, done); err != nil {
				t.Fatalf("RunExecutor: %v", err)
			}
			if got, want := a.states(), []string{"TASK_STARTING", "TASK_RUNNING", "TASK_KILLED"}; !cmp.Equal(got, want) {
				t.Errorf("updates %v, want %v", got, want)
			}
		})
	}
}

func TestRunExecutor_TaskFails(t *testing.T) {
	a := newFakeAgent(t, true)
	got := make(chan TaskInfo, 1)
	release := make(chan struct{})
	boom := errors.New("tier directory not writable")
	done := launchTask(t.Context(), t, a, testExecutorConfig(a, false), serveUntil(got, release, boom))
	<-got
	close(release)
	err := result(t, done)
	if !errors.Is(err, ErrTaskFailed) || !errors.Is(err, boom) {
		t.Fatalf("RunExecutor = %v, want ErrTaskFailed wrapping the task's error", err)
	}
	failed := a.waitState(mesosv1.TASK_FAILED)
	if failed.GetMessage() != boom.Error() {
		t.Errorf("TASK_FAILED message %q, want %q", failed.GetMessage(), boom.Error())
	}
}

func TestRunExecutor_BadTaskData(t *testing.T) {
	a := newFakeAgent(t, true)
	done := runAsync(t.Context(), testExecutorConfig(a, false), func(context.Context, TaskInfo, func()) error {
		t.Error("run called for a task that cannot be read")
		return nil
	})
	a.waitSubs(1)
	task := testTask(t, "task-1")
	task.Data = []byte("{not json")
	a.send(launchEvent(task))
	if err := result(t, done); !errors.Is(err, ErrBadTaskData) {
		t.Fatalf("RunExecutor = %v, want ErrBadTaskData", err)
	}
	if got, want := a.states(), []string{"TASK_FAILED"}; !cmp.Equal(got, want) {
		t.Errorf("updates %v, want %v", got, want)
	}
}

func TestRunExecutor_KillGraceBoundsAStuckTask(t *testing.T) {
	a := newFakeAgent(t, true)
	cfg := testExecutorConfig(a, false)
	cfg.KillGrace = 100 * time.Millisecond
	stuck := make(chan struct{})
	returned := make(chan struct{})
	t.Cleanup(func() { close(stuck); <-returned })
	done := runAsync(t.Context(), cfg, func(ctx context.Context, _ TaskInfo, ready func()) error {
		defer close(returned)
		ready()
		<-stuck // ignores ctx
		return nil
	})
	a.waitSubs(1)
	a.send(launchEvent(testTask(t, "task-1")))
	a.waitState(mesosv1.TASK_RUNNING)
	a.send(killEvent("task-1"))
	if err := result(t, done); err != nil {
		t.Fatalf("RunExecutor: %v", err)
	}
	killed := a.waitState(mesosv1.TASK_KILLED)
	if want := "killed by the framework (did not stop within its grace period)"; killed.GetMessage() != want {
		t.Errorf("TASK_KILLED message %q, want %q", killed.GetMessage(), want)
	}
}

func TestRunExecutor_ResubscribeResendsUnacknowledged(t *testing.T) {
	a := newFakeAgent(t, false) // acknowledges nothing until told
	got := make(chan TaskInfo, 1)
	release := make(chan struct{})
	done := launchTask(t.Context(), t, a, testExecutorConfig(a, true), serveUntil(got, release, nil))
	<-got
	running := a.waitState(mesosv1.TASK_RUNNING)
	a.drop() // the agent restarts

	a.waitSubs(2)
	sub := a.subscription(1)
	if len(sub.UnacknowledgedTasks) != 1 || sub.UnacknowledgedTasks[0].TaskID.Value != "task-1" {
		t.Errorf("resubscription's unacknowledged tasks %v, want task-1", sub.UnacknowledgedTasks)
	}
	var states []string
	for _, u := range sub.UnacknowledgedUpdates {
		states = append(states, u.Status.GetState().String())
	}
	if want := []string{"TASK_STARTING", "TASK_RUNNING"}; !cmp.Equal(states, want) {
		t.Errorf("resubscription's unacknowledged updates %v, want %v", states, want)
	}
	// Once RUNNING is acknowledged, neither it nor the task is sent again.
	for _, u := range sub.UnacknowledgedUpdates {
		a.send(ackOf(u.Status))
	}
	a.mu.Lock()
	a.autoAck = true
	a.mu.Unlock()
	a.drop()
	a.waitSubs(3)
	if sub := a.subscription(2); len(sub.UnacknowledgedTasks) != 0 || len(sub.UnacknowledgedUpdates) != 0 {
		t.Errorf("third subscription carries %d tasks and %d updates, want none (running update %x acknowledged)",
			len(sub.UnacknowledgedTasks), len(sub.UnacknowledgedUpdates), running.UUID)
	}
	close(release)
	if err := result(t, done); err != nil {
		t.Fatalf("RunExecutor: %v", err)
	}
	a.waitState(mesosv1.TASK_FINISHED)
}

func TestRunExecutor_UpdatesWhileDisconnectedGoWithTheNextSubscription(t *testing.T) {
	a := newFakeAgent(t, true)
	got := make(chan TaskInfo, 1)
	release := make(chan struct{})
	done := launchTask(t.Context(), t, a, testExecutorConfig(a, true), serveUntil(got, release, nil))
	<-got
	a.waitState(mesosv1.TASK_RUNNING)
	a.mu.Lock()
	a.autoAck = false
	a.mu.Unlock()
	a.drop()
	close(release) // the task finishes while the agent may be away
	a.waitSubs(2)
	waitFor(t, "TASK_FINISHED delivered", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, s := range a.subs[1:] {
			for _, u := range s.UnacknowledgedUpdates {
				if u.Status.GetState() == mesosv1.TASK_FINISHED {
					return true
				}
			}
		}
		for _, u := range a.updates {
			if u.GetState() == mesosv1.TASK_FINISHED {
				return true
			}
		}
		return false
	})
	fin := a.waitStateOrSubscribed(mesosv1.TASK_FINISHED)
	a.send(ackOf(fin))
	if err := result(t, done); err != nil {
		t.Fatalf("RunExecutor: %v", err)
	}
}

// waitStateOrSubscribed returns the update with state, whether it came as an UPDATE call
// or inside a later SUBSCRIBE.
func (a *fakeAgent) waitStateOrSubscribed(state mesosv1.TaskState) mesosv1.TaskStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, u := range a.updates {
		if u.GetState() == state {
			return u
		}
	}
	for _, s := range a.subs {
		for _, u := range s.UnacknowledgedUpdates {
			if u.Status.GetState() == state {
				return u.Status
			}
		}
	}
	a.t.Fatalf("no %s update", state)
	return mesosv1.TaskStatus{}
}

func TestRunExecutor_AgentLost(t *testing.T) {
	for _, tc := range []struct {
		name       string
		checkpoint bool
	}{
		{"without checkpointing the first disconnection ends the task", false},
		{"with checkpointing the recovery timeout ends the task", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newFakeAgent(t, true)
			cfg := testExecutorConfig(a, tc.checkpoint)
			cfg.Agent.RecoveryTimeout = 300 * time.Millisecond
			got := make(chan TaskInfo, 1)
			stopped := make(chan struct{})
			done := launchTask(t.Context(), t, a, cfg, func(ctx context.Context, task TaskInfo, ready func()) error {
				ready()
				got <- task
				<-ctx.Done()
				close(stopped)
				return nil
			})
			<-got
			a.waitState(mesosv1.TASK_RUNNING)
			a.stop()
			if err := result(t, done); !errors.Is(err, ErrAgentDisconnected) {
				t.Fatalf("RunExecutor = %v, want ErrAgentDisconnected", err)
			}
			<-stopped // the task's ctx was cancelled
		})
	}
}

func TestRunExecutor_RefusesASecondTask(t *testing.T) {
	a := newFakeAgent(t, true)
	got := make(chan TaskInfo, 2)
	release := make(chan struct{})
	done := launchTask(t.Context(), t, a, testExecutorConfig(a, false), serveUntil(got, release, nil))
	a.waitState(mesosv1.TASK_RUNNING)
	a.send(launchEvent(testTask(t, "task-2")))
	failed := a.waitState(mesosv1.TASK_FAILED)
	if failed.TaskID.Value != "task-2" {
		t.Errorf("TASK_FAILED for %s, want task-2", failed.TaskID.Value)
	}
	a.send(killEvent("task-9"))
	killed := a.waitState(mesosv1.TASK_KILLED)
	if killed.TaskID.Value != "task-9" {
		t.Errorf("TASK_KILLED for %s, want task-9 (unknown)", killed.TaskID.Value)
	}
	close(release)
	if err := result(t, done); err != nil {
		t.Fatalf("RunExecutor: %v", err)
	}
	if n := len(got); n != 1 {
		t.Errorf("run called %d times, want 1", n)
	}
}

func TestRunExecutor_ContextEndKillsTheTask(t *testing.T) {
	a := newFakeAgent(t, true)
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan TaskInfo, 1)
	done := launchTask(ctx, t, a, testExecutorConfig(a, false), serveUntil(got, nil, nil))
	a.waitState(mesosv1.TASK_RUNNING)
	cancel()
	if err := result(t, done); err != nil {
		t.Fatalf("RunExecutor: %v", err)
	}
	killed := a.waitState(mesosv1.TASK_KILLED)
	if got := killed.GetMessage(); got != "executor process stopped" {
		t.Errorf("TASK_KILLED message %q", got)
	}
}

func TestRunExecutor_ShutdownBeforeLaunch(t *testing.T) {
	a := newFakeAgent(t, true)
	done := runAsync(t.Context(), testExecutorConfig(a, false), func(context.Context, TaskInfo, func()) error {
		t.Error("run called without a launch")
		return nil
	})
	a.waitSubs(1)
	a.send(&executor.Event{Type: executor.Event_SHUTDOWN})
	if err := result(t, done); err != nil {
		t.Fatalf("RunExecutor: %v", err)
	}
	if n := len(a.states()); n != 0 {
		t.Errorf("%d updates sent, want none", n)
	}
}

func TestExecutorConfig_Validate(t *testing.T) {
	good := func() ExecutorConfig {
		c := DefaultExecutorConfig()
		c.Agent = config.Config{FrameworkID: "fw", ExecutorID: "ex", AgentEndpoint: "127.0.0.1:5051",
			ExecutorShutdownGracePeriod: 5 * time.Second}
		return c
	}
	for _, tc := range []struct {
		name   string
		mutate func(*ExecutorConfig)
		ok     bool
	}{
		{"good", func(*ExecutorConfig) {}, true},
		{"no endpoint", func(c *ExecutorConfig) { c.Agent.AgentEndpoint = "" }, false},
		{"endpoint without port", func(c *ExecutorConfig) { c.Agent.AgentEndpoint = "agent1" }, false},
		{"no framework", func(c *ExecutorConfig) { c.Agent.FrameworkID = "" }, false},
		{"no executor", func(c *ExecutorConfig) { c.Agent.ExecutorID = "" }, false},
		{"checkpoint without recovery timeout", func(c *ExecutorConfig) { c.Agent.Checkpoint = true }, false},
		{"checkpoint with recovery timeout", func(c *ExecutorConfig) {
			c.Agent.Checkpoint, c.Agent.RecoveryTimeout = true, time.Minute
		}, true},
		{"zero call timeout", func(c *ExecutorConfig) { c.CallTimeout = 0 }, false},
		{"zero kill grace", func(c *ExecutorConfig) { c.KillGrace = 0 }, false},
		{"zero ack timeout", func(c *ExecutorConfig) { c.AckTimeout = 0 }, false},
		{"zero backoff", func(c *ExecutorConfig) { c.BackoffMin = 0 }, false},
		{"client timeout", func(c *ExecutorConfig) { c.HTTPClient = &http.Client{Timeout: time.Second} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(&c)
			err := c.Validate()
			if tc.ok && err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidExecutorConfig) {
				t.Errorf("Validate() = %v, want ErrInvalidExecutorConfig", err)
			}
		})
	}
}
