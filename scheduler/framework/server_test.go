package framework

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// wantCode fails the test unless err is a gRPC status of code c.
func wantCode(t *testing.T, what string, err error, c codes.Code) {
	t.Helper()
	if got := status.Code(err); got != c {
		t.Fatalf("%s: code %v (%v), want %v", what, got, err, c)
	}
}

func TestServer_LaunchJobIdempotent(t *testing.T) {
	h, fake := newFakeHarness(t, schedulertest.FakeConfig{}, harnessConfig{})
	first := h.launch(t, "7", 1, "exit 0")
	if again := h.launch(t, "7", 1, "exit 0"); again != first {
		t.Fatalf("second LaunchJob of job 7 attempt 1 = %q, want the first task %q", again, first)
	}
	// Concurrent repeats of a new key launch once.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			resp, err := h.client.LaunchJob(t.Context(), &sluicepb.LaunchJobRequest{JobId: "7", Attempt: 2,
				Command: []string{"/bin/true"}})
			if err != nil {
				t.Errorf("launch %d: %v", i, err)
				return
			}
			ids[i] = resp.GetTaskId()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == first {
			t.Fatalf("concurrent launches of attempt 2 gave %v (attempt 1: %s)", ids, first)
		}
	}
	var launched []scheduler.TaskID
	for _, l := range fake.Launches() {
		launched = append(launched, l.ID)
		if got := l.Task.Labels[LabelJobID]; got != "7" {
			t.Errorf("launch %s: label %s = %q, want 7", l.ID, LabelJobID, got)
		}
		if l.Task.Kind != scheduler.KindJob {
			t.Errorf("launch %s: kind %q, want job", l.ID, l.Task.Kind)
		}
	}
	if diff := cmp.Diff([]scheduler.TaskID{scheduler.TaskID(first), scheduler.TaskID(ids[0])}, launched); diff != "" {
		t.Fatalf("backend launches (-want +got):\n%s", diff)
	}
}

// A launch that failed is forgotten: the retry launches again.
func TestServer_LaunchJobRetryAfterFailure(t *testing.T) {
	var mu sync.Mutex
	fail := true
	h, fake := newFakeHarness(t, schedulertest.FakeConfig{LaunchError: func(scheduler.Task) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("no capacity")
		}
		return nil
	}}, harnessConfig{})
	_, err := h.client.LaunchJob(t.Context(), &sluicepb.LaunchJobRequest{JobId: "3", Attempt: 1, Command: []string{"/bin/true"}})
	wantCode(t, "failed launch", err, codes.Internal)
	mu.Lock()
	fail = false
	mu.Unlock()
	id := h.launch(t, "3", 1, "exit 0")
	if n := len(fake.Launches()); n != 2 || fake.Launches()[1].ID != scheduler.TaskID(id) {
		t.Fatalf("launches %+v, want a failed one then %s", fake.Launches(), id)
	}
}

func TestServer_LaunchJobPreferNodes(t *testing.T) {
	nodes := []scheduler.Node{{ID: "n1", Host: "host-a"}, {ID: "n2", Host: "host-b"}, {ID: "n3", Host: "host-c"}}
	h, fake := newFakeHarness(t, schedulertest.FakeConfig{Nodes: nodes}, harnessConfig{})
	_, err := h.client.LaunchJob(t.Context(), &sluicepb.LaunchJobRequest{JobId: "1", Attempt: 1, Command: []string{"/bin/true"},
		PreferredHosts: []string{"host-c", "unknown", "n1", "HOST-C"}, Cpu: 1.5, MemMb: 256, Priority: 4,
		Env: map[string]string{"SLUICE_JOB_ID": "1"}, WorkingDir: "/tmp"})
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Launches()[0].Task
	want := scheduler.Task{Name: "", Kind: scheduler.KindJob, Command: []string{"/bin/true"},
		Env: map[string]string{"SLUICE_JOB_ID": "1"}, Dir: "/tmp", Resources: scheduler.Resources{CPU: 1.5, MemMB: 256},
		Priority: 4, PreferNodes: []string{"n3", "n1"}, Labels: map[string]string{LabelJobID: "1", LabelJobAttempt: "1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("launched task (-want +got):\n%s", diff)
	}
}

func TestPreferNodes(t *testing.T) {
	nodes := []scheduler.Node{{ID: "n1", Host: "a"}, {ID: "n2", Host: "b"}, {ID: "n3", Host: "a"}}
	tests := []struct {
		name  string
		hosts []string
		want  []string
	}{
		{"none", nil, nil},
		{"by host, every node of it", []string{"a"}, []string{"n1", "n3"}},
		{"order kept", []string{"b", "a"}, []string{"n2", "n1", "n3"}},
		{"by ID", []string{"n3", "b"}, []string{"n3", "n2"}},
		{"unknown and empty skipped", []string{"", "zz", "B"}, []string{"n2"}},
		{"no duplicates", []string{"n1", "a", "n1"}, []string{"n1", "n3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, PreferNodes(nodes, tt.hosts)); diff != "" {
				t.Fatalf("PreferNodes(%v) (-want +got):\n%s", tt.hosts, diff)
			}
		})
	}
}

