package lineage

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Graph is the lineage graph: jobs connected by the files one writes and another reads.
// Job B depends on job A (A is B's parent) when an input of B equals or contains an
// output of A. The graph is always acyclic.
//
// A Graph is not safe for concurrent use: the master guards it with its state lock.
// Every method that returns jobs returns copies, in a deterministic order (job IDs
// ascending unless the method says topological), so that replaying the same journal
// yields the same answers.
type Graph struct {
	// jobs holds the records by ID.
	jobs map[uint64]*Job
	// producer maps each output file to the job that writes it.
	producer map[string]uint64
	// outputs are the keys of producer, sorted, so that the outputs inside a directory
	// are one contiguous range.
	outputs []string
	// readers maps each input path (file or directory) to the jobs reading it, sorted.
	readers map[string][]uint64
	// parents and children are the adjacency, kept up to date by insert and Remove;
	// each list is sorted.
	parents  map[uint64][]uint64
	children map[uint64][]uint64
	// order caches every job ID in topological order, parents first, ties by smaller
	// ID; nil after any change, rebuilt on demand.
	order []uint64
}

// New returns an empty graph.
func New() *Graph {
	return &Graph{
		jobs:     make(map[uint64]*Job),
		producer: make(map[string]uint64),
		readers:  make(map[string][]uint64),
		parents:  make(map[uint64][]uint64),
		children: make(map[uint64][]uint64),
	}
}

// Len returns the number of recorded jobs.
func (g *Graph) Len() int { return len(g.jobs) }

// Add records job j. It refuses, with an error wrapping the matching sentinel, a job
// that is invalid (ErrInvalidJob), an ID already recorded (ErrDuplicateID), an output that
// another recorded job produces (ErrOutputTaken), an output that is also an input
// (ErrOutputIsInput), and a job that would close a cycle (ErrCycle): one whose inputs are
// produced, directly or transitively, by a job that reads its outputs. A refused job
// leaves the graph unchanged.
func (g *Graph) Add(j Job) error {
	parents, children, err := g.links(j)
	if err != nil {
		return err
	}
	g.insert(j, parents, children)
	return nil
}

// Check reports the error Add would return for j, changing nothing. A caller that must
// apply several changes atomically (the master's journal) checks first and adds last,
// where Add can no longer fail.
func (g *Graph) Check(j Job) error {
	_, _, err := g.links(j)
	return err
}

// links checks j and returns the jobs it would depend on and the jobs that would depend
// on it.
func (g *Graph) links(j Job) (parents, children []uint64, err error) {
	if err := g.check(j); err != nil {
		return nil, nil, err
	}
	parents = g.parentsOf(&j)
	children = g.childrenOf(&j)
	if len(parents) > 0 && len(children) > 0 {
		// A cycle needs a path child ⇝ parent in the existing (acyclic) graph.
		isParent := make(map[uint64]bool, len(parents))
		for _, p := range parents {
			isParent[p] = true
		}
		seen := make(map[uint64]bool)
		stack := slices.Clone(children)
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[c] {
				continue
			}
			seen[c] = true
			if isParent[c] {
				return nil, nil, fmt.Errorf("job %d would read outputs of job %d, which depends on its own outputs: %w", j.ID, c, ErrCycle)
			}
			stack = append(stack, g.children[c]...)
		}
	}
	return parents, children, nil
}

// check validates j against itself and the recorded jobs, without the cycle test.
func (g *Graph) check(j Job) error {
	if err := j.validate(); err != nil {
		return err
	}
	if _, ok := g.jobs[j.ID]; ok {
		return fmt.Errorf("job %d: %w", j.ID, ErrDuplicateID)
	}
	for _, out := range j.Outputs {
		if other, ok := g.producer[out]; ok {
			return fmt.Errorf("job %d: output %s belongs to job %d: %w", j.ID, out, other, ErrOutputTaken)
		}
	}
	return nil
}

// insert records a checked job with its parents and children.
func (g *Graph) insert(j Job, parents, children []uint64) {
	j = j.Clone()
	g.jobs[j.ID] = &j
	for _, out := range j.Outputs {
		g.producer[out] = j.ID
		i, _ := slices.BinarySearch(g.outputs, out)
		g.outputs = slices.Insert(g.outputs, i, out)
	}
	for _, in := range j.Inputs {
		g.readers[in] = insertID(g.readers[in], j.ID)
	}
	g.parents[j.ID], g.children[j.ID] = parents, children
	for _, p := range parents {
		g.children[p] = insertID(g.children[p], j.ID)
	}
	for _, c := range children {
		g.parents[c] = insertID(g.parents[c], j.ID)
	}
	g.order = nil
}

// insertID adds id to the sorted list ids.
func insertID(ids []uint64, id uint64) []uint64 {
	i, found := slices.BinarySearch(ids, id)
	if found {
		return ids
	}
	return slices.Insert(ids, i, id)
}

