package scheduler

import (
	"context"
	"errors"
	"log/slog"
)

// Errors of the scheduler contract. Backends return them wrapped, so callers use errors.Is.
var (
	// ErrUnknownTask reports a TaskID that the backend or the Scheduler does not know.
	ErrUnknownTask = errors.New("scheduler: unknown task")
	// ErrInvalidTask reports a Task that cannot be launched (empty command, bad kind).
	ErrInvalidTask = errors.New("scheduler: invalid task")
	// ErrClosed reports a call on a Backend after Close, or on a Scheduler whose Run
	// has returned.
	ErrClosed = errors.New("scheduler: closed")
	// ErrNotRunning reports a job call on a Scheduler whose Run has not started.
	ErrNotRunning = errors.New("scheduler: not running")
	// ErrAlreadyRunning reports a second call of Scheduler.Run.
	ErrAlreadyRunning = errors.New("scheduler: already running")
	// ErrUnsupported reports an optional capability the backend lacks.
	ErrUnsupported = errors.New("scheduler: not supported by backend")
	// ErrInvalidConfig reports a Config that Validate rejects.
	ErrInvalidConfig = errors.New("scheduler: invalid config")
)

// Backend is one cluster manager: local processes, Nomad, Mesos or YARN. All methods are
// safe for concurrent use.
//
// Contract (schedulertest.Run checks it):
//   - Launch starts t and returns its new, unique TaskID. Backends set the environment
//     variable SLUICE_TASK_ID to that ID, add t.Env, and run in t.Dir. Launch returning
//     does not mean the task runs: a Running event says so.
//   - Kill stops the task (on the local backend: SIGTERM to its process group, SIGKILL
//     after a grace period). The task's terminal event is StateKilled. Killing a task
//     that has already ended is not an error; an ID never launched is ErrUnknownTask.
//   - Watch returns a channel of the events of every task launched on this Backend
//     value from the moment Watch is called, in order per task: Pending (optional),
//     Running, then exactly one terminal state. A task that ends without Kill is
//     Finished (exit 0), Failed (non-zero exit or a signal from elsewhere) or Lost.
//     Events are never dropped while the receiver reads; the channel is closed when
//     ctx ends or the Backend is closed.
//   - Nodes lists the nodes tasks can be placed on, never empty when healthy.
type Backend interface {
	// Name is the backend's short name: "local", "nomad", "mesos", "yarn".
	Name() string
	// Launch starts an executor, a master or a job. ctx bounds the launch call only,
	// not the task's life.
	Launch(ctx context.Context, t Task) (TaskID, error)
	// Kill stops a task. ctx bounds the call; see the contract above.
	Kill(ctx context.Context, id TaskID) error
	// Watch streams task events (running, finished, failed, lost, killed) until ctx ends.
	Watch(ctx context.Context) (<-chan TaskEvent, error)
	// Nodes lists the nodes, for placement and data locality.
	Nodes(ctx context.Context) ([]Node, error)
}

// StatusReporter is an optional capability of a Backend: the status of one task,
// including its process ID and log file where the backend has them. Callers detect it
// with a type assertion. It returns ErrUnknownTask for an ID it never launched.
type StatusReporter interface {
	Status(ctx context.Context, id TaskID) (TaskStatus, error)
}

// BackendOptions is what cmd/sluice hands every backend factory.
type BackendOptions struct {
	// Settings holds the backend's own configuration keys, flattened to text the way
	// sluice.yaml is ("log-dir", "address", "kill-grace"), without the backend-name
	// prefix. Each backend documents its keys and rejects unknown ones.
	Settings map[string]string
	// DataDir is the directory of the node's Sluice state ("./sluice-data"), where a
	// backend may keep files (the local backend's logs default to DataDir/logs).
	DataDir string
	// Logger receives the backend's logs; nil discards them.
	Logger *slog.Logger
}

// BackendFactory builds a Backend from options. cmd/sluice keeps an explicit map from
// backend name to factory (map[string]scheduler.BackendFactory{"local": local.Factory,
// "nomad": nomad.Factory, ...}); there is no registration by init. If the returned
// Backend also implements io.Closer, the caller closes it after the Scheduler's Run has
// returned: closing stops every task it still runs.
type BackendFactory func(ctx context.Context, opts BackendOptions) (Backend, error)
