package master

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/master/mastertest"
	"github.com/sluicedata/sluice/master/state"
)

// fakeLauncher is a JobLauncher that records launches and kills and emits the events a
// test asks for. Tasks it never launched are unknown to it.
type fakeLauncher struct {
	// mu guards every field below.
	mu        sync.Mutex
	launches  []JobLaunch
	tasks     map[string]JobEvent
	killed    []string
	subs      []chan JobEvent
	n         int
	launchErr error
}

var _ JobLauncher = (*fakeLauncher)(nil)

func newFakeLauncher() *fakeLauncher { return &fakeLauncher{tasks: make(map[string]JobEvent)} }

func (f *fakeLauncher) LaunchJob(_ context.Context, l JobLaunch) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.launchErr != nil {
		return "", f.launchErr
	}
	f.n++
	id := fmt.Sprintf("task-%d", f.n)
	f.launches = append(f.launches, l)
	f.tasks[id] = JobEvent{TaskID: id, State: TaskRunning, Host: "node-1", LogPath: "/logs/" + id + ".log"}
	return id, nil
}

func (f *fakeLauncher) KillJob(_ context.Context, id string) error {
	f.mu.Lock()
	ev, ok := f.tasks[id]
	if ok {
		f.killed = append(f.killed, id)
	}
	f.mu.Unlock()
	if !ok {
		return ErrUnknownTask
	}
	if !ev.State.Terminal() {
		f.emit(JobEvent{TaskID: id, State: TaskKilled, ExitCode: -1, Message: "killed"})
	}
	return nil
}

func (f *fakeLauncher) JobEvents(ctx context.Context) (<-chan JobEvent, error) {
	ch := make(chan JobEvent, 100)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	context.AfterFunc(ctx, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.subs = slices.DeleteFunc(f.subs, func(c chan JobEvent) bool { return c == ch })
		close(ch)
	})
	return ch, nil
}

func (f *fakeLauncher) JobStatus(_ context.Context, id string) (JobEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev, ok := f.tasks[id]
	if !ok {
		return JobEvent{}, ErrUnknownTask
	}
	return ev, nil
}

// emit records ev as its task's state and sends it to every watcher.
func (f *fakeLauncher) emit(ev JobEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev.Time = time.Now()
	f.tasks[ev.TaskID] = ev
	for _, ch := range f.subs {
		ch <- ev
	}
}

func (f *fakeLauncher) launched() []JobLaunch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.launches)
}

// jobMaster starts a master running jobs on a fake launcher.
func jobMaster(t *testing.T) (*testMaster, *fakeLauncher, sluicepb.JobMasterClient) {
	t.Helper()
	fl := newFakeLauncher()
	tm, _ := startMaster(t, func(c *Config) { c.Jobs = fl })
	jm := sluicepb.NewJobMasterClient(tm.conn)
	waitFor(t, "job runner", func() bool { return tm.m.jobRunner.Load() != nil })
	return tm, fl, jm
}

func submit(t *testing.T, jm sluicepb.JobMasterClient, inputs, outputs []string) (*sluicepb.JobInfo, error) {
	t.Helper()
	resp, err := jm.SubmitJob(callCtx(t), &sluicepb.SubmitJobRequest{Spec: &sluicepb.JobSpec{
		Name: "j", Command: []string{"prog", "arg"}, Inputs: inputs, Outputs: outputs, Priority: 3}})
	return resp.GetJob(), err
}

func mustSubmit(t *testing.T, jm sluicepb.JobMasterClient, inputs, outputs []string) *sluicepb.JobInfo {
	t.Helper()
	j, err := submit(t, jm, inputs, outputs)
	if err != nil {
		t.Fatalf("SubmitJob(%v → %v): %v", inputs, outputs, err)
	}
	return j
}

// writeOutput has job id claim its placeholder p and complete it empty.
func writeOutput(t *testing.T, tm *testMaster, id, p string) {
	t.Helper()
	cr, err := tm.fs.CreateFile(callCtx(t), &sluicepb.CreateFileRequest{Path: p, JobId: id})
	if err != nil {
		t.Fatalf("claim %s: %v", p, err)
	}
	if _, err := tm.fs.CompleteFile(callCtx(t), &sluicepb.CompleteFileRequest{Path: p, FileId: cr.GetFile().GetFileId()}); err != nil {
		t.Fatalf("complete %s: %v", p, err)
	}
}

