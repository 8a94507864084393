package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/framework"
	"github.com/sluicedata/sluice/scheduler/framework/frameworktest"
	"github.com/sluicedata/sluice/scheduler/local"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
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

// TestSchedJobLauncher_PreferHosts maps the master's preferred hosts to the nodes of the
// backend (by host or ID, best first) and labels the task with its job and attempt.
func TestSchedJobLauncher_PreferHosts(t *testing.T) {
	fake := schedulertest.NewFakeBackend(schedulertest.FakeConfig{Nodes: []scheduler.Node{
		{ID: "n1", Host: "alpha"}, {ID: "n2", Host: "beta"}}})
	defer fake.Close()
	cfg := scheduler.DefaultConfig()
	cfg.Backend = fake
	sched, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	l := &schedJobLauncher{sched: sched}
	pollFor(t, "a launch", func() bool {
		_, err := l.LaunchJob(ctx, master.JobLaunch{JobID: 9, Attempt: 2, Command: []string{"true"},
			PreferHosts: []string{"beta", "elsewhere", "n1"}})
		if err != nil && !errors.Is(err, scheduler.ErrNotRunning) {
			t.Fatal(err)
		}
		return err == nil
	})
	got := fake.Launches()[0].Task
	if diff := cmp.Diff([]string{"n2", "n1"}, got.PreferNodes); diff != "" {
		t.Errorf("PreferNodes (-want +got):\n%s", diff)
	}
	if got.Labels[framework.LabelJobID] != "9" || got.Labels[framework.LabelJobAttempt] != "2" {
		t.Errorf("labels %v", got.Labels)
	}
}

// TestJobLauncher_MasterWithFramework runs `sluice master --framework` (serveMaster)
// against a FrameworkScheduler server on 127.0.0.1: a submitted job is launched there
// and its end recorded, and an executor the framework scheduler loses is LOST on the
// master at once (the heartbeat timeout is a minute).
func TestJobLauncher_MasterWithFramework(t *testing.T) {
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	fake := schedulertest.NewFakeBackend(schedulertest.FakeConfig{})
	t.Cleanup(func() { fake.Close() })
	scfg := scheduler.DefaultConfig()
	scfg.Backend = fake
	scfg.Executors = 1
	scfg.ExecutorTask = func(int) scheduler.Task { return scheduler.Task{Command: []string{"sluice", "executor"}} }
	sched, err := scheduler.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	_, fwAddr := frameworktest.Serve(t, framework.ServerConfig{Scheduler: sched, Backend: "fake", Logger: log})

	dir := t.TempDir()
	cfg := master.DefaultConfig()
	cfg.RPCAddr, cfg.HTTPAddr = "127.0.0.1:0", ""
	cfg.Journal.Dir = filepath.Join(dir, "journal")
	_, transport := raft.NewInmemTransport("framework-test")
	defer transport.Close()
	cfg.Journal.Transport = transport
	cfg.RootUFS = fileURI(filepath.Join(dir, "ufs"))
	cfg.UFS = ufsRegistry(os.Getenv)
	cfg.HeartbeatTimeout = time.Minute
	cfg.Logger = log
	if err := prepareRootUFS(cfg.RootUFS); err != nil {
		t.Fatal(err)
	}
	masters := make(chan *master.Master, 1)
	mctx, stopMaster := context.WithCancel(context.Background())
	masterDone := make(chan error, 1)
	go func() {
		masterDone <- serveMaster(mctx, cfg, fwAddr, func(m *master.Master) { masters <- m })
	}()
	defer func() {
		stopMaster()
		if err := <-masterDone; err != nil {
			t.Errorf("master: %v", err)
		}
	}()
	m := <-masters
	pollFor(t, "leadership", m.IsLeader)
	conn, err := grpc.NewClient(m.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := t.Context()

	jm := sluicepb.NewJobMasterClient(conn)
	var jobID string
	pollFor(t, "a job submitted", func() bool { // the job runner starts just after leadership
		resp, err := jm.SubmitJob(ctx, &sluicepb.SubmitJobRequest{Spec: &sluicepb.JobSpec{Name: "remote",
			Command: []string{"prog"}, Outputs: []string{"/out"}}})
		if err != nil && status.Code(err) != codes.Unavailable {
			t.Fatal(err)
		}
		jobID = resp.GetJob().GetJobId()
		return err == nil
	})
	var task scheduler.TaskID
	pollFor(t, "the job launched on the framework scheduler", func() bool {
		for _, l := range fake.Launches() {
			if l.Task.Labels[framework.LabelJobID] == jobID {
				task = l.ID
				return true
			}
		}
		return false
	})
	fake.Fail(task, 4)
	pollFor(t, "the job FAILED with exit code 4", func() bool {
		j, err := jm.GetJob(ctx, &sluicepb.GetJobRequest{JobId: jobID})
		return err == nil && j.GetJob().GetState() == sluicepb.JobState_JOB_STATE_FAILED && j.GetJob().GetExitCode() == 4
	})

	var exec scheduler.ExecutorStatus
	pollFor(t, "a running executor task", func() bool {
		exec = sched.Executors()[0]
		return exec.State == scheduler.StateRunning
	})
	em := sluicepb.NewExecutorMasterClient(conn)
	reg, err := em.RegisterExecutor(ctx, &sluicepb.RegisterExecutorRequest{Executor: &sluicepb.ExecutorInfo{
		RpcAddress: "127.0.0.1:1", Host: "localhost", TaskId: string(exec.TaskID),
		Tiers: []*sluicepb.TierUsage{{Alias: "MEM", CapacityBytes: 1 << 20}}}})
	if err != nil {
		t.Fatal(err)
	}
	fake.Lose(exec.TaskID)
	meta := sluicepb.NewMetaMasterClient(conn)
	pollFor(t, "the executor LOST", func() bool {
		list, err := meta.ListExecutors(ctx, &sluicepb.ListExecutorsRequest{IncludeLost: true})
		if err != nil {
			return false
		}
		for _, e := range list.GetExecutors() {
			if e.GetId() == reg.GetExecutorId() {
				return e.GetState() == sluicepb.ExecutorState_EXECUTOR_STATE_LOST
			}
		}
		return false
	})
}

// TestJobLauncher_FrameworkFlag: --framework comes from SLUICE_FRAMEWORK too, and a
// malformed address is a flag error before anything starts.
func TestJobLauncher_FrameworkFlag(t *testing.T) {
	t.Setenv("SLUICE_FRAMEWORK", "fw.example:7077")
	var got string
	err := runCommand(t, masterCommand(), func(c *cli.Context) error {
		got = c.String("framework")
		return nil
	})
	if err != nil || got != "fw.example:7077" {
		t.Fatalf("--framework from SLUICE_FRAMEWORK = %q, %v", got, err)
	}
	if err := serveMaster(t.Context(), master.DefaultConfig(), "no-port", nil); !errors.Is(err, errBadFlag) {
		t.Fatalf("serveMaster with a malformed --framework: %v, want errBadFlag", err)
	}
}
