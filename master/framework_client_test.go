package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/framework"
	"github.com/sluicedata/sluice/scheduler/framework/frameworktest"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// These tests run the master against a real FrameworkScheduler server (package
// scheduler/framework over a Scheduler on a FakeBackend) through gRPC on 127.0.0.1, as
// `sluice master --framework` does; the test-only import of the scheduler keeps the
// master itself free of it.

// frameworkHarness is a Scheduler on a FakeBackend served by a framework.Server, and a
// FrameworkLauncher connected to it.
type frameworkHarness struct {
	fake     *schedulertest.FakeBackend
	sched    *scheduler.Scheduler
	srv      *framework.Server
	launcher *FrameworkLauncher
}

// startFramework starts a frameworkHarness; it stops at the test's cleanup.
func startFramework(t *testing.T, fc schedulertest.FakeConfig, tweak func(*scheduler.Config)) *frameworkHarness {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	fake := schedulertest.NewFakeBackend(fc)
	t.Cleanup(func() { fake.Close() })
	scfg := scheduler.DefaultConfig()
	scfg.Backend = fake
	scfg.Logger = log
	if tweak != nil {
		tweak(&scfg)
	}
	sched, err := scheduler.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, addr := frameworktest.Serve(t, framework.ServerConfig{Scheduler: sched, Logger: log})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h := &frameworkHarness{fake: fake, sched: sched, srv: srv, launcher: NewFrameworkLauncher(conn, log)}
	waitFor(t, "the framework server", func() bool {
		_, err := h.launcher.JobStatus(callCtx(t), "no-such-task")
		return errors.Is(err, ErrUnknownTask)
	})
	return h
}

// reportLosses runs ReportExecutorLosses for m until the test's cleanup.
func (h *frameworkHarness) reportLosses(t *testing.T, m *Master) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.launcher.ReportExecutorLosses(ctx, m) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ReportExecutorLosses: %v", err)
		}
	})
}

// launchOf waits for the backend's launch of a job and returns it.
func (h *frameworkHarness) launchOf(t *testing.T, jobID string) schedulertest.Launch {
	t.Helper()
	var got schedulertest.Launch
	waitFor(t, "the launch of job "+jobID, func() bool {
		for _, l := range h.fake.Launches() {
			if l.Task.Labels[framework.LabelJobID] == jobID {
				got = l
				return true
			}
		}
		return false
	})
	return got
}