func (tm *testMaster) mkfile(p string) {
	tm.t.Helper()
	cr, err := tm.fs.CreateFile(callCtx(tm.t), &sluicepb.CreateFileRequest{Path: p, Recursive: true})
	if err != nil {
		tm.t.Fatal(err)
	}
	if _, err := tm.fs.CompleteFile(callCtx(tm.t), &sluicepb.CompleteFileRequest{Path: p, FileId: cr.GetFile().GetFileId()}); err != nil {
		tm.t.Fatal(err)
	}
}

// waitJob waits until job id reaches state.
func waitJob(t *testing.T, jm sluicepb.JobMasterClient, id string, st sluicepb.JobState) *sluicepb.JobInfo {
	t.Helper()
	var j *sluicepb.JobInfo
	waitFor(t, "job "+id+" "+st.String(), func() bool {
		resp, err := jm.GetJob(callCtx(t), &sluicepb.GetJobRequest{JobId: id})
		j = resp.GetJob()
		return err == nil && j.GetState() == st
	})
	return j
}

func TestJobMaster_SubmitValidation(t *testing.T) {
	tm, _, jm := jobMaster(t)
	tm.mkfile("/in")
	if _, err := tm.fs.CreateDirectory(callCtx(t), &sluicepb.CreateDirectoryRequest{Path: "/d"}); err != nil {
		t.Fatal(err)
	}
	a := mustSubmit(t, jm, []string{"/in"}, []string{"/a/out"})
	x := mustSubmit(t, jm, []string{"/d"}, []string{"/x"})
	tests := []struct {
		name            string
		inputs, outputs []string
		code            codes.Code
		reason          sluicepb.ErrorReason
		path            string
	}{
		{"missing input", []string{"/nope"}, []string{"/o1"}, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, "/nope"},
		{"existing output", []string{"/in"}, []string{"/in"}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "/in"},
		{"existing output file", nil, []string{"/in"}, codes.AlreadyExists, sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS, "/in"},
		{"output of another job", nil, []string{"/a/out"}, codes.AlreadyExists, sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS, "/a/out"},
		{"cycle", []string{"/x"}, []string{"/d/y"}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, ""},
		{"output is input", []string{"/d"}, []string{"/d/z"}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, ""},
		{"no output", []string{"/in"}, nil, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, ""},
		{"bad path", nil, []string{"rel"}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH, ""},
		{"root output", nil, []string{"/"}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := submit(t, jm, tt.inputs, tt.outputs)
			wantReason(t, err, tt.code, tt.reason)
			if tt.path != "" {
				if d := detailOf(err); d.GetPath() != tt.path {
					t.Errorf("detail path %q, want %q", d.GetPath(), tt.path)
				}
			}
		})
	}
	// The input of a job may be another job's output that is still being written.
	b := mustSubmit(t, jm, []string{"/a/out"}, []string{"/b/out"})
	if !slices.Equal(b.GetParentJobIds(), []string{a.GetJobId()}) {
		t.Errorf("parents of %s: %v", b.GetJobId(), b.GetParentJobIds())
	}
	if _, err := jm.SubmitJob(callCtx(t), &sluicepb.SubmitJobRequest{Spec: &sluicepb.JobSpec{Outputs: []string{"/c"}}}); err == nil {
		t.Error("a job without a command was accepted")
	}
	if st := tm.status("/a/out"); st.GetState() != sluicepb.FileState_FILE_STATE_INCOMPLETE || st.GetJobId() != a.GetJobId() {
		t.Errorf("placeholder: %v", st)
	}
	if x.GetState() != sluicepb.JobState_JOB_STATE_RUNNING {
		t.Errorf("job x: %v", x)
	}
}

// detailOf returns the ErrorDetail of a gRPC error.
func detailOf(err error) *sluicepb.ErrorDetail {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if ed, ok := d.(*sluicepb.ErrorDetail); ok {
			return ed
		}
	}
	return nil
}

func TestJobMaster_NoScheduler(t *testing.T) {
	tm, _ := startMaster(t, nil)
	_, err := submit(t, sluicepb.NewJobMasterClient(tm.conn), nil, []string{"/o"})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED)
	if _, err := tm.fs.GetStatus(callCtx(t), &sluicepb.GetStatusRequest{Path: "/o"}); err == nil {
		t.Error("a refused job left its output")
	}
}

