package lineage

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrBadSnapshot reports a snapshot that cannot be decoded or restored.
var ErrBadSnapshot = errors.New("lineage: bad snapshot")

// snapshotVersion is the version of the encoding that Encode writes.
const snapshotVersion = 1

// Snapshot is the serializable form of a graph: its jobs by ID. Everything else (the
// producer map, adjacency, order) is derived, so a snapshot is as compact as the jobs.
// The master may journal the Jobs through its own protobuf messages or use Encode.
type Snapshot struct {
	// Version is the encoding version; Encode writes 1.
	Version int `json:"v"`
	// Jobs are the recorded jobs, by ID ascending.
	Jobs []Job `json:"jobs"`
}

// Snapshot returns a deep copy of the graph's jobs.
func (g *Graph) Snapshot() Snapshot {
	return Snapshot{Version: snapshotVersion, Jobs: g.Jobs()}
}

// Restore builds a graph from jobs in any order. It applies the checks of Add to the
// whole set and wraps the failure in ErrBadSnapshot as well as the specific sentinel.
func Restore(s Snapshot) (*Graph, error) {
	g := New()
	for _, j := range s.Jobs {
		if err := g.check(j); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
		}
		// Each edge is found when the later of its two jobs goes in.
		g.insert(j, g.parentsOf(&j), g.childrenOf(&j))
	}
	if order := g.topo(); len(order) != len(g.jobs) {
		placed := make(map[uint64]bool, len(order))
		for _, id := range order {
			placed[id] = true
		}
		for _, j := range g.Jobs() {
			if !placed[j.ID] {
				return nil, fmt.Errorf("%w: job %d is on or below a cycle: %w", ErrBadSnapshot, j.ID, ErrCycle)
			}
		}
	}
	return g, nil
}

// Encode returns the snapshot as JSON.
func (s Snapshot) Encode() ([]byte, error) {
	s.Version = snapshotVersion
	return json.Marshal(s)
}

// Decode parses the output of Encode and restores the graph. Any malformed or
// inconsistent input yields an error wrapping ErrBadSnapshot, never a panic.
func Decode(b []byte) (*Graph, error) {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	if s.Version != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d", ErrBadSnapshot, s.Version)
	}
	return Restore(s)
}
