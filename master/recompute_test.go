package master

import (
	"context"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/mastertest"
	"github.com/sluicedata/sluice/master/state"
)

// jobFarm is a JobLauncher whose jobs really run: each launch writes the job's outputs
// through the master's RPCs (claim the placeholder, commit one block on the executor
// the test chose for the job, complete) and then finishes. The bytes of an output depend
// only on its path, unless the test makes the job non-deterministic. Jobs are named by
// JobLaunch.Name.
type jobFarm struct {
	*fakeLauncher
	t *testing.T
	// mu guards the fields below.
	mu     sync.Mutex
	tm     *testMaster
	exec   map[string]uint64 // job name → executor writing its outputs
	fail   map[string]bool   // job name → its recomputes fail
	nondet map[string]bool   // job name → its recomputes write other bytes
	hold   bool              // recomputes wait for release (or stop)
	held   int               // recomputes waiting
	// release lets held recomputes go on; stop abandons every run in flight.
	release chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
}

func newJobFarm(t *testing.T) *jobFarm {
	f := &jobFarm{fakeLauncher: newFakeLauncher(), t: t, exec: make(map[string]uint64),
		fail: make(map[string]bool), nondet: make(map[string]bool),
		release: make(chan struct{}), stop: make(chan struct{})}
	t.Cleanup(f.shutdown)
	return f
}

// shutdown abandons the runs in flight and waits for their goroutines.
func (f *jobFarm) shutdown() {
	f.mu.Lock()
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *jobFarm) set(fn func(f *jobFarm)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// LaunchJob records the launch and runs the job in a goroutine.
func (f *jobFarm) LaunchJob(ctx context.Context, l JobLaunch) (string, error) {
	id, err := f.fakeLauncher.LaunchJob(ctx, l)
	if err != nil {
		return "", err
	}
	f.wg.Add(1)
	go f.run(id, l)
	return id, nil
}

// outputData is what a job writes to output p.
func outputData(p string) []byte { return []byte("bytes of " + p) }

func (f *jobFarm) run(taskID string, l JobLaunch) {
	defer f.wg.Done()
	f.mu.Lock()
	hold := f.hold && l.Recompute
	if hold {
		f.held++
	}
	f.mu.Unlock()
	if hold {
		select {
		case <-f.release:
		case <-f.stop:
			return
		}
	}
	f.mu.Lock()
	tm, execID, failing, nondet := f.tm, f.exec[l.Name], f.fail[l.Name] && l.Recompute, f.nondet[l.Name] && l.Recompute
	f.mu.Unlock()
	if failing {
		f.emit(JobEvent{TaskID: taskID, State: TaskFailed, ExitCode: 3, Message: "exit status 3", LogTail: "boom: input unreadable\n"})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, p := range strings.Split(l.Env[envOutputs], envPathSeparator) {
		data := outputData(p)
		if nondet {
			data = append(data, " (different this time)"...)
		}
		if err := writeJobOutput(ctx, tm, execID, l.JobID, p, data, l.Recompute); err != nil {
			f.emit(JobEvent{TaskID: taskID, State: TaskFailed, ExitCode: 1, Message: err.Error()})
			return
		}
	}
	f.emit(JobEvent{TaskID: taskID, State: TaskFinished})
}

// writeJobOutput claims output p of job jobID, commits its one block on executor
// execID and completes it. A rebuild checks that the output stays LOST until then.
func writeJobOutput(ctx context.Context, tm *testMaster, execID, jobID uint64, p string, data []byte, rebuild bool) error {
	cr, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: p, JobId: strconv.FormatUint(jobID, 10)})
	if err != nil {
		return err
	}
	id := sluicepb.NewBlockID(cr.GetFile().GetFileId(), 0)
	crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	if _, err := tm.ex.CommitBlock(ctx, &sluicepb.CommitBlockRequest{ExecutorId: execID, BlockId: id,
		Length: int64(len(data)), Tier: "MEM", Crc32C: crc}); err != nil {
		return err
	}
	// Executors list their new blocks in their next heartbeat too, before the job
	// completes the file.
	if _, err := tm.ex.Heartbeat(ctx, &sluicepb.HeartbeatRequest{ExecutorId: execID,
		AddedBlocks: []*sluicepb.StoredBlock{{BlockId: id, Length: int64(len(data)), Tier: "MEM", Crc32C: crc}}}); err != nil {
		return err
	}
	if in, err := tm.m.st.View().Get(p); err == nil && rebuild && in.PersistenceState != state.Lost {
		return fmt.Errorf("%s is %v before its rebuild completes", p, in.PersistenceState)
	}
	_, err = tm.fs.CompleteFile(ctx, &sluicepb.CompleteFileRequest{Path: p, FileId: cr.GetFile().GetFileId(),
		Length: int64(len(data)), Blocks: []*sluicepb.BlockInfo{{BlockId: id, Length: int64(len(data)), Crc32C: &crc}}})
	return err
}

