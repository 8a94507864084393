package lineage

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// FileFacts is what the checkpoint planner needs to know about one file. The master
// fills it from its namespace and block map.
type FileFacts struct {
	// Path is the file's absolute path; ID is its file ID, passed through untouched.
	Path string
	ID   uint64
	// Size is the file's length in bytes.
	Size int64
	// Complete tells that the file is complete and every block has a copy, so a persist
	// task can read it. Incomplete and LOST files are never scheduled.
	Complete bool
	// Persisted tells that the UFS holds a complete copy.
	Persisted bool
	// InFlight tells that a persist task for the file runs now.
	InFlight bool
	// Accesses counts reads of the file since it completed: its hotness.
	Accesses int64
	// CompletedAt is when the file completed; older files go first among equals.
	CompletedAt time.Time
}

// safe reports whether the file is, or is being, checkpointed.
func (f FileFacts) safe() bool { return f.Persisted || f.InFlight }

// Reason says why the planner picked a file, which is also its class: classes go in the
// order declared here.
type Reason uint8

// Reasons, most urgent first.
const (
	// ReasonUnprotected: no recorded job produced the file, so nothing could rebuild it
	// (an ASYNC_THROUGH write); it goes before any lineage output.
	ReasonUnprotected Reason = iota + 1
	// ReasonLeaf: a leaf of the lineage graph, an output no recorded job reads yet — the
	// edge of the graph that the Edge algorithm checkpoints first.
	ReasonLeaf
	// ReasonDeep: an intermediate output sitting at the bottom of a chain of
	// un-checkpointed jobs longer than EdgeConfig.MaxUncheckpointedDepth; persisting it
	// cuts the chain so recovery stays bounded.
	ReasonDeep
	// ReasonHot: an intermediate output read at least EdgeConfig.HotAccesses times.
	ReasonHot
	// ReasonCold: any other intermediate output; it goes last.
	ReasonCold
)

var reasonNames = [...]string{"", "unprotected", "leaf", "deep", "hot", "cold"}

