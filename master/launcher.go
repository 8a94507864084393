package master

import (
	"context"
	"errors"
	"time"
)

// JobLauncher runs lineage jobs on the framework scheduler. The master declares it and
// never imports the scheduler: cmd/sluice adapts *scheduler.Scheduler to it in local
// mode, and FrameworkLauncher is a FrameworkScheduler gRPC client, for a framework
// scheduler in another process. All methods are safe for concurrent use.
type JobLauncher interface {
	// LaunchJob starts one run of a job and returns its task ID, unique for the
	// launcher's life. Returning does not mean the job runs: JobEvents says so.
	LaunchJob(ctx context.Context, l JobLaunch) (taskID string, err error)
	// KillJob stops a task. Killing a task that has ended is not an error; an unknown
	// task is ErrUnknownTask.
	KillJob(ctx context.Context, taskID string) error
	// JobEvents streams the state changes of every job task launched from the moment it
	// is called, in order per task, until ctx ends. Events are never dropped while the
	// channel is read. The channel is closed when ctx ends or the launcher stops.
	JobEvents(ctx context.Context) (<-chan JobEvent, error)
	// JobStatus returns the latest state of a task as an event (with its log path and
	// tail where the launcher keeps them), or ErrUnknownTask when the launcher does not
	// know it (it never launched it, forgot it, or restarted).
	JobStatus(ctx context.Context, taskID string) (JobEvent, error)
}

// ErrUnknownTask reports a task a JobLauncher does not know.
var ErrUnknownTask = errors.New("master: unknown job task")

// JobLaunch is one run of a job, as the master asks the framework scheduler for it.
type JobLaunch struct {
	// JobID is the master's job ID; Attempt numbers the run (1 for the first).
	JobID   uint64
	Attempt int32
	// Name is a human name for the task ("wordcount"), not necessarily unique.
	Name string
	// Command is the argv; Env the whole environment the job adds (SLUICE_MASTER,
	// SLUICE_JOB_ID, SLUICE_INPUTS, SLUICE_OUTPUTS included); WorkingDir its directory
	// (empty: the backend's).
	Command    []string
	Env        map[string]string
	WorkingDir string
	// CPU and MemMB are the resources to reserve (0: the backend's default).
	CPU   float64
	MemMB int64
	// Priority orders pending launches, higher first; a recompute carries the priority
	// of the job that needs its data.
	Priority int
	// Recompute tells that the run rebuilds lost outputs.
	Recompute bool
	// PreferHosts are the hosts of the live executors holding the job's inputs, the one
	// holding the most bytes first: a placement hint (scheduler.Task.PreferNodes).
	PreferHosts []string
}

// JobTaskState is the state of a job task on the framework scheduler.
type JobTaskState uint8

// Job task states. Pending and Running are live; the others are terminal: a task
// reaches exactly one of them.
const (
	TaskPending JobTaskState = iota + 1
	TaskRunning
	// TaskFinished: exited 0.
	TaskFinished
	// TaskFailed: exited non-zero, could not start, or was killed by someone else.
	TaskFailed
	// TaskKilled: killed through KillJob.
	TaskKilled
	// TaskLost: its node or process vanished.
	TaskLost
)

// Terminal reports whether s is an end state.
func (s JobTaskState) Terminal() bool { return s >= TaskFinished && s <= TaskLost }

func (s JobTaskState) String() string {
	switch s {
	case TaskPending:
		return "pending"
	case TaskRunning:
		return "running"
	case TaskFinished:
		return "finished"
	case TaskFailed:
		return "failed"
	case TaskKilled:
		return "killed"
	case TaskLost:
		return "lost"
	}
	return "unknown"
}

// JobEvent is one change of a job task's state, or its latest state (JobStatus).
type JobEvent struct {
	TaskID string
	State  JobTaskState
	// ExitCode is the exit status in terminal states (-1 for a signal or a loss).
	ExitCode int
	// Message explains the state for people ("exit status 3", "node lost").
	Message string
	// Host is the node the task runs or ran on; LogPath the file on Host holding its
	// output; LogTail the last lines of that output (terminal states), when the launcher
	// has them.
	Host    string
	LogPath string
	LogTail string
	// Time is when the change happened.
	Time time.Time
}
