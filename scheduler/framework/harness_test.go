package framework

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// harness is a Scheduler on a backend, a Server over it on 127.0.0.1:0, and a gRPC
// client of that server. Everything stops at the test's cleanup.
type harness struct {
	sched  *scheduler.Scheduler
	srv    *Server
	client sluicepb.FrameworkSchedulerClient
}

// harnessConfig tunes a harness: the Scheduler's and the Server's configurations.
type harnessConfig struct {
	sched  func(*scheduler.Config)
	server func(*ServerConfig)
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newHarness starts a harness on b and waits until the Server serves.
func newHarness(t *testing.T, b scheduler.Backend, hc harnessConfig) *harness {
	t.Helper()
	scfg := scheduler.DefaultConfig()
	scfg.Backend = b
	scfg.Logger = testLogger(t)
	if hc.sched != nil {
		hc.sched(&scfg)
	}
	sched, err := scheduler.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultServerConfig()
	cfg.Scheduler = sched
	cfg.Backend = b.Name()
	cfg.Logger = testLogger(t)
	if hc.server != nil {
		hc.server(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := sched.Run(ctx); err != nil {
			t.Errorf("scheduler run: %v", err)
		}
	})
	wg.Go(func() {
		if err := srv.Serve(ctx, lis); err != nil {
			t.Errorf("framework serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		wg.Wait()
	})
	schedulertest.Eventually(t, "the framework server to serve", func() bool { return srv.checkServing() == nil })
	return &harness{sched: sched, srv: srv, client: sluicepb.NewFrameworkSchedulerClient(conn)}
}

// newFakeHarness starts a harness on a FakeBackend configured by fc.
func newFakeHarness(t *testing.T, fc schedulertest.FakeConfig, hc harnessConfig) (*harness, *schedulertest.FakeBackend) {
	t.Helper()
	fake := schedulertest.NewFakeBackend(fc)
	t.Cleanup(func() { fake.Close() })
	return newHarness(t, fake, hc), fake
}

// watcher reads one WatchEvents stream.
type watcher struct {
	stream sluicepb.FrameworkScheduler_WatchEventsClient
	// start is the STREAM_STARTED message.
	start *sluicepb.SchedulerEvent
}

// watch opens a stream and reads its STREAM_STARTED message. The stream gives up after
// schedulertest.WaitTimeout, which turns a missing event into a failure.
func (h *harness) watch(t *testing.T, since uint64, epoch string) *watcher {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), schedulertest.WaitTimeout)
	t.Cleanup(cancel)
	stream, err := h.client.WatchEvents(ctx, &sluicepb.WatchEventsRequest{SinceSeq: since, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("watch events since %d: %v", since, err)
	}
	if first.GetType() != sluicepb.EventType_EVENT_TYPE_STREAM_STARTED {
		t.Fatalf("first message %v, want STREAM_STARTED", first)
	}
	return &watcher{stream: stream, start: first}
}

// next returns the next event of one of types, skipping others.
func (w *watcher) next(t *testing.T, types ...sluicepb.EventType) *sluicepb.SchedulerEvent {
	t.Helper()
	for {
		ev, err := w.stream.Recv()
		if err != nil {
			t.Fatalf("waiting for an event of %v: %v", types, err)
		}
		if len(types) == 0 || slices.Contains(types, ev.GetType()) {
			return ev
		}
	}
}

// jobEvent returns the next job event of task id.
func (w *watcher) jobEvent(t *testing.T, id string) *sluicepb.SchedulerEvent {
	t.Helper()
	for {
		ev := w.next(t, sluicepb.EventType_EVENT_TYPE_JOB_RUNNING, sluicepb.EventType_EVENT_TYPE_JOB_FINISHED,
			sluicepb.EventType_EVENT_TYPE_JOB_FAILED, sluicepb.EventType_EVENT_TYPE_JOB_KILLED)
		if ev.GetTaskId() == id {
			return ev
		}
	}
}

// launch calls LaunchJob for a run of a job that runs a shell command.
func (h *harness) launch(t *testing.T, jobID string, attempt int32, script string) string {
	t.Helper()
	resp, err := h.client.LaunchJob(t.Context(), &sluicepb.LaunchJobRequest{JobId: jobID, Attempt: attempt,
		Name: "job-" + jobID, Command: []string{"/bin/sh", "-c", script}})
	if err != nil {
		t.Fatalf("launch job %s attempt %d: %v", jobID, attempt, err)
	}
	return resp.GetTaskId()
}
