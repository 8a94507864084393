package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// FrameworkLauncher is the JobLauncher of a master whose framework scheduler runs in
// another process (`sluice master --framework HOST:PORT`): a client of the
// FrameworkScheduler gRPC service (api/framework.proto). It also turns the service's
// EXECUTOR_LOST events into loss reports (ReportExecutorLosses). Safe for concurrent
// use.
//
// Decisions:
//   - JobEvents follows one WatchEvents stream. A broken stream is reopened after the
//     last event seen (since_seq, in the server's epoch), retrying with a growing pause
//     (50 ms to 5 s) while the server is unreachable. When the server cannot resume
//     there (it restarted, or forgot the events), the channel is closed: the master
//     subscribes again and re-reads every running job's state (JobStatus).
//   - ReportExecutorLosses follows its own stream the same way, but when the server
//     cannot resume it reads on from the oldest event the server remembers
//     (WatchEventsRequest.from_oldest): a restarted server's first events, an
//     EXECUTOR_LOST sent while the master had not reconnected yet among them.
//   - Errors come back through one table (frameworkErrors): NotFound is ErrUnknownTask,
//     Unavailable ErrUnavailable, InvalidArgument ErrInvalidArgument.
type FrameworkLauncher struct {
	c   sluicepb.FrameworkSchedulerClient
	log *slog.Logger
}

var _ JobLauncher = (*FrameworkLauncher)(nil)

// NewFrameworkLauncher returns a FrameworkLauncher over cc, a connection to a
// FrameworkScheduler server; logger nil discards its logs. The caller closes cc after
// the master and ReportExecutorLosses have returned.
func NewFrameworkLauncher(cc grpc.ClientConnInterface, logger *slog.Logger) *FrameworkLauncher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &FrameworkLauncher{c: sluicepb.NewFrameworkSchedulerClient(cc), log: logger.With("component", "master.framework")}
}

// errEventsMissed reports a WatchEvents position the server cannot resume from.
var errEventsMissed = errors.New("master: framework scheduler events missed")

// frameworkErrors maps the FrameworkScheduler's status codes back to sentinels.
var frameworkErrors = map[codes.Code]error{
	codes.NotFound:        ErrUnknownTask,
	codes.Unavailable:     ErrUnavailable,
	codes.InvalidArgument: ErrInvalidArgument,
	codes.OutOfRange:      errEventsMissed,
}

// fromFramework turns an error of a FrameworkScheduler call into the sentinel of its
// code (frameworkErrors); context errors and unmapped codes keep their status.
func fromFramework(what string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("framework scheduler: %s: %w", what, err)
	}
	if s, ok := frameworkErrors[st.Code()]; ok {
		return fmt.Errorf("framework scheduler: %s: %s: %w", what, st.Message(), s)
	}
	return fmt.Errorf("framework scheduler: %s: %w", what, err)
}

// LaunchJob launches one run of a job; repeating it for the same job and attempt
// returns the same task.
func (l *FrameworkLauncher) LaunchJob(ctx context.Context, jl JobLaunch) (string, error) {
	resp, err := l.c.LaunchJob(ctx, &sluicepb.LaunchJobRequest{
		JobId: strconv.FormatUint(jl.JobID, 10), Attempt: jl.Attempt, Name: jl.Name, Command: jl.Command,
		Env: jl.Env, Cpu: jl.CPU, MemMb: jl.MemMB, Priority: int32(min(max(jl.Priority, math.MinInt32), math.MaxInt32)),
		PreferredHosts: jl.PreferHosts, WorkingDir: jl.WorkingDir,
	})
	if err != nil {
		return "", fromFramework("launch job "+strconv.FormatUint(jl.JobID, 10), err)
	}
	return resp.GetTaskId(), nil
}

// KillJob kills a job task.
func (l *FrameworkLauncher) KillJob(ctx context.Context, taskID string) error {
	_, err := l.c.KillJob(ctx, &sluicepb.KillJobTaskRequest{TaskId: taskID})
	return fromFramework("kill task "+taskID, err)
}

// JobStatus returns the framework scheduler's state of a job task.
func (l *FrameworkLauncher) JobStatus(ctx context.Context, taskID string) (JobEvent, error) {
	resp, err := l.c.JobStatus(ctx, &sluicepb.JobStatusRequest{TaskId: taskID})
	if err != nil {
		return JobEvent{}, fromFramework("status of task "+taskID, err)
	}
	st := resp.GetStatus()
	je := JobEvent{TaskID: taskID, State: jobTaskState(st.GetState()), ExitCode: int(st.GetExitCode()),
		Message: st.GetMessage(), Host: st.GetHost(), LogPath: st.GetLogPath(), LogTail: st.GetLogTail()}
	switch {
	case st.GetEndTimeMs() != 0:
		je.Time = time.UnixMilli(st.GetEndTimeMs())
	case st.GetStartTimeMs() != 0:
		je.Time = time.UnixMilli(st.GetStartTimeMs())
	}
	return je, nil
}

