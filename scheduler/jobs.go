package scheduler

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// JobStatus is what the Scheduler knows of one job it launched.
type JobStatus struct {
	ID       TaskID
	Name     string
	Priority int
	// State is pending until the backend reports the job running, then running, then
	// one terminal state. A job is never relaunched.
	State State
	// ExitCode and Message are those of the terminal event.
	ExitCode int
	Message  string
	// Node and PID are where the job runs or ran, when known.
	Node string
	PID  int
	// Launched is when LaunchJob returned; Started when it was seen running; Ended when
	// it was seen ending (zero until then).
	Launched time.Time
	Started  time.Time
	Ended    time.Time
}

// job is one launched job; guarded by Scheduler.mu.
type job struct {
	status JobStatus
}

// LaunchJob launches t once as a job: it is never relaunched, whatever its end. t.Kind
// must be KindJob or empty. The job's events reach JobStatus and Subscribe; LaunchJob
// needs Run to be running (ErrNotRunning before, ErrClosed after).
func (s *Scheduler) LaunchJob(ctx context.Context, t Task) (TaskID, error) {
	if t.Kind == "" {
		t.Kind = KindJob
	}
	if t.Kind != KindJob {
		return "", fmt.Errorf("launch job %q of kind %q: %w", t.Name, t.Kind, ErrInvalidTask)
	}
	if err := t.Validate(); err != nil {
		return "", err
	}
	if err := s.checkRunning(); err != nil {
		return "", fmt.Errorf("launch job %q: %w", t.Name, err)
	}
	id, err := s.cfg.Backend.Launch(ctx, t.Clone())
	if err != nil {
		return "", fmt.Errorf("launch job %q on %s: %w", t.Name, s.cfg.Backend.Name(), err)
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	j := &job{status: JobStatus{ID: id, Name: t.Name, Priority: t.Priority, State: StatePending, Launched: now}}
	s.jobs[id] = j
	for _, ev := range s.takeEarly(id) {
		s.jobEvent(j, ev, now)
	}
	s.log.Info("job_launched", "task_id", id, "name", t.Name)
	return id, nil
}

// Launch launches t as a job; it is LaunchJob under the name of the small launcher
// interfaces that consumers such as recompute declare.
func (s *Scheduler) Launch(ctx context.Context, t Task) (TaskID, error) {
	return s.LaunchJob(ctx, t)
}

func (s *Scheduler) checkRunning() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.phase {
	case phaseNew:
		return ErrNotRunning
	case phaseStopped:
		return ErrClosed
	}
	return nil
}

// KillJob kills a job. A job that has already ended is left as it is (nil); an ID this
// Scheduler did not launch as a job (or has forgotten, see Config.JobHistory) is
// ErrUnknownTask. The job's end arrives as a killed event.
func (s *Scheduler) KillJob(ctx context.Context, id TaskID) error {
	s.mu.Lock()
	j, ok := s.jobs[id]
	ended := ok && j.status.State.Terminal()
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("kill job %s: %w", id, ErrUnknownTask)
	}
	if ended {
		return nil
	}
	if err := s.cfg.Backend.Kill(ctx, id); err != nil {
		return fmt.Errorf("kill job %s on %s: %w", id, s.cfg.Backend.Name(), err)
	}
	return nil
}

// JobStatus returns the status of a job launched by LaunchJob, or ErrUnknownTask.
func (s *Scheduler) JobStatus(id TaskID) (JobStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return JobStatus{}, fmt.Errorf("job %s: %w", id, ErrUnknownTask)
	}
	return j.status, nil
}

// Jobs returns the status of every job the Scheduler knows, in launch order.
func (s *Scheduler) Jobs() []JobStatus {
	s.mu.Lock()
	out := make([]JobStatus, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, j.status)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b JobStatus) int {
		return cmp.Or(a.Launched.Compare(b.Launched), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// jobEvent applies ev to j. Events after the terminal one are ignored. s.mu is held.
func (s *Scheduler) jobEvent(j *job, ev TaskEvent, now time.Time) {
	st := &j.status
	if st.State.Terminal() {
		return
	}
	st.State = ev.State
	if ev.Node != "" {
		st.Node = ev.Node
	}
	if ev.PID != 0 {
		st.PID = ev.PID
	}
	switch {
	case ev.State == StateRunning:
		st.Started = now
	case ev.State.Terminal():
		st.ExitCode, st.Message, st.Ended = ev.ExitCode, ev.Message, now
		s.ended = append(s.ended, st.ID)
		for len(s.ended) > s.cfg.JobHistory {
			delete(s.jobs, s.ended[0])
			s.ended = s.ended[1:]
		}
		s.log.Info("job_ended", "task_id", st.ID, "state", ev.State, "exit_code", ev.ExitCode)
	}
}
