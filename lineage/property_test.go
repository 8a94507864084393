package lineage_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sluicedata/sluice/lineage"
	"github.com/sluicedata/sluice/lineage/lineagetest"
)

const propertyRounds = 300

// randomFacts draws the state of every output of g, plus a few files without lineage.
func randomFacts(r *rand.Rand, g *lineage.Graph) []lineage.FileFacts {
	var fs []lineage.FileFacts
	paths := lineagetest.Outputs(g)
	for i := range r.IntN(3) {
		paths = append(paths, "/plain/f"+string(rune('a'+i)))
	}
	for i, p := range paths {
		f := lineage.FileFacts{
			Path: p, ID: uint64(i + 1), Size: int64(1 + r.IntN(100)),
			Complete: r.IntN(8) != 0, Accesses: int64(r.IntN(4)),
			CompletedAt: time.Unix(int64(r.IntN(1000)), 0),
		}
		switch r.IntN(5) {
		case 0:
			f.Persisted = true
		case 1:
			f.InFlight = true
		}
		fs = append(fs, f)
	}
	return fs
}

func TestRankCheckpoints_Properties(t *testing.T) {
	for seed := range uint64(propertyRounds) {
		r := rand.New(rand.NewPCG(seed, 1))
		g := lineagetest.RandomGraph(r, 1+r.IntN(30))
		facts := randomFacts(r, g)
		byPath := map[string]lineage.FileFacts{}
		for _, f := range facts {
			byPath[f.Path] = f
		}
		cfg := lineage.EdgeConfig{
			MaxInFlight: 1 + r.IntN(6), MaxBytesInFlight: int64(1 + r.IntN(300)),
			MaxUncheckpointedDepth: 1 + r.IntN(3), HotAccesses: 2,
		}
		ranked := g.RankCheckpoints(facts, cfg)
		seen := map[string]bool{}
		for i, c := range ranked {
			f := byPath[c.Path]
			if f.Persisted || f.InFlight || !f.Complete {
				t.Fatalf("seed %d: ranked %s with facts %+v", seed, c.Path, f)
			}
			if seen[c.Path] {
				t.Fatalf("seed %d: %s ranked twice", seed, c.Path)
			}
			seen[c.Path] = true
			leaf := len(g.Consumers(c.Path)) == 0
			if (c.Reason == lineage.ReasonLeaf) != (leaf && c.JobID != 0) {
				t.Fatalf("seed %d: %s reason %v, leaf %v", seed, c.Path, c.Reason, leaf)
			}
			if i > 0 {
				prev := ranked[i-1]
				if prev.Reason > c.Reason || (prev.Reason == c.Reason && prev.Priority < c.Priority) {
					t.Fatalf("seed %d: %+v ranked before %+v", seed, prev, c)
				}
			}
		}
		// Every schedulable file is ranked.
		for _, f := range facts {
			if f.Complete && !f.Persisted && !f.InFlight && !seen[f.Path] {
				t.Fatalf("seed %d: %s not ranked", seed, f.Path)
			}
		}
		checkPlanBound(t, seed, g, facts, cfg, ranked)
		checkDepthBound(t, seed, g, facts, cfg, ranked)
	}
}