// removeID deletes id from the sorted list ids.
func removeID(ids []uint64, id uint64) []uint64 {
	if i, found := slices.BinarySearch(ids, id); found {
		return slices.Delete(ids, i, i+1)
	}
	return ids
}

// Remove forgets job id. Without cascade it fails with ErrHasDependents when other jobs
// read its outputs; with cascade it also forgets every descendant. It returns the removed
// IDs in topological order (id first, descendants last). Output files are not the graph's
// business: they stay, but lose the protection of their lineage.
func (g *Graph) Remove(id uint64, cascade bool) ([]uint64, error) {
	if _, ok := g.jobs[id]; !ok {
		return nil, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if kids := g.children[id]; len(kids) > 0 && !cascade {
		return nil, fmt.Errorf("job %d is read by job %d: %w", id, kids[0], ErrHasDependents)
	}
	ids := g.closure([]uint64{id}, g.children, 0)
	for _, d := range ids {
		for _, p := range g.parents[d] {
			g.children[p] = removeID(g.children[p], d)
		}
		for _, c := range g.children[d] {
			g.parents[c] = removeID(g.parents[c], d)
		}
		delete(g.parents, d)
		delete(g.children, d)
		j := g.jobs[d]
		for _, out := range j.Outputs {
			delete(g.producer, out)
			if i, ok := slices.BinarySearch(g.outputs, out); ok {
				g.outputs = slices.Delete(g.outputs, i, i+1)
			}
		}
		for _, in := range j.Inputs {
			rs := slices.DeleteFunc(g.readers[in], func(r uint64) bool { return r == d })
			if len(rs) == 0 {
				delete(g.readers, in)
			} else {
				g.readers[in] = rs
			}
		}
		delete(g.jobs, d)
	}
	g.order = nil
	return ids, nil
}

// SetState records a job's new state.
func (g *Graph) SetState(id uint64, s State) error {
	j, ok := g.jobs[id]
	if !ok {
		return fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if !s.Valid() {
		return fmt.Errorf("job %d: %v: %w", id, s, ErrInvalidJob)
	}
	j.State = s
	return nil
}

// SetRunTime records the duration of a job's last successful run.
func (g *Graph) SetRunTime(id uint64, d time.Duration) error {
	j, ok := g.jobs[id]
	if !ok {
		return fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if d < 0 {
		return fmt.Errorf("job %d: negative run time: %w", id, ErrInvalidJob)
	}
	j.RunTime = d
	return nil
}

// Job returns a copy of job id.
func (g *Graph) Job(id uint64) (Job, bool) {
	j, ok := g.jobs[id]
	if !ok {
		return Job{}, false
	}
	return j.Clone(), true
}

// Jobs returns copies of every job, by ID ascending.
func (g *Graph) Jobs() []Job {
	out := make([]Job, 0, len(g.jobs))
	for _, j := range g.jobs {
		out = append(out, j.Clone())
	}
	slices.SortFunc(out, func(a, b Job) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Topological returns every job ID in topological order: a job comes after every job it
// depends on; among independent jobs the smaller ID comes first.
func (g *Graph) Topological() []uint64 { return slices.Clone(g.topo()) }

// Producer returns the job that writes file p.
func (g *Graph) Producer(p string) (Job, bool) {
	id, ok := g.producer[p]
	if !ok {
		return Job{}, false
	}
	return g.jobs[id].Clone(), true
}

// ProducerID returns the ID of the job that writes file p, or 0.
func (g *Graph) ProducerID(p string) uint64 { return g.producer[p] }

// Consumers returns the jobs that read p, because an input equals p or is a directory
// containing it, by ID ascending.
func (g *Graph) Consumers(p string) []Job {
	ids := g.consumerIDs(p)
	out := make([]Job, len(ids))
	for i, id := range ids {
		out[i] = g.jobs[id].Clone()
	}
	return out
}

// consumerIDs returns the sorted IDs of the jobs reading p.
func (g *Graph) consumerIDs(p string) []uint64 {
	var ids []uint64
	for d := p; ; {
		ids = append(ids, g.readers[d]...)
		if d == "/" || d == "" {
			break
		}
		i := strings.LastIndexByte(d, '/')
		if i == 0 {
			d = "/"
		} else {
			d = d[:i]
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Parents returns the IDs of the jobs that id depends on, ascending.
func (g *Graph) Parents(id uint64) []uint64 { return slices.Clone(g.parents[id]) }

// Children returns the IDs of the jobs that depend on id, ascending.
func (g *Graph) Children(id uint64) []uint64 { return slices.Clone(g.children[id]) }

// Reads splits what job id reads into the recorded outputs of other jobs that its inputs
// name or contain (produced, sorted), and the inputs that are not a recorded output
// themselves (plain, in submission order): plain files, and directories, which may hold
// both plain files and produced ones.
func (g *Graph) Reads(id uint64) (produced, plain []string) {
	j, ok := g.jobs[id]
	if !ok {
		return nil, nil
	}
	for _, in := range j.Inputs {
		if _, ok := g.producer[in]; !ok {
			plain = append(plain, in)
		}
		produced = append(produced, g.outputsUnder(in)...)
	}
	slices.Sort(produced)
	return slices.Compact(produced), plain
}

// outputsUnder returns the recorded outputs that input in names or contains, sorted.
func (g *Graph) outputsUnder(in string) []string {
	var out []string
	if _, ok := g.producer[in]; ok {
		out = append(out, in)
	}
	prefix := in + "/"
	if in == "/" {
		prefix = "/"
	}
	for i := sort.SearchStrings(g.outputs, prefix); i < len(g.outputs) && strings.HasPrefix(g.outputs[i], prefix); i++ {
		out = append(out, g.outputs[i])
	}
	return out
}

// parentsOf returns the sorted producers of what j reads, j itself excluded.
func (g *Graph) parentsOf(j *Job) []uint64 {
	var ids []uint64
	for _, in := range j.Inputs {
		for _, p := range g.outputsUnder(in) {
			if id := g.producer[p]; id != j.ID {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// childrenOf returns the sorted readers of j's outputs, j itself excluded.
func (g *Graph) childrenOf(j *Job) []uint64 {
	var ids []uint64
	for _, out := range j.Outputs {
		ids = append(ids, g.consumerIDs(out)...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return slices.DeleteFunc(ids, func(id uint64) bool { return id == j.ID })
}

// topo returns the cached topological order of every job, building it when the graph
// changed. On a graph with a cycle (only a Restore candidate can have one) the jobs on
// and below the cycle are missing.
func (g *Graph) topo() []uint64 {
	if g.order == nil {
		ids := make([]uint64, 0, len(g.jobs))
		for id := range g.jobs {
			ids = append(ids, id)
		}
		g.order = g.kahn(ids, func(uint64) bool { return true })
	}
	return g.order
}

// kahn orders ids topologically along the adjacency restricted to the jobs for which in
// is true, smaller IDs first among the ready ones.
func (g *Graph) kahn(ids []uint64, in func(uint64) bool) []uint64 {
	indeg := make(map[uint64]int, len(ids))
	h := &idHeap{}
	for _, id := range ids {
		n := 0
		for _, p := range g.parents[id] {
			if in(p) {
				n++
			}
		}
		indeg[id] = n
		if n == 0 {
			*h = append(*h, id)
		}
	}
	heap.Init(h)
	order := make([]uint64, 0, len(ids))
	for h.Len() > 0 {
		id := heap.Pop(h).(uint64)
		order = append(order, id)
		for _, c := range g.children[id] {
			if _, ok := indeg[c]; ok && in(c) {
				if indeg[c]--; indeg[c] == 0 {
					heap.Push(h, c)
				}
			}
		}
	}
	return order
}

// closure returns the given IDs and everything reachable from them along next, up to
// maxDepth steps (0: unbounded), in topological order.
func (g *Graph) closure(from []uint64, next map[uint64][]uint64, maxDepth int) []uint64 {
	depth := make(map[uint64]int, len(from))
	queue := make([]uint64, 0, len(from))
	for _, id := range from {
		if _, ok := depth[id]; !ok {
			depth[id] = 0
			queue = append(queue, id)
		}
	}
	for i := 0; i < len(queue); i++ {
		id := queue[i]
		if maxDepth > 0 && depth[id] >= maxDepth {
			continue
		}
		for _, n := range next[id] {
			if _, ok := depth[n]; !ok {
				depth[n] = depth[id] + 1
				queue = append(queue, n)
			}
		}
	}
	return g.kahn(queue, func(id uint64) bool { _, ok := depth[id]; return ok })
}

// AncestorJobs returns the jobs that id depends on, transitively, up to maxDepth levels
// (0: unbounded), in topological order (inputs first); id itself is not included.
func (g *Graph) AncestorJobs(id uint64, maxDepth int) []Job {
	return g.relatives(id, g.parents, maxDepth)
}

// DescendantJobs returns the jobs that depend on id, transitively, up to maxDepth levels
// (0: unbounded), in topological order; id itself is not included.
func (g *Graph) DescendantJobs(id uint64, maxDepth int) []Job {
	return g.relatives(id, g.children, maxDepth)
}

func (g *Graph) relatives(id uint64, next map[uint64][]uint64, maxDepth int) []Job {
	if _, ok := g.jobs[id]; !ok {
		return nil
	}
	var out []Job
	for _, r := range g.closure([]uint64{id}, next, maxDepth) {
		if r != id {
			out = append(out, g.jobs[r].Clone())
		}
	}
	return out
}

// idHeap is a min-heap of job IDs.
type idHeap []uint64

func (h idHeap) Len() int           { return len(h) }
func (h idHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h idHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
func (h *idHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
