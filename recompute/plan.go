package recompute

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicedata/sluice/lineage"
)

// ErrNoLineage reports lost files that nothing can rebuild: they, or a file their
// producing jobs need, have neither a UFS copy nor a recorded producer.
var ErrNoLineage = errors.New("recompute: lost data without lineage")

// Step is one job to run again.
type Step struct {
	// Job is a copy of the job's lineage record.
	Job lineage.Job
	// Priority is the larger of the job's own priority and that of every job needing its
	// data: the steps after it in the plan and the pending or running jobs reading the
	// files it rebuilds. Launches carry it.
	Priority int
	// Rebuilds are the job's outputs that are not available, sorted: what the run
	// brings back. The run rewrites every output of the job.
	Rebuilds []string
	// After are the IDs of the earlier steps whose rebuilt files this job reads, sorted.
	After []uint64
}

// Unrecoverable is a requested lost file that no plan can bring back.
type Unrecoverable struct {
	// Path is the lost file.
	Path string
	// JobID is its producing job, 0 when it has no lineage.
	JobID uint64
	// Chain is the path of loss from Path down to its cause: Path, then each
	// unavailable input a producing job needs, ending with the file (or plain input
	// directory) that is unavailable and that no job produces.
	Chain []string
}

// Plan is the recovery of a set of lost files: the jobs to run again, inputs first, and
// the files nothing can rebuild.
type Plan struct {
	// Steps are in topological order: every unavailable file a step reads is rebuilt by
	// an earlier step. Each job appears at most once.
	Steps []Step
	// Unrecoverable lists the requested files that cannot be rebuilt, by path.
	Unrecoverable []Unrecoverable
}

// Err returns nil when every requested file can be rebuilt, and otherwise a
// *LostDataError (wrapping ErrNoLineage) naming the files. The Steps of a plan with
// unrecoverable files still rebuild everything else that was requested.
func (p Plan) Err() error {
	if len(p.Unrecoverable) == 0 {
		return nil
	}
	return &LostDataError{Files: slices.Clone(p.Unrecoverable)}
}

// LostDataError names lost files that cannot be rebuilt.
type LostDataError struct {
	Files []Unrecoverable
}

// Error lists each file with the chain that explains it.
func (e *LostDataError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d lost file(s) cannot be rebuilt:", len(e.Files))
	for i, f := range e.Files {
		if i > 0 {
			b.WriteString(";")
		}
		b.WriteString(" " + f.Path)
		if f.JobID != 0 {
			fmt.Fprintf(&b, " (job %d)", f.JobID)
		}
		if n := len(f.Chain); n > 1 {
			fmt.Fprintf(&b, " needs %s", strings.Join(f.Chain[1:], " ← "))
		}
	}
	b.WriteString(": " + ErrNoLineage.Error())
	return b.String()
}

// Unwrap returns ErrNoLineage.
func (e *LostDataError) Unwrap() error { return ErrNoLineage }