func TestServer_LaunchJobInvalid(t *testing.T) {
	h, _ := newFakeHarness(t, schedulertest.FakeConfig{}, harnessConfig{})
	tests := []struct {
		name string
		req  *sluicepb.LaunchJobRequest
	}{
		{"no job id", &sluicepb.LaunchJobRequest{Attempt: 1, Command: []string{"/bin/true"}}},
		{"attempt 0", &sluicepb.LaunchJobRequest{JobId: "1", Command: []string{"/bin/true"}}},
		{"no command", &sluicepb.LaunchJobRequest{JobId: "1", Attempt: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.client.LaunchJob(t.Context(), tt.req)
			wantCode(t, tt.name, err, codes.InvalidArgument)
		})
	}
}

func TestServer_JobStatusAndKill(t *testing.T) {
	h, fake := newFakeHarness(t, schedulertest.FakeConfig{Nodes: []scheduler.Node{{ID: schedulertest.FakeNode, Host: "host-x"}}},
		harnessConfig{})
	w := h.watch(t, 0, "")
	t1 := h.launch(t, "9", 1, "exit 0")
	if ev := w.jobEvent(t, t1); ev.GetType() != sluicepb.EventType_EVENT_TYPE_JOB_RUNNING {
		t.Fatalf("first event %v, want JOB_RUNNING", ev)
	}
	fake.Fail(scheduler.TaskID(t1), 2)
	if ev := w.jobEvent(t, t1); ev.GetType() != sluicepb.EventType_EVENT_TYPE_JOB_FAILED || ev.GetExitCode() != 2 {
		t.Fatalf("end event %v, want JOB_FAILED exit 2", ev)
	}
	t2 := h.launch(t, "9", 2, "exit 0")
	w.jobEvent(t, t2)

	// By task ID, and by job ID (the latest attempt).
	st, err := h.client.JobStatus(t.Context(), &sluicepb.JobStatusRequest{TaskId: t1})
	if err != nil {
		t.Fatal(err)
	}
	want := &sluicepb.TaskStatus{TaskId: t1, JobId: "9", Attempt: 1, State: sluicepb.TaskState_TASK_STATE_FAILED,
		ExitCode: 2, Message: "exit status 2", Host: "host-x"}
	ignoreTimes := func(s *sluicepb.TaskStatus) *sluicepb.TaskStatus {
		s.StartTimeMs, s.EndTimeMs = 0, 0
		return s
	}
	if st.GetStatus().GetEndTimeMs() == 0 || st.GetStatus().GetStartTimeMs() == 0 {
		t.Errorf("status %v: want start and end times", st.GetStatus())
	}
	if diff := cmp.Diff(want.String(), ignoreTimes(st.GetStatus()).String()); diff != "" {
		t.Fatalf("status of %s (-want +got):\n%s", t1, diff)
	}
	st, err = h.client.JobStatus(t.Context(), &sluicepb.JobStatusRequest{JobId: "9"})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetStatus().GetTaskId() != t2 || st.GetStatus().GetAttempt() != 2 || st.GetStatus().GetState() != sluicepb.TaskState_TASK_STATE_RUNNING {
		t.Fatalf("status of job 9: %v, want its running attempt 2 (%s)", st.GetStatus(), t2)
	}

	if _, err := h.client.KillJob(t.Context(), &sluicepb.KillJobTaskRequest{JobId: "9"}); err != nil {
		t.Fatal(err)
	}
	if ev := w.jobEvent(t, t2); ev.GetType() != sluicepb.EventType_EVENT_TYPE_JOB_KILLED || ev.GetJobId() != "9" || ev.GetAttempt() != 2 {
		t.Fatalf("after kill: %v, want JOB_KILLED of job 9 attempt 2", ev)
	}
	// Killing an ended task succeeds.
	if _, err := h.client.KillJob(t.Context(), &sluicepb.KillJobTaskRequest{TaskId: t1}); err != nil {
		t.Fatalf("kill of an ended task: %v", err)
	}

	for _, tt := range []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"status of unknown task", func() error {
			_, err := h.client.JobStatus(t.Context(), &sluicepb.JobStatusRequest{TaskId: "nope"})
			return err
		}, codes.NotFound},
		{"status of unknown job", func() error {
			_, err := h.client.JobStatus(t.Context(), &sluicepb.JobStatusRequest{JobId: "404"})
			return err
		}, codes.NotFound},
		{"status of nothing", func() error {
			_, err := h.client.JobStatus(t.Context(), &sluicepb.JobStatusRequest{})
			return err
		}, codes.InvalidArgument},
		{"kill of unknown task", func() error {
			_, err := h.client.KillJob(t.Context(), &sluicepb.KillJobTaskRequest{TaskId: "nope"})
			return err
		}, codes.NotFound},
	} {
		wantCode(t, tt.name, tt.call(), tt.code)
	}
}