// recomputes returns the names of the recompute launches, in launch order.
func (f *jobFarm) recomputes() []string {
	var out []string
	for _, l := range f.launched() {
		if l.Recompute {
			out = append(out, l.Name)
		}
	}
	return out
}

// farmMaster starts a master whose jobs run on a jobFarm, with one executor (returned)
// holding the plain input /in.
func farmMaster(t *testing.T, tweak func(*Config)) (*testMaster, *jobFarm, sluicepb.JobMasterClient, *fakeExecutor) {
	t.Helper()
	farm := newJobFarm(t)
	tm, _ := startMaster(t, func(c *Config) {
		c.Jobs = farm
		if tweak != nil {
			tweak(c)
		}
	})
	farm.set(func(f *jobFarm) { f.tm = tm })
	waitFor(t, "job runner", func() bool { return tm.m.jobRunner.Load() != nil })
	e0 := newFakeExecutor(t, tm, "127.0.0.1:7000")
	e0.register()
	writeFile(t, tm, e0, "/in", []byte("input"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	return tm, farm, sluicepb.NewJobMasterClient(tm.conn), e0
}

// farmJob submits job name reading inputs and writing outputs on executor execID, and
// waits for its first run to complete. It returns the job ID.
func farmJob(t *testing.T, farm *jobFarm, jm sluicepb.JobMasterClient, name string, execID uint64, inputs, outputs []string) string {
	t.Helper()
	return farmJobPriority(t, farm, jm, name, 1, execID, inputs, outputs)
}

// farmJobPriority is farmJob with the job's priority.
func farmJobPriority(t *testing.T, farm *jobFarm, jm sluicepb.JobMasterClient, name string, prio int32, execID uint64, inputs, outputs []string) string {
	t.Helper()
	farm.set(func(f *jobFarm) { f.exec[name] = execID })
	resp, err := jm.SubmitJob(callCtx(t), &sluicepb.SubmitJobRequest{Spec: &sluicepb.JobSpec{
		Name: name, Command: []string{"prog", name}, Inputs: inputs, Outputs: outputs, Priority: prio}})
	if err != nil {
		t.Fatalf("submit %s: %v", name, err)
	}
	id := resp.GetJob().GetJobId()
	waitJob(t, jm, id, sluicepb.JobState_JOB_STATE_COMPLETED)
	return id
}

// readLost reads p's block locations, waiting for a recompute, and checks that its
// one block has the original bytes' length and checksum and a copy.
func readLost(t *testing.T, tm *testMaster, p string) {
	t.Helper()
	resp, err := tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: p, WaitForRecompute: true})
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	want := outputData(p)
	crc := crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli))
	b := resp.GetBlocks()
	if len(b) != 1 || b[0].GetBlock().GetLength() != int64(len(want)) || b[0].GetBlock().GetCrc32C() != crc || len(b[0].GetLocations()) == 0 {
		t.Fatalf("read %s: blocks %v, want one located block of %d bytes, crc %08x", p, b, len(want), crc)
	}
	if st := resp.GetFile().GetPersistenceState(); st != sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED {
		t.Fatalf("read %s: %v after its recompute", p, st)
	}
}

// lose declares executor e lost.
func lose(t *testing.T, tm *testMaster, e *fakeExecutor) {
	t.Helper()
	if err := tm.m.ReportExecutorLost(callCtx(t), strconv.FormatUint(e.id, 10)); err != nil {
		t.Fatal(err)
	}
}