// String returns the lower-case name of r ("leaf").
func (r Reason) String() string {
	if int(r) < len(reasonNames) && r != 0 {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Candidate is a file the planner wants checkpointed.
type Candidate struct {
	// Path, ID and Size come from the file's facts.
	Path string
	ID   uint64
	Size int64
	// JobID is the producing job, 0 for unprotected files.
	JobID uint64
	// Priority is the producing job's priority (0 for unprotected files).
	Priority int
	// Reason is the file's class.
	Reason Reason
}

// ErrInvalidConfig reports an EdgeConfig that fails Validate.
var ErrInvalidConfig = errors.New("lineage: invalid config")

// EdgeConfig bounds the checkpoint queue.
type EdgeConfig struct {
	// MaxInFlight bounds the files being persisted at once, those already in flight
	// included. At least 1.
	MaxInFlight int
	// MaxBytesInFlight bounds the bytes being persisted at once, those already in flight
	// included. A single file larger than the bound is still scheduled when nothing else
	// is in flight, so that large files are not starved. At least 1.
	MaxBytesInFlight int64
	// MaxUncheckpointedDepth bounds the chain of jobs a recovery may have to rerun one
	// after another: when a job would sit below more un-checkpointed ancestors, the
	// planner picks the files that cut the chain (ReasonDeep). At least 1.
	MaxUncheckpointedDepth int
	// HotAccesses is the access count from which an intermediate file is hot. The paper
	// uses 2. At least 1.
	HotAccesses int64
}

// DefaultEdgeConfig returns the defaults: 4 files and 1 GiB in flight, chains of at most
// 3 un-checkpointed jobs, hot from 2 reads.
func DefaultEdgeConfig() EdgeConfig {
	return EdgeConfig{MaxInFlight: 4, MaxBytesInFlight: 1 << 30, MaxUncheckpointedDepth: 3, HotAccesses: 2}
}

// Validate reports a field out of range, wrapping ErrInvalidConfig.
func (c EdgeConfig) Validate() error {
	switch {
	case c.MaxInFlight < 1:
		return fmt.Errorf("edge: max in flight %d < 1: %w", c.MaxInFlight, ErrInvalidConfig)
	case c.MaxBytesInFlight < 1:
		return fmt.Errorf("edge: max bytes in flight %d < 1: %w", c.MaxBytesInFlight, ErrInvalidConfig)
	case c.MaxUncheckpointedDepth < 1:
		return fmt.Errorf("edge: max un-checkpointed depth %d < 1: %w", c.MaxUncheckpointedDepth, ErrInvalidConfig)
	case c.HotAccesses < 1:
		return fmt.Errorf("edge: hot accesses %d < 1: %w", c.HotAccesses, ErrInvalidConfig)
	}
	return nil
}

// withDefaults replaces fields below 1 with their defaults.
func (c EdgeConfig) withDefaults() EdgeConfig {
	d := DefaultEdgeConfig()
	if c.MaxInFlight < 1 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.MaxBytesInFlight < 1 {
		c.MaxBytesInFlight = d.MaxBytesInFlight
	}
	if c.MaxUncheckpointedDepth < 1 {
		c.MaxUncheckpointedDepth = d.MaxUncheckpointedDepth
	}
	if c.HotAccesses < 1 {
		c.HotAccesses = d.HotAccesses
	}
	return c
}

// RankCheckpoints orders every file of files that could be checkpointed now (complete,
// neither persisted nor in flight) by the Edge algorithm: by Reason class, then by the
// producing job's priority (higher first), then by accesses (more first), then oldest
// CompletedAt first (so that nothing waits forever within its class), then by path.
// A lineage output missing from files counts as not checkpointed and is never ranked.
// Only cfg.MaxUncheckpointedDepth and cfg.HotAccesses are used here; fields below 1
// take their DefaultEdgeConfig values.
func (g *Graph) RankCheckpoints(files []FileFacts, cfg EdgeConfig) []Candidate {
	cfg = cfg.withDefaults()
	facts := make(map[string]FileFacts, len(files))
	for _, f := range files {
		facts[f.Path] = f
	}
	deep := g.deepFiles(facts, cfg.MaxUncheckpointedDepth)
	type ranked struct {
		c        Candidate
		accesses int64
		at       time.Time
	}
	var rs []ranked
	for _, f := range files {
		if !f.Complete || f.safe() {
			continue
		}
		c := Candidate{Path: f.Path, ID: f.ID, Size: f.Size}
		id, ok := g.producer[f.Path]
		switch {
		case !ok:
			c.Reason = ReasonUnprotected
		case len(g.consumerIDs(f.Path)) == 0:
			c.Reason = ReasonLeaf
		case deep[f.Path]:
			c.Reason = ReasonDeep
		case f.Accesses >= cfg.HotAccesses:
			c.Reason = ReasonHot
		default:
			c.Reason = ReasonCold
		}
		if ok {
			c.JobID, c.Priority = id, g.jobs[id].Priority
		}
		rs = append(rs, ranked{c: c, accesses: f.Accesses, at: f.CompletedAt})
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		return cmp.Or(
			cmp.Compare(a.c.Reason, b.c.Reason),
			cmp.Compare(b.c.Priority, a.c.Priority),
			cmp.Compare(b.accesses, a.accesses),
			a.at.Compare(b.at),
			cmp.Compare(a.c.Path, b.c.Path),
		)
	})
	out := make([]Candidate, len(rs))
	for i, r := range rs {
		out[i] = r.c
	}
	return out
}

// PlanCheckpoints returns the files to start persisting now: the head of RankCheckpoints
// that fits beside what is already in flight, within cfg.MaxInFlight files and
// cfg.MaxBytesInFlight bytes. It stops at the first file that does not fit rather than
// skipping it, so a large file is not overtaken forever by small ones; such a file goes
// alone once nothing else is in flight. Fields of cfg below 1 take their
// DefaultEdgeConfig values.
func (g *Graph) PlanCheckpoints(files []FileFacts, cfg EdgeConfig) []Candidate {
	cfg = cfg.withDefaults()
	slots, budget := cfg.MaxInFlight, cfg.MaxBytesInFlight
	for _, f := range files {
		if f.InFlight && !f.Persisted {
			slots--
			budget -= f.Size
		}
	}
	var out []Candidate
	for _, c := range g.RankCheckpoints(files, cfg) {
		if slots <= 0 {
			break
		}
		if c.Size > budget {
			if slots < cfg.MaxInFlight || len(out) > 0 {
				break
			}
			out = append(out, c)
			break
		}
		out = append(out, c)
		slots--
		budget -= c.Size
	}
	return out
}

// deepFiles returns the intermediate files to checkpoint so that no job sits below more
// than maxDepth un-checkpointed jobs. Walking jobs in topological order, a job's depth is
// 1 plus the largest depth of the parents it reads un-checkpointed files from; when that
// exceeds maxDepth, the complete un-checkpointed files read from parents at depth
// maxDepth are picked and count as checkpointed from then on. The choice is greedy, and
// a file that cannot be picked yet (incomplete) leaves the chain long until it can.
func (g *Graph) deepFiles(facts map[string]FileFacts, maxDepth int) map[string]bool {
	depth := make(map[uint64]int, len(g.jobs))
	picked := make(map[string]bool)
	safe := func(p string) bool { f, ok := facts[p]; return picked[p] || (ok && f.safe()) }
	for _, id := range g.topo() {
		produced, _ := g.Reads(id)
		d := 1
		for _, p := range produced {
			if !safe(p) {
				d = max(d, depth[g.producer[p]]+1)
			}
		}
		if d > maxDepth {
			d = 1
			for _, p := range produced {
				if safe(p) {
					continue
				}
				pd := depth[g.producer[p]]
				if f, ok := facts[p]; ok && f.Complete && pd >= maxDepth {
					picked[p] = true
					continue
				}
				d = max(d, pd+1)
			}
		}
		depth[id] = d
	}
	return picked
}