func TestServer_WatchEventsReplay(t *testing.T) {
	h, fake := newFakeHarness(t, schedulertest.FakeConfig{ManualStart: true}, harnessConfig{
		server: func(c *ServerConfig) { c.EventHistory = 3 }})
	w := h.watch(t, 0, "")
	if w.start.GetSeq() != 0 || w.start.GetEpoch() != h.srv.Epoch() {
		t.Fatalf("stream start %v, want seq 0 in epoch %s", w.start, h.srv.Epoch())
	}
	id := h.launch(t, "5", 1, "exit 0")
	fake.Start(scheduler.TaskID(id))
	running := w.jobEvent(t, id)
	fake.Finish(scheduler.TaskID(id))
	finished := w.jobEvent(t, id)
	if running.GetSeq() != 1 || finished.GetSeq() != 2 || finished.GetType() != sluicepb.EventType_EVENT_TYPE_JOB_FINISHED ||
		finished.GetJobId() != "5" || finished.GetAttempt() != 1 || finished.GetEpoch() != h.srv.Epoch() {
		t.Fatalf("events %v then %v, want JOB_RUNNING seq 1 then JOB_FINISHED seq 2 of job 5", running, finished)
	}

	// A new stream after the running event replays the end, then follows.
	r := h.watch(t, running.GetSeq(), h.srv.Epoch())
	if r.start.GetSeq() != running.GetSeq() {
		t.Fatalf("resumed stream starts at %d, want %d", r.start.GetSeq(), running.GetSeq())
	}
	if ev := r.next(t); ev.GetSeq() != finished.GetSeq() || ev.GetType() != finished.GetType() {
		t.Fatalf("replayed %v, want %v", ev, finished)
	}
	id2 := h.launch(t, "6", 1, "exit 0")
	fake.Start(scheduler.TaskID(id2))
	if ev := r.next(t); ev.GetSeq() != 3 || ev.GetTaskId() != id2 {
		t.Fatalf("followed %v, want seq 3 of %s", ev, id2)
	}
	fake.Finish(scheduler.TaskID(id2))
	r.next(t)

	// Four events with a history of three: the first is forgotten.
	for _, tt := range []struct {
		name  string
		since uint64
		epoch string
	}{
		{"forgotten", 0, h.srv.Epoch()},
		{"another epoch", running.GetSeq(), "0123456789abcdef"},
		{"in the future", 99, h.srv.Epoch()},
		{"in the future without epoch", 99, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stream, err := h.client.WatchEvents(t.Context(), &sluicepb.WatchEventsRequest{SinceSeq: tt.since, Epoch: tt.epoch})
			if err == nil {
				_, err = stream.Recv()
			}
			wantCode(t, fmt.Sprintf("watch since %d epoch %q", tt.since, tt.epoch), err, codes.OutOfRange)
		})
	}
	// The oldest event still kept can be resumed after.
	r2 := h.watch(t, 1, h.srv.Epoch())
	if ev := r2.next(t); ev.GetSeq() != 2 {
		t.Fatalf("resume after 1 replayed seq %d first, want 2", ev.GetSeq())
	}

	// from_oldest replays every kept event, whatever since_seq, and says where they
	// start; it still refuses another epoch.
	stream, err := h.client.WatchEvents(t.Context(), &sluicepb.WatchEventsRequest{SinceSeq: 99, FromOldest: true})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for len(seqs) < 4 {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatalf("from_oldest stream after %v: %v", seqs, err)
		}
		seqs = append(seqs, ev.GetSeq())
	}
	if diff := cmp.Diff([]uint64{1, 2, 3, 4}, seqs); diff != "" {
		t.Fatalf("from_oldest stream: STREAM_STARTED then events (-want +got):\n%s", diff)
	}
	stream, err = h.client.WatchEvents(t.Context(), &sluicepb.WatchEventsRequest{Epoch: "0123456789abcdef", FromOldest: true})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, "watch from_oldest in another epoch", err, codes.OutOfRange)
}