// JobEvents opens a WatchEvents stream and converts its job events until ctx ends, or
// the stream cannot be resumed (see the decisions above). It fails when the first
// stream cannot be opened.
func (l *FrameworkLauncher) JobEvents(ctx context.Context) (<-chan JobEvent, error) {
	s := &eventStream{l: l}
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	out := make(chan JobEvent)
	go func() {
		defer close(out)
		defer s.close()
		for {
			ev, err := s.next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					l.log.Warn("framework scheduler job events lost; the master re-reads running jobs", "err", err)
				}
				return
			}
			je, ok := jobEventOf(ev)
			if !ok {
				continue
			}
			select {
			case out <- je:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// ExecutorLossReporter is told of executors the framework scheduler lost; *Master is
// one (ReportExecutorLost).
type ExecutorLossReporter interface {
	ReportExecutorLost(ctx context.Context, executorOrTaskID string) error
}

// ReportExecutorLosses follows the framework scheduler's events until ctx ends (then it
// returns nil) and reports every EXECUTOR_LOST event to r at once, by task ID, so that
// the executor's files are handled without waiting for its heartbeats to time out.
// Every master of a cluster runs it; only the leader's reports take effect (followers
// answer NOT_LEADER, which is ignored). An executor the master does not know is logged,
// as is a report that fails: the heartbeat timeout still catches the loss. A stream the
// server cannot resume (it restarted, or forgot events) goes on from the oldest event
// it remembers, so that the losses a restarted server reports before the master
// reconnects are reported too; only events the server no longer has (those of a
// former process after the stream broke) are missed, and the timeout covers them.
func (l *FrameworkLauncher) ReportExecutorLosses(ctx context.Context, r ExecutorLossReporter) error {
	s := &eventStream{l: l}
	defer s.close()
	for {
		ev, err := s.next(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			l.log.Warn("framework scheduler events missed; reading on from the oldest event it remembers", "err", err)
			s.close()
			s.fromOldest = true
			continue
		case ev.GetType() == sluicepb.EventType_EVENT_TYPE_EXECUTOR_LOST:
			l.reportLoss(ctx, r, ev)
		}
	}
}

// reportLoss reports one lost executor, retrying for a few seconds while the master is
// not ready (starting, gaining leadership).
func (l *FrameworkLauncher) reportLoss(ctx context.Context, r ExecutorLossReporter, ev *sluicepb.SchedulerEvent) {
	id := ev.GetTaskId()
	err := ReportLossRetrying(ctx, r, id)
	switch {
	case err == nil:
		l.log.Info("executor loss reported", "task_id", id, "host", ev.GetHost(), "reason", ev.GetReason())
	case ctx.Err() != nil:
	case errors.Is(err, ErrNotLeader):
		l.log.Debug("executor loss left to the leader", "task_id", id)
	case errors.Is(err, ErrNotFound):
		l.log.Info("lost executor unknown to the master", "task_id", id, "reason", ev.GetReason())
	default:
		l.log.Warn("cannot report executor loss; the heartbeat timeout will catch it", "task_id", id, "err", err)
	}
}

// ReportLossRetrying reports the executor id lost to r, retrying with doubling pauses
// (from 50 ms, about 6 s in all) while the master is not serving yet (ErrUnavailable
// that is not a NOT_LEADER answer). It returns nil once reported, else the last error
// (ErrNotFound for an executor the master does not know, ErrNotLeader off the leader,
// ctx's error when ctx ends).
func ReportLossRetrying(ctx context.Context, r ExecutorLossReporter, id string) error {
	delay := 50 * time.Millisecond
	for {
		err := r.ReportExecutorLost(ctx, id)
		if err == nil || errors.Is(err, ErrNotLeader) || !errors.Is(err, ErrUnavailable) || delay > 5*time.Second {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
			delay *= 2
		}
	}
}

// eventStream follows WatchEvents across broken streams: it remembers the position
// (epoch and seq) of the last event read and resumes after it. Not safe for concurrent
// use.
type eventStream struct {
	l      *FrameworkLauncher
	epoch  string
	seq    uint64
	stream sluicepb.FrameworkScheduler_WatchEventsClient
	cancel context.CancelFunc
	// fromOldest makes the next open start at the oldest event the server remembers,
	// in whatever epoch, rather than after seq.
	fromOldest bool
}

// open opens a stream at the current position (from now on for a new eventStream, at
// the server's oldest remembered event with fromOldest) and reads its STREAM_STARTED
// message.
func (s *eventStream) open(ctx context.Context) error {
	req := &sluicepb.WatchEventsRequest{SinceSeq: s.seq, Epoch: s.epoch}
	if s.fromOldest {
		req = &sluicepb.WatchEventsRequest{FromOldest: true}
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := s.l.c.WatchEvents(sctx, req)
	var first *sluicepb.SchedulerEvent
	if err == nil {
		first, err = stream.Recv()
	}
	if err != nil {
		cancel()
		return fromFramework("watch events", err)
	}
	if first.GetType() != sluicepb.EventType_EVENT_TYPE_STREAM_STARTED {
		cancel()
		return fmt.Errorf("framework scheduler: watch events: stream starts with %v, not STREAM_STARTED", first.GetType())
	}
	if s.fromOldest {
		s.fromOldest = false
		if first.GetEpoch() == s.epoch && first.GetSeq() <= s.seq {
			// Same process, events after seq still kept: the replay of those already
			// read is skipped (next).
			s.stream, s.cancel = stream, cancel
			return nil
		}
		if first.GetSeq() > 0 {
			s.l.log.Warn("framework scheduler forgot events before its oldest kept one", "epoch", first.GetEpoch(),
				"forgotten_through_seq", first.GetSeq())
		}
		s.l.log.Info("framework scheduler events replayed from the oldest kept", "epoch", first.GetEpoch(),
			"previous_epoch", s.epoch, "after_seq", first.GetSeq())
	}
	s.epoch, s.seq = first.GetEpoch(), first.GetSeq()
	s.stream, s.cancel = stream, cancel
	return nil
}

// next returns the next event, reopening a broken stream after the last event read
// (with a growing pause while that fails). It returns ctx's error when ctx ends, and
// an error wrapping errEventsMissed when the server cannot resume the position.
func (s *eventStream) next(ctx context.Context) (*sluicepb.SchedulerEvent, error) {
	delay := 50 * time.Millisecond
	for {
		if s.stream != nil {
			ev, err := s.stream.Recv()
			if err == nil {
				if ev.GetSeq() <= s.seq {
					continue // replayed from the oldest kept, already read
				}
				s.seq = ev.GetSeq()
				return ev, nil
			}
			s.close()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err := fromFramework("watch events", err); errors.Is(err, errEventsMissed) {
				return nil, err
			}
			s.l.log.Warn("framework scheduler event stream broken, resuming", "after_seq", s.seq, "err", err)
		}
		err := s.open(ctx)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, errEventsMissed):
			return nil, err
		case err != nil:
			s.l.log.Warn("cannot watch framework scheduler events, retrying", "err", err, "retry_in", delay)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(delay):
			}
			delay = min(2*delay, 5*time.Second)
		default:
			delay = 50 * time.Millisecond
		}
	}
}

