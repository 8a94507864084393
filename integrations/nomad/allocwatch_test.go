package nomad

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/internal/nomadtest"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/framework"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// executorJob is a stand-in for a deployment's executor job: group and task "executor",
// a dynamic "rpc" port, restarts allowed, the marker in the task's environment.
func executorJob(id, marker string) *api.Job {
	job := api.NewServiceJob(id, id, "global", 50)
	job.Datacenters = []string{"*"}
	task := api.NewTask("executor", DriverRawExec).
		SetConfig("command", "/bin/sh").
		SetConfig("args", []string{"-c", "sleep 600 & wait"})
	task.Env = map[string]string{"SLUICE_TEST_MARKER": marker}
	task.KillTimeout = ptr(time.Second)
	group := api.NewTaskGroup("executor", 1).AddTask(task)
	group.Networks = []*api.NetworkResource{{DynamicPorts: []api.Port{{Label: "rpc"}}}}
	group.RestartPolicy = &api.RestartPolicy{Attempts: ptr(3), Interval: ptr(10 * time.Minute), Delay: ptr(100 * time.Millisecond), Mode: ptr("fail")}
	return job.AddTaskGroup(group)
}

// execEvents reads executor events with the suite's deadline.
type execEvents struct {
	ch <-chan framework.ExecutorEvent
}

func (e execEvents) next(t *testing.T) framework.ExecutorEvent {
	t.Helper()
	timer := time.NewTimer(schedulertest.WaitTimeout)
	defer timer.Stop()
	select {
	case ev, ok := <-e.ch:
		if !ok {
			t.Fatal("executor watch closed")
		}
		return ev
	case <-timer.C:
		t.Fatalf("no executor event within %v", schedulertest.WaitTimeout)
	}
	panic("unreachable")
}

// killByEnv sends SIGKILL to the processes whose environment holds kv.
func killByEnv(t *testing.T, kv string) {
	t.Helper()
	paths, _ := filepath.Glob("/proc/[0-9]*/environ")
	n := 0
	for _, p := range paths {
		env, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(append([]byte{0}, env...), []byte("\x00"+kv+"\x00")) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil && syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no process with %s", kv)
	}
}

func TestExecutorWatch(t *testing.T) {
	agent := nomadtest.Shared(t)
	prefix := "w" + randomSuffix()
	cfg := DefaultConfig()
	cfg.Address, cfg.JobPrefix = agent.Addr(), prefix
	w, err := NewExecutorWatch(ExecutorWatchConfig{Nomad: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	ch, err := w.WatchExecutors(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ev := execEvents{ch}
	c := agent.API(t)
	jobID := prefix + "-executor"
	marker := "SLUICE_TEST_MARKER=" + prefix
	if _, _, err := c.Jobs().Register(executorJob(jobID, prefix), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _, _ = c.Jobs().Deregister(jobID, true, nil) })

	running := ev.next(t)
	if running.State != scheduler.StateRunning || running.Host != "127.0.0.1" || !strings.HasPrefix(running.RPCAddress, "127.0.0.1:") || running.Node != agent.NodeID() {
		t.Fatalf("first event %+v, want a running executor on 127.0.0.1 with an RPC address", running)
	}
	alloc := running.TaskID
	list, err := w.Executors(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].TaskID != alloc || list[0].RPCAddress != running.RPCAddress || list[0].State != scheduler.StateRunning || list[0].Backend != "nomad" {
		t.Fatalf("Executors() = %+v, want the running allocation %s", list, alloc)
	}

	// The task dies and Nomad restarts it in place: its memory is gone.
	killByEnv(t, marker)
	if lost := ev.next(t); lost.TaskID != alloc || lost.State != scheduler.StateLost || !strings.Contains(lost.Reason, "restart") {
		t.Fatalf("after a crash: %+v, want %s lost by a restart", lost, alloc)
	}
	if again := ev.next(t); again.TaskID != alloc || again.State != scheduler.StateRunning {
		t.Fatalf("after the restart: %+v, want %s running again", again, alloc)
	}

	// An operator stops the allocation: lost at once, and Nomad's replacement runs.
	if _, err := c.Allocations().Stop(&api.Allocation{ID: string(alloc)}, nil); err != nil {
		t.Fatal(err)
	}
	var sawLost, sawNew bool
	for !sawLost || !sawNew {
		e := ev.next(t)
		switch {
		case e.TaskID == alloc && e.State == scheduler.StateLost:
			sawLost = true
		case e.TaskID != alloc && e.State == scheduler.StateRunning:
			sawNew = true
		default:
			t.Fatalf("after the stop: unexpected %+v", e)
		}
	}

	w.Close()
	for range ch {
	}
	if _, err := w.WatchExecutors(t.Context()); err == nil {
		t.Error("WatchExecutors after Close succeeded")
	}
}