// checkPlanBound checks that the plan is a prefix of the ranking within the bounds.
func checkPlanBound(t *testing.T, seed uint64, g *lineage.Graph, facts []lineage.FileFacts, cfg lineage.EdgeConfig, ranked []lineage.Candidate) {
	t.Helper()
	plan := g.PlanCheckpoints(facts, cfg)
	if len(plan) > len(ranked) || !slices.Equal(plan, ranked[:len(plan)]) {
		t.Fatalf("seed %d: plan is not a prefix of the ranking", seed)
	}
	n, bytes := 0, int64(0)
	for _, f := range facts {
		if f.InFlight && !f.Persisted {
			n++
			bytes += f.Size
		}
	}
	for _, c := range plan {
		n++
		bytes += c.Size
	}
	if len(plan) > 0 && n > cfg.MaxInFlight {
		t.Fatalf("seed %d: %d files in flight > %d", seed, n, cfg.MaxInFlight)
	}
	alone := len(plan) == 1 && n == 1
	if len(plan) > 0 && bytes > cfg.MaxBytesInFlight && !alone {
		t.Fatalf("seed %d: %d bytes in flight > %d", seed, bytes, cfg.MaxBytesInFlight)
	}
	// The plan stops only for a bound.
	if len(plan) < len(ranked) && n < cfg.MaxInFlight && bytes+ranked[len(plan)].Size <= cfg.MaxBytesInFlight {
		t.Fatalf("seed %d: plan stopped early: %d files, %d bytes, next %d", seed, n, bytes, ranked[len(plan)].Size)
	}
}

// checkDepthBound checks that once the leaves and the deep picks are persisted, and when
// every file is complete, no job sits below more than MaxUncheckpointedDepth
// un-checkpointed jobs (counting itself).
func checkDepthBound(t *testing.T, seed uint64, g *lineage.Graph, facts []lineage.FileFacts, cfg lineage.EdgeConfig, _ []lineage.Candidate) {
	t.Helper()
	complete := slices.Clone(facts)
	for i := range complete {
		complete[i].Complete = true
	}
	safe := map[string]bool{}
	for _, f := range complete {
		safe[f.Path] = f.Persisted || f.InFlight
	}
	for _, c := range g.RankCheckpoints(complete, cfg) {
		if c.Reason == lineage.ReasonDeep {
			safe[c.Path] = true
		}
	}
	depth := map[uint64]int{}
	for _, id := range g.Topological() {
		produced, _ := g.Reads(id)
		d := 1
		for _, p := range produced {
			if !safe[p] {
				d = max(d, depth[g.ProducerID(p)]+1)
			}
		}
		if d > cfg.MaxUncheckpointedDepth {
			t.Fatalf("seed %d: job %d sits at depth %d > %d", seed, id, d, cfg.MaxUncheckpointedDepth)
		}
		depth[id] = d
	}
}

func TestCollectable_Properties(t *testing.T) {
	for seed := range uint64(propertyRounds) {
		r := rand.New(rand.NewPCG(seed, 2))
		g := lineagetest.RandomGraph(r, 1+r.IntN(30))
		for _, j := range g.Jobs() {
			if r.IntN(10) == 0 {
				if err := g.SetState(j.ID, lineage.StateRunning); err != nil {
					t.Fatal(err)
				}
			}
		}
		ck := map[string]bool{}
		for _, p := range lineagetest.Outputs(g) {
			ck[p] = r.IntN(3) != 0
		}
		checkpointed := func(p string) bool { return ck[p] }
		got := g.Collectable(checkpointed)
		in := map[uint64]bool{}
		for _, id := range got {
			in[id] = true
		}
		for _, j := range g.Jobs() {
			want := j.State == lineage.StateCompleted && allCheckpointed(j, ck)
			for _, d := range g.DescendantJobs(j.ID, 0) {
				want = want && d.State == lineage.StateCompleted && allCheckpointed(d, ck)
			}
			if in[j.ID] != want {
				t.Fatalf("seed %d: job %d collectable %v, want %v", seed, j.ID, in[j.ID], want)
			}
		}
		// Removing in the given order never orphans a dependent.
		for _, id := range got {
			if _, err := g.Remove(id, false); err != nil {
				t.Fatalf("seed %d: Remove(%d) in collect order: %v", seed, id, err)
			}
		}
	}
}

func allCheckpointed(j lineage.Job, ck map[string]bool) bool {
	for _, o := range j.Outputs {
		if !ck[o] {
			return false
		}
	}
	return true
}

