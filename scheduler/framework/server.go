package framework

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/scheduler"
)

// ErrInvalidConfig reports a ServerConfig that Validate rejects.
var ErrInvalidConfig = errors.New("framework: invalid config")

// ServerConfig configures a Server. Start from DefaultServerConfig.
type ServerConfig struct {
	// Scheduler launches and kills the jobs. Required; the caller runs it (Run) beside
	// the Server's Run.
	Scheduler *scheduler.Scheduler
	// Executors is the source of executor tasks and events; nil means the Scheduler's
	// own executor slots (SchedulerExecutors).
	Executors ExecutorSource
	// Backend is the backend's name, reported for executors whose source leaves it
	// empty ("local", "nomad", "mesos").
	Backend string
	// EventHistory is how many events WatchEvents can replay after a reconnect.
	EventHistory int
	// LaunchHistory is how many launches whose tasks have ended are remembered, for
	// LaunchJob's idempotence and job_id lookups; the oldest are forgotten first.
	// Launches whose tasks have not ended are always remembered.
	LaunchHistory int
	// Logger receives the Server's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultServerConfig returns the defaults: 4096 events and 1000 ended launches kept.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{EventHistory: 4096, LaunchHistory: 1000}
}

// Validate reports the first problem of c, wrapping ErrInvalidConfig. A zero
// EventHistory or LaunchHistory stands for its default.
func (c ServerConfig) Validate() error {
	switch {
	case c.Scheduler == nil:
		return fmt.Errorf("no scheduler: %w", ErrInvalidConfig)
	case c.EventHistory < 0:
		return fmt.Errorf("event history %d < 0: %w", c.EventHistory, ErrInvalidConfig)
	case c.LaunchHistory < 0:
		return fmt.Errorf("launch history %d < 0: %w", c.LaunchHistory, ErrInvalidConfig)
	}
	return nil
}

// MaxMessageSize bounds the gRPC messages Serve's server receives and sends.
const MaxMessageSize = 64 << 20

// LogTailBytes is how much of a job's log its end event and status carry.
const LogTailBytes = 4 << 10

// Labels the Server sets on the job tasks it launches, for backends that keep labels
// (Nomad meta, Mesos labels): the master's job ID and the run's attempt, in decimal.
const (
	LabelJobID      = "sluice.job"
	LabelJobAttempt = "sluice.job_attempt"
)

// Server serves the FrameworkScheduler service over a Scheduler. Build it with
// NewServer, register it on a grpc.Server with Register (or use Serve) and run Run,
// which converts the Scheduler's and the ExecutorSource's events into the service's
// events. Methods are safe for concurrent use.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	sched  *scheduler.Scheduler
	execs  ExecutorSource
	nodes  *nodeHosts
	events *eventLog
	// kick wakes Run when a launch settles, so that events stashed for its task go out.
	kick chan struct{}

	// mu guards the fields below.
	mu     sync.Mutex
	phase  phase
	jobs   launches
	early  map[scheduler.TaskID][]scheduler.TaskEvent
	eorder []scheduler.TaskID // keys of early, oldest first
}

// phase is where a Server is in its life.
type phase int

const (
	phaseNew phase = iota
	phaseRunning
	phaseStopped
)

// maxEarly bounds the job events kept for tasks whose launch has not returned yet.
const maxEarly = 1024

// NewServer checks cfg and returns a Server; it starts nothing.
func NewServer(cfg ServerConfig) (*Server, error) {
	def := DefaultServerConfig()
	if cfg.EventHistory == 0 {
		cfg.EventHistory = def.EventHistory
	}
	if cfg.LaunchHistory == 0 {
		cfg.LaunchHistory = def.LaunchHistory
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:    cfg,
		log:    log.With("component", "framework"),
		sched:  cfg.Scheduler,
		execs:  cfg.Executors,
		nodes:  newNodeHosts(cfg.Scheduler.Nodes),
		events: newEventLog(cfg.EventHistory),
		kick:   make(chan struct{}, 1),
		jobs:   newLaunches(),
		early:  make(map[scheduler.TaskID][]scheduler.TaskEvent),
	}
	if s.execs == nil {
		s.execs = SchedulerExecutors(cfg.Scheduler)
	}
	return s, nil
}

