package lineage

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"time"
)

// Errors returned by the graph. They are wrapped with the job and path they concern;
// compare with errors.Is.
var (
	// ErrInvalidJob reports a job that cannot be recorded: a zero ID, no command, no
	// output, a path that is not absolute and clean, or a path listed twice.
	ErrInvalidJob = errors.New("lineage: invalid job")
	// ErrDuplicateID reports a job ID already in the graph.
	ErrDuplicateID = errors.New("lineage: job ID already recorded")
	// ErrOutputTaken reports an output that another recorded job already produces.
	ErrOutputTaken = errors.New("lineage: output is produced by another job")
	// ErrOutputIsInput reports a job that would write one of its own inputs (an output
	// equal to an input, or inside an input directory).
	ErrOutputIsInput = errors.New("lineage: output is also an input")
	// ErrCycle reports a job whose inputs depend on its own outputs.
	ErrCycle = errors.New("lineage: cycle")
	// ErrNotFound reports an unknown job ID.
	ErrNotFound = errors.New("lineage: job not found")
	// ErrHasDependents reports a removal, without cascade, of a job whose outputs other
	// jobs read.
	ErrHasDependents = errors.New("lineage: job has dependents")
)

// State is a job's life-cycle state. The zero value is StatePending. The master maps it
// to and from the wire's JobState.
type State uint8

// Job states.
const (
	// StatePending: recorded, its run not yet confirmed by the framework scheduler.
	StatePending State = iota
	// StateRunning: a run (first or recompute) is in progress.
	StateRunning
	// StateCompleted: the last run exited 0 and left every output complete.
	StateCompleted
	// StateFailed: the last run failed, was lost, or left an output incomplete.
	StateFailed
	// StateKilled: killed on request.
	StateKilled
)

var stateNames = [...]string{"pending", "running", "completed", "failed", "killed"}

// String returns the lower-case name of s ("completed").
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Valid reports whether s is one of the declared states.
func (s State) Valid() bool { return int(s) < len(stateNames) }

// Job is one lineage record: how a set of output files was made.
//
// Inputs may name files or directories: a job that reads a directory depends on every
// recorded output inside it. Outputs name files. All paths are absolute and clean
// (path.Clean(p) == p), like the master's namespace paths.
type Job struct {
	// ID is assigned by the master; it is never 0.
	ID uint64 `json:"id"`
	// Name is a human name, not necessarily unique.
	Name string `json:"name,omitempty"`
	// Command is the argv that made the outputs and that a recompute runs again.
	Command []string `json:"cmd"`
	// Inputs are the paths the job reads.
	Inputs []string `json:"in,omitempty"`
	// Outputs are the files the job writes; at least one.
	Outputs []string `json:"out"`
	// Priority orders launches and checkpoints; higher first.
	Priority int `json:"prio,omitempty"`
	// CPU is the number of cores to reserve; 0 means the backend's default.
	CPU float64 `json:"cpu,omitempty"`
	// MemMB is the memory to reserve in MiB; 0 means the backend's default.
	MemMB int64 `json:"mem,omitempty"`
	// SubmitTime is when the job was submitted.
	SubmitTime time.Time `json:"submit"`
	// RunTime is the duration of the last successful run: the cost of a recompute.
	RunTime time.Duration `json:"run,omitempty"`
	// State is the job's life-cycle state.
	State State `json:"state,omitempty"`
}

// Clone returns a deep copy of j, so that callers never share slices with the graph.
// Empty slices become nil.
func (j Job) Clone() Job {
	j.Command = cloneStrings(j.Command)
	j.Inputs = cloneStrings(j.Inputs)
	j.Outputs = cloneStrings(j.Outputs)
	return j
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// Label is the job's short human form: `job 7 "wordcount"`, or `job 7` without a name.
func (j Job) Label() string {
	if j.Name == "" {
		return fmt.Sprintf("job %d", j.ID)
	}
	return fmt.Sprintf("job %d %q", j.ID, j.Name)
}

// ValidPath reports whether p is an absolute, clean path as the graph expects.
func ValidPath(p string) bool {
	return len(p) > 0 && p[0] == '/' && path.Clean(p) == p
}

// covers reports whether reading input dir-or-file in reads p: p is in itself or below it.
func covers(in, p string) bool {
	if in == p {
		return true
	}
	if in == "/" {
		return true
	}
	return len(p) > len(in) && p[len(in)] == '/' && p[:len(in)] == in
}

// validate checks the job on its own, without the graph.
func (j Job) validate() error {
	switch {
	case j.ID == 0:
		return fmt.Errorf("job ID 0: %w", ErrInvalidJob)
	case len(j.Command) == 0:
		return fmt.Errorf("job %d: no command: %w", j.ID, ErrInvalidJob)
	case len(j.Outputs) == 0:
		return fmt.Errorf("job %d: no output: %w", j.ID, ErrInvalidJob)
	case !j.State.Valid():
		return fmt.Errorf("job %d: %v: %w", j.ID, j.State, ErrInvalidJob)
	case j.RunTime < 0:
		return fmt.Errorf("job %d: negative run time: %w", j.ID, ErrInvalidJob)
	}
	seen := make(map[string]bool, len(j.Inputs)+len(j.Outputs))
	for _, list := range [][]string{j.Inputs, j.Outputs} {
		for _, p := range list {
			if !ValidPath(p) {
				return fmt.Errorf("job %d: path %q is not absolute and clean: %w", j.ID, p, ErrInvalidJob)
			}
			if seen[p] {
				if slices.Contains(j.Inputs, p) && slices.Contains(j.Outputs, p) {
					return fmt.Errorf("job %d: %s: %w", j.ID, p, ErrOutputIsInput)
				}
				return fmt.Errorf("job %d: path %s listed twice: %w", j.ID, p, ErrInvalidJob)
			}
			seen[p] = true
		}
	}
	for _, out := range j.Outputs {
		if out == "/" {
			return fmt.Errorf("job %d: output /: %w", j.ID, ErrInvalidJob)
		}
		for _, in := range j.Inputs {
			if covers(in, out) {
				return fmt.Errorf("job %d: output %s is inside input %s: %w", j.ID, out, in, ErrOutputIsInput)
			}
		}
	}
	return nil
}
