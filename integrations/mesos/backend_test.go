package mesos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/integrations/mesos/mesostest"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// The backend tests run against the stand-in Mesos master and agents of mesostest,
// which launch real processes. Executor tasks run under the test binary as a wrapper
// executor (see main_test.go).

// newMaster starts a stand-in master with agents agent-0 … agent-(n-1), with short
// intervals so that tests do not wait on Mesos' defaults.
func newMaster(t testing.TB, agents int, mod func(*mesostest.Config)) *mesostest.Master {
	t.Helper()
	cfg := mesostest.DefaultConfig()
	cfg.WorkDir = t.TempDir()
	cfg.HeartbeatInterval = 500 * time.Millisecond
	cfg.AllocationInterval = 50 * time.Millisecond
	cfg.StatusUpdateRetryInterval = 200 * time.Millisecond
	cfg.StatusUpdateRetryMax = time.Second
	cfg.Logger = testLogger(t)
	for i := range agents {
		cfg.Agents = append(cfg.Agents, mesostest.AgentConfig{
			ID:              "agent-" + strconv.Itoa(i),
			KillGracePeriod: time.Second,
		})
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := mesostest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// testConfig is the Config of the backend tests on master m.
func testConfig(t testing.TB, m *mesostest.Master) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Master = m.Addr()
	cfg.FrameworkIDFile = filepath.Join(t.TempDir(), "framework-id")
	cfg.Executor.Wrapper = testWrapper(t)
	cfg.RefuseSeconds = time.Second
	cfg.LocalityWait = time.Second
	cfg.ReconnectMin = 10 * time.Millisecond
	cfg.ReconnectMax = 200 * time.Millisecond
	cfg.RecoveryTimeout = 5 * time.Second
	cfg.Logger = testLogger(t)
	return cfg
}

// standIns maps each backend of the conformance suite to its stand-in master.
type standIns struct {
	mu sync.Mutex
	m  map[scheduler.Backend]*mesostest.Master
}

func (s *standIns) of(t testing.TB, b scheduler.Backend) *mesostest.Master {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.m[b]
	if m == nil {
		t.Fatalf("no stand-in master for backend %p", b)
	}
	return m
}

// pgidFile is where the conformance suite's sleeper writes its process group.
const pgidFile = ".sluice-pgid"

// standInCommands are the conformance suite's commands on the stand-in: shell commands
// whose sleeper notes its process group in its sandbox, Lose by the stand-in's
// KillTaskProcess, Alive by the sleeper's process group.
func standInCommands(s *standIns) schedulertest.Commands {
	cmds := schedulertest.ShellCommands()
	cmds.Sleep = func(ready string) []string {
		return []string{"/bin/sh", "-c", `sleep 600 & cut -d' ' -f5 /proc/$$/stat > ` + pgidFile + `; : > "$0"; wait`, ready}
	}
	cmds.Lose = func(t testing.TB, b scheduler.Backend, id scheduler.TaskID) {
		t.Helper()
		if err := s.of(t, b).KillTaskProcess(string(id)); err != nil {
			t.Fatalf("kill the process of %s: %v", id, err)
		}
	}
	cmds.Alive = func(t testing.TB, b scheduler.Backend, id scheduler.TaskID) bool {
		t.Helper()
		for _, ts := range s.of(t, b).Tasks() {
			if ts.ID != string(id) {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(ts.Sandbox, pgidFile))
			if err != nil {
				t.Fatalf("task %s noted no process group: %v", id, err)
			}
			pgid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
			if err != nil {
				t.Fatalf("task %s process group %q: %v", id, raw, err)
			}
			return groupAlive(pgid)
		}
		t.Fatalf("the stand-in does not know task %s", id)
		return false
	}
	return cmds
}

// groupAlive reports whether a process of group pgid runs (zombies do not count).
func groupAlive(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		_, rest, ok := bytes.Cut(b, []byte(") "))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) >= 3 && f[0] != "Z" && f[0] != "X" && f[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

// TestBackend_Conformance runs the scheduler.Backend conformance suite on the stand-in.
func TestBackend_Conformance(t *testing.T) {
	s := &standIns{m: make(map[scheduler.Backend]*mesostest.Master)}
	schedulertest.Run(t, func(t testing.TB) scheduler.Backend {
		m := newMaster(t, 2, nil)
		b, _ := startBackend(t, testConfig(t, m))
		s.mu.Lock()
		s.m[b] = m
		s.mu.Unlock()
		return b
	}, standInCommands(s))
}

// activeTasks lists the stand-in's live tasks.
func activeTasks(m *mesostest.Master) []mesostest.TaskState {
	var out []mesostest.TaskState
	for _, ts := range m.Tasks() {
		if ts.Active && ts.PID > 0 {
			out = append(out, ts)
		}
	}
	return out
}

// sleepTask is a service task that runs until killed.
func sleepTask(kind scheduler.Kind) scheduler.Task {
	return scheduler.Task{Kind: kind, Command: []string{"/bin/sh", "-c", "exec sleep 600"},
		Resources: scheduler.Resources{CPU: 0.5, MemMB: 64, Ports: []string{"rpc", "http"}}}
}

// runScheduler runs a scheduler.Scheduler on b until the test ends or stop is called.
func runScheduler(t testing.TB, cfg scheduler.Config) (*scheduler.Scheduler, context.CancelFunc) {
	t.Helper()
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		<-done
	})
	t.Cleanup(stop)
	return s, stop
}

