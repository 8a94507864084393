package nomad

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/scheduler"
)

// Backend runs scheduler Tasks as Nomad jobs: each task is one job whose ID is the
// task's ID, with one group and one task (see jobFor). Build it with New and Close it
// when done: Close deregisters every job still running. All methods are safe for
// concurrent use.
//
// Task states follow the allocation events of Nomad's event stream (topic Allocation),
// with a resync by listing the allocations of live tasks after every (re)connection and
// every resyncInterval, so a broken stream delays events but loses none.
type Backend struct {
	cfg Config
	log *slog.Logger
	api *api.Client
	fan scheduler.Fanout

	// closing is closed by Close; waiters end on it. stopLoop ends the watch loop.
	closing  chan struct{}
	stopLoop context.CancelFunc
	// wg counts the goroutines the Backend starts.
	wg sync.WaitGroup

	// mu guards the fields below and the mutable fields of every task.
	mu         sync.Mutex
	closed     bool
	tasks      map[scheduler.TaskID]*task
	mhzPerCore int // 0 until read from the nodes
}

// task is one launched job. Fields after the marker are guarded by Backend.mu.
type task struct {
	id    scheduler.TaskID
	name  string
	kind  scheduler.Kind
	ports []string
	// done is closed when the task reaches a terminal state.
	done chan struct{}

	allocID  string
	node     string
	killed   bool
	state    scheduler.State
	exitCode int
	message  string
	portMap  map[string]int
	started  time.Time
	ended    time.Time
}

var (
	_ scheduler.Backend        = (*Backend)(nil)
	_ scheduler.StatusReporter = (*Backend)(nil)
)

// resyncInterval is how often the watch loop lists the allocations of live tasks, as a
// safety net under the event stream.
const resyncInterval = 5 * time.Second

// New checks cfg, connects to the Nomad API and starts watching allocations. It does not
// wait for the cluster: Launch and Nodes report an unreachable cluster.
func New(cfg Config) (*Backend, error) {
	c, err := NewAPIClient(cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	loopCtx, stopLoop := context.WithCancel(context.Background())
	b := &Backend{
		cfg:      cfg,
		log:      log.With("component", "scheduler.nomad"),
		api:      c,
		closing:  make(chan struct{}),
		stopLoop: stopLoop,
		tasks:    make(map[scheduler.TaskID]*task),
	}
	b.wg.Add(1)
	go b.watchLoop(loopCtx)
	return b, nil
}

// Name returns "nomad".
func (b *Backend) Name() string { return "nomad" }

// API returns the Backend's Nomad API client, for callers that read more than the
// Backend reports. It stays valid until Close.
func (b *Backend) API() *api.Client { return b.api }

// Launch registers t as a Nomad job (a batch job for scheduler.KindJob, a service job
// otherwise) and returns its ID, which is the task's ID: "<prefix>-job-<job>-<attempt>"
// when t carries the framework server's job labels and that ID is free, else
// "<prefix>-<kind>-<name>-<8 random hex digits>". It publishes a Pending event; the
// allocation's events follow.
func (b *Backend) Launch(ctx context.Context, t scheduler.Task) (scheduler.TaskID, error) {
	if err := t.Validate(); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	mhz := b.cpuMHzPerCore(ctx)
	spec := jobSpec{
		driver:      b.cfg.Driver,
		datacenters: b.cfg.datacenters(),
		region:      b.cfg.Region,
		namespace:   b.cfg.Namespace,
		mhzPerCore:  mhz,
		killTimeout: b.cfg.KillTimeout,
	}
	for attempt := 0; ; attempt++ {
		spec.id = jobID(b.cfg.JobPrefix, t, attempt > 0)
		id := scheduler.TaskID(spec.id)
		err := b.add(id, t)
		if errors.Is(err, errDuplicate) && attempt < 3 {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("launch %q: %w", t.Name, err)
		}
		// Registering only if no job has this ID keeps an earlier run's job (of a
		// previous framework process) intact: the launch then takes a fresh ID.
		_, _, err = b.api.Jobs().EnforceRegister(jobFor(spec, t), 0, b.writeOpts(ctx))
		if err != nil {
			b.remove(id)
			if attempt < 3 && b.jobExists(ctx, id) {
				continue
			}
			return "", fmt.Errorf("launch %q: register Nomad job %s: %w", t.Name, id, err)
		}
		b.mu.Lock()
		closed, tk := b.closed, b.tasks[id]
		// The allocation's first events may have come first: Pending only if not.
		if tk.state == scheduler.StatePending {
			b.fan.Publish(scheduler.TaskEvent{TaskID: id, Kind: t.Kind, State: scheduler.StatePending, Time: time.Now()})
		}
		b.mu.Unlock()
		if closed {
			// Close ran during the registration and could not see the job: undo it.
			_, _, _ = b.api.Jobs().Deregister(string(id), true, b.writeOpts(context.WithoutCancel(ctx)))
			return "", fmt.Errorf("launch %q: %w", t.Name, scheduler.ErrClosed)
		}
		b.log.Info("task_registered", "task_id", id, "kind", t.Kind, "name", t.Name, "type", jobTypeOf(t))
		return id, nil
	}
}

var errDuplicate = errors.New("nomad: task ID in use")

// add records a new task under id, unless the ID is taken or the Backend is closed.
func (b *Backend) add(id scheduler.TaskID, t scheduler.Task) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return scheduler.ErrClosed
	}
	if _, ok := b.tasks[id]; ok {
		return errDuplicate
	}
	b.tasks[id] = &task{
		id: id, name: t.Name, kind: t.Kind, ports: slices.Clone(t.Resources.Ports),
		done: make(chan struct{}), state: scheduler.StatePending,
	}
	return nil
}