func TestExposure_Properties(t *testing.T) {
	for seed := range uint64(propertyRounds) {
		r := rand.New(rand.NewPCG(seed, 3))
		g := lineagetest.RandomGraph(r, 1+r.IntN(30))
		lostSet := map[string]bool{}
		for _, p := range lineagetest.Outputs(g) {
			lostSet[p] = r.IntN(2) == 0
		}
		lost := func(p string) bool { return lostSet[p] }
		costs := g.Exposure(lost)
		pos := map[uint64]int{}
		for i, id := range g.Topological() {
			pos[id] = i
		}
		listed := map[uint64]int{}
		for i, c := range costs {
			listed[c.ID] = c.Depth
			if i > 0 && pos[costs[i-1].ID] > pos[c.ID] {
				t.Fatalf("seed %d: exposure not topological", seed)
			}
			j, _ := g.Job(c.ID)
			if c.RunTime != j.RunTime || len(c.Lost) == 0 {
				t.Fatalf("seed %d: cost %+v for %+v", seed, c, j)
			}
		}
		for _, j := range g.Jobs() {
			_, ok := listed[j.ID]
			if want := slices.ContainsFunc(j.Outputs, lost); ok != want {
				t.Fatalf("seed %d: job %d exposed %v, want %v", seed, j.ID, ok, want)
			}
			// A job's depth is at least one more than that of any exposed parent whose
			// lost files it reads.
			produced, _ := g.Reads(j.ID)
			for _, p := range produced {
				if pd, exposed := listed[g.ProducerID(p)]; ok && exposed && lost(p) && listed[j.ID] <= pd {
					t.Fatalf("seed %d: job %d depth %d <= parent depth %d", seed, j.ID, listed[j.ID], pd)
				}
			}
		}
		var sum time.Duration
		for _, c := range costs {
			sum += c.RunTime
		}
		if lineage.TotalRunTime(costs) != sum {
			t.Fatalf("seed %d: TotalRunTime", seed)
		}
	}
}

// TestGraph_AdjacencyProperties checks the incrementally kept adjacency against a brute
// force over every pair of jobs, after random additions and removals.
func TestGraph_AdjacencyProperties(t *testing.T) {
	covers := func(in, p string) bool {
		return in == p || in == "/" || (len(p) > len(in) && p[:len(in)] == in && p[len(in)] == '/')
	}
	for seed := range uint64(propertyRounds) {
		r := rand.New(rand.NewPCG(seed, 4))
		g := lineagetest.RandomGraph(r, 1+r.IntN(30))
		for range r.IntN(4) {
			jobs := g.Jobs()
			if _, err := g.Remove(jobs[r.IntN(len(jobs))].ID, true); err != nil {
				t.Fatal(err)
			}
			if g.Len() == 0 {
				break
			}
		}
		jobs := g.Jobs()
		for _, b := range jobs {
			var want []uint64
			for _, a := range jobs {
				if a.ID == b.ID {
					continue
				}
				if slices.ContainsFunc(b.Inputs, func(in string) bool {
					return slices.ContainsFunc(a.Outputs, func(o string) bool { return covers(in, o) })
				}) {
					want = append(want, a.ID)
				}
			}
			if got := g.Parents(b.ID); !slices.Equal(got, want) {
				t.Fatalf("seed %d: Parents(%d) = %v, want %v", seed, b.ID, got, want)
			}
			for _, p := range want {
				if !slices.Contains(g.Children(p), b.ID) {
					t.Fatalf("seed %d: Children(%d) misses %d", seed, p, b.ID)
				}
			}
			for _, c := range g.Children(b.ID) {
				if !slices.Contains(g.Parents(c), b.ID) {
					t.Fatalf("seed %d: Children(%d) has %d, which does not depend on it", seed, b.ID, c)
				}
			}
		}
		restored, err := lineage.Restore(g.Snapshot())
		if err != nil {
			t.Fatalf("seed %d: Restore: %v", seed, err)
		}
		if !slices.Equal(restored.Topological(), g.Topological()) {
			t.Fatalf("seed %d: restored order differs", seed)
		}
	}
}