func TestRecompute_ChainOfFive(t *testing.T) {
	tm, farm, jm, _ := farmMaster(t, nil)
	execs := make([]*fakeExecutor, 6)
	in := "/in"
	for k := 1; k <= 5; k++ {
		execs[k] = newFakeExecutor(t, tm, fmt.Sprintf("127.0.0.1:%d", 7000+k))
		execs[k].register()
		out := fmt.Sprintf("/c/%d", k)
		farmJob(t, farm, jm, fmt.Sprintf("s%d", k), execs[k].id, []string{in}, []string{out})
		in = out
	}
	// A loss at each stage reruns only the job of that stage; the rebuilt outputs all
	// land on one new executor.
	rebuilt := newFakeExecutor(t, tm, "127.0.0.1:7100")
	rebuilt.register()
	for k := 1; k <= 5; k++ {
		farm.set(func(f *jobFarm) { f.exec[fmt.Sprintf("s%d", k)] = rebuilt.id })
		before := len(farm.recomputes())
		lose(t, tm, execs[k])
		readLost(t, tm, fmt.Sprintf("/c/%d", k))
		readLost(t, tm, "/c/5")
		if got := farm.recomputes()[before:]; !slices.Equal(got, []string{fmt.Sprintf("s%d", k)}) {
			t.Fatalf("loss of stage %d reran %v", k, got)
		}
	}
	// Losing every stage at once reruns each job once, inputs first.
	spare := newFakeExecutor(t, tm, "127.0.0.1:7101")
	spare.register()
	farm.set(func(f *jobFarm) {
		for k := 1; k <= 5; k++ {
			f.exec[fmt.Sprintf("s%d", k)] = spare.id
		}
	})
	before := len(farm.recomputes())
	lose(t, tm, rebuilt)
	readLost(t, tm, "/c/5")
	if got := farm.recomputes()[before:]; !slices.Equal(got, []string{"s1", "s2", "s3", "s4", "s5"}) {
		t.Fatalf("loss of the whole chain reran %v, want s1…s5 once each in order", got)
	}
	for _, l := range farm.launched() {
		if l.Recompute && l.Attempt < 2 {
			t.Errorf("recompute of %s as attempt %d", l.Name, l.Attempt)
		}
	}
}

func TestRecompute_Diamond(t *testing.T) {
	tm, farm, jm, _ := farmMaster(t, nil)
	x := newFakeExecutor(t, tm, "127.0.0.1:7001")
	x.register()
	farmJob(t, farm, jm, "a", x.id, []string{"/in"}, []string{"/d/a"})
	farmJob(t, farm, jm, "b", x.id, []string{"/d/a"}, []string{"/d/b"})
	farmJob(t, farm, jm, "c", x.id, []string{"/d/a"}, []string{"/d/c"})
	farmJob(t, farm, jm, "d", x.id, []string{"/d/b", "/d/c"}, []string{"/d/d"})
	y := newFakeExecutor(t, tm, "127.0.0.1:7002")
	y.register()
	farm.set(func(f *jobFarm) {
		for _, n := range []string{"a", "b", "c", "d"} {
			f.exec[n] = y.id
		}
	})
	lose(t, tm, x)
	readLost(t, tm, "/d/d")
	got := farm.recomputes()
	if len(got) != 4 || got[0] != "a" || got[3] != "d" || !slices.Contains(got, "b") || !slices.Contains(got, "c") {
		t.Fatalf("diamond reran %v, want a once, then b and c, then d", got)
	}
	for _, p := range []string{"/d/a", "/d/b", "/d/c"} {
		readLost(t, tm, p)
	}
}