// runningExecutors returns the executor slots when all n run, nil otherwise.
func runningExecutors(s *scheduler.Scheduler, n int) []scheduler.ExecutorStatus {
	ex := s.Executors()
	if len(ex) != n {
		return nil
	}
	for _, e := range ex {
		if e.State != scheduler.StateRunning {
			return nil
		}
	}
	return ex
}

// TestBackend_ExecutorsOnePerAgent runs three executors and a master on three agents
// under the Scheduler: one executor per agent, every service task running.
func TestBackend_ExecutorsOnePerAgent(t *testing.T) {
	m := newMaster(t, 3, nil)
	b, _ := startBackend(t, testConfig(t, m))
	cfg := scheduler.DefaultConfig()
	cfg.Backend = b
	cfg.Executors, cfg.Masters = 3, 1
	cfg.ExecutorTask = func(int) scheduler.Task { return sleepTask(scheduler.KindExecutor) }
	cfg.MasterTask = func(int) scheduler.Task { return sleepTask(scheduler.KindMaster) }
	s, _ := runScheduler(t, cfg)
	var ex []scheduler.ExecutorStatus
	schedulertest.Eventually(t, "three running executors", func() bool { ex = runningExecutors(s, 3); return ex != nil })
	agents := map[string]bool{}
	for _, e := range ex {
		agents[e.Node] = true
	}
	if len(agents) != 3 {
		t.Errorf("executors on agents %v, want three distinct", agents)
	}
	schedulertest.Eventually(t, "a running master", func() bool { return s.Masters()[0].State == scheduler.StateRunning })
	st, err := b.Status(t.Context(), s.Masters()[0].TaskID)
	if err != nil || len(st.Ports) != 2 || st.Ports["rpc"] == st.Ports["http"] {
		t.Errorf("master status %+v, %v: want two distinct ports", st, err)
	}
	if n := len(activeTasks(m)); n != 4 {
		t.Errorf("the stand-in runs %d tasks, want 4", n)
	}
	schedulertest.Eventually(t, "every status update acknowledged", func() bool {
		for _, ts := range m.Tasks() {
			if ts.Unacknowledged > 0 {
				return false
			}
		}
		return true
	})
}

// TestBackend_Failover restarts the framework scheduler: the new Backend subscribes with
// the same framework ID and the new Scheduler adopts the running executors instead of
// launching others.
func TestBackend_Failover(t *testing.T) {
	m := newMaster(t, 3, nil)
	cfg := testConfig(t, m)
	b1, detach := startBackend(t, cfg)
	scfg := scheduler.DefaultConfig()
	scfg.Backend = b1
	scfg.Executors = 2
	scfg.ExecutorTask = func(int) scheduler.Task { return sleepTask(scheduler.KindExecutor) }
	s1, stop1 := runScheduler(t, scfg)
	var before []scheduler.ExecutorStatus
	schedulertest.Eventually(t, "two running executors", func() bool { before = runningExecutors(s1, 2); return before != nil })
	fid := b1.FrameworkID()

	// The scheduler dies: its subscription drops without killing anything.
	detach()
	schedulertest.Eventually(t, "the first backend to detach", b1.detached)
	stop1()
	schedulertest.Eventually(t, "the framework to be disconnected", func() bool {
		fs := m.Frameworks()
		return len(fs) == 1 && !fs[0].Connected
	})
	if n := len(activeTasks(m)); n != 2 {
		t.Fatalf("after the scheduler died the stand-in runs %d tasks, want 2", n)
	}

	b2, _ := startBackend(t, cfg)
	scfg.Backend = b2
	s2, _ := runScheduler(t, scfg)
	var after []scheduler.ExecutorStatus
	schedulertest.Eventually(t, "two running executors after failover", func() bool { after = runningExecutors(s2, 2); return after != nil })
	if got := b2.FrameworkID(); got != fid {
		t.Errorf("framework ID after failover %q, want %q", got, fid)
	}
	for i := range after {
		if after[i].TaskID != before[i].TaskID {
			t.Errorf("executor %d is %s after failover, was %s: not adopted", i, after[i].TaskID, before[i].TaskID)
		}
	}
	fs := m.Frameworks()
	if len(fs) != 1 || !fs[0].Connected || fs[0].ID != fid {
		t.Errorf("frameworks after failover: %+v", fs)
	}
	if n := len(activeTasks(m)); n != 2 {
		t.Errorf("after failover the stand-in runs %d tasks, want 2", n)
	}
}