// Register registers the FrameworkScheduler service on g.
func (s *Server) Register(g *grpc.Server) {
	sluicepb.RegisterFrameworkSchedulerServer(g, &rpcServer{s: s})
}

// Epoch names this Server's event numbering (SchedulerEvent.epoch).
func (s *Server) Epoch() string { return s.events.epoch }

// Run converts the Scheduler's job events and the ExecutorSource's executor events into
// numbered events until ctx ends or the Scheduler stops (its Run returned, which tells
// why), and returns nil then. It returns an error wrapping scheduler.ErrClosed if a
// ServerConfig.Executors source closes its channel before ctx ends. LaunchJob is refused
// (Unavailable) before Run and after it returns; WatchEvents streams end when it
// returns. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.phase != phaseNew {
		s.mu.Unlock()
		return fmt.Errorf("framework server run twice: %w", scheduler.ErrAlreadyRunning)
	}
	s.phase = phaseRunning
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.phase = phaseStopped
		s.mu.Unlock()
		s.events.close()
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := s.sched.Subscribe(ctx)
	execs, err := s.execs.WatchExecutors(ctx)
	if err != nil {
		return fmt.Errorf("watch executors: %w", err)
	}
	s.log.Info("framework_server_started", "epoch", s.events.epoch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-jobs:
			if !ok {
				s.log.Info("framework_server_stopped", "reason", "scheduler stopped")
				return nil
			}
			s.jobEvent(ctx, ev)
		case ee, ok := <-execs:
			switch {
			case ok:
				s.executorEvent(ctx, ee)
			case ctx.Err() != nil:
				return nil
			case s.cfg.Executors == nil:
				// SchedulerExecutors ends with the Scheduler, whose subscription ends too.
				execs = nil
			default:
				return fmt.Errorf("framework server: executor source stopped: %w", scheduler.ErrClosed)
			}
		case <-s.kick:
			s.flushEarly(ctx)
		}
	}
}

// Serve serves the service on lis and runs Run until ctx ends; then it stops the gRPC
// server (gracefully, at most 5 s) and returns. It returns the first error of Run or of
// the gRPC server.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	g := grpc.NewServer(grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize))
	s.Register(g)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() {
		if err := g.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errs <- fmt.Errorf("framework server: serve %s: %w", lis.Addr(), err)
		}
		cancel()
	})
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			errs <- err
		}
		cancel()
	})
	<-ctx.Done()
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		g.Stop()
		<-stopped
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// checkServing returns ErrNotServing unless Run is running.
func (s *Server) checkServing() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase != phaseRunning {
		return ErrNotServing
	}
	return nil
}

// executorEvent publishes an executor's running or lost event.
func (s *Server) executorEvent(ctx context.Context, ee ExecutorEvent) {
	var typ sluicepb.EventType
	switch {
	case ee.State == scheduler.StateRunning:
		typ = sluicepb.EventType_EVENT_TYPE_EXECUTOR_RUNNING
	case ee.State.Terminal():
		typ = sluicepb.EventType_EVENT_TYPE_EXECUTOR_LOST
	default:
		return
	}
	host := ee.Host
	if host == "" {
		host = s.nodes.host(ctx, ee.Node)
	}
	s.events.append(&sluicepb.SchedulerEvent{TimeMs: timeMs(ee.Time), Type: typ, TaskId: string(ee.TaskID),
		Host: host, ExecutorAddress: ee.RPCAddress, Reason: ee.Reason})
	if typ == sluicepb.EventType_EVENT_TYPE_EXECUTOR_LOST {
		s.log.Warn("executor_lost", "task_id", ee.TaskID, "host", host, "state", ee.State, "reason", ee.Reason)
	}
}

// jobEvent publishes a job task's event. An event of a task not known yet while a
// launch is in flight waits (stashed) for the launch to settle, so that it carries its
// job and attempt; the Run goroutine alone publishes job events, in order per task.
func (s *Server) jobEvent(ctx context.Context, ev scheduler.TaskEvent) {
	if ev.Kind != scheduler.KindJob || ev.State == scheduler.StatePending {
		return
	}
	s.mu.Lock()
	l := s.jobs.byTask[ev.TaskID]
	var pending []scheduler.TaskEvent
	switch {
	case l != nil:
		pending = s.takeEarly(ev.TaskID)
	case s.jobs.inflight > 0:
		s.stash(ev)
		overflow := len(s.eorder) > maxEarly
		s.mu.Unlock()
		if overflow {
			s.flushEarly(ctx)
		}
		return
	default:
		pending = s.takeEarly(ev.TaskID)
	}
	s.mu.Unlock()
	for _, p := range append(pending, ev) {
		s.publishJob(ctx, l, p)
	}
}