// Events of a task that come before its LaunchJob returned still carry the job.
func TestServer_EarlyEventsCarryTheJob(t *testing.T) {
	h, _ := newFakeHarness(t, schedulertest.FakeConfig{}, harnessConfig{}) // running at once, inside Launch
	w := h.watch(t, 0, "")
	for i := range 20 {
		id := h.launch(t, fmt.Sprint(100+i), 1, "exit 0")
		if ev := w.jobEvent(t, id); ev.GetJobId() != fmt.Sprint(100+i) || ev.GetAttempt() != 1 {
			t.Fatalf("running event %v of job %d: job not set", ev, 100+i)
		}
	}
}

func TestServer_ExecutorLost(t *testing.T) {
	nodes := []scheduler.Node{{ID: schedulertest.FakeNode, Host: "host-e"}}
	h, fake := newFakeHarness(t, schedulertest.FakeConfig{Nodes: nodes}, harnessConfig{sched: func(c *scheduler.Config) {
		c.Executors = 1
		c.ExecutorTask = func(int) scheduler.Task { return scheduler.Task{Command: []string{"sluice", "executor"}} }
	}})
	w := h.watch(t, 0, "")
	var first string
	schedulertest.Eventually(t, "a running executor", func() bool {
		st := h.sched.Executors()[0]
		first = string(st.TaskID)
		return st.State == scheduler.StateRunning
	})
	// The running event may have come before the stream: list instead.
	list, err := h.client.ListExecutors(t.Context(), &sluicepb.ListExecutorTasksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetExecutors()) != 1 {
		t.Fatalf("executors %v, want one", list.GetExecutors())
	}
	e := list.GetExecutors()[0]
	if e.GetTaskId() != first || e.GetBackend() != "fake" || e.GetHost() != "host-e" || e.GetNode() != schedulertest.FakeNode ||
		e.GetState() != sluicepb.TaskState_TASK_STATE_RUNNING || e.GetStartTimeMs() == 0 {
		t.Fatalf("executor %v, want %s running on host-e", e, first)
	}

	fake.Lose(scheduler.TaskID(first))
	lost := w.next(t, sluicepb.EventType_EVENT_TYPE_EXECUTOR_LOST)
	if lost.GetTaskId() != first || lost.GetHost() != "host-e" || lost.GetReason() != "node lost" {
		t.Fatalf("lost event %v, want %s on host-e", lost, first)
	}
	again := w.next(t, sluicepb.EventType_EVENT_TYPE_EXECUTOR_RUNNING)
	if again.GetTaskId() == first {
		t.Fatalf("relaunch event %v names the lost task", again)
	}
	schedulertest.Eventually(t, "the replacement listed", func() bool {
		list, err := h.client.ListExecutors(t.Context(), &sluicepb.ListExecutorTasksRequest{})
		return err == nil && len(list.GetExecutors()) == 1 && list.GetExecutors()[0].GetTaskId() == again.GetTaskId() &&
			list.GetExecutors()[0].GetRestarts() == 1
	})
}