func TestJobMaster_Runs(t *testing.T) {
	tm, fl, jm := jobMaster(t)
	tm.mkfile("/in")
	ok := mustSubmit(t, jm, []string{"/in"}, []string{"/out/ok"})
	if ok.GetState() != sluicepb.JobState_JOB_STATE_RUNNING || ok.GetAttempts() != 1 || ok.GetTaskId() != "task-1" {
		t.Fatalf("submitted: %v", ok)
	}
	l := fl.launched()[0]
	env, isJob := client.ParseJobEnv(func(k string) string { return l.Env[k] })
	want := client.JobEnvironment{Masters: []string{tm.m.Addr()}, JobID: ok.GetJobId(), Inputs: []string{"/in"}, Outputs: []string{"/out/ok"}}
	if !isJob || !slices.Equal(env.Masters, want.Masters) || env.JobID != want.JobID ||
		!slices.Equal(env.Inputs, want.Inputs) || !slices.Equal(env.Outputs, want.Outputs) {
		t.Errorf("job environment %+v, want %+v", env, want)
	}
	if l.Attempt != 1 || l.Priority != 3 || !slices.Equal(l.Command, []string{"prog", "arg"}) {
		t.Errorf("launch %+v", l)
	}

	// Exit 0 with every output complete: COMPLETED, with its facts and run time.
	writeOutput(t, tm, ok.GetJobId(), "/out/ok")
	fl.emit(JobEvent{TaskID: "task-1", State: TaskFinished, Host: "node-1", LogPath: "/logs/task-1.log"})
	done := waitJob(t, jm, ok.GetJobId(), sluicepb.JobState_JOB_STATE_COMPLETED)
	if done.GetHost() != "node-1" || done.GetLogPath() != "/logs/task-1.log" || done.GetEndTimeMs() == 0 {
		t.Errorf("completed: %v", done)
	}
	rec, _ := tm.m.st.View().Job(1)
	if f, found := rec.Fact("/out/ok"); !found || f.FileID == 0 {
		t.Errorf("output facts %+v", rec.OutputFacts)
	}

	// Exit 0 with an output left incomplete: FAILED.
	inc := mustSubmit(t, jm, []string{"/out/ok"}, []string{"/out/inc"})
	fl.emit(JobEvent{TaskID: inc.GetTaskId(), State: TaskFinished})
	failed := waitJob(t, jm, inc.GetJobId(), sluicepb.JobState_JOB_STATE_FAILED)
	if !strings.Contains(failed.GetMessage(), "left output /out/inc incomplete") {
		t.Errorf("message %q", failed.GetMessage())
	}

	// A non-zero exit: FAILED with the tail of its log.
	bad := mustSubmit(t, jm, nil, []string{"/out/bad"})
	fl.emit(JobEvent{TaskID: bad.GetTaskId(), State: TaskFailed, ExitCode: 3, Message: "exit status 3",
		LogTail: strings.Repeat("noise\n", 2000) + "panic: boom\n"})
	failed = waitJob(t, jm, bad.GetJobId(), sluicepb.JobState_JOB_STATE_FAILED)
	if failed.GetExitCode() != 3 || !strings.HasSuffix(failed.GetLogTail(), "panic: boom\n") || len(failed.GetLogTail()) > maxLogTail {
		t.Errorf("failed: exit %d, message %q, tail of %d bytes", failed.GetExitCode(), failed.GetMessage(), len(failed.GetLogTail()))
	}

	// Kill: the task is killed, the job KILLED; a late event changes nothing.
	k := mustSubmit(t, jm, nil, []string{"/out/k"})
	resp, err := jm.KillJob(callCtx(t), &sluicepb.KillJobRequest{JobId: k.GetJobId()})
	if err != nil || resp.GetJob().GetState() != sluicepb.JobState_JOB_STATE_KILLED {
		t.Fatalf("KillJob = %v, %v", resp, err)
	}
	fl.emit(JobEvent{TaskID: k.GetTaskId(), State: TaskFinished})
	if resp, err := jm.KillJob(callCtx(t), &sluicepb.KillJobRequest{JobId: k.GetJobId()}); err != nil || resp.GetJob().GetState() != sluicepb.JobState_JOB_STATE_KILLED {
		t.Fatalf("second KillJob = %v, %v", resp, err)
	}

	// A launch the framework scheduler refuses: recorded FAILED.
	fl.mu.Lock()
	fl.launchErr = errors.New("no node")
	fl.mu.Unlock()
	refused := mustSubmit(t, jm, nil, []string{"/out/refused"})
	if refused.GetState() != sluicepb.JobState_JOB_STATE_FAILED || !strings.Contains(refused.GetMessage(), "no node") || refused.GetAttempts() != 1 {
		t.Errorf("refused launch: %v", refused)
	}

	list, err := jm.ListJobs(callCtx(t), &sluicepb.ListJobsRequest{State: sluicepb.JobState_JOB_STATE_FAILED, Limit: 2})
	if err != nil || len(list.GetJobs()) != 2 || list.GetJobs()[0].GetJobId() != refused.GetJobId() {
		t.Errorf("ListJobs(FAILED, 2) = %v, %v", list, err)
	}
	if _, err := jm.GetJob(callCtx(t), &sluicepb.GetJobRequest{JobId: "99"}); err == nil {
		t.Error("GetJob of an unknown job")
	}
}