func TestRecompute_FailingJob(t *testing.T) {
	tm, farm, jm, _ := farmMaster(t, nil)
	x := newFakeExecutor(t, tm, "127.0.0.1:7001")
	x.register()
	first := farmJob(t, farm, jm, "first", x.id, []string{"/in"}, []string{"/f/1"})
	farmJob(t, farm, jm, "second", x.id, []string{"/f/1"}, []string{"/f/2"})
	farm.set(func(f *jobFarm) { f.fail["first"] = true })
	lose(t, tm, x)
	_, err := tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: "/f/2", WaitForRecompute: true})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_LOST)
	msg := err.Error()
	if !strings.Contains(msg, `job 1 "first"`) || !strings.Contains(msg, "exit status 3") || !strings.Contains(msg, `job 2 "second"`) {
		t.Errorf("read of the dependent output: %v; want the failed job, why, and the job it stopped", err)
	}
	if d := detailOf(err); d.GetJobId() != "2" || d.GetPath() != "/f/2" {
		t.Errorf("error detail %v, want job 2 and /f/2", d)
	}
	// The failed job ran its attempts; its dependent never ran; a new read fails at
	// once with the same story.
	if got := farm.recomputes(); !slices.Equal(got, []string{"first", "first"}) {
		t.Errorf("recomputes %v, want two attempts of first", got)
	}
	_, err = tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: "/f/1", WaitForRecompute: true})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_LOST)
	if !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("read of the failed job's output: %v", err)
	}
	j := waitJob(t, jm, first, sluicepb.JobState_JOB_STATE_FAILED)
	if !strings.Contains(j.GetLogTail(), "boom") {
		t.Errorf("failed recompute as a job: %v", j)
	}
	// Nothing retries the failure by itself; once RetryAfter has passed (moved back
	// here), a read starts a new recovery, which now succeeds.
	r := tm.m.rec
	r.mu.Lock()
	runner := r.runner
	r.mu.Unlock()
	var wg sync.WaitGroup
	tm.m.planRecomputes(t.Context(), runner, &wg) // a scan, run to its end
	wg.Wait()
	if got := farm.recomputes(); len(got) != 2 {
		t.Fatalf("recomputes %v before the retry", got)
	}
	y := newFakeExecutor(t, tm, "127.0.0.1:7002")
	y.register()
	farm.set(func(f *jobFarm) { f.fail["first"], f.exec["first"], f.exec["second"] = false, y.id, y.id })
	r.mu.Lock()
	for p, f := range r.failed {
		f.at = f.at.Add(-tm.m.cfg.Recompute.RetryAfter)
		r.failed[p] = f
	}
	r.mu.Unlock()
	readLost(t, tm, "/f/2")
	if got := farm.recomputes(); !slices.Equal(got, []string{"first", "first", "first", "second"}) {
		t.Errorf("recomputes %v, want the retry of first, then second", got)
	}
}

func TestRecompute_NoLineage(t *testing.T) {
	tm, _, _, _ := farmMaster(t, nil)
	x := newFakeExecutor(t, tm, "127.0.0.1:7001")
	x.register()
	writeFile(t, tm, x, "/plain", []byte("no lineage"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	lose(t, tm, x)
	_, err := tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: "/plain", WaitForRecompute: true})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_LOST)
	if !strings.Contains(err.Error(), "no lineage") {
		t.Errorf("read of lost data: %v", err)
	}
}

func TestRecompute_NonDeterministic(t *testing.T) {
	tm, farm, jm, _ := farmMaster(t, nil)
	x := newFakeExecutor(t, tm, "127.0.0.1:7001")
	x.register()
	id := farmJob(t, farm, jm, "dice", x.id, []string{"/in"}, []string{"/n/out"})
	y := newFakeExecutor(t, tm, "127.0.0.1:7002")
	y.register()
	farm.set(func(f *jobFarm) { f.exec["dice"], f.nondet["dice"] = y.id, true })
	lose(t, tm, x)
	resp, err := tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: "/n/out", WaitForRecompute: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetFile().GetLength() == int64(len(outputData("/n/out"))) {
		t.Fatal("the job did not change its output")
	}
	var j *sluicepb.JobInfo
	waitFor(t, "non-determinism flagged", func() bool {
		r, err := jm.GetJob(callCtx(t), &sluicepb.GetJobRequest{JobId: id})
		j = r.GetJob()
		return err == nil && strings.Contains(j.GetMessage(), "non-deterministic")
	})
	if !strings.Contains(j.GetMessage(), "/n/out") || j.GetState() != sluicepb.JobState_JOB_STATE_COMPLETED {
		t.Errorf("job after a differing recompute: %v", j)
	}
}

