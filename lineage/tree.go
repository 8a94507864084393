package lineage

import "slices"

// Node is one job in a lineage tree. In an ancestor tree a node's Children are the jobs
// it depends on; in a descendant tree they are the jobs that depend on it. A DAG shared
// below two branches is expanded once: later occurrences are marked Repeated and carry no
// Children, which keeps trees linear in the size of the graph.
type Node struct {
	// Job is a copy of the job.
	Job Job
	// Via are the files linking Job to the node above it (or to the view's focus): in an
	// ancestor tree the outputs of Job read by the job above, in a descendant tree the
	// files of the job above (or the focus file) that Job reads. Sorted.
	Via []string
	// Children are the next level of the tree, by job ID.
	Children []*Node
	// Repeated marks a job already expanded elsewhere in the same view.
	Repeated bool
	// Truncated marks a job whose further relatives were cut by the depth bound.
	Truncated bool
}

// View is what `sluice lineage show` prints about a file or a job: the job that made it,
// the tree of jobs it depends on, and the tree of jobs depending on it.
type View struct {
	// Path is the file in focus; empty when the view is about a job.
	Path string
	// Job is the producer of Path, or the job in focus; nil when Path has no lineage.
	Job *Job
	// Ancestors are the trees of the jobs Job depends on.
	Ancestors []*Node
	// Descendants are the trees of the jobs reading Path (for a file view) or Job's
	// outputs (for a job view).
	Descendants []*Node
}

// ShowPath returns the view of file p, walking at most maxDepth levels each way
// (0: unbounded). A path with no producer has no Job and no Ancestors but may still have
// readers.
func (g *Graph) ShowPath(p string, maxDepth int) View {
	v := View{Path: p}
	var top []uint64
	if id, ok := g.producer[p]; ok {
		j := g.jobs[id].Clone()
		v.Job = &j
		top = []uint64{id}
	}
	v.Ancestors = g.trees(top, g.parents, maxDepth, true)
	readers := g.consumerIDs(p)
	v.Descendants = g.rootNodes(readers, []string{p}, g.children, maxDepth, false)
	return v
}

// ShowJob returns the view of job id, walking at most maxDepth levels each way
// (0: unbounded).
func (g *Graph) ShowJob(id uint64, maxDepth int) (View, bool) {
	j, ok := g.jobs[id]
	if !ok {
		return View{}, false
	}
	c := j.Clone()
	v := View{Job: &c}
	v.Ancestors = g.trees([]uint64{id}, g.parents, maxDepth, true)
	v.Descendants = g.trees([]uint64{id}, g.children, maxDepth, false)
	return v, true
}

// trees returns the children trees of each of the focus jobs (not the focus jobs
// themselves), merged: for an ancestor view the parents of the producer.
func (g *Graph) trees(focus []uint64, next map[uint64][]uint64, maxDepth int, up bool) []*Node {
	w := &treeWalk{g: g, next: next, maxDepth: maxDepth, up: up, seen: map[uint64]bool{}}
	var out []*Node
	for _, f := range focus {
		w.seen[f] = true
		for _, n := range next[f] {
			out = append(out, w.node(f, n, 1))
		}
	}
	return out
}

// rootNodes builds trees rooted at ids, linked to the focus by the files in focus.
func (g *Graph) rootNodes(ids []uint64, focus []string, next map[uint64][]uint64, maxDepth int, up bool) []*Node {
	w := &treeWalk{g: g, next: next, maxDepth: maxDepth, up: up, seen: map[uint64]bool{}}
	var out []*Node
	for _, id := range ids {
		n := w.expand(id, focus, 1)
		out = append(out, n)
	}
	return out
}

// treeWalk carries the state of one tree construction.
type treeWalk struct {
	g        *Graph
	next     map[uint64][]uint64
	maxDepth int
	up       bool
	seen     map[uint64]bool
}

// node builds the node of job id reached from job from at the given depth.
func (w *treeWalk) node(from, id uint64, depth int) *Node {
	var via []string
	if w.up {
		via = w.g.linkFiles(id, from)
	} else {
		via = w.g.linkFiles(from, id)
	}
	return w.expand(id, via, depth)
}

func (w *treeWalk) expand(id uint64, via []string, depth int) *Node {
	n := &Node{Job: w.g.jobs[id].Clone(), Via: via}
	if w.seen[id] {
		n.Repeated = true
		return n
	}
	w.seen[id] = true
	next := w.next[id]
	if w.maxDepth > 0 && depth >= w.maxDepth {
		n.Truncated = len(next) > 0
		return n
	}
	for _, c := range next {
		n.Children = append(n.Children, w.node(id, c, depth+1))
	}
	return n
}

// linkFiles returns the outputs of producer that consumer reads, sorted.
func (g *Graph) linkFiles(producer, consumer uint64) []string {
	var files []string
	for _, in := range g.jobs[consumer].Inputs {
		for _, p := range g.outputsUnder(in) {
			if g.producer[p] == producer {
				files = append(files, p)
			}
		}
	}
	slices.Sort(files)
	return slices.Compact(files)
}