func TestJobMaster_LineageAndCheckpointStatus(t *testing.T) {
	tm, fl, jm := jobMaster(t)
	run := func(inputs, outputs []string) *sluicepb.JobInfo {
		j := mustSubmit(t, jm, inputs, outputs)
		writeOutput(t, tm, j.GetJobId(), outputs[0])
		fl.emit(JobEvent{TaskID: j.GetTaskId(), State: TaskFinished})
		return waitJob(t, jm, j.GetJobId(), sluicepb.JobState_JOB_STATE_COMPLETED)
	}
	a := run(nil, []string{"/p/a"})
	b := run([]string{"/p/a"}, []string{"/p/b"})
	c := run([]string{"/p/b"}, []string{"/q/c"})
	lin, err := jm.GetLineage(callCtx(t), &sluicepb.GetLineageRequest{Path: "/p/b"})
	if err != nil || lin.GetJob().GetJobId() != b.GetJobId() || len(lin.GetAncestors()) != 1 || len(lin.GetDescendants()) != 1 ||
		lin.GetAncestors()[0].GetJobId() != a.GetJobId() || lin.GetDescendants()[0].GetJobId() != c.GetJobId() {
		t.Fatalf("GetLineage(/p/b) = %v, %v", lin, err)
	}
	if _, err := jm.GetLineage(callCtx(t), &sluicepb.GetLineageRequest{Path: "/nope"}); err == nil {
		t.Error("lineage of a path no job produced")
	}
	cs, err := jm.GetCheckpointStatus(callCtx(t), &sluicepb.GetCheckpointStatusRequest{Path: "/p"})
	if err != nil {
		t.Fatal(err)
	}
	if cs.GetTotals().GetFilesWaiting() != 2 || len(cs.GetFiles()) != 2 || cs.GetFiles()[0].GetJobId() == "" {
		t.Errorf("checkpoint status of /p: %v", cs)
	}
	var exposed []string
	for _, e := range cs.GetExposure() {
		exposed = append(exposed, e.GetJobId())
	}
	if !slices.Equal(exposed, []string{a.GetJobId(), b.GetJobId()}) {
		t.Errorf("exposure of /p: %v", exposed)
	}
	if cs, _ := jm.GetCheckpointStatus(callCtx(t), &sluicepb.GetCheckpointStatusRequest{MaxFiles: 1}); !cs.GetFilesTruncated() || len(cs.GetExposure()) != 3 {
		t.Errorf("checkpoint status of /, one row: %v", cs)
	}

	// Without cascade a job with dependents stays; with it the chain goes.
	_, err = jm.DeleteLineage(callCtx(t), &sluicepb.DeleteLineageRequest{JobId: b.GetJobId()})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_LINEAGE_HAS_DEPENDENTS)

	// GC: once /q/c is persisted, job c protects nothing; b and a still protect theirs.
	tm.persistFile(t, "/q/c")
	forgot, err := tm.m.collectLineage(callCtx(t))
	if err != nil || !slices.Equal(forgot, []uint64{3}) {
		t.Fatalf("collectLineage = %v, %v", forgot, err)
	}
	if st := tm.status("/q/c"); st.GetJobId() != "" {
		t.Errorf("output of a collected job keeps its job: %v", st)
	}
	tm.persistFile(t, "/p/a")
	tm.persistFile(t, "/p/b")
	if forgot, _ := tm.m.collectLineage(callCtx(t)); !slices.Equal(forgot, []uint64{2, 1}) {
		t.Fatalf("collectLineage = %v", forgot)
	}
	del, err := jm.ListJobs(callCtx(t), &sluicepb.ListJobsRequest{})
	if err != nil || len(del.GetJobs()) != 0 {
		t.Errorf("jobs left: %v, %v", del, err)
	}
}

