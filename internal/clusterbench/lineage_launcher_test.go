package clusterbench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/master"
)

// jobBody is the work of an in-process lineage job: what a job program's main does
// once it has read its environment (client.JobEnv).
type jobBody func(ctx context.Context, env client.JobEnvironment) error

// funcLauncher is a master.JobLauncher that runs jobs as goroutines of the benchmark's
// process instead of child processes: a job's Command[0] names a body registered with
// handle. The master drives it exactly as it drives the local scheduler backend
// (launches, events, status, kills), so a recompute goes through the master's own path:
// plan, reset of the outputs, LaunchJob marked as a recompute, end event. A body
// learns its environment from JobLaunch.Env, as a process would from os.Environ.
//
// Safe for concurrent use. stop (registered by newFuncLauncher as a cleanup) cancels
// the running bodies and waits for them.
type funcLauncher struct {
	mu     sync.Mutex
	bodies map[string]jobBody
	tasks  map[string]*funcTask
	subs   []*funcSub
	seq    int
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// funcTask is one launched run.
type funcTask struct {
	cancel context.CancelFunc
	last   master.JobEvent
	killed bool
}

// funcSub is one JobEvents subscriber. mu is held while sending on ch, and by the
// goroutine that closes ch once the subscriber's ctx ends, so no send meets a closed
// channel.
type funcSub struct {
	ctx    context.Context
	mu     sync.Mutex
	ch     chan master.JobEvent
	closed bool
}

var _ master.JobLauncher = (*funcLauncher)(nil)

// newFuncLauncher returns a launcher whose bodies stop when tb ends. Register it before
// the cluster starts (testcluster.Config.MasterConfig sets master.Config.Jobs), so that
// its cleanup runs after the cluster stopped.
func newFuncLauncher(tb testing.TB) *funcLauncher {
	ctx, cancel := context.WithCancel(context.Background())
	l := &funcLauncher{bodies: map[string]jobBody{}, tasks: map[string]*funcTask{}, ctx: ctx, cancel: cancel}
	tb.Cleanup(func() {
		l.cancel()
		l.wg.Wait()
	})
	return l
}

// handle registers the body run by jobs whose command is name.
func (l *funcLauncher) handle(name string, body jobBody) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bodies[name] = body
}

// LaunchJob starts the body named by jl.Command[0] in a goroutine.
func (l *funcLauncher) LaunchJob(_ context.Context, jl master.JobLaunch) (string, error) {
	if len(jl.Command) == 0 {
		return "", fmt.Errorf("launch %s: empty command", jl.Name)
	}
	l.mu.Lock()
	body, ok := l.bodies[jl.Command[0]]
	if !ok {
		l.mu.Unlock()
		return "", fmt.Errorf("launch %s: no body for command %q", jl.Name, jl.Command[0])
	}
	l.seq++
	id := fmt.Sprintf("%s-%d", jl.Name, l.seq)
	ctx, cancel := context.WithCancel(l.ctx)
	t := &funcTask{cancel: cancel}
	l.tasks[id] = t
	l.wg.Add(1)
	l.mu.Unlock()

	env, _ := client.ParseJobEnv(func(k string) string { return jl.Env[k] })
	go func() {
		defer l.wg.Done()
		defer cancel()
		l.publish(id, master.JobEvent{TaskID: id, State: master.TaskRunning, Host: "bench", Time: time.Now()})
		err := body(ctx, env)
		end := master.JobEvent{TaskID: id, State: master.TaskFinished, Host: "bench", Time: time.Now()}
		l.mu.Lock()
		killed := t.killed
		l.mu.Unlock()
		switch {
		case killed:
			end.State, end.ExitCode, end.Message = master.TaskKilled, -1, "killed"
		case err != nil:
			end.State, end.ExitCode, end.Message, end.LogTail = master.TaskFailed, 1, "exit status 1", err.Error()
		}
		l.publish(id, end)
	}()
	return id, nil
}

// publish records ev as the task's latest state and hands it to every subscriber.
func (l *funcLauncher) publish(id string, ev master.JobEvent) {
	l.mu.Lock()
	if t, ok := l.tasks[id]; ok {
		t.last = ev
	}
	subs := append([]*funcSub(nil), l.subs...)
	l.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		if !s.closed {
			select {
			case s.ch <- ev:
			case <-s.ctx.Done():
			}
		}
		s.mu.Unlock()
	}
}

// KillJob cancels a running body; its end event says KILLED.
func (l *funcLauncher) KillJob(_ context.Context, taskID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.tasks[taskID]
	if !ok {
		return master.ErrUnknownTask
	}
	if !t.last.State.Terminal() {
		t.killed = true
		t.cancel()
	}
	return nil
}

// JobEvents subscribes to the events of the runs from now on, until ctx ends.
func (l *funcLauncher) JobEvents(ctx context.Context) (<-chan master.JobEvent, error) {
	s := &funcSub{ctx: ctx, ch: make(chan master.JobEvent, 64)}
	l.mu.Lock()
	l.subs = append(l.subs, s)
	l.mu.Unlock()
	go func() {
		<-ctx.Done()
		l.mu.Lock()
		for i, x := range l.subs {
			if x == s {
				l.subs = append(l.subs[:i], l.subs[i+1:]...)
				break
			}
		}
		l.mu.Unlock()
		s.mu.Lock()
		s.closed = true
		close(s.ch)
		s.mu.Unlock()
	}()
	return s.ch, nil
}

// JobStatus returns a run's latest event.
func (l *funcLauncher) JobStatus(_ context.Context, taskID string) (master.JobEvent, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.tasks[taskID]
	switch {
	case !ok:
		return master.JobEvent{}, master.ErrUnknownTask
	case t.last.State == 0:
		return master.JobEvent{TaskID: taskID, State: master.TaskPending}, nil
	}
	return t.last, nil
}
