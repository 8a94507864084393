package framework

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/local"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// TestServer_OnLocalProcesses serves the Scheduler of real processes (the local
// backend): a job's end carries its exit code and log, a job is killed, and kill -9 of
// an executor process is an EXECUTOR_LOST event.
func TestServer_OnLocalProcesses(t *testing.T) {
	cfg := local.DefaultConfig()
	cfg.LogDir = filepath.Join(t.TempDir(), "logs")
	cfg.KillGrace = 2 * time.Second
	b, err := local.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ready := t.TempDir()
	h := newHarness(t, b, harnessConfig{sched: func(c *scheduler.Config) {
		c.Executors = 1
		c.ExecutorTask = func(int) scheduler.Task {
			return scheduler.Task{Command: []string{"/bin/sh", "-c", `sleep 600 & : > "$0/$SLUICE_TASK_ID"; wait`, ready}}
		}
	}})
	w := h.watch(t, 0, "")

	id := h.launch(t, "11", 1, "echo hello-from-job-$SLUICE_TASK_ID; exit 3")
	var end *sluicepb.SchedulerEvent
	for end == nil || end.GetType() == sluicepb.EventType_EVENT_TYPE_JOB_RUNNING {
		end = w.jobEvent(t, id)
	}
	if end.GetType() != sluicepb.EventType_EVENT_TYPE_JOB_FAILED || end.GetExitCode() != 3 || end.GetJobId() != "11" ||
		!strings.Contains(end.GetLogTail(), "hello-from-job-"+id) || end.GetLogPath() == "" {
		t.Fatalf("end of job 11: %v, want JOB_FAILED exit 3 with its log", end)
	}
	st, err := h.client.JobStatus(t.Context(), &sluicepb.JobStatusRequest{JobId: "11"})
	if err != nil {
		t.Fatal(err)
	}
	if s := st.GetStatus(); s.GetState() != sluicepb.TaskState_TASK_STATE_FAILED || s.GetExitCode() != 3 ||
		!strings.Contains(s.GetLogTail(), "hello-from-job") || s.GetLogPath() != end.GetLogPath() {
		t.Fatalf("status of job 11: %v", s)
	}

	long := h.launch(t, "12", 1, "sleep 600")
	if ev := w.jobEvent(t, long); ev.GetType() != sluicepb.EventType_EVENT_TYPE_JOB_RUNNING {
		t.Fatalf("job 12: %v, want JOB_RUNNING", ev)
	}
	if _, err := h.client.KillJob(t.Context(), &sluicepb.KillJobTaskRequest{TaskId: long}); err != nil {
		t.Fatal(err)
	}
	if ev := w.jobEvent(t, long); ev.GetType() != sluicepb.EventType_EVENT_TYPE_JOB_KILLED {
		t.Fatalf("job 12 after kill: %v, want JOB_KILLED", ev)
	}

	var victim scheduler.TaskID
	schedulertest.Eventually(t, "a running executor", func() bool {
		st := h.sched.Executors()[0]
		victim = st.TaskID
		return st.State == scheduler.StateRunning
	})
	schedulertest.WaitFile(t, filepath.Join(ready, string(victim)))
	schedulertest.ShellCommands().Lose(t, b, victim)
	lost := w.next(t, sluicepb.EventType_EVENT_TYPE_EXECUTOR_LOST)
	if lost.GetTaskId() != string(victim) {
		t.Fatalf("lost event %v, want task %s", lost, victim)
	}
}