// lossRecorder collects the Scheduler's OnLoss calls.
type lossRecorder struct {
	mu     sync.Mutex
	losses []scheduler.TaskEvent
}

func (r *lossRecorder) onLoss(_ context.Context, ev scheduler.TaskEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.losses = append(r.losses, ev)
}

func (r *lossRecorder) get() []scheduler.TaskEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]scheduler.TaskEvent(nil), r.losses...)
}

// lossCase is one executor slot under the Scheduler, running, with its losses recorded.
type lossCase struct {
	m     *mesostest.Master
	b     *Backend
	s     *scheduler.Scheduler
	rec   lossRecorder
	first scheduler.ExecutorStatus
}

// startLossCase runs one executor on a stand-in with agents agents.
func startLossCase(t *testing.T, agents int) *lossCase {
	c := &lossCase{m: newMaster(t, agents, nil)}
	c.b, _ = startBackend(t, testConfig(t, c.m))
	cfg := scheduler.DefaultConfig()
	cfg.Backend = c.b
	cfg.Executors = 1
	cfg.ExecutorTask = func(int) scheduler.Task { return sleepTask(scheduler.KindExecutor) }
	cfg.OnLoss = c.rec.onLoss
	c.s, _ = runScheduler(t, cfg)
	schedulertest.Eventually(t, "a running executor", func() bool {
		ex := runningExecutors(c.s, 1)
		if ex != nil {
			c.first = ex[0]
		}
		return ex != nil
	})
	return c
}

// replaced waits for the executor's replacement and returns it with the one loss
// reported.
func (c *lossCase) replaced(t *testing.T) (scheduler.ExecutorStatus, scheduler.TaskEvent) {
	t.Helper()
	schedulertest.Eventually(t, "a replacement executor", func() bool {
		ex := runningExecutors(c.s, 1)
		return ex != nil && ex[0].TaskID != c.first.TaskID
	})
	// OnLoss runs on a goroutine of its own.
	schedulertest.Eventually(t, "the loss reported", func() bool { return len(c.rec.get()) > 0 })
	losses := c.rec.get()
	if len(losses) != 1 || losses[0].TaskID != c.first.TaskID {
		t.Fatalf("losses %+v, want one of %s", losses, c.first.TaskID)
	}
	return c.s.Executors()[0], losses[0]
}

// TestBackend_AgentRemoved removes the agent of an executor: the executor is reported
// lost at once and replaced on another agent.
func TestBackend_AgentRemoved(t *testing.T) {
	c := startLossCase(t, 2)
	if err := c.m.RemoveAgent(c.first.Node); err != nil {
		t.Fatal(err)
	}
	ex, loss := c.replaced(t)
	if ex.Node == c.first.Node {
		t.Errorf("replacement on the removed agent %s", ex.Node)
	}
	if loss.State != scheduler.StateLost {
		t.Errorf("loss %+v, want lost", loss)
	}
	nodes, err := c.b.Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.ID == c.first.Node {
			t.Errorf("Nodes still lists the removed agent: %+v", nodes)
		}
	}
}

