package framework

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/scheduler"
)

// launchKey is what LaunchJob is idempotent on.
type launchKey struct {
	jobID   string
	attempt int32
}

// launch is one LaunchJob of a key. done is closed once task or err is set.
type launch struct {
	key  launchKey
	done chan struct{}
	task scheduler.TaskID
	err  error
}

// launches is the Server's table of launches; guarded by Server.mu.
type launches struct {
	byKey  map[launchKey]*launch
	byTask map[scheduler.TaskID]*launch
	// latest is the launch of each job's highest attempt.
	latest map[string]*launch
	// over lists the launches whose task ended, oldest first, to forget them.
	over []*launch
	// inflight counts launches whose Scheduler call has not returned.
	inflight int
}

func newLaunches() launches {
	return launches{byKey: make(map[launchKey]*launch), byTask: make(map[scheduler.TaskID]*launch),
		latest: make(map[string]*launch)}
}

// ended notes that l's task ended and forgets the oldest ended launches beyond keep.
func (t *launches) ended(l *launch, keep int) {
	t.over = append(t.over, l)
	for len(t.over) > keep {
		old := t.over[0]
		t.over[0] = nil
		t.over = t.over[1:]
		if t.byKey[old.key] == old {
			delete(t.byKey, old.key)
		}
		delete(t.byTask, old.task)
		if t.latest[old.key.jobID] == old {
			delete(t.latest, old.key.jobID)
		}
	}
}

// launchJob launches a run of a job once per (job_id, attempt); see the package doc.
func (s *Server) launchJob(ctx context.Context, req *sluicepb.LaunchJobRequest) (scheduler.TaskID, error) {
	switch {
	case req.GetJobId() == "":
		return "", fmt.Errorf("launch job: no job_id: %w", ErrInvalidArgument)
	case req.GetAttempt() < 1:
		return "", fmt.Errorf("launch job %s: attempt %d < 1: %w", req.GetJobId(), req.GetAttempt(), ErrInvalidArgument)
	}
	key := launchKey{jobID: req.GetJobId(), attempt: req.GetAttempt()}
	for {
		if err := s.checkServing(); err != nil {
			return "", fmt.Errorf("launch job %s: %w", key.jobID, err)
		}
		s.mu.Lock()
		if l := s.jobs.byKey[key]; l != nil {
			s.mu.Unlock()
			select {
			case <-l.done:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			if l.err == nil {
				return l.task, nil
			}
			continue // the first call failed and was forgotten: launch again
		}
		l := &launch{key: key, done: make(chan struct{})}
		s.jobs.byKey[key] = l
		s.jobs.inflight++
		s.mu.Unlock()

		id, err := s.sched.LaunchJob(ctx, s.jobTask(ctx, req))
		s.mu.Lock()
		s.jobs.inflight--
		if err != nil {
			delete(s.jobs.byKey, key)
			l.err = err
		} else {
			l.task = id
			s.jobs.byTask[id] = l
			if cur := s.jobs.latest[key.jobID]; cur == nil || cur.key.attempt <= key.attempt {
				s.jobs.latest[key.jobID] = l
			}
		}
		close(l.done)
		s.mu.Unlock()
		select {
		case s.kick <- struct{}{}:
		default:
		}
		if err != nil {
			s.log.Warn("job_launch_failed", "job_id", key.jobID, "attempt", key.attempt, "error", err)
			return "", err
		}
		s.log.Info("job_launched", "job_id", key.jobID, "attempt", key.attempt, "task_id", id)
		return id, nil
	}
}

// jobTask is the scheduler task of a LaunchJob request.
func (s *Server) jobTask(ctx context.Context, req *sluicepb.LaunchJobRequest) scheduler.Task {
	t := scheduler.Task{
		Name:      req.GetName(),
		Kind:      scheduler.KindJob,
		Command:   req.GetCommand(),
		Env:       maps.Clone(req.GetEnv()),
		Dir:       req.GetWorkingDir(),
		Resources: scheduler.Resources{CPU: req.GetCpu(), MemMB: req.GetMemMb()},
		Priority:  int(req.GetPriority()),
		Labels: map[string]string{
			LabelJobID:      req.GetJobId(),
			LabelJobAttempt: fmt.Sprint(req.GetAttempt()),
		},
	}
	if hosts := req.GetPreferredHosts(); len(hosts) > 0 {
		nodes, err := s.nodes.nodes(ctx)
		if err != nil {
			s.log.Warn("nodes_unavailable_for_locality", "job_id", req.GetJobId(), "error", err)
		}
		t.PreferNodes = PreferNodes(nodes, hosts)
	}
	return t
}

// resolve finds the task of a JobStatus or KillJob request: task_id, or the latest
// launch of job_id. l is nil for a task this Server did not launch (or forgot).
func (s *Server) resolve(taskID, jobID string) (scheduler.TaskID, *launch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case taskID != "":
		return scheduler.TaskID(taskID), s.jobs.byTask[scheduler.TaskID(taskID)], nil
	case jobID != "":
		l := s.jobs.latest[jobID]
		if l == nil {
			return "", nil, fmt.Errorf("job %s: %w", jobID, ErrUnknownJob)
		}
		return l.task, l, nil
	}
	return "", nil, fmt.Errorf("neither task_id nor job_id: %w", ErrInvalidArgument)
}

// LogTail reads the last n bytes of the file at path.
func LogTail(path string, n int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	off := max(fi.Size()-n, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return string(b), nil
}