// jobExists reports whether Nomad has a job with the ID id (a registration that failed
// because of it takes another ID).
func (b *Backend) jobExists(ctx context.Context, id scheduler.TaskID) bool {
	_, _, err := b.api.Jobs().Info(string(id), b.queryOpts(ctx))
	return err == nil
}

// remove forgets a task whose registration failed.
func (b *Backend) remove(id scheduler.TaskID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.tasks, id)
}

func jobTypeOf(t scheduler.Task) string {
	if t.Kind == scheduler.KindJob {
		return api.JobTypeBatch
	}
	return api.JobTypeService
}

// Kill deregisters the task's job (with purge) and waits, within ctx, until its
// allocation has stopped and the Killed event is published. A task that has already
// ended is left alone (nil); an unknown ID is scheduler.ErrUnknownTask.
func (b *Backend) Kill(ctx context.Context, id scheduler.TaskID) error {
	b.mu.Lock()
	tk, ok := b.tasks[id]
	if !ok {
		b.mu.Unlock()
		return fmt.Errorf("kill %s: %w", id, scheduler.ErrUnknownTask)
	}
	if tk.state.Terminal() {
		b.mu.Unlock()
		return nil
	}
	tk.killed = true
	b.mu.Unlock()
	if err := b.stop(ctx, tk); err != nil {
		return fmt.Errorf("kill %s: %w", id, err)
	}
	return nil
}

// stop deregisters (and purges) the job of tk, which is marked killed, and waits
// within ctx until tk has ended.
func (b *Backend) stop(ctx context.Context, tk *task) error {
	if _, _, err := b.api.Jobs().Deregister(string(tk.id), true, b.writeOpts(ctx)); err != nil && !isNotFound(err) {
		return fmt.Errorf("deregister the Nomad job: %w", err)
	}
	b.log.Info("task_deregistered", "task_id", tk.id)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		// Poll as well as wait for the stream: a job purged before it was placed has
		// no allocation to report its end.
		if err := b.refresh(ctx, tk, true); err != nil && ctx.Err() == nil {
			b.log.Warn("kill_refresh_failed", "task_id", tk.id, "err", err)
		}
		select {
		case <-tk.done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("wait for the allocation to stop: %w", ctx.Err())
		case <-b.closing:
			return scheduler.ErrClosed
		case <-tick.C:
		}
	}
}

// Watch streams the events of every task of this Backend from now on, until ctx ends or
// Close is called. After Close it returns scheduler.ErrClosed.
func (b *Backend) Watch(ctx context.Context) (<-chan scheduler.TaskEvent, error) {
	ch, err := b.fan.Watch(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch Nomad tasks: %w", err)
	}
	return ch, nil
}

// Nodes lists the Nomad client nodes that can run tasks: ready, eligible, not draining,
// with the configured driver healthy. ID is the node ID; Host its advertised address;
// Resources its CPU cores, memory and disk.
func (b *Backend) Nodes(ctx context.Context) ([]scheduler.Node, error) {
	q := b.queryOpts(ctx)
	q.Params = map[string]string{"resources": "true"}
	stubs, _, err := b.api.Nodes().List(q)
	if err != nil {
		return nil, fmt.Errorf("list Nomad nodes: %w", err)
	}
	var out []scheduler.Node
	for _, n := range stubs {
		if !b.usable(n) {
			continue
		}
		// Host is the node's name, which Nomad takes from the host name unless the
		// operator sets one: deployed executors advertise ${attr.unique.hostname}, so
		// a job's preferred hosts (the executors' hosts) match it. The address is the
		// fallback for a node without a name.
		node := scheduler.Node{ID: n.ID, Host: cmp.Or(n.Name, n.Address)}
		if r := n.NodeResources; r != nil {
			node.Resources = scheduler.Resources{
				CPU:    float64(r.Cpu.TotalCpuCores),
				MemMB:  r.Memory.MemoryMB,
				DiskMB: r.Disk.DiskMB,
			}
			if node.Resources.CPU == 0 && r.Cpu.CpuShares > 0 {
				node.Resources.CPU = float64(r.Cpu.CpuShares) / defaultMHzPerCore
			}
		}
		out = append(out, node)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no ready Nomad node with the %s driver among %d", b.cfg.Driver, len(stubs))
	}
	return out, nil
}

