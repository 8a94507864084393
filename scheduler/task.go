package scheduler

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Kind says what a Task is. It decides how the Scheduler treats the task's end: service
// tasks (masters and executors) are relaunched, jobs are not.
type Kind string

// The kinds of task.
const (
	// KindMaster is a `sluice master` process, kept running by the Scheduler.
	KindMaster Kind = "master"
	// KindExecutor is a `sluice executor` process, kept running by the Scheduler.
	KindExecutor Kind = "executor"
	// KindJob is a user computation (or its recompute); it runs once.
	KindJob Kind = "job"
)

// Valid reports whether k is one of the declared kinds.
func (k Kind) Valid() bool {
	return k == KindMaster || k == KindExecutor || k == KindJob
}

// State is the state of a task as a backend reports it.
type State string

// The states of a task. Pending and Running are live states; the others are terminal: a
// task reaches exactly one of them, once.
const (
	// StatePending: the backend accepted the task but it does not run yet (placement,
	// image pull, backoff in the Scheduler).
	StatePending State = "pending"
	// StateRunning: the task's process runs.
	StateRunning State = "running"
	// StateFinished: the task exited with code 0 on its own.
	StateFinished State = "finished"
	// StateFailed: the task exited with a non-zero code or was killed by a signal that
	// the backend did not send.
	StateFailed State = "failed"
	// StateLost: the backend lost track of the task (its node went away). Whether the
	// process still runs somewhere is unknown; it must be treated as gone.
	StateLost State = "lost"
	// StateKilled: the task ended because Kill was called for it.
	StateKilled State = "killed"
)

// Terminal reports whether s is an end state (finished, failed, lost or killed).
func (s State) Terminal() bool {
	switch s {
	case StateFinished, StateFailed, StateLost, StateKilled:
		return true
	}
	return false
}

// TaskID identifies one launch of a task on a backend. Backends assign it; it is unique
// among the tasks of one Backend value for its whole life, so a relaunch gets a new ID.
type TaskID string

// Resources is what a task asks of its node. Backends that cannot enforce a resource
// use it for placement only (the local backend ignores CPU, memory and disk).
type Resources struct {
	// CPU is in cores (1.5 = one and a half cores).
	CPU float64
	// MemMB is memory in MiB.
	MemMB int64
	// DiskMB is scratch disk in MiB.
	DiskMB int64
	// Ports names the ports the task needs. The backend picks a free port for each and
	// passes it in the environment as SLUICE_PORT_<NAME> (NAME upper-cased, '-' and '.'
	// as '_'), in the manner of Nomad's NOMAD_PORT_<label>.
	Ports []string
}

// Task is what a Backend launches: an executor, a master or a job. A Task is a value;
// backends copy what they keep and never modify the caller's maps or slices.
type Task struct {
	// Name is a human name and the hint backends build the TaskID from ("executor-0",
	// "wordcount"). It need not be unique. Empty means the Kind.
	Name string
	// Kind decides whether the Scheduler relaunches the task when it ends.
	Kind Kind
	// Command is the argv: Command[0] is the program (looked up in PATH when it has no
	// slash), the rest its arguments. It must not be empty.
	Command []string
	// Env is added to the environment the backend gives the task. Backends also set
	// SLUICE_TASK_ID to the task's ID; that name cannot be overridden.
	Env map[string]string
	// Dir is the working directory; empty means the backend's default.
	Dir string
	// Resources is what the task needs.
	Resources Resources
	// LogPath, when set, is where a backend that writes log files puts the task's stdout
	// and stderr; empty lets the backend choose (see TaskStatus.LogPath).
	LogPath string
	// Priority orders jobs that wait for resources; higher runs first. Recomputes carry
	// the priority of the job that needs their data.
	Priority int
	// PreferNodes lists node IDs (see Node.ID) to place the task on when possible, best
	// first: the nodes whose executors hold a job's inputs. It is a hint, not a
	// constraint.
	PreferNodes []string
	// Labels are free key-value metadata, kept by backends that can (Nomad meta, Mesos
	// labels). The Scheduler sets LabelSlot and LabelAttempt on service tasks.
	Labels map[string]string
}

// Labels the Scheduler sets on the service tasks it launches.
const (
	// LabelSlot names the service slot a task fills ("executor-0").
	LabelSlot = "sluice.slot"
	// LabelAttempt is the launch number of the slot, from 1.
	LabelAttempt = "sluice.attempt"
)

// EnvTaskID is the environment variable every backend sets to the task's ID.
const EnvTaskID = "SLUICE_TASK_ID"

// Validate reports whether t can be launched: a known Kind and a non-empty Command.
func (t Task) Validate() error {
	if !t.Kind.Valid() {
		return fmt.Errorf("task %q: kind %q: %w", t.Name, t.Kind, ErrInvalidTask)
	}
	if len(t.Command) == 0 || t.Command[0] == "" {
		return fmt.Errorf("task %q: empty command: %w", t.Name, ErrInvalidTask)
	}
	return nil
}

// Clone returns a deep copy of t, so that the copy's maps and slices can be changed.
func (t Task) Clone() Task {
	t.Command = slices.Clone(t.Command)
	t.Env = maps.Clone(t.Env)
	t.Resources.Ports = slices.Clone(t.Resources.Ports)
	t.PreferNodes = slices.Clone(t.PreferNodes)
	t.Labels = maps.Clone(t.Labels)
	return t
}

// TaskEvent is one change of a task's state as a backend reports it on Watch.
type TaskEvent struct {
	// TaskID is the task the event is about.
	TaskID TaskID
	// Kind is the task's kind, as launched.
	Kind Kind
	// State is the state the task entered.
	State State
	// ExitCode is the process's exit code in terminal states when the backend knows it;
	// -1 when the process was ended by a signal (as os.ProcessState.ExitCode).
	ExitCode int
	// Message explains the state for people ("exit status 3", "killed by signal 9").
	Message string
	// Node is the ID of the node the task runs or ran on, when known.
	Node string
	// PID is the process ID on its node when the backend knows it (the local backend
	// does), 0 otherwise.
	PID int
	// Time is when the backend observed the change.
	Time time.Time
}

// Node is one machine a backend can place tasks on.
type Node struct {
	// ID identifies the node to the backend; Task.PreferNodes and TaskEvent.Node use it.
	ID string
	// Host is the node's host name or address, for clients that connect to its tasks.
	Host string
	// Resources is the node's capacity (Ports is empty).
	Resources Resources
}

// TaskStatus is a backend's view of one task, from the optional StatusReporter.
type TaskStatus struct {
	// ID, Name and Kind are those of the launched task.
	ID   TaskID
	Name string
	Kind Kind
	// State is the task's current state.
	State State
	// ExitCode and Message are those of the terminal event, once there is one.
	ExitCode int
	Message  string
	// Node is the node ID; PID the process ID on it (0 when unknown).
	Node string
	PID  int
	// LogPath is the file that holds the task's stdout and stderr, when the backend
	// writes one (`sluice job logs` reads it).
	LogPath string
	// Ports maps each port name of Task.Resources.Ports to the port given to the task.
	Ports map[string]int
	// Started is when the process started; Ended when it ended (zero while it runs).
	Started time.Time
	Ended   time.Time
}
