package lineage

import (
	"math/bits"
	"slices"
	"time"
)

// Collectable returns the completed jobs whose lineage is no longer needed: every output
// of the job and of each of its descendants is checkpointed. checkpointed reports whether
// a file has a complete UFS copy. The answer is in reverse topological order (descendants
// first), so removing the jobs one by one without cascade never meets ErrHasDependents:
// the set is closed under descendants.
//
// A job that is not COMPLETED is never collected: its outputs are still being made, or
// its record explains a failure.
func (g *Graph) Collectable(checkpointed func(path string) bool) []uint64 {
	order := g.topo()
	// ok[id]: id and all its descendants are completed and fully checkpointed. Walking
	// the order backwards visits children before parents.
	ok := make(map[uint64]bool, len(g.jobs))
	var out []uint64
	for i := len(order) - 1; i >= 0; i-- {
		id := order[i]
		j := g.jobs[id]
		good := j.State == StateCompleted
		for _, o := range j.Outputs {
			if !good {
				break
			}
			good = checkpointed(o)
		}
		for _, c := range g.children[id] {
			if !good {
				break
			}
			good = ok[c]
		}
		if good {
			ok[id] = true
			out = append(out, id)
		}
	}
	return out
}

// Protected reports whether file p must keep its blocks in memory in preference to
// others: it is the output of a recorded job and has no UFS copy, so losing its blocks
// means a recompute. The executor's evictor takes blocks of unprotected files first.
func (g *Graph) Protected(p string, persisted func(path string) bool) bool {
	_, ok := g.producer[p]
	return ok && !persisted(p)
}

// ProtectedOutputs returns every protected file (see Protected), sorted.
func (g *Graph) ProtectedOutputs(persisted func(path string) bool) []string {
	var out []string
	for _, p := range g.outputs {
		if !persisted(p) {
			out = append(out, p)
		}
	}
	return out
}

// JobCost is a job that a loss would make run again.
type JobCost struct {
	// ID and Name identify the job.
	ID   uint64
	Name string
	// RunTime is the recorded duration of its last successful run.
	RunTime time.Duration
	// Lost are its outputs that the loss takes, sorted.
	Lost []string
	// Depth is the number of exposed jobs that must run before it: its ancestors that
	// would rerun to rebuild the lost files it reads.
	Depth int
}

// Exposure returns the jobs that would have to run again if every file for which lost
// returns true disappeared, in topological order (inputs first). With lost reporting
// "not persisted" it answers `sluice checkpoint status`: what a loss of every executor
// now would cost. A job is exposed when one of its outputs is lost; rebuilding it needs
// the exposed producers of the lost files it reads, counted in Depth.
//
// Depth is computed with one bitset of exposed ancestors per exposed job, so time and
// memory grow as m²/64 words for m exposed jobs (12 MiB for 10,000).
func (g *Graph) Exposure(lost func(path string) bool) []JobCost {
	var out []JobCost
	slot := make(map[uint64]int) // exposed job → its index in out
	var anc [][]uint64           // per exposed job, the bitset of exposed jobs it needs
	for _, id := range g.topo() {
		j := g.jobs[id]
		var gone []string
		for _, o := range j.Outputs {
			if lost(o) {
				gone = append(gone, o)
			}
		}
		if len(gone) == 0 {
			continue
		}
		n := len(out)
		need := make([]uint64, n/64+1)
		produced, _ := g.Reads(id)
		for _, f := range produced {
			if k, exposed := slot[g.producer[f]]; exposed && lost(f) {
				need[k/64] |= 1 << (k % 64)
				for w, word := range anc[k] {
					need[w] |= word
				}
			}
		}
		depth := 0
		for _, w := range need {
			depth += bits.OnesCount64(w)
		}
		slot[id] = n
		anc = append(anc, need)
		slices.Sort(gone)
		out = append(out, JobCost{ID: id, Name: j.Name, RunTime: j.RunTime, Lost: gone, Depth: depth})
	}
	return out
}

// TotalRunTime sums the run times of costs: the serial cost of a recovery.
func TotalRunTime(costs []JobCost) time.Duration {
	var d time.Duration
	for _, c := range costs {
		d += c.RunTime
	}
	return d
}
