package main

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/local"
)

// runScheduler runs a scheduler with the local backend (no executors) until cleanup.
func runScheduler(t *testing.T) *schedJobLauncher {
	t.Helper()
	backend, err := local.New(local.Config{LogDir: t.TempDir(), KillGrace: time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := scheduler.DefaultConfig()
	cfg.Backend = backend
	sched, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		backend.Close()
	})
	return &schedJobLauncher{sched: sched}
}

// nextEnd reads events until the terminal one of task id.
func nextEnd(t *testing.T, events <-chan master.JobEvent, id string) master.JobEvent {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("job events closed")
			}
			if ev.TaskID == id && ev.State.Terminal() {
				return ev
			}
		case <-timeout:
			t.Fatalf("no end of task %s", id)
		}
	}
}

func TestSchedJobLauncher(t *testing.T) {
	l := runScheduler(t)
	ctx := t.Context()
	evCtx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	events, err := l.JobEvents(evCtx)
	if err != nil {
		t.Fatal(err)
	}
	launch := func(cmd string, env map[string]string) string {
		t.Helper()
		var id string
		// Run may not have started yet.
		pollFor(t, "the scheduler to run", func() bool {
			var err error
			id, err = l.LaunchJob(ctx, master.JobLaunch{JobID: 7, Attempt: 1, Name: "j7",
				Command: []string{"sh", "-c", cmd}, Env: env})
			if err != nil && !errors.Is(err, scheduler.ErrNotRunning) {
				t.Fatal(err)
			}
			return err == nil
		})
		return id
	}

	id := launch(`echo "job $SLUICE_JOB_ID says hi"; echo oops >&2; exit 3`, map[string]string{"SLUICE_JOB_ID": "7"})
	ev := nextEnd(t, events, id)
	if ev.State != master.TaskFailed || ev.ExitCode != 3 || ev.LogPath == "" ||
		ev.LogTail != "job 7 says hi\noops\n" || ev.Host == "" {
		t.Errorf("failed job event %+v", ev)
	}
	st, err := l.JobStatus(ctx, id)
	if err != nil || st.State != master.TaskFailed || st.LogTail != ev.LogTail || st.ExitCode != 3 {
		t.Errorf("JobStatus = %+v, %v", st, err)
	}

	id = launch("exit 0", nil)
	if ev := nextEnd(t, events, id); ev.State != master.TaskFinished || ev.ExitCode != 0 {
		t.Errorf("finished job event %+v", ev)
	}

	id = launch("sleep 60", nil)
	if err := l.KillJob(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ev := nextEnd(t, events, id); ev.State != master.TaskKilled {
		t.Errorf("killed job event %+v", ev)
	}
	if err := l.KillJob(ctx, "nope-1"); !errors.Is(err, master.ErrUnknownTask) {
		t.Errorf("KillJob(unknown) = %v", err)
	}
	if _, err := l.JobStatus(ctx, "nope-1"); !errors.Is(err, master.ErrUnknownTask) {
		t.Errorf("JobStatus(unknown) = %v", err)
	}
}

// TestLocal_Jobs runs lineage jobs as child processes of `sluice local`: the gentext
// example writes its output and completes; a job that fails, and one that exits 0
// without writing its output, are FAILED with their log tails.
func TestLocal_Jobs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an example and runs a local cluster")
	}
	gentext := filepath.Join(t.TempDir(), "gentext")
	build := exec.Command("go", "build", "-o", gentext, "github.com/sluicedata/sluice/examples/gentext")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build gentext: %v\n%s", err, out)
	}
	t.Setenv(envBeSluice, "1")
	rl := startLocal(t, t.TempDir())
	defer rl.stop(t)
	cl := localClient(t, rl.addr)
	ctx := t.Context()
	pollFor(t, "two executors", func() bool { return len(executorsOf(t, cl)) == 2 })
	submit := func(outputs []string, cmd ...string) string {
		t.Helper()
		id, err := cl.SubmitJob(ctx, &sluicepb.JobSpec{Name: "t", Command: cmd, Outputs: outputs})
		if err != nil {
			t.Fatalf("submit %v: %v", cmd, err)
		}
		return id
	}
	wait := func(id string) *sluicepb.JobInfo {
		t.Helper()
		var j *sluicepb.JobInfo
		pollFor(t, "job "+id+" to end", func() bool {
			var err error
			j, err = cl.GetJob(ctx, id)
			return err == nil && j.GetState() != sluicepb.JobState_JOB_STATE_RUNNING &&
				j.GetState() != sluicepb.JobState_JOB_STATE_PENDING
		})
		return j
	}

	gen := wait(submit([]string{"/jobs/text"}, gentext, "--size", "0.05", "--seed", "3"))
	if gen.GetState() != sluicepb.JobState_JOB_STATE_COMPLETED || gen.GetLogPath() == "" {
		t.Fatalf("gentext job: %v", gen)
	}
	text, err := readFile(ctx, cl, "/jobs/text")
	if err != nil || len(text) != 52428 {
		t.Fatalf("gentext output: %d bytes, %v", len(text), err)
	}
	failed := wait(submit([]string{"/jobs/fail"}, "sh", "-c", "echo something broke >&2; exit 2"))
	if failed.GetState() != sluicepb.JobState_JOB_STATE_FAILED || failed.GetExitCode() != 2 ||
		!strings.Contains(failed.GetLogTail(), "something broke") {
		t.Errorf("failing job: %v", failed)
	}
	lazy := wait(submit([]string{"/jobs/never"}, "true"))
	if lazy.GetState() != sluicepb.JobState_JOB_STATE_FAILED || !strings.Contains(lazy.GetMessage(), "incomplete") {
		t.Errorf("job that wrote nothing: %v", lazy)
	}
}
