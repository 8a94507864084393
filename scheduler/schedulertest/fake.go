package schedulertest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluicedata/sluice/scheduler"
)

// FakeNode is the node ID FakeBackend reports by default.
const FakeNode = "fake-node"

// FakeConfig sets how a FakeBackend behaves.
type FakeConfig struct {
	// ManualStart, when true, leaves launched tasks pending until the test calls Start;
	// otherwise Launch reports each task running at once.
	ManualStart bool
	// ManualKill, when true, makes Kill only record the call; the test ends the task
	// with Emit. Otherwise Kill reports the task killed at once.
	ManualKill bool
	// LaunchError, when set, is asked before each launch; a non-nil error fails it
	// (the attempt is still recorded, with an empty ID).
	LaunchError func(t scheduler.Task) error
	// Nodes is what Nodes returns; nil means one node, FakeNode.
	Nodes []scheduler.Node
}

// Launch is one Launch call a FakeBackend received.
type Launch struct {
	// ID is the task's ID, empty when the launch failed.
	ID   scheduler.TaskID
	Task scheduler.Task
	// Err is the error Launch returned.
	Err error
	// At is when Launch was called.
	At time.Time
}

// FakeBackend is a scheduler.Backend that runs nothing: it records launches and kills
// and lets a test drive each task's events, in the manner of nomad's scheduler Harness.
// Task IDs are "<name>-<n>" with n counting launches from 1; PIDs are 1000+n.
// It is safe for concurrent use; Close it when done (it ends its watchers).
type FakeBackend struct {
	cfg FakeConfig
	fan scheduler.Fanout

	// mu guards the fields below.
	mu       sync.Mutex
	closed   bool
	launches []Launch
	kills    []scheduler.TaskID
	tasks    map[scheduler.TaskID]*fakeTask
}

type fakeTask struct {
	task  scheduler.Task
	pid   int
	state scheduler.State
}

var _ scheduler.Backend = (*FakeBackend)(nil)

// NewFakeBackend returns a FakeBackend configured by cfg.
func NewFakeBackend(cfg FakeConfig) *FakeBackend {
	if cfg.Nodes == nil {
		cfg.Nodes = []scheduler.Node{{ID: FakeNode, Host: "127.0.0.1", Resources: scheduler.Resources{CPU: 2, MemMB: 1024}}}
	}
	return &FakeBackend{cfg: cfg, tasks: make(map[scheduler.TaskID]*fakeTask)}
}

// Name returns "fake".
func (f *FakeBackend) Name() string { return "fake" }

// Launch records t and, unless ManualStart, reports it running.
func (f *FakeBackend) Launch(ctx context.Context, t scheduler.Task) (scheduler.TaskID, error) {
	if err := t.Validate(); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	t = t.Clone()
	var err error
	if f.cfg.LaunchError != nil {
		err = f.cfg.LaunchError(t)
	}
	f.mu.Lock()
	if f.closed {
		err = scheduler.ErrClosed
	}
	if err != nil {
		f.launches = append(f.launches, Launch{Task: t, Err: err, At: time.Now()})
		f.mu.Unlock()
		return "", fmt.Errorf("fake launch %q: %w", t.Name, err)
	}
	n := len(f.launches) + 1
	name := t.Name
	if name == "" {
		name = string(t.Kind)
	}
	id := scheduler.TaskID(fmt.Sprintf("%s-%d", name, n))
	f.launches = append(f.launches, Launch{ID: id, Task: t, At: time.Now()})
	ft := &fakeTask{task: t, pid: 1000 + n, state: scheduler.StatePending}
	f.tasks[id] = ft
	f.mu.Unlock()
	if !f.cfg.ManualStart {
		f.Start(id)
	}
	return id, nil
}