// usable reports whether tasks can be placed on n.
func (b *Backend) usable(n *api.NodeListStub) bool {
	d := n.Drivers[b.cfg.Driver]
	return n.Status == api.NodeStatusReady && n.SchedulingEligibility == api.NodeSchedulingEligible &&
		!n.Drain && d != nil && d.Detected && d.Healthy
}

// cpuMHzPerCore is the speed of one core for Resources.CPU: the slowest cpu.frequency
// among the usable nodes, read once; defaultMHzPerCore when the nodes do not say.
func (b *Backend) cpuMHzPerCore(ctx context.Context) int {
	b.mu.Lock()
	mhz := b.mhzPerCore
	b.mu.Unlock()
	if mhz > 0 {
		return mhz
	}
	q := b.queryOpts(ctx)
	q.Params = map[string]string{"os": "true"}
	stubs, _, err := b.api.Nodes().List(q)
	if err != nil {
		return defaultMHzPerCore
	}
	for _, n := range stubs {
		if !b.usable(n) {
			continue
		}
		if f, err := strconv.Atoi(n.Attributes["cpu.frequency"]); err == nil && f > 0 && (mhz == 0 || f < mhz) {
			mhz = f
		}
	}
	if mhz == 0 {
		return defaultMHzPerCore
	}
	b.mu.Lock()
	b.mhzPerCore = mhz
	b.mu.Unlock()
	return mhz
}

// Status returns the task's state, node, ports and times. PID is always 0 and LogPath
// empty: Nomad's API reports neither process IDs nor the client's file paths (see
// Logs for the task's output).
func (b *Backend) Status(ctx context.Context, id scheduler.TaskID) (scheduler.TaskStatus, error) {
	if err := ctx.Err(); err != nil {
		return scheduler.TaskStatus{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	tk, ok := b.tasks[id]
	if !ok {
		return scheduler.TaskStatus{}, fmt.Errorf("status %s: %w", id, scheduler.ErrUnknownTask)
	}
	return scheduler.TaskStatus{
		ID: tk.id, Name: tk.name, Kind: tk.kind, State: tk.state,
		ExitCode: tk.exitCode, Message: tk.message, Node: tk.node,
		Ports: maps.Clone(tk.portMap), Started: tk.started, Ended: tk.ended,
	}, nil
}

// AllocID returns the ID of the allocation that runs task id ("" before placement).
func (b *Backend) AllocID(id scheduler.TaskID) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	tk, ok := b.tasks[id]
	if !ok {
		return "", fmt.Errorf("alloc of %s: %w", id, scheduler.ErrUnknownTask)
	}
	return tk.allocID, nil
}

// Close deregisters (and purges) the job of every task still live, waits up to the
// kill timeout plus 10 s for them to stop, stops watching and closes every watch
// channel and the API client's idle connections; later launches fail with
// scheduler.ErrClosed. It returns the first error of stopping a task; calling it again
// returns nil.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	var live []*task
	for _, tk := range b.tasks {
		if !tk.state.Terminal() {
			tk.killed = true
			live = append(live, tk)
		}
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), b.killTimeout()+10*time.Second)
	defer cancel()
	var (
		kills   sync.WaitGroup
		errMu   sync.Mutex
		killErr error
	)
	for _, tk := range live {
		kills.Go(func() {
			if err := b.stop(ctx, tk); err != nil {
				errMu.Lock()
				killErr = cmpErr(killErr, fmt.Errorf("close: stop %s: %w", tk.id, err))
				errMu.Unlock()
			}
		})
	}
	kills.Wait()
	close(b.closing)
	b.stopLoop()
	b.wg.Wait()
	b.fan.Close()
	b.api.Close()
	return killErr
}

func cmpErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

func (b *Backend) killTimeout() time.Duration {
	if b.cfg.KillTimeout > 0 {
		return b.cfg.KillTimeout
	}
	return defaultKillTimeout
}

func (b *Backend) queryOpts(ctx context.Context) *api.QueryOptions {
	return (&api.QueryOptions{Region: b.cfg.Region, Namespace: b.cfg.Namespace}).WithContext(ctx)
}

func (b *Backend) writeOpts(ctx context.Context) *api.WriteOptions {
	return (&api.WriteOptions{Region: b.cfg.Region, Namespace: b.cfg.Namespace}).WithContext(ctx)
}

// isNotFound reports an API answer 404.
func isNotFound(err error) bool {
	var ue api.UnexpectedResponseError
	return errors.As(err, &ue) && ue.HasStatusCode() && ue.StatusCode() == http.StatusNotFound
}