// persistFile journals p PERSISTED, as a checkpoint would.
func (tm *testMaster) persistFile(t *testing.T, p string) {
	t.Helper()
	in, err := tm.m.st.View().Get(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tm.m.apply(callCtx(t), state.EntrySetPersistenceState, &sluicepb.SetPersistenceStateEntry{
		Id: in.ID, State: sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_PERSISTED, UfsPath: p, TimeMs: nowMs()}); err != nil {
		t.Fatal(err)
	}
}

func TestJobMaster_RestartKeepsLineage(t *testing.T) {
	stores := &mastertest.Stores{}
	dir := t.TempDir()
	fl := newFakeLauncher()
	cfg, trans := testConfig(t, dir, "m0", stores)
	cfg.Jobs = fl
	tm := runMaster(t, cfg, trans)
	waitFor(t, "job runner", func() bool { return tm.m.jobRunner.Load() != nil })
	jm := sluicepb.NewJobMasterClient(tm.conn)
	done := mustSubmit(t, jm, nil, []string{"/r/done"})
	writeOutput(t, tm, done.GetJobId(), "/r/done")
	fl.emit(JobEvent{TaskID: done.GetTaskId(), State: TaskFinished})
	waitJob(t, jm, done.GetJobId(), sluicepb.JobState_JOB_STATE_COMPLETED)
	running := mustSubmit(t, jm, []string{"/r/done"}, []string{"/r/running"})
	alive := mustSubmit(t, jm, nil, []string{"/r/alive"})
	waiter := mustSubmit(t, jm, []string{"/r/running"}, []string{"/r/waiter"})
	if err := tm.m.j.Snapshot(callCtx(t)); err != nil {
		t.Fatal(err)
	}
	later := mustSubmit(t, jm, nil, []string{"/r/later"}) // only in the log tail
	tm.stop()

	// The new master's launcher still runs "alive" (a separate framework scheduler) but
	// forgot the others.
	fl2 := newFakeLauncher()
	fl2.tasks[alive.GetTaskId()] = JobEvent{TaskID: alive.GetTaskId(), State: TaskRunning}
	cfg2, trans2 := testConfig(t, dir, "m0", stores)
	cfg2.Jobs = fl2
	tm2 := runMaster(t, cfg2, trans2)
	waitFor(t, "job runner after restart", func() bool { return tm2.m.jobRunner.Load() != nil })
	jm2 := sluicepb.NewJobMasterClient(tm2.conn)
	waitJob(t, jm2, done.GetJobId(), sluicepb.JobState_JOB_STATE_COMPLETED)
	for _, j := range []*sluicepb.JobInfo{running, later} {
		f := waitJob(t, jm2, j.GetJobId(), sluicepb.JobState_JOB_STATE_FAILED)
		if !strings.Contains(f.GetMessage(), "master restarted") {
			t.Errorf("job %s: %q", j.GetJobId(), f.GetMessage())
		}
	}
	// The job waiting for "running" waits again after the restart, and fails with it.
	if w := waitJob(t, jm2, waiter.GetJobId(), sluicepb.JobState_JOB_STATE_FAILED); !strings.Contains(w.GetMessage(), "input job "+running.GetJobId()) {
		t.Errorf("waiting job after restart: %v", w)
	}
	waitJob(t, jm2, alive.GetJobId(), sluicepb.JobState_JOB_STATE_RUNNING)
	writeOutput(t, tm2, alive.GetJobId(), "/r/alive")
	fl2.emit(JobEvent{TaskID: alive.GetTaskId(), State: TaskFinished})
	waitJob(t, jm2, alive.GetJobId(), sluicepb.JobState_JOB_STATE_COMPLETED)
	lin, err := jm2.GetLineage(callCtx(t), &sluicepb.GetLineageRequest{JobId: running.GetJobId()})
	if err != nil || len(lin.GetAncestors()) != 1 || lin.GetAncestors()[0].GetJobId() != done.GetJobId() {
		t.Fatalf("lineage after restart: %v, %v", lin, err)
	}
	// New jobs get new IDs.
	n := mustSubmit(t, jm2, nil, []string{"/r/new"})
	if n.GetJobId() != "6" {
		t.Errorf("job ID after restart %s, want 6", n.GetJobId())
	}
}

func TestJobMaster_ConcurrentSubmits(t *testing.T) {
	_, fl, jm := jobMaster(t)
	const n = 16
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			// Half race for one output, the others write their own.
			out := fmt.Sprintf("/c/own-%d", i)
			if i%2 == 0 {
				out = "/c/shared"
			}
			j, err := submit(t, jm, nil, []string{out})
			ids[i], errs[i] = j.GetJobId(), err
		})
	}
	wg.Wait()
	won, seen := 0, map[string]bool{}
	for i, err := range errs {
		switch {
		case err == nil:
			if seen[ids[i]] {
				t.Errorf("job ID %s handed out twice", ids[i])
			}
			seen[ids[i]] = true
			if i%2 == 0 {
				won++
			}
		case i%2 == 1:
			t.Errorf("submit of a free output: %v", err)
		default:
			if c, _ := reasonOf(err); c != codes.AlreadyExists {
				t.Errorf("losing submit: %v", err)
			}
		}
	}
	if won != 1 || len(fl.launched()) != n/2+1 {
		t.Errorf("%d submits of the shared output won, %d launches", won, len(fl.launched()))
	}
}