// Kill records the call and, unless ManualKill, reports the task killed. A task that
// has ended is left alone; an unknown ID is scheduler.ErrUnknownTask.
func (f *FakeBackend) Kill(ctx context.Context, id scheduler.TaskID) error {
	f.mu.Lock()
	f.kills = append(f.kills, id)
	ft, ok := f.tasks[id]
	ended := ok && ft.state.Terminal()
	f.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("fake kill %s: %w", id, scheduler.ErrUnknownTask)
	case ended || f.cfg.ManualKill:
		return nil
	}
	f.Emit(scheduler.TaskEvent{TaskID: id, State: scheduler.StateKilled, ExitCode: -1, Message: "killed"})
	return nil
}

// Watch streams the events of this backend from now on.
func (f *FakeBackend) Watch(ctx context.Context) (<-chan scheduler.TaskEvent, error) {
	return f.fan.Watch(ctx)
}

// Nodes returns FakeConfig.Nodes.
func (f *FakeBackend) Nodes(ctx context.Context) ([]scheduler.Node, error) {
	return slices.Clone(f.cfg.Nodes), ctx.Err()
}

// Status reports a task's state as far as the fake knows it.
func (f *FakeBackend) Status(ctx context.Context, id scheduler.TaskID) (scheduler.TaskStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ft, ok := f.tasks[id]
	if !ok {
		return scheduler.TaskStatus{}, fmt.Errorf("fake status %s: %w", id, scheduler.ErrUnknownTask)
	}
	return scheduler.TaskStatus{ID: id, Name: ft.task.Name, Kind: ft.task.Kind, Node: FakeNode, PID: ft.pid, State: ft.state}, nil
}

// Emit reports ev as if the cluster manager had. Kind, Node, PID and Time are filled in
// from the launch when zero. A terminal event marks the task ended; events for a task
// that has ended are dropped, as a real backend reports one end per task.
func (f *FakeBackend) Emit(ev scheduler.TaskEvent) {
	f.mu.Lock()
	ft, ok := f.tasks[ev.TaskID]
	if ok {
		if ft.state.Terminal() {
			f.mu.Unlock()
			return
		}
		ft.state = ev.State
		if ev.Kind == "" {
			ev.Kind = ft.task.Kind
		}
		if ev.PID == 0 {
			ev.PID = ft.pid
		}
	}
	f.mu.Unlock()
	if ev.Node == "" {
		ev.Node = FakeNode
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	f.fan.Publish(ev)
}

// Start reports the task running.
func (f *FakeBackend) Start(id scheduler.TaskID) {
	f.Emit(scheduler.TaskEvent{TaskID: id, State: scheduler.StateRunning})
}

// Finish reports the task exited with code 0.
func (f *FakeBackend) Finish(id scheduler.TaskID) {
	f.Emit(scheduler.TaskEvent{TaskID: id, State: scheduler.StateFinished, Message: "exit status 0"})
}

// Fail reports the task exited with code.
func (f *FakeBackend) Fail(id scheduler.TaskID, code int) {
	f.Emit(scheduler.TaskEvent{TaskID: id, State: scheduler.StateFailed, ExitCode: code, Message: fmt.Sprintf("exit status %d", code)})
}

// Lose reports the task lost with its node.
func (f *FakeBackend) Lose(id scheduler.TaskID) {
	f.Emit(scheduler.TaskEvent{TaskID: id, State: scheduler.StateLost, ExitCode: -1, Message: "node lost"})
}

// Launches returns every Launch call so far, in order, failed ones included.
func (f *FakeBackend) Launches() []Launch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.launches)
}

// Kills returns the IDs of every Kill call so far, in order.
func (f *FakeBackend) Kills() []scheduler.TaskID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.kills)
}

// Live returns the IDs of the launched tasks that have not ended, in launch order.
func (f *FakeBackend) Live() []scheduler.TaskID {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []scheduler.TaskID
	for _, l := range f.launches {
		if ft, ok := f.tasks[l.ID]; ok && !ft.state.Terminal() {
			out = append(out, l.ID)
		}
	}
	return out
}

// Close makes later launches fail with scheduler.ErrClosed and closes every watch
// channel. It returns nil; it is safe to call more than once.
func (f *FakeBackend) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.fan.Close()
	return nil
}