// TestBackend_ExecutorKilled kills an executor's process: the task fails, the loss is
// reported and a new executor runs.
func TestBackend_ExecutorKilled(t *testing.T) {
	c := startLossCase(t, 1)
	if err := c.m.KillTaskProcess(string(c.first.TaskID)); err != nil {
		t.Fatal(err)
	}
	if _, loss := c.replaced(t); loss.State != scheduler.StateFailed && loss.State != scheduler.StateLost {
		t.Errorf("loss %+v, want failed or lost", loss)
	}
}

// TestBackend_SuppressAndKillPending: with nothing pending offers are suppressed; a task
// no agent can hold stays pending (offers revived) until it is killed.
func TestBackend_SuppressAndKillPending(t *testing.T) {
	m := newMaster(t, 1, nil)
	b, _ := startBackend(t, testConfig(t, m))
	suppressed := func() bool {
		fs := m.Frameworks()
		return len(fs) == 1 && fs[0].Connected && len(fs[0].SuppressedRoles) > 0
	}
	schedulertest.Eventually(t, "offers suppressed while nothing is pending", suppressed)
	ch, err := b.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ev := schedulertest.NewEvents(ch)
	huge := scheduler.Task{Name: "huge", Kind: scheduler.KindJob, Command: []string{"true"},
		Resources: scheduler.Resources{CPU: 1, MemMB: 1 << 30}}
	id, err := b.Launch(t.Context(), huge)
	if err != nil {
		t.Fatal(err)
	}
	if first := ev.Next(t, id); first.State != scheduler.StatePending {
		t.Fatalf("first event %+v, want pending", first)
	}
	schedulertest.Eventually(t, "offers revived for the pending task", func() bool { return !suppressed() })
	if err := b.Kill(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if end := ev.End(t, id); end.State != scheduler.StateKilled {
		t.Errorf("killed pending task ended %+v", end)
	}
	schedulertest.Eventually(t, "offers suppressed again", suppressed)
}

// TestBackend_PreferredAgent places a job on the agent its PreferNodes names.
func TestBackend_PreferredAgent(t *testing.T) {
	m := newMaster(t, 3, nil)
	b, _ := startBackend(t, testConfig(t, m))
	ch, err := b.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ev := schedulertest.NewEvents(ch)
	for _, want := range []string{"agent-2", "agent-1"} {
		id, err := b.Launch(t.Context(), scheduler.Task{Name: "near", Kind: scheduler.KindJob,
			Command: []string{"true"}, PreferNodes: []string{want}})
		if err != nil {
			t.Fatal(err)
		}
		if end := ev.End(t, id); end.State != scheduler.StateFinished || end.Node != want {
			t.Errorf("job preferring %s ended %+v", want, end)
		}
	}
}

// TestBackend_RoleAndAuth subscribes with a role, a principal and a secret: the job runs
// on the resources reserved for the role, the only ones large enough.
func TestBackend_RoleAndAuth(t *testing.T) {
	m := newMaster(t, 0, func(c *mesostest.Config) {
		c.Credentials = map[string]string{"sluice": "s3cret"}
		c.Agents = []mesostest.AgentConfig{{
			ID:        "reserved",
			Resources: &mesostest.Resources{CPUs: 0.1, MemMB: 32, Ports: []mesostest.PortRange{{Begin: 31000, End: 31010}}},
			Reserved:  map[string]mesostest.Resources{"storage": {CPUs: 2, MemMB: 2048}},
		}}
	})
	cfg := testConfig(t, m)
	cfg.Role, cfg.Principal, cfg.Secret = "storage", "sluice", "s3cret"
	b, _ := startBackend(t, cfg)
	ch, err := b.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ev := schedulertest.NewEvents(ch)
	id, err := b.Launch(t.Context(), scheduler.Task{Name: "reserved-job", Kind: scheduler.KindJob,
		Command: []string{"true"}, Resources: scheduler.Resources{CPU: 1, MemMB: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	if end := ev.End(t, id); end.State != scheduler.StateFinished {
		t.Errorf("job on reserved resources ended %+v", end)
	}
	fs := m.Frameworks()
	if len(fs) != 1 || fs[0].Principal != "sluice" {
		t.Errorf("frameworks %+v, want one with principal sluice", fs)
	}

	// A wrong secret never subscribes.
	bad := testConfig(t, m)
	bad.Principal, bad.Secret = "sluice", "wrong"
	bad.FrameworkIDFile = ""
	nb, _ := startBackend(t, bad)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := nb.Nodes(ctx); err == nil {
		t.Errorf("a backend with a wrong secret saw agents")
	}
	if got := nb.FrameworkID(); got != "" {
		t.Errorf("a backend with a wrong secret subscribed as %q", got)
	}
}

// TestBackend_FrameworkIDPersisted: the framework ID Mesos gives is written to the file
// and a new Backend subscribes with it.
func TestBackend_FrameworkIDPersisted(t *testing.T) {
	m := newMaster(t, 1, nil)
	cfg := testConfig(t, m)
	b1, _ := startBackend(t, cfg)
	schedulertest.Eventually(t, "a framework ID", func() bool { return b1.FrameworkID() != "" })
	fid := b1.FrameworkID()
	if got, err := readFrameworkID(cfg.FrameworkIDFile); err != nil || got != fid {
		t.Fatalf("framework ID file holds %q, %v; want %q", got, err, fid)
	}
	b1.Close()
	b2, _ := startBackend(t, cfg)
	if got := b2.FrameworkID(); got != fid {
		t.Errorf("new backend starts with framework ID %q, want %q", got, fid)
	}
	schedulertest.Eventually(t, "the framework connected again", func() bool {
		fs := m.Frameworks()
		return len(fs) == 1 && fs[0].ID == fid && fs[0].Connected
	})
	if fmt.Sprint(len(m.Frameworks())) != "1" {
		t.Errorf("frameworks %+v", m.Frameworks())
	}
}

// launchRunning launches task on b and waits until it runs.
func launchRunning(t *testing.T, b *Backend, task scheduler.Task) scheduler.TaskID {
	t.Helper()
	ch, err := b.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ev := schedulertest.NewEvents(ch)
	id, err := b.Launch(t.Context(), task)
	if err != nil {
		t.Fatal(err)
	}
	for {
		e := ev.Next(t, id)
		if e.State == scheduler.StateRunning {
			return id
		}
		if e.State.Terminal() {
			t.Fatalf("task %s ended before it ran: %+v", id, e)
		}
	}
}

// TestBackend_UnclaimedKilled: after a restart, a recovered executor whose slot no
// longer exists is killed once the adoption window has passed, and one that is claimed
// keeps running.
func TestBackend_UnclaimedKilled(t *testing.T) {
	m := newMaster(t, 2, nil)
	cfg := testConfig(t, m)
	cfg.AdoptGrace = 200 * time.Millisecond
	b1, detach := startBackend(t, cfg)
	var ids []scheduler.TaskID
	for _, slot := range []string{"executor-0", "executor-1"} {
		task := sleepTask(scheduler.KindExecutor)
		task.Name, task.Labels = slot, map[string]string{scheduler.LabelSlot: slot}
		ids = append(ids, launchRunning(t, b1, task))
	}
	detach()
	schedulertest.Eventually(t, "the first backend to detach", b1.detached)

	b2, _ := startBackend(t, cfg)
	scfg := scheduler.DefaultConfig()
	scfg.Backend = b2
	scfg.Executors = 1
	scfg.ExecutorTask = func(int) scheduler.Task { return sleepTask(scheduler.KindExecutor) }
	s, _ := runScheduler(t, scfg)
	schedulertest.Eventually(t, "the unclaimed executor killed", func() bool {
		active := activeTasks(m)
		return len(active) == 1 && active[0].ID == string(ids[0])
	})
	if ex := runningExecutors(s, 1); ex == nil || ex[0].TaskID != ids[0] {
		t.Errorf("executors %+v, want %s adopted", s.Executors(), ids[0])
	}
	schedulertest.Eventually(t, "the unclaimed executor's end", func() bool {
		st, err := b2.Status(t.Context(), ids[1])
		if err != nil {
			t.Fatal(err)
		}
		if st.State.Terminal() && st.State != scheduler.StateKilled {
			t.Fatalf("the unclaimed executor ended %+v, want killed", st)
		}
		return st.State == scheduler.StateKilled
	})
}

// TestBackend_OrphanKilled: a task of this framework that the tasks file does not know
// (its record was lost) is killed when implicit reconciliation reports it.
func TestBackend_OrphanKilled(t *testing.T) {
	m := newMaster(t, 1, nil)
	cfg := testConfig(t, m)
	b1, detach := startBackend(t, cfg)
	id := launchRunning(t, b1, scheduler.Task{Name: "orphan", Kind: scheduler.KindJob, Command: []string{"sleep", "600"}})
	detach()
	schedulertest.Eventually(t, "the first backend to detach", b1.detached)
	if err := os.Remove(cfg.tasksFile()); err != nil {
		t.Fatal(err)
	}
	startBackend(t, cfg)
	schedulertest.Eventually(t, "the orphan killed", func() bool {
		for _, ts := range m.Tasks() {
			if ts.ID == string(id) {
				return !ts.Active || ts.PID == 0
			}
		}
		return true
	})
}

// TestBackend_Close kills every live task, closes the watch channels and refuses
// later calls; the framework stays registered for failover.
func TestBackend_Close(t *testing.T) {
	m := newMaster(t, 2, nil)
	b, _ := startBackend(t, testConfig(t, m))
	launchRunning(t, b, sleepTask(scheduler.KindExecutor))
	launchRunning(t, b, scheduler.Task{Name: "job", Kind: scheduler.KindJob, Command: []string{"sleep", "600"}})
	ch, err := b.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(activeTasks(m)); n != 0 {
		t.Errorf("%d tasks still run after Close", n)
	}
	for range ch {
		// Drained: the channel is closed.
	}
	if _, err := b.Watch(t.Context()); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("Watch after Close: %v", err)
	}
	if _, err := b.Launch(t.Context(), sleepTask(scheduler.KindJob)); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("Launch after Close: %v", err)
	}
	if fs := m.Frameworks(); len(fs) != 1 || fs[0].Removed {
		t.Errorf("frameworks after Close: %+v", fs)
	}
}

// TestBackend_PinnedStaticPorts runs a master pinned to one agent on fixed ports.
func TestBackend_PinnedStaticPorts(t *testing.T) {
	m := newMaster(t, 3, nil)
	b, _ := startBackend(t, testConfig(t, m))
	task := sleepTask(scheduler.KindMaster)
	task.Resources.Ports = []string{"rpc", "http", "raft"}
	task.Labels = map[string]string{LabelAgent: "agent-1", LabelStaticPorts: "rpc=31500,raft=31999"}
	id := launchRunning(t, b, task)
	st, err := b.Status(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Node != "agent-1" || st.Ports["rpc"] != 31500 || st.Ports["raft"] != 31999 || st.Ports["http"] == 0 {
		t.Errorf("pinned master status %+v", st)
	}
}

// TestBackend_Teardown retires the framework: Mesos forgets it and kills its tasks, and
// its files are gone.
func TestBackend_Teardown(t *testing.T) {
	m := newMaster(t, 1, nil)
	cfg := testConfig(t, m)
	b, _ := startBackend(t, cfg)
	id := launchRunning(t, b, sleepTask(scheduler.KindExecutor))
	if _, err := os.Stat(cfg.tasksFile()); err != nil {
		t.Fatalf("no tasks file while a task runs: %v", err)
	}
	if err := b.Teardown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Status(t.Context(), id); err != nil || st.State != scheduler.StateKilled {
		t.Errorf("task after teardown: %+v, %v; want killed", st, err)
	}
	if fs := m.Frameworks(); len(fs) != 1 || !fs[0].Removed {
		t.Errorf("frameworks after teardown: %+v", fs)
	}
	schedulertest.Eventually(t, "no task left running", func() bool { return len(activeTasks(m)) == 0 })
	for _, path := range []string{cfg.FrameworkIDFile, cfg.tasksFile()} {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after teardown: %v", path, err)
		}
	}
	if err := b.Teardown(t.Context()); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("second Teardown: %v", err)
	}
}

// TestBackend_NodesAtLeast waits for agents beyond the first: a wait for more agents than
// Mesos has ends with ctx, and agents added later are seen although nothing is pending
// (offers are revived while NodesAtLeast waits).
func TestBackend_NodesAtLeast(t *testing.T) {
	m := newMaster(t, 1, nil)
	b, _ := startBackend(t, testConfig(t, m))
	if nodes, err := b.Nodes(t.Context()); err != nil || len(nodes) != 1 {
		t.Fatalf("Nodes: %v, %v", nodes, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	_, err := b.NodesAtLeast(ctx, 2)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NodesAtLeast(2) with one agent: %v, want the deadline", err)
	}
	for i := 1; i <= 2; i++ {
		if _, err := m.AddAgent(mesostest.AgentConfig{ID: "agent-" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	nodes, err := b.NodesAtLeast(t.Context(), 3)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	if strings.Join(ids, ",") != "agent-0,agent-1,agent-2" {
		t.Errorf("nodes %v, want agent-0..2", ids)
	}
}