// NewPlan plans the recovery of the lost files from the lineage in g. available reports
// whether a path can be read now (a complete copy in memory or in the UFS); it is asked
// about every output involved and every plain input (see lineage.Graph.Reads) of the
// jobs involved. For a directory input it must say whether the files inside it that no
// job produces are readable; the produced ones are asked about one by one.
//
// Requested files that are available need nothing. For the others the planner finds the
// producing job, and recursively the producers of its unavailable inputs, and returns
// each job once in topological order. A file with no producer, or whose producer needs
// such a file, is reported as unrecoverable with the chain that explains it; the jobs
// that depend on it are left out, everything else is planned.
//
// NewPlan is a pure function of the graph and available, so after a master restart the
// recovery resumes by planning again from the files still LOST: jobs that finished
// before the restart have made their outputs available and drop out of the plan.
func NewPlan(g *lineage.Graph, lost []string, available func(path string) bool) Plan {
	pl := &planner{g: g, availableFn: available, avail: map[string]bool{}, files: map[string]*fileState{}, jobs: map[uint64]*jobState{}}
	var p Plan
	paths := slices.Clone(lost)
	slices.Sort(paths)
	// needed collects the jobs that rebuild a requested file, and then what they need:
	// a job resolved on the way to a job that turned out to be stuck is left out.
	needed := map[uint64]bool{}
	var stack []uint64
	for _, f := range slices.Compact(paths) {
		if chain := pl.file(f); chain != nil {
			p.Unrecoverable = append(p.Unrecoverable, Unrecoverable{Path: f, JobID: g.ProducerID(f), Chain: chain})
		} else if id := g.ProducerID(f); !pl.available(f) && !needed[id] {
			needed[id] = true
			stack = append(stack, id)
		}
	}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, a := range pl.jobs[id].after {
			if !needed[a] {
				needed[a] = true
				stack = append(stack, a)
			}
		}
	}
	// Steps in topological order, then priorities from the consumers down.
	index := map[uint64]int{}
	for _, id := range g.Topological() {
		js := pl.jobs[id]
		if !needed[id] {
			continue
		}
		index[id] = len(p.Steps)
		p.Steps = append(p.Steps, Step{Job: js.job, Priority: js.job.Priority, Rebuilds: js.rebuilds, After: js.after})
	}
	for i := len(p.Steps) - 1; i >= 0; i-- {
		s := &p.Steps[i]
		for _, f := range s.Rebuilds {
			for _, c := range g.Consumers(f) {
				if c.State == lineage.StatePending || c.State == lineage.StateRunning {
					s.Priority = max(s.Priority, c.Priority)
				}
			}
		}
		for _, a := range s.After {
			parent := &p.Steps[index[a]]
			parent.Priority = max(parent.Priority, s.Priority)
		}
	}
	return p
}

// planner memoizes the walk over files and jobs.
type planner struct {
	g           *lineage.Graph
	availableFn func(string) bool
	avail       map[string]bool
	files       map[string]*fileState
	jobs        map[uint64]*jobState
}

// available asks availableFn once per path.
func (pl *planner) available(p string) bool {
	a, ok := pl.avail[p]
	if !ok {
		a = pl.availableFn(p)
		pl.avail[p] = a
	}
	return a
}

type fileState struct {
	// chain is nil when the file is available or can be rebuilt.
	chain []string
}

type jobState struct {
	job      lineage.Job
	rebuilds []string
	after    []uint64
	// chain is nil when the job can run; otherwise the loss that stops it.
	chain []string
}

// file resolves one file: nil when it is available or can be rebuilt, else the chain of
// loss starting with it.
func (pl *planner) file(f string) []string {
	if fs, ok := pl.files[f]; ok {
		return fs.chain
	}
	fs := &fileState{}
	pl.files[f] = fs
	if pl.available(f) {
		return nil
	}
	id := pl.g.ProducerID(f)
	if id == 0 {
		fs.chain = []string{f}
		return fs.chain
	}
	if chain := pl.job(id); chain != nil {
		fs.chain = append([]string{f}, chain...)
	}
	return fs.chain
}

// job resolves a job that must run: nil when its inputs are available or can be
// rebuilt, else the chain of the first input that cannot.
func (pl *planner) job(id uint64) []string {
	if js, ok := pl.jobs[id]; ok {
		return js.chain
	}
	j, _ := pl.g.Job(id)
	js := &jobState{job: j}
	// The graph is acyclic, so the recursion below never comes back to id before it
	// returns; registering first keeps the memo honest all the same.
	pl.jobs[id] = js
	produced, plain := pl.g.Reads(id)
	for _, p := range plain {
		if !pl.available(p) {
			js.chain = []string{p}
			return js.chain
		}
	}
	var after []uint64
	for _, p := range produced {
		if chain := pl.file(p); chain != nil {
			js.chain = chain
			return js.chain
		}
		if !pl.available(p) {
			after = append(after, pl.g.ProducerID(p))
		}
	}
	slices.Sort(after)
	js.after = slices.Compact(after)
	for _, o := range j.Outputs {
		if !pl.available(o) {
			js.rebuilds = append(js.rebuilds, o)
		}
	}
	slices.Sort(js.rebuilds)
	return nil
}