// fakeSource is an ExecutorSource a test drives, as a Nomad source would be.
type fakeSource struct {
	tasks []ExecutorTask
	ch    chan ExecutorEvent
}

func (f *fakeSource) Executors(context.Context) ([]ExecutorTask, error) { return f.tasks, nil }

func (f *fakeSource) WatchExecutors(ctx context.Context) (<-chan ExecutorEvent, error) {
	out := make(chan ExecutorEvent)
	go func() {
		defer close(out)
		for {
			select {
			case ev := <-f.ch:
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func TestServer_ExecutorSource(t *testing.T) {
	src := &fakeSource{ch: make(chan ExecutorEvent),
		tasks: []ExecutorTask{{TaskID: "b-alloc", Backend: "nomad", Host: "h2", State: scheduler.StateRunning},
			{TaskID: "a-alloc", Node: schedulertest.FakeNode, RPCAddress: "127.0.0.1:1", State: scheduler.StatePending, Restarts: 2}}}
	h, _ := newFakeHarness(t, schedulertest.FakeConfig{Nodes: []scheduler.Node{{ID: schedulertest.FakeNode, Host: "h1"}}},
		harnessConfig{server: func(c *ServerConfig) { c.Executors = src; c.Backend = "test" }})
	w := h.watch(t, 0, "")
	src.ch <- ExecutorEvent{TaskID: "a-alloc", State: scheduler.StateRunning, Node: schedulertest.FakeNode, RPCAddress: "127.0.0.1:1"}
	src.ch <- ExecutorEvent{TaskID: "b-alloc", State: scheduler.StateFailed, Host: "h2", Reason: "allocation failed"}
	src.ch <- ExecutorEvent{TaskID: "b-alloc", State: scheduler.StatePending}
	run := w.next(t)
	lost := w.next(t)
	want := []string{
		(&sluicepb.SchedulerEvent{Seq: 1, Epoch: h.srv.Epoch(), Type: sluicepb.EventType_EVENT_TYPE_EXECUTOR_RUNNING,
			TaskId: "a-alloc", Host: "h1", ExecutorAddress: "127.0.0.1:1"}).String(),
		(&sluicepb.SchedulerEvent{Seq: 2, Epoch: h.srv.Epoch(), Type: sluicepb.EventType_EVENT_TYPE_EXECUTOR_LOST,
			TaskId: "b-alloc", Host: "h2", Reason: "allocation failed"}).String(),
	}
	run.TimeMs, lost.TimeMs = 0, 0
	if diff := cmp.Diff(want, []string{run.String(), lost.String()}); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	list, err := h.client.ListExecutors(t.Context(), &sluicepb.ListExecutorTasksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wantList := (&sluicepb.ListExecutorTasksResponse{Executors: []*sluicepb.ExecutorTask{
		{TaskId: "a-alloc", Backend: "test", Node: schedulertest.FakeNode, Host: "h1", RpcAddress: "127.0.0.1:1",
			State: sluicepb.TaskState_TASK_STATE_PENDING, Restarts: 2},
		{TaskId: "b-alloc", Backend: "nomad", Host: "h2", State: sluicepb.TaskState_TASK_STATE_RUNNING},
	}}).String()
	if diff := cmp.Diff(wantList, list.String()); diff != "" {
		t.Fatalf("executors (-want +got):\n%s", diff)
	}
}

// Before Run, and once the Scheduler has stopped, launches are refused as Unavailable.
func TestServer_NotServing(t *testing.T) {
	sched := idleScheduler(t)
	srv, err := NewServer(ServerConfig{Scheduler: sched})
	if err != nil {
		t.Fatal(err)
	}
	r := &rpcServer{s: srv}
	req := &sluicepb.LaunchJobRequest{JobId: "1", Attempt: 1, Command: []string{"/bin/true"}}
	_, err = r.LaunchJob(t.Context(), req)
	wantCode(t, "launch before Run", err, codes.Unavailable)

	ctx, cancel := context.WithCancel(t.Context())
	schedCtx, stopSched := context.WithCancel(ctx)
	schedDone := make(chan error, 1)
	go func() { schedDone <- sched.Run(schedCtx) }()
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()
	schedulertest.Eventually(t, "the server to serve", func() bool { return srv.checkServing() == nil })
	stopSched()
	if err := <-schedDone; err != nil {
		t.Fatal(err)
	}
	// The Scheduler stopped while the Server's ctx lives: Run returns.
	if err := <-runDone; err != nil {
		t.Fatalf("Run after the scheduler stopped: %v", err)
	}
	cancel()
	_, err = r.LaunchJob(t.Context(), req)
	wantCode(t, "launch after Run", err, codes.Unavailable)
	if err := srv.Run(t.Context()); !errors.Is(err, scheduler.ErrAlreadyRunning) {
		t.Fatalf("second Run: %v", err)
	}
}

func TestServerConfig_Validate(t *testing.T) {
	sched := idleScheduler(t)
	tests := []struct {
		name string
		cfg  ServerConfig
		ok   bool
	}{
		{"defaults", ServerConfig{Scheduler: sched}, true},
		{"no scheduler", ServerConfig{}, false},
		{"negative events", ServerConfig{Scheduler: sched, EventHistory: -1}, false},
		{"negative launches", ServerConfig{Scheduler: sched, LaunchHistory: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewServer(tt.cfg)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Fatalf("NewServer: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestToStatus(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		reason sluicepb.ErrorReason
	}{
		{"invalid task", fmt.Errorf("launch: %w", scheduler.ErrInvalidTask), codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"invalid argument", ErrInvalidArgument, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"unknown task", fmt.Errorf("kill: %w", scheduler.ErrUnknownTask), codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"unknown job", ErrUnknownJob, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"scheduler not running", scheduler.ErrNotRunning, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE},
		{"scheduler closed", scheduler.ErrClosed, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE},
		{"not serving", ErrNotServing, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE},
		{"events missed", ErrEventsMissed, codes.OutOfRange, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"unsupported", scheduler.ErrUnsupported, codes.Unimplemented, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), codes.Canceled, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"status passes", status.Error(codes.Aborted, "x"), codes.Aborted, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"other", errors.New("boom"), codes.Internal, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(toStatus(tt.err))
			if st.Code() != tt.code {
				t.Fatalf("code %v, want %v", st.Code(), tt.code)
			}
			var reason sluicepb.ErrorReason
			for _, d := range st.Details() {
				if ed, ok := d.(*sluicepb.ErrorDetail); ok {
					reason = ed.GetReason()
				}
			}
			if reason != tt.reason {
				t.Fatalf("reason %v, want %v", reason, tt.reason)
			}
		})
	}
	if toStatus(nil) != nil {
		t.Fatal("toStatus(nil) != nil")
	}
}

// holdingBackend is a FakeBackend whose Launch, after the task's running event has been
// emitted, waits for hold to return true: the event reaches the Server before the
// launch returns.
type holdingBackend struct {
	*schedulertest.FakeBackend
	hold func() bool
}

func (b *holdingBackend) Launch(ctx context.Context, t scheduler.Task) (scheduler.TaskID, error) {
	id, err := b.FakeBackend.Launch(ctx, t)
	for err == nil && !b.hold() && ctx.Err() == nil {
		runtime.Gosched()
	}
	return id, err
}

// An event that overtakes its LaunchJob waits for it, and then carries its job; events
// of tasks launched on the Scheduler directly carry none.
func TestServer_EventBeforeLaunchReturns(t *testing.T) {
	fake := schedulertest.NewFakeBackend(schedulertest.FakeConfig{})
	t.Cleanup(func() { fake.Close() })
	var srv atomic.Pointer[Server]
	b := &holdingBackend{FakeBackend: fake, hold: func() bool {
		s := srv.Load()
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.early) > 0
	}}
	h := newHarness(t, b, harnessConfig{})
	srv.Store(h.srv)
	w := h.watch(t, 0, "")
	id := h.launch(t, "42", 3, "exit 0")
	if ev := w.jobEvent(t, id); ev.GetJobId() != "42" || ev.GetAttempt() != 3 || ev.GetType() != sluicepb.EventType_EVENT_TYPE_JOB_RUNNING {
		t.Fatalf("event %v, want JOB_RUNNING of job 42 attempt 3", ev)
	}

	b.hold = func() bool { return true }
	direct, err := h.sched.LaunchJob(t.Context(), scheduler.Task{Name: "direct", Command: []string{"/bin/true"}})
	if err != nil {
		t.Fatal(err)
	}
	if ev := w.jobEvent(t, string(direct)); ev.GetJobId() != "" {
		t.Fatalf("event %v of a task the server did not launch names a job", ev)
	}
}

// Ended launches beyond LaunchHistory are forgotten, oldest first; a repeat of a
// forgotten launch launches again.
func TestServer_LaunchHistory(t *testing.T) {
	h, fake := newFakeHarness(t, schedulertest.FakeConfig{}, harnessConfig{server: func(c *ServerConfig) { c.LaunchHistory = 1 }})
	w := h.watch(t, 0, "")
	first := h.launch(t, "1", 1, "exit 0")
	w.jobEvent(t, first)
	fake.Finish(scheduler.TaskID(first))
	w.jobEvent(t, first)
	second := h.launch(t, "2", 1, "exit 0")
	w.jobEvent(t, second)
	fake.Finish(scheduler.TaskID(second))
	w.jobEvent(t, second)

	_, err := h.client.JobStatus(t.Context(), &sluicepb.JobStatusRequest{JobId: "1"})
	wantCode(t, "status of a forgotten job", err, codes.NotFound)
	if _, err := h.client.JobStatus(t.Context(), &sluicepb.JobStatusRequest{JobId: "2"}); err != nil {
		t.Fatalf("status of the last job: %v", err)
	}
	if again := h.launch(t, "1", 1, "exit 0"); again == first {
		t.Fatalf("a forgotten launch returned its old task %s", first)
	}
}

// An ExecutorSource that stops while the Server runs ends Run with ErrClosed.
func TestServer_ExecutorSourceStops(t *testing.T) {
	srv, err := NewServer(ServerConfig{Scheduler: idleScheduler(t), Executors: closingSource{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Run(t.Context()); !errors.Is(err, scheduler.ErrClosed) {
		t.Fatalf("Run with a source that stops: %v, want ErrClosed", err)
	}
}

// closingSource is an ExecutorSource whose watch ends at once.
type closingSource struct{}

func (closingSource) Executors(context.Context) ([]ExecutorTask, error) { return nil, nil }

func (closingSource) WatchExecutors(context.Context) (<-chan ExecutorEvent, error) {
	ch := make(chan ExecutorEvent)
	close(ch)
	return ch, nil
}

// idleScheduler is a Scheduler on a FakeBackend that nothing runs yet.
func idleScheduler(t *testing.T) *scheduler.Scheduler {
	t.Helper()
	fake := schedulertest.NewFakeBackend(schedulertest.FakeConfig{})
	t.Cleanup(func() { fake.Close() })
	cfg := scheduler.DefaultConfig()
	cfg.Backend = fake
	sched, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sched
}
