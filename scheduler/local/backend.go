package local

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/disk"
	"github.com/shirou/gopsutil/v3/mem"

	"github.com/sluicedata/sluice/scheduler"
)

// Backend runs tasks as child processes of this process. Build it with New and Close it
// when done: Close kills every task still running. All methods are safe for concurrent
// use.
type Backend struct {
	cfg  Config
	log  *slog.Logger
	node string
	fan  scheduler.Fanout
	// waiters counts the goroutines that wait for the processes.
	waiters sync.WaitGroup

	// mu guards the fields below and the mutable fields of every proc.
	mu     sync.Mutex
	closed bool
	seq    int
	tasks  map[scheduler.TaskID]*proc
}

var (
	_ scheduler.Backend        = (*Backend)(nil)
	_ scheduler.StatusReporter = (*Backend)(nil)
)

// New checks cfg, creates its log directory and returns a Backend with no tasks.
func New(cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("local backend log dir: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	node, err := os.Hostname()
	if err != nil || node == "" {
		node = "localhost"
	}
	return &Backend{
		cfg:   cfg,
		log:   log.With("component", "scheduler.local"),
		node:  node,
		tasks: make(map[scheduler.TaskID]*proc),
	}, nil
}

// Name returns "local".
func (b *Backend) Name() string { return "local" }

// Launch starts t as a child process in its own process group and reports it running.
// Its stdout and stderr go to t.LogPath or LogDir/<id>.log; its ID is
// "<name>-<n>", n counting launches of this Backend from 1.
func (b *Backend) Launch(ctx context.Context, t scheduler.Task) (scheduler.TaskID, error) {
	if err := t.Validate(); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return "", fmt.Errorf("launch %q: %w", t.Name, scheduler.ErrClosed)
	}
	b.seq++
	id := scheduler.TaskID(taskName(t) + "-" + strconv.Itoa(b.seq))
	b.mu.Unlock()

	logPath := t.LogPath
	if logPath == "" {
		logPath = filepath.Join(b.cfg.LogDir, string(id)+".log")
	}
	p, err := prepare(id, t, logPath, b.cfg.Env)
	if err != nil {
		return "", fmt.Errorf("launch %s: %w", id, err)
	}
	p.node = b.node

	// Starting under mu means Close sees every process that was started.
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		p.discard()
		return "", fmt.Errorf("launch %s: %w", id, scheduler.ErrClosed)
	}
	if err := p.start(); err != nil {
		return "", fmt.Errorf("launch %s: %w", id, err)
	}
	b.tasks[id] = p
	b.waiters.Add(1)
	go b.wait(p)
	b.fan.Publish(p.event())
	b.log.Info("task_started", "task_id", id, "kind", t.Kind, "pid", p.pid, "log", logPath)
	return id, nil
}

// wait reaps p, sweeps its process group and reports its end.
func (b *Backend) wait(p *proc) {
	defer b.waiters.Done()
	waitErr := p.cmd.Wait()
	p.sweep()
	b.mu.Lock()
	defer b.mu.Unlock()
	p.finish(waitErr, time.Now())
	close(p.done)
	b.fan.Publish(p.event())
	b.log.Info("task_ended", "task_id", p.id, "state", p.state, "exit_code", p.exitCode, "message", p.message)
}

// Kill sends SIGTERM to the task's process group, then SIGKILL after KillGrace, and
// returns once the task's main process has been reaped and its Killed event published.
// If ctx ends first, Kill sends SIGKILL at once and returns ctx's error. A task that has
// already ended is left alone (nil); an unknown ID is scheduler.ErrUnknownTask.
func (b *Backend) Kill(ctx context.Context, id scheduler.TaskID) error {
	b.mu.Lock()
	p, ok := b.tasks[id]
	if !ok {
		b.mu.Unlock()
		return fmt.Errorf("kill %s: %w", id, scheduler.ErrUnknownTask)
	}
	if p.state.Terminal() {
		b.mu.Unlock()
		return nil
	}
	p.killed = true
	b.mu.Unlock()
	if err := p.terminate(ctx, b.cfg.KillGrace); err != nil {
		return fmt.Errorf("kill %s: %w", id, err)
	}
	return nil
}

// Watch streams the events of every task of this Backend from now on, until ctx ends or
// Close is called. After Close it returns scheduler.ErrClosed.
func (b *Backend) Watch(ctx context.Context) (<-chan scheduler.TaskEvent, error) {
	ch, err := b.fan.Watch(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch local tasks: %w", err)
	}
	return ch, nil
}

// Nodes returns this host: its host name as ID, 127.0.0.1 as Host (local tasks are
// reached on loopback), its logical CPUs, its total memory and the free space of LogDir.
func (b *Backend) Nodes(ctx context.Context) ([]scheduler.Node, error) {
	cpus, err := cpu.CountsWithContext(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("count cpus: %w", err)
	}
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("read memory size: %w", err)
	}
	du, err := disk.UsageWithContext(ctx, b.cfg.LogDir)
	if err != nil {
		return nil, fmt.Errorf("read disk usage of %s: %w", b.cfg.LogDir, err)
	}
	const mib = 1 << 20
	return []scheduler.Node{{
		ID:   b.node,
		Host: "127.0.0.1",
		Resources: scheduler.Resources{
			CPU:    float64(cpus),
			MemMB:  int64(vm.Total / mib),
			DiskMB: int64(du.Free / mib),
		},
	}}, nil
}

// Status returns the task's state, PID, log file and ports. Ended tasks are kept for
// the Backend's life.
func (b *Backend) Status(ctx context.Context, id scheduler.TaskID) (scheduler.TaskStatus, error) {
	if err := ctx.Err(); err != nil {
		return scheduler.TaskStatus{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.tasks[id]
	if !ok {
		return scheduler.TaskStatus{}, fmt.Errorf("status %s: %w", id, scheduler.ErrUnknownTask)
	}
	return p.status(), nil
}

// Close kills every running task (SIGTERM, then SIGKILL after KillGrace), waits until
// all are reaped, and closes every watch channel; later launches fail with
// scheduler.ErrClosed. The killed tasks' Killed events are published, but a watcher
// that has not read them when the channels close does not get them. It returns nil;
// calling it again only waits.
func (b *Backend) Close() error {
	b.mu.Lock()
	var live []*proc
	if !b.closed {
		b.closed = true
		for _, p := range b.tasks {
			if !p.state.Terminal() {
				p.killed = true
				live = append(live, p)
			}
		}
	}
	b.mu.Unlock()
	var kills sync.WaitGroup
	for _, p := range live {
		kills.Go(func() {
			// Without a deadline, terminate ends once SIGKILL has done its work.
			_ = p.terminate(context.Background(), b.cfg.KillGrace)
		})
	}
	kills.Wait()
	b.waiters.Wait()
	b.fan.Close()
	return nil
}