// A lineage job runs end to end through the FrameworkScheduler: launched near its
// input, completed by its task's exit; a failing run is FAILED with its exit code.
func TestFrameworkLauncher_RunsLineageJob(t *testing.T) {
	h := startFramework(t, schedulertest.FakeConfig{Nodes: []scheduler.Node{{ID: "node-far", Host: "far"}, {ID: "node-1", Host: "localhost"}}}, nil)
	tm, _ := startMaster(t, func(c *Config) { c.Jobs = h.launcher })
	jm := sluicepb.NewJobMasterClient(tm.conn)
	waitFor(t, "job runner", func() bool { return tm.m.jobRunner.Load() != nil })
	e := newFakeExecutor(t, tm, "127.0.0.1:1")
	e.register()
	writeFile(t, tm, e, "/in/a", []byte("input bytes"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)

	j := mustSubmit(t, jm, []string{"/in/a"}, []string{"/out/b"})
	l := h.launchOf(t, j.GetJobId())
	want := []string{"node-1"}
	if diff := cmp.Diff(want, l.Task.PreferNodes); diff != "" {
		t.Fatalf("job launched with PreferNodes (-want +got):\n%s", diff)
	}
	if l.Task.Labels[framework.LabelJobAttempt] != "1" || l.Task.Env[envJobID] != j.GetJobId() {
		t.Fatalf("launched task %+v: want attempt 1 and %s=%s", l.Task, envJobID, j.GetJobId())
	}
	waitJob(t, jm, j.GetJobId(), sluicepb.JobState_JOB_STATE_RUNNING)
	writeOutput(t, tm, j.GetJobId(), "/out/b")
	h.fake.Finish(l.ID)
	waitJob(t, jm, j.GetJobId(), sluicepb.JobState_JOB_STATE_COMPLETED)

	j2 := mustSubmit(t, jm, []string{"/out/b"}, []string{"/out/c"})
	l2 := h.launchOf(t, j2.GetJobId())
	waitJob(t, jm, j2.GetJobId(), sluicepb.JobState_JOB_STATE_RUNNING)
	h.fake.Fail(l2.ID, 7)
	failed := waitJob(t, jm, j2.GetJobId(), sluicepb.JobState_JOB_STATE_FAILED)
	if failed.GetExitCode() != 7 {
		t.Fatalf("failed job %v: want exit code 7", failed)
	}
}

// An EXECUTOR_LOST event makes the master drop the executor at once: its only copies
// are gone, so its un-persisted file is LOST long before the heartbeat timeout (a
// minute here). A loss of an executor the master never knew is only logged.
func TestFrameworkLauncher_ExecutorLost(t *testing.T) {
	h := startFramework(t, schedulertest.FakeConfig{}, func(c *scheduler.Config) {
		c.Executors = 1
		c.ExecutorTask = func(int) scheduler.Task { return scheduler.Task{Command: []string{"sluice", "executor"}} }
	})
	tm, _ := startMaster(t, nil)
	h.reportLosses(t, tm.m)
	running := func(not scheduler.TaskID) scheduler.TaskID {
		var id scheduler.TaskID
		waitFor(t, "a running executor task", func() bool {
			st := h.sched.Executors()[0]
			id = st.TaskID
			return st.State == scheduler.StateRunning && id != not
		})
		return id
	}
	unknown := running("")
	h.fake.Lose(unknown) // never registered with the master

	task := running(unknown)
	e := newFakeExecutor(t, tm, "127.0.0.1:2")
	e.taskID = string(task)
	e.register()
	writeFile(t, tm, e, "/data/x", []byte("only copy"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	h.fake.Lose(task)
	waitFor(t, "/data/x LOST", func() bool {
		return tm.persistence("/data/x") == sluicepb.PersistenceState_PERSISTENCE_STATE_LOST
	})
	if info, ok := tm.m.blocks.executorInfo(e.id); !ok || info.GetState() != sluicepb.ExecutorState_EXECUTOR_STATE_LOST {
		t.Fatalf("executor %d after the loss event: %v", e.id, info)
	}
}

func TestFrameworkLauncher_StatusAndKill(t *testing.T) {
	h := startFramework(t, schedulertest.FakeConfig{}, nil)
	ctx := callCtx(t)
	events, err := h.launcher.JobEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.launcher.LaunchJob(ctx, JobLaunch{JobID: 5, Attempt: 2, Name: "five", Command: []string{"/bin/true"}, Priority: 1})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := h.launcher.LaunchJob(ctx, JobLaunch{JobID: 5, Attempt: 2, Command: []string{"/bin/true"}}); err != nil || again != id {
		t.Fatalf("repeated launch: %q, %v; want %q", again, err, id)
	}
	if ev := <-events; ev.TaskID != id || ev.State != TaskRunning {
		t.Fatalf("first event %+v, want %s running", ev, id)
	}
	if err := h.launcher.KillJob(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.TaskID != id || ev.State != TaskKilled || ev.ExitCode != -1 {
		t.Fatalf("event after kill %+v, want %s killed", ev, id)
	}
	st, err := h.launcher.JobStatus(ctx, id)
	if err != nil || st.State != TaskKilled || st.Time.IsZero() || st.Host != "127.0.0.1" {
		t.Fatalf("status %+v, %v: want killed on 127.0.0.1 with a time", st, err)
	}
	if err := h.launcher.KillJob(ctx, "nope"); !errors.Is(err, ErrUnknownTask) {
		t.Fatalf("kill of an unknown task: %v, want ErrUnknownTask", err)
	}
	if _, err := h.launcher.JobStatus(ctx, "nope"); !errors.Is(err, ErrUnknownTask) {
		t.Fatalf("status of an unknown task: %v, want ErrUnknownTask", err)
	}
	if _, err := h.launcher.LaunchJob(ctx, JobLaunch{JobID: 6, Attempt: 1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("launch without a command: %v, want ErrInvalidArgument", err)
	}
}

// JobEvents survives a broken stream: events of the gap are replayed after since_seq.
// A framework scheduler that restarted (a new epoch) cannot resume: the channel closes,
// so the master re-reads its running jobs.
func TestFrameworkLauncher_ResumesAfterBrokenStream(t *testing.T) {
	fake := schedulertest.NewFakeBackend(schedulertest.FakeConfig{})
	defer fake.Close()
	newSched := func() *scheduler.Scheduler {
		cfg := scheduler.DefaultConfig()
		cfg.Backend = fake
		s, err := scheduler.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sched := newSched()
	srv, err := framework.NewServer(framework.ServerConfig{Scheduler: sched})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { sched.Run(ctx) })
	wg.Go(func() { srv.Run(ctx) })

	serve := func(srv *framework.Server, addr string) (func(), string) { return serveOn(t, srv, addr) }
	stop, addr := serve(srv, "127.0.0.1:0")
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	l := NewFrameworkLauncher(conn, slog.New(slog.NewTextHandler(t.Output(), nil)))
	waitFor(t, "the framework server", func() bool {
		_, err := l.JobStatus(callCtx(t), "x")
		return errors.Is(err, ErrUnknownTask)
	})
	events, err := l.JobEvents(callCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	id, err := l.LaunchJob(callCtx(t), JobLaunch{JobID: 1, Attempt: 1, Command: []string{"/bin/true"}})
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.State != TaskRunning {
		t.Fatalf("event %+v, want running", ev)
	}

	stop() // breaks the stream
	fake.Finish(scheduler.TaskID(id))
	waitFor(t, "the job's end recorded", func() bool {
		st, err := sched.JobStatus(scheduler.TaskID(id))
		return err == nil && st.State == scheduler.StateFinished
	})
	stop, _ = serve(srv, addr)
	if ev, ok := <-events; !ok || ev.TaskID != id || ev.State != TaskFinished {
		t.Fatalf("after the break: %+v (open %v), want %s finished", ev, ok, id)
	}
	stop()

	// A new server on the same address is a restarted framework scheduler.
	sched2 := newSched()
	srv2, err := framework.NewServer(framework.ServerConfig{Scheduler: sched2})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { sched2.Run(ctx) })
	wg.Go(func() { srv2.Run(ctx) })
	stop, _ = serve(srv2, addr)
	defer stop()
	for ev := range events {
		t.Fatalf("event %+v from a restarted framework scheduler, want the channel closed", ev)
	}
}

func TestFrameworkErrors(t *testing.T) {
	tests := []struct {
		code codes.Code
		want error
	}{
		{codes.NotFound, ErrUnknownTask},
		{codes.Unavailable, ErrUnavailable},
		{codes.InvalidArgument, ErrInvalidArgument},
		{codes.OutOfRange, errEventsMissed},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			err := fromFramework("call", status.Error(tt.code, "msg"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("fromFramework(%v) = %v, want %v", tt.code, err, tt.want)
			}
		})
	}
	if err := fromFramework("call", status.Error(codes.Internal, "boom")); status.Code(errors.Unwrap(err)) != codes.Internal {
		t.Fatalf("unmapped code: %v", err)
	}
	if fromFramework("call", nil) != nil {
		t.Fatal("fromFramework(nil) != nil")
	}
	if err := fromFramework("call", fmt.Errorf("x: %w", context.Canceled)); !errors.Is(err, context.Canceled) {
		t.Fatalf("context error: %v", err)
	}
}

// preferHosts orders the hosts of live executors by the input bytes they hold.
func TestFramework_PreferHosts(t *testing.T) {
	tm, _ := startMaster(t, nil)
	big := newFakeExecutor(t, tm, "127.0.0.1:1")
	big.register()
	small := newFakeExecutor(t, tm, "127.0.0.1:2")
	small.register()
	setHost := func(e *fakeExecutor, host string) {
		e.t.Helper()
		_, err := e.ex.RegisterExecutor(callCtx(t), &sluicepb.RegisterExecutorRequest{Executor: &sluicepb.ExecutorInfo{
			Id: e.id, RpcAddress: e.addr, Host: host, Tiers: []*sluicepb.TierUsage{{Alias: "MEM", CapacityBytes: 1 << 30}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	setHost(big, "host-big")
	setHost(small, "host-small")
	writeFile(t, tm, big, "/in/d/large", make([]byte, 3000), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	writeFile(t, tm, small, "/in/d/sub/little", make([]byte, 10), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	writeFile(t, tm, small, "/other", make([]byte, 9000), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	tests := []struct {
		inputs []string
		want   []string
	}{
		{[]string{"/in/d"}, []string{"host-big", "host-small"}},
		{[]string{"/in/d/sub/little"}, []string{"host-small"}},
		{[]string{"/in/d", "/other"}, []string{"host-small", "host-big"}},
		{[]string{"/missing"}, nil},
		{nil, nil},
	}
	for i, tt := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tm.m.preferHosts(tt.inputs)); diff != "" {
				t.Fatalf("preferHosts(%v) (-want +got):\n%s", tt.inputs, diff)
			}
		})
	}
	if err := tm.m.ReportExecutorLost(callCtx(t), strconv.FormatUint(small.id, 10)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"host-big"}, tm.m.preferHosts([]string{"/in/d", "/other"})); diff != "" {
		t.Fatalf("after the loss of host-small (-want +got):\n%s", diff)
	}
}

// chanExecutors is a framework.ExecutorSource whose events the test sends on ch.
type chanExecutors struct{ ch chan framework.ExecutorEvent }

func (c chanExecutors) Executors(context.Context) ([]framework.ExecutorTask, error) { return nil, nil }

func (c chanExecutors) WatchExecutors(context.Context) (<-chan framework.ExecutorEvent, error) {
	return c.ch, nil
}

// lossRecorder is an ExecutorLossReporter that hands the reported IDs to the test.
type lossRecorder struct{ ids chan string }

func (r lossRecorder) ReportExecutorLost(_ context.Context, id string) error {
	r.ids <- id
	return nil
}

// next returns the next reported ID, failing the test after 20 s without one.
func (r lossRecorder) next(t *testing.T) string {
	t.Helper()
	select {
	case id := <-r.ids:
		return id
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for an executor loss report")
		return ""
	}
}

// firstRecvSignal wraps a client stream and signals on opened once its first message
// (WatchEvents' STREAM_STARTED: the stream's position is fixed) has been received.
type firstRecvSignal struct {
	grpc.ClientStream
	once   sync.Once
	opened chan<- struct{}
}

func (s *firstRecvSignal) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err == nil {
		s.once.Do(func() {
			select {
			case s.opened <- struct{}{}:
			default:
			}
		})
	}
	return err
}

// An EXECUTOR_LOST that a restarted framework scheduler sends before the master has
// reconnected is still reported: the client reads the new epoch from its oldest kept
// event. Events already read are not reported twice.
func TestFrameworkLauncher_ReportsLossAfterServerRestart(t *testing.T) {
	fake := schedulertest.NewFakeBackend(schedulertest.FakeConfig{})
	defer fake.Close()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// start runs a framework scheduler process: a Scheduler and a Server whose executor
	// events come from the returned channel.
	start := func() (*framework.Server, chan<- framework.ExecutorEvent) {
		cfg := scheduler.DefaultConfig()
		cfg.Backend = fake
		sched, err := scheduler.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		execs := make(chan framework.ExecutorEvent, 4)
		srv, err := framework.NewServer(framework.ServerConfig{Scheduler: sched, Executors: chanExecutors{execs}, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { sched.Run(ctx) })
		wg.Go(func() { srv.Run(ctx) })
		return srv, execs
	}
	serve := func(srv *framework.Server, addr string) (func(), string) { return serveOn(t, srv, addr) }
	lost := func(id string) framework.ExecutorEvent {
		return framework.ExecutorEvent{TaskID: scheduler.TaskID(id), State: scheduler.StateLost, Reason: "node lost"}
	}

	srv1, execs1 := start()
	stop, addr := serve(srv1, "127.0.0.1:0")
	opened := make(chan struct{}, 1)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
			streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			cs, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				return nil, err
			}
			return &firstRecvSignal{ClientStream: cs, opened: opened}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	l := NewFrameworkLauncher(conn, log)
	rec := lossRecorder{ids: make(chan string, 16)}
	done := make(chan error, 1)
	go func() { done <- l.ReportExecutorLosses(ctx, rec) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ReportExecutorLosses: %v", err)
		}
	}()
	select {
	case <-opened:
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for the loss reporter's stream")
	}
	execs1 <- lost("exec-1")
	if id := rec.next(t); id != "exec-1" {
		t.Fatalf("reported %q, want exec-1", id)
	}

	// The first process goes away; a restarted one (a new epoch) loses an executor at
	// once, before it serves the master's address. A probe stream of its own tells
	// when the loss is kept.
	stop()
	srv2, execs2 := start()
	probeStop, probeAddr := serve(srv2, "127.0.0.1:0")
	pconn, err := grpc.NewClient(probeAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer pconn.Close()
	probe, err := sluicepb.NewFrameworkSchedulerClient(pconn).WatchEvents(callCtx(t), &sluicepb.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := probe.Recv(); err != nil || ev.GetType() != sluicepb.EventType_EVENT_TYPE_STREAM_STARTED {
		t.Fatalf("probe stream start %v, %v", ev, err)
	}
	execs2 <- lost("exec-2")
	if ev, err := probe.Recv(); err != nil || ev.GetType() != sluicepb.EventType_EVENT_TYPE_EXECUTOR_LOST || ev.GetTaskId() != "exec-2" {
		t.Fatalf("probe event %v, %v; want EXECUTOR_LOST of exec-2", ev, err)
	}
	probeStop()
	stop, _ = serve(srv2, addr)
	defer stop()
	if id := rec.next(t); id != "exec-2" {
		t.Fatalf("reported %q after the restart, want exec-2", id)
	}
	execs2 <- lost("exec-3")
	if id := rec.next(t); id != "exec-3" {
		t.Fatalf("reported %q, want exec-3 (once each)", id)
	}
}

// serveOn serves srv on addr (host:0 for a free port) until the returned stop is
// called, and returns the bound address.
func serveOn(t *testing.T, srv *framework.Server, addr string) (stop func(), bound string) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	srv.Register(g)
	done := make(chan struct{})
	go func() { defer close(done); g.Serve(lis) }()
	return func() { g.Stop(); <-done }, lis.Addr().String()
}
