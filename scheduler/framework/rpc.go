package framework

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/scheduler"
)

// rpcServer is the gRPC face of a Server; every error leaves through toStatus.
type rpcServer struct {
	sluicepb.UnimplementedFrameworkSchedulerServer
	s *Server
}

// LaunchJob launches one run of a job, once per (job_id, attempt).
func (r *rpcServer) LaunchJob(ctx context.Context, req *sluicepb.LaunchJobRequest) (*sluicepb.LaunchJobResponse, error) {
	id, err := r.s.launchJob(ctx, req)
	if err != nil {
		return nil, toStatus(err)
	}
	return &sluicepb.LaunchJobResponse{TaskId: string(id)}, nil
}

// JobStatus returns the state of a task, or of a job's latest task.
func (r *rpcServer) JobStatus(ctx context.Context, req *sluicepb.JobStatusRequest) (*sluicepb.JobStatusResponse, error) {
	st, err := r.s.jobStatus(ctx, req.GetTaskId(), req.GetJobId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &sluicepb.JobStatusResponse{Status: st}, nil
}

// KillJob kills a task, or a job's latest task.
func (r *rpcServer) KillJob(ctx context.Context, req *sluicepb.KillJobTaskRequest) (*sluicepb.KillJobTaskResponse, error) {
	id, _, err := r.s.resolve(req.GetTaskId(), req.GetJobId())
	if err == nil {
		err = r.s.sched.KillJob(ctx, id)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &sluicepb.KillJobTaskResponse{}, nil
}

// ListExecutors lists the executor tasks of the ExecutorSource, by task ID.
func (r *rpcServer) ListExecutors(ctx context.Context, _ *sluicepb.ListExecutorTasksRequest) (*sluicepb.ListExecutorTasksResponse, error) {
	execs, err := r.s.execs.Executors(ctx)
	if err != nil {
		return nil, toStatus(fmt.Errorf("list executors: %w", err))
	}
	slices.SortFunc(execs, func(a, b ExecutorTask) int { return cmp.Compare(a.TaskID, b.TaskID) })
	resp := &sluicepb.ListExecutorTasksResponse{Executors: make([]*sluicepb.ExecutorTask, 0, len(execs))}
	for _, e := range execs {
		if e.Host == "" {
			e.Host = r.s.nodes.host(ctx, e.Node)
		}
		resp.Executors = append(resp.Executors, &sluicepb.ExecutorTask{
			TaskId: string(e.TaskID), Backend: cmp.Or(e.Backend, r.s.cfg.Backend), Node: e.Node,
			Host: e.Host, RpcAddress: e.RPCAddress,
			State: taskState(e.State), StartTimeMs: unixMs(e.Started), Restarts: int32(e.Restarts),
		})
	}
	return resp, nil
}

// WatchEvents streams the events after since_seq, or from the oldest remembered one
// (see the package doc).
func (r *rpcServer) WatchEvents(req *sluicepb.WatchEventsRequest, stream sluicepb.FrameworkScheduler_WatchEventsServer) error {
	seq, err := r.s.events.start(req.GetSinceSeq(), req.GetEpoch(), req.GetFromOldest())
	if err != nil {
		return toStatus(err)
	}
	return toStatus(r.s.events.follow(stream.Context(), seq, stream.Send))
}

// jobStatus is the TaskStatus of a task, or of a job's latest task.
func (s *Server) jobStatus(ctx context.Context, taskID, jobID string) (*sluicepb.TaskStatus, error) {
	id, l, err := s.resolve(taskID, jobID)
	if err != nil {
		return nil, err
	}
	st, err := s.sched.JobStatus(id)
	if err != nil {
		return nil, err
	}
	out := &sluicepb.TaskStatus{TaskId: string(id), State: taskState(st.State), Message: st.Message,
		Host: s.nodes.host(ctx, st.Node), StartTimeMs: unixMs(st.Started), EndTimeMs: unixMs(st.Ended)}
	if l != nil {
		out.JobId, out.Attempt = l.key.jobID, l.key.attempt
	}
	if st.State.Terminal() {
		out.ExitCode = int32(st.ExitCode)
		if st.State == scheduler.StateLost {
			out.ExitCode = -1
		}
		out.LogPath, out.LogTail = s.logOf(ctx, id)
	}
	return out, nil
}

// taskState is the wire state of a scheduler state.
func taskState(s scheduler.State) sluicepb.TaskState {
	switch s {
	case scheduler.StatePending:
		return sluicepb.TaskState_TASK_STATE_PENDING
	case scheduler.StateRunning:
		return sluicepb.TaskState_TASK_STATE_RUNNING
	case scheduler.StateFinished:
		return sluicepb.TaskState_TASK_STATE_FINISHED
	case scheduler.StateFailed:
		return sluicepb.TaskState_TASK_STATE_FAILED
	case scheduler.StateKilled:
		return sluicepb.TaskState_TASK_STATE_KILLED
	case scheduler.StateLost:
		return sluicepb.TaskState_TASK_STATE_LOST
	}
	return sluicepb.TaskState_TASK_STATE_UNSPECIFIED
}

// unixMs is t in Unix milliseconds, 0 for the zero time.
func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