// close ends the current stream, if any.
func (s *eventStream) close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.stream, s.cancel = nil, nil
}

// jobEventOf converts a job event; ok is false for other events.
func jobEventOf(ev *sluicepb.SchedulerEvent) (JobEvent, bool) {
	var st JobTaskState
	switch ev.GetType() {
	case sluicepb.EventType_EVENT_TYPE_JOB_RUNNING:
		st = TaskRunning
	case sluicepb.EventType_EVENT_TYPE_JOB_FINISHED:
		st = TaskFinished
	case sluicepb.EventType_EVENT_TYPE_JOB_FAILED:
		st = TaskFailed
	case sluicepb.EventType_EVENT_TYPE_JOB_KILLED:
		st = TaskKilled
	default:
		return JobEvent{}, false
	}
	return JobEvent{TaskID: ev.GetTaskId(), State: st, ExitCode: int(ev.GetExitCode()), Message: ev.GetReason(),
		Host: ev.GetHost(), LogPath: ev.GetLogPath(), LogTail: ev.GetLogTail(), Time: time.UnixMilli(ev.GetTimeMs())}, true
}

// jobTaskState is the master's state of a wire task state.
func jobTaskState(s sluicepb.TaskState) JobTaskState {
	switch s {
	case sluicepb.TaskState_TASK_STATE_RUNNING:
		return TaskRunning
	case sluicepb.TaskState_TASK_STATE_FINISHED:
		return TaskFinished
	case sluicepb.TaskState_TASK_STATE_FAILED:
		return TaskFailed
	case sluicepb.TaskState_TASK_STATE_KILLED:
		return TaskKilled
	case sluicepb.TaskState_TASK_STATE_LOST:
		return TaskLost
	}
	return TaskPending
}