func TestJobMaster_WaitsForInputJobs(t *testing.T) {
	tm, fl, jm := jobMaster(t)
	a := mustSubmit(t, jm, nil, []string{"/w/a"})
	b := mustSubmit(t, jm, []string{"/w/a"}, []string{"/w/b"})
	if b.GetState() != sluicepb.JobState_JOB_STATE_PENDING || len(fl.launched()) != 1 {
		t.Fatalf("job reading a running job's output: %v, %d launches", b, len(fl.launched()))
	}
	c := mustSubmit(t, jm, []string{"/w/b"}, []string{"/w/c"})
	d := mustSubmit(t, jm, []string{"/w"}, []string{"/x/d"}) // a directory holding a, b and c
	writeOutput(t, tm, a.GetJobId(), "/w/a")
	fl.emit(JobEvent{TaskID: a.GetTaskId(), State: TaskFinished})
	b = waitJob(t, jm, b.GetJobId(), sluicepb.JobState_JOB_STATE_RUNNING)
	if l := fl.launched(); len(l) != 2 || l[1].JobID != 2 {
		t.Fatalf("launches after job a completed: %+v", l)
	}
	// b fails: c, which reads it, and d, which reads the directory, fail without running.
	fl.emit(JobEvent{TaskID: b.GetTaskId(), State: TaskFailed, ExitCode: 1})
	for _, j := range []*sluicepb.JobInfo{c, d} {
		f := waitJob(t, jm, j.GetJobId(), sluicepb.JobState_JOB_STATE_FAILED)
		if !strings.Contains(f.GetMessage(), "input job") || f.GetTaskId() != "" {
			t.Errorf("job %s: %v", j.GetJobId(), f)
		}
	}
	if n := len(fl.launched()); n != 2 {
		t.Errorf("%d launches, want 2", n)
	}
	// A waiting job can be killed.
	e := mustSubmit(t, jm, nil, []string{"/w/e"})
	f := mustSubmit(t, jm, []string{"/w/e"}, []string{"/w/f"})
	if resp, err := jm.KillJob(callCtx(t), &sluicepb.KillJobRequest{JobId: f.GetJobId()}); err != nil || resp.GetJob().GetState() != sluicepb.JobState_JOB_STATE_KILLED {
		t.Fatalf("KillJob(waiting) = %v, %v", resp, err)
	}
	writeOutput(t, tm, e.GetJobId(), "/w/e")
	fl.emit(JobEvent{TaskID: e.GetTaskId(), State: TaskFinished})
	waitJob(t, jm, e.GetJobId(), sluicepb.JobState_JOB_STATE_COMPLETED)
	if n := len(fl.launched()); n != 3 {
		t.Errorf("a killed waiting job was launched: %d launches", n)
	}
}