// flushEarly publishes the stashed events of tasks whose launch has settled, and all
// of them when no launch is in flight (or too many are kept).
func (s *Server) flushEarly(ctx context.Context) {
	type batch struct {
		l   *launch
		evs []scheduler.TaskEvent
	}
	var out []batch
	s.mu.Lock()
	for _, id := range append([]scheduler.TaskID(nil), s.eorder...) {
		l := s.jobs.byTask[id]
		if l != nil || s.jobs.inflight == 0 || len(s.eorder) > maxEarly {
			out = append(out, batch{l, s.takeEarly(id)})
		}
	}
	s.mu.Unlock()
	for _, b := range out {
		for _, ev := range b.evs {
			s.publishJob(ctx, b.l, ev)
		}
	}
}

// stash keeps ev for later. s.mu is held.
func (s *Server) stash(ev scheduler.TaskEvent) {
	if _, ok := s.early[ev.TaskID]; !ok {
		s.eorder = append(s.eorder, ev.TaskID)
	}
	s.early[ev.TaskID] = append(s.early[ev.TaskID], ev)
}

// takeEarly removes and returns the events stashed for id. s.mu is held.
func (s *Server) takeEarly(id scheduler.TaskID) []scheduler.TaskEvent {
	evs, ok := s.early[id]
	if !ok {
		return nil
	}
	delete(s.early, id)
	for i, e := range s.eorder {
		if e == id {
			s.eorder = append(s.eorder[:i], s.eorder[i+1:]...)
			break
		}
	}
	return evs
}

// publishJob numbers and remembers one job event; l is the task's launch (nil when
// this Server did not launch it).
func (s *Server) publishJob(ctx context.Context, l *launch, ev scheduler.TaskEvent) {
	e := &sluicepb.SchedulerEvent{TimeMs: timeMs(ev.Time), TaskId: string(ev.TaskID),
		Host: s.nodes.host(ctx, ev.Node), Reason: ev.Message}
	if l != nil {
		e.JobId, e.Attempt = l.key.jobID, l.key.attempt
	}
	switch ev.State {
	case scheduler.StateRunning:
		e.Type = sluicepb.EventType_EVENT_TYPE_JOB_RUNNING
	case scheduler.StateFinished:
		e.Type = sluicepb.EventType_EVENT_TYPE_JOB_FINISHED
	case scheduler.StateKilled:
		e.Type = sluicepb.EventType_EVENT_TYPE_JOB_KILLED
	case scheduler.StateFailed, scheduler.StateLost:
		e.Type = sluicepb.EventType_EVENT_TYPE_JOB_FAILED
	default:
		return
	}
	if ev.State.Terminal() {
		e.ExitCode = int32(ev.ExitCode)
		if ev.State == scheduler.StateLost {
			e.ExitCode = -1
		}
		e.LogPath, e.LogTail = s.logOf(ctx, ev.TaskID)
		if l != nil {
			s.mu.Lock()
			s.jobs.ended(l, s.cfg.LaunchHistory)
			s.mu.Unlock()
		}
	}
	s.events.append(e)
}

// logOf returns a task's log file and, read here, its tail, when the backend tells.
func (s *Server) logOf(ctx context.Context, id scheduler.TaskID) (path, tail string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := s.sched.TaskStatus(ctx, id)
	if err != nil || st.LogPath == "" {
		return "", ""
	}
	tail, err = LogTail(st.LogPath, LogTailBytes)
	if err != nil {
		s.log.Debug("job_log_unreadable", "task_id", id, "log_path", st.LogPath, "error", err)
	}
	return st.LogPath, tail
}

// timeMs is t in Unix milliseconds, now when t is zero.
func timeMs(t time.Time) int64 {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UnixMilli()
}