func TestRecompute_ResumesAfterMasterRestart(t *testing.T) {
	stores := &mastertest.Stores{}
	dir := t.TempDir()
	farm := newJobFarm(t)
	cfg, trans := testConfig(t, dir, "m0", stores)
	cfg.Jobs = farm
	tm := runMaster(t, cfg, trans)
	farm.set(func(f *jobFarm) { f.tm = tm })
	waitFor(t, "job runner", func() bool { return tm.m.jobRunner.Load() != nil })
	jm := sluicepb.NewJobMasterClient(tm.conn)
	e0 := newFakeExecutor(t, tm, "127.0.0.1:7000")
	e0.register()
	writeFile(t, tm, e0, "/in", []byte("input"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	x := newFakeExecutor(t, tm, "127.0.0.1:7001")
	x.register()
	farmJob(t, farm, jm, "one", x.id, []string{"/in"}, []string{"/r/1"})
	farmJob(t, farm, jm, "two", x.id, []string{"/r/1"}, []string{"/r/2"})
	// The recompute of "one" starts and hangs; the master stops meanwhile.
	farm.set(func(f *jobFarm) { f.hold = true })
	lose(t, tm, x)
	waitFor(t, "recompute started", func() bool {
		var held int
		farm.set(func(f *jobFarm) { held = f.held })
		return held == 1
	})
	tm.stop()
	farm.shutdown()

	// A new master on the same journal, with a framework scheduler that forgot the run.
	farm2 := newJobFarm(t)
	farm2.hold = true // until the executors are back
	cfg2, trans2 := testConfig(t, dir, "m0", stores)
	cfg2.Jobs = farm2
	tm2 := runMaster(t, cfg2, trans2)
	farm2.set(func(f *jobFarm) { f.tm = tm2 })
	waitFor(t, "leadership after restart", tm2.m.IsLeader)
	e0.ex = tm2.ex
	e0.register()
	y := newFakeExecutor(t, tm2, "127.0.0.1:7002")
	y.register()
	farm2.set(func(f *jobFarm) { f.exec["one"], f.exec["two"] = y.id, y.id })
	close(farm2.release)
	readLost(t, tm2, "/r/2")
	readLost(t, tm2, "/r/1")
	if got := farm2.recomputes(); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("after restart reran %v, want one then two", got)
	}
}

func TestRecompute_ReadWaitBound(t *testing.T) {
	tm, farm, jm, _ := farmMaster(t, func(c *Config) { c.Recompute.ReadWait = 100 * time.Millisecond })
	x := newFakeExecutor(t, tm, "127.0.0.1:7001")
	x.register()
	id := farmJob(t, farm, jm, "slow", x.id, []string{"/in"}, []string{"/w/out"})
	farm.set(func(f *jobFarm) { f.hold = true }) // the recompute never ends
	lose(t, tm, x)
	// The caller would wait 20 s; the master's bound answers first, naming the job.
	_, err := tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: "/w/out", WaitForRecompute: true})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_LOST)
	if d := detailOf(err); !strings.Contains(err.Error(), "not recomputed in time by job "+id) || d.GetJobId() != id {
		t.Errorf("read of a file whose recompute hangs: %v (detail %v)", err, d)
	}
}

func TestRecompute_PriorityOfTheJobInNeed(t *testing.T) {
	tm, farm, jm, _ := farmMaster(t, nil)
	x := newFakeExecutor(t, tm, "127.0.0.1:7001")
	x.register()
	farmJobPriority(t, farm, jm, "low", 1, x.id, []string{"/in"}, []string{"/p/low"})
	farmJobPriority(t, farm, jm, "urgent", 7, x.id, []string{"/p/low"}, []string{"/p/urgent"})
	y := newFakeExecutor(t, tm, "127.0.0.1:7002")
	y.register()
	farm.set(func(f *jobFarm) { f.exec["low"], f.exec["urgent"] = y.id, y.id })
	lose(t, tm, x)
	readLost(t, tm, "/p/urgent")
	var got []string
	for _, l := range farm.launched() {
		if l.Recompute {
			got = append(got, fmt.Sprintf("%s@%d", l.Name, l.Priority))
		}
	}
	if !slices.Equal(got, []string{"low@7", "urgent@7"}) {
		t.Errorf("recompute launches %v, want low with urgent's priority, then urgent", got)
	}
}
