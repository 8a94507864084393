package master

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// gappyLauncher is a fakeLauncher whose event stream a test can break and keep down
// (JobEvents fails meanwhile), and whose JobStatus a test can make fail for a task.
type gappyLauncher struct {
	*fakeLauncher

	// mu guards the fields below.
	mu          sync.Mutex
	down        bool
	cancel      context.CancelFunc
	subscribed  int
	statusErr   map[string]error
	statusCalls map[string]int
}

func newGappyLauncher() *gappyLauncher {
	return &gappyLauncher{fakeLauncher: newFakeLauncher(), statusErr: make(map[string]error), statusCalls: make(map[string]int)}
}

func (g *gappyLauncher) JobEvents(ctx context.Context) (<-chan JobEvent, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down {
		return nil, fmt.Errorf("test: job events down: %w", ErrUnavailable)
	}
	ctx, g.cancel = context.WithCancel(ctx)
	g.subscribed++
	return g.fakeLauncher.JobEvents(ctx)
}

func (g *gappyLauncher) JobStatus(ctx context.Context, id string) (JobEvent, error) {
	g.mu.Lock()
	g.statusCalls[id]++
	err := g.statusErr[id]
	g.mu.Unlock()
	if err != nil {
		return JobEvent{}, err
	}
	return g.fakeLauncher.JobStatus(ctx, id)
}

// drop ends the current event stream and refuses new ones until up; events emitted
// after it returns reach no stream.
func (g *gappyLauncher) drop(t *testing.T) {
	t.Helper()
	g.mu.Lock()
	g.down = true
	cancel := g.cancel
	g.mu.Unlock()
	cancel()
	waitFor(t, "the event stream closed", func() bool {
		g.fakeLauncher.mu.Lock()
		defer g.fakeLauncher.mu.Unlock()
		return len(g.fakeLauncher.subs) == 0
	})
}

// up lets JobEvents succeed again.
func (g *gappyLauncher) up() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = false
}

// forget makes the launcher forget a task, as a restarted framework scheduler does.
func (g *gappyLauncher) forget(id string) {
	g.fakeLauncher.mu.Lock()
	defer g.fakeLauncher.mu.Unlock()
	delete(g.fakeLauncher.tasks, id)
}

func (g *gappyLauncher) setStatusErr(id string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.statusErr[id] = err
}

func (g *gappyLauncher) calls(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.statusCalls[id]
}

func (g *gappyLauncher) subscriptions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.subscribed
}

// Runs that end while the launcher's event stream is down are seen after the runner
// subscribes again, whether they were launched before the break or during it; a task
// the launcher forgot (a restarted framework scheduler) is a lost run, FAILED; a task
// whose state cannot be read is asked for again until it can.
func TestJobRunner_EndsWhileStreamDown(t *testing.T) {
	gl := newGappyLauncher()
	tm, _ := startMaster(t, func(c *Config) { c.Jobs = gl })
	jm := sluicepb.NewJobMasterClient(tm.conn)
	waitFor(t, "job runner", func() bool { return tm.m.jobRunner.Load() != nil })

	before := mustSubmit(t, jm, nil, []string{"/out/before"})
	forgotten := mustSubmit(t, jm, nil, []string{"/out/forgotten"})
	unsure := mustSubmit(t, jm, nil, []string{"/out/unsure"})
	still := mustSubmit(t, jm, nil, []string{"/out/still"})
	gl.drop(t)
	during := mustSubmit(t, jm, nil, []string{"/out/during"})
	if during.GetState() != sluicepb.JobState_JOB_STATE_RUNNING {
		t.Fatalf("job launched while the stream is down: %v", during)
	}

	// Ends no stream carries.
	writeOutput(t, tm, before.GetJobId(), "/out/before")
	gl.emit(JobEvent{TaskID: before.GetTaskId(), State: TaskFinished, Host: "node-1"})
	gl.emit(JobEvent{TaskID: during.GetTaskId(), State: TaskFailed, ExitCode: 4, Message: "exit status 4"})
	gl.emit(JobEvent{TaskID: unsure.GetTaskId(), State: TaskFailed, ExitCode: 5, Message: "exit status 5"})
	gl.forget(forgotten.GetTaskId())
	gl.setStatusErr(unsure.GetTaskId(), fmt.Errorf("test: status unreadable: %w", ErrUnavailable))
	gl.up()

	waitJob(t, jm, before.GetJobId(), sluicepb.JobState_JOB_STATE_COMPLETED)
	if j := waitJob(t, jm, during.GetJobId(), sluicepb.JobState_JOB_STATE_FAILED); j.GetExitCode() != 4 {
		t.Errorf("job ended in the gap: %v, want exit code 4", j)
	}
	lost := waitJob(t, jm, forgotten.GetJobId(), sluicepb.JobState_JOB_STATE_FAILED)
	if msg := lost.GetMessage(); !strings.Contains(msg, "task lost") || !strings.Contains(msg, forgotten.GetTaskId()) {
		t.Errorf("forgotten task's job message %q, want a lost task named", msg)
	}
	if n := gl.subscriptions(); n < 2 {
		t.Errorf("%d subscriptions, want a new one after the break", n)
	}

	// The unreadable task is asked for again: its end is taken once it can be read.
	waitFor(t, "a second status call for the unreadable task", func() bool { return gl.calls(unsure.GetTaskId()) >= 2 })
	if j, _ := tm.m.st.View().Job(mustJobID(t, unsure)); j.Ended() {
		t.Fatalf("job of the unreadable task ended: %+v", j)
	}
	gl.setStatusErr(unsure.GetTaskId(), nil)
	if j := waitJob(t, jm, unsure.GetJobId(), sluicepb.JobState_JOB_STATE_FAILED); j.GetExitCode() != 5 {
		t.Errorf("job of the once unreadable task: %v, want exit code 5", j)
	}

	// A run still going keeps running, and its end comes through the new stream.
	if j := waitJob(t, jm, still.GetJobId(), sluicepb.JobState_JOB_STATE_RUNNING); j.GetTaskId() != still.GetTaskId() {
		t.Fatalf("running job %v, want task %s", j, still.GetTaskId())
	}
	writeOutput(t, tm, still.GetJobId(), "/out/still")
	gl.emit(JobEvent{TaskID: still.GetTaskId(), State: TaskFinished})
	waitJob(t, jm, still.GetJobId(), sluicepb.JobState_JOB_STATE_COMPLETED)
}

// mustJobID is the numeric ID of a job.
func mustJobID(t *testing.T, j *sluicepb.JobInfo) uint64 {
	t.Helper()
	var id uint64
	if _, err := fmt.Sscan(j.GetJobId(), &id); err != nil {
		t.Fatalf("job ID %q: %v", j.GetJobId(), err)
	}
	return id
}
