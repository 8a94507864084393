package recompute

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicedata/sluice/lineage"
	"github.com/sluicedata/sluice/lineage/lineagetest"
)

// job returns a completed job reading ins and writing outs (space-separated paths).
func job(id uint64, prio int, ins, outs string) lineage.Job {
	return lineage.Job{
		ID: id, Name: "j" + string(rune('0'+id)), Command: []string{"run"}, Priority: prio,
		Inputs: strings.Fields(ins), Outputs: strings.Fields(outs), State: lineage.StateCompleted,
	}
}

func graph(t *testing.T, jobs ...lineage.Job) *lineage.Graph {
	t.Helper()
	g := lineage.New()
	for _, j := range jobs {
		if err := g.Add(j); err != nil {
			t.Fatalf("Add(%d): %v", j.ID, err)
		}
	}
	return g
}

// availableExcept reports every path available except those listed.
func availableExcept(lost ...string) func(string) bool {
	return func(p string) bool { return !slices.Contains(lost, p) }
}

// stepIDs summarizes a plan as job IDs with their After lists and priorities.
type stepSummary struct {
	ID       uint64
	After    []uint64
	Priority int
	Rebuilds []string
}

func summarize(p Plan) []stepSummary {
	var out []stepSummary
	for _, s := range p.Steps {
		out = append(out, stepSummary{s.Job.ID, s.After, s.Priority, s.Rebuilds})
	}
	return out
}

func TestNewPlan(t *testing.T) {
	// A chain of five jobs: /in → /1 → /2 → /3 → /4 → /5.
	chain := []lineage.Job{
		job(1, 0, "/in", "/1"), job(2, 0, "/1", "/2"), job(3, 0, "/2", "/3"),
		job(4, 0, "/3", "/4"), job(5, 0, "/4", "/5"),
	}
	// A diamond with priorities: 1 → /a; 2: /a → /b; 3: /a → /c; 4: /b /c → /d.
	diamond := []lineage.Job{job(1, 1, "/in", "/a"), job(2, 5, "/a", "/b"), job(3, 0, "/a", "/c"), job(4, 2, "/b /c", "/d")}
	for _, tc := range []struct {
		name      string
		jobs      []lineage.Job
		lost      []string
		gone      []string // unavailable paths; defaults to lost
		want      []stepSummary
		wantUnrec []Unrecoverable
	}{
		{name: "nothing lost", jobs: chain, lost: nil},
		{name: "lost but readable", jobs: chain, lost: []string{"/3"}, gone: []string{}},
		{name: "last stage, inputs in memory", jobs: chain, lost: []string{"/5"},
			want: []stepSummary{{5, nil, 0, []string{"/5"}}}},
		{name: "every stage lost", jobs: chain, lost: []string{"/5"}, gone: []string{"/1", "/2", "/3", "/4", "/5"},
			want: []stepSummary{
				{1, nil, 0, []string{"/1"}}, {2, []uint64{1}, 0, []string{"/2"}}, {3, []uint64{2}, 0, []string{"/3"}},
				{4, []uint64{3}, 0, []string{"/4"}}, {5, []uint64{4}, 0, []string{"/5"}},
			}},
		{name: "middle stage gap", jobs: chain, lost: []string{"/5", "/2"}, gone: []string{"/2", "/5"},
			want: []stepSummary{{2, nil, 0, []string{"/2"}}, {5, nil, 0, []string{"/5"}}}},
		{name: "diamond all lost, priority flows up", jobs: diamond, lost: []string{"/d"}, gone: []string{"/a", "/b", "/c", "/d"},
			want: []stepSummary{
				{1, nil, 5, []string{"/a"}}, {2, []uint64{1}, 5, []string{"/b"}},
				{3, []uint64{1}, 2, []string{"/c"}}, {4, []uint64{2, 3}, 2, []string{"/d"}},
			}},
		{name: "diamond one branch", jobs: diamond, lost: []string{"/d"}, gone: []string{"/c", "/d"},
			want: []stepSummary{{3, nil, 2, []string{"/c"}}, {4, []uint64{3}, 2, []string{"/d"}}}},
		{name: "no lineage", jobs: chain, lost: []string{"/orphan"},
			wantUnrec: []Unrecoverable{{Path: "/orphan", Chain: []string{"/orphan"}}}},
		{name: "plain input gone", jobs: chain, lost: []string{"/2"}, gone: []string{"/in", "/1", "/2"},
			wantUnrec: []Unrecoverable{{Path: "/2", JobID: 2, Chain: []string{"/2", "/1", "/in"}}}},
		{name: "partly recoverable", jobs: diamond, lost: []string{"/orphan", "/b"}, gone: []string{"/orphan", "/b"},
			want:      []stepSummary{{2, nil, 5, []string{"/b"}}},
			wantUnrec: []Unrecoverable{{Path: "/orphan", Chain: []string{"/orphan"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gone := tc.gone
			if gone == nil {
				gone = tc.lost
			}
			p := NewPlan(graph(t, tc.jobs...), tc.lost, availableExcept(gone...))
			if diff := cmp.Diff(tc.want, summarize(p)); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantUnrec, p.Unrecoverable); diff != "" {
				t.Errorf("unrecoverable (-want +got):\n%s", diff)
			}
			if err := p.Err(); (err != nil) != (len(tc.wantUnrec) > 0) || (err != nil && !errors.Is(err, ErrNoLineage)) {
				t.Errorf("Err() = %v", err)
			}
		})
	}
}

func TestNewPlan_PendingReaderPriority(t *testing.T) {
	reader := job(2, 9, "/a", "/b")
	reader.State = lineage.StatePending
	g := graph(t, job(1, 1, "/in", "/a"), reader)
	p := NewPlan(g, []string{"/a"}, availableExcept("/a", "/b"))
	if diff := cmp.Diff([]stepSummary{{1, nil, 9, []string{"/a"}}}, summarize(p)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLostDataError(t *testing.T) {
	p := NewPlan(graph(t, job(1, 0, "/in", "/a"), job(2, 0, "/a", "/b")), []string{"/b", "/x"}, availableExcept("/in", "/a", "/b", "/x"))
	err := p.Err()
	var lde *LostDataError
	if !errors.As(err, &lde) || !errors.Is(err, ErrNoLineage) {
		t.Fatalf("Err() = %v", err)
	}
	want := "2 lost file(s) cannot be rebuilt: /b (job 2) needs /a ← /in; /x: recompute: lost data without lineage"
	if err.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", err, want)
	}
}

// TestNewPlan_Properties checks plans over random DAGs and random losses: every step
// needs only available files or files rebuilt by earlier steps, each job appears once,
// every requested file is rebuilt or reported, reports explain themselves, and no step
// is useless.
func TestNewPlan_Properties(t *testing.T) {
	for seed := range uint64(400) {
		r := rand.New(rand.NewPCG(seed, 7))
		g := lineagetest.RandomGraph(r, 1+r.IntN(30))
		avail := map[string]bool{}
		var outputs []string
		for _, j := range g.Jobs() {
			for _, in := range j.Inputs {
				if g.ProducerID(in) == 0 {
					avail[in] = r.IntN(10) != 0
				}
			}
			for _, o := range j.Outputs {
				avail[o] = r.IntN(2) == 0
				outputs = append(outputs, o)
			}
		}
		var lost []string
		for _, o := range outputs {
			if !avail[o] && r.IntN(2) == 0 {
				lost = append(lost, o)
			}
		}
		if r.IntN(3) == 0 {
			lost = append(lost, "/nowhere/x")
		}
		available := func(p string) bool { return avail[p] }
		p := NewPlan(g, lost, available)
		checkPlan(t, seed, g, p, lost, available)
		// Planning again from the same facts gives the same plan.
		if diff := cmp.Diff(p, NewPlan(g, lost, available)); diff != "" {
			t.Fatalf("seed %d: plan not deterministic:\n%s", seed, diff)
		}
	}
}

func checkPlan(t *testing.T, seed uint64, g *lineage.Graph, p Plan, lost []string, available func(string) bool) {
	t.Helper()
	rebuilt := map[string]uint64{}
	stepOf := map[uint64]int{}
	for i, s := range p.Steps {
		if _, dup := stepOf[s.Job.ID]; dup {
			t.Fatalf("seed %d: job %d planned twice", seed, s.Job.ID)
		}
		stepOf[s.Job.ID] = i
		produced, plain := g.Reads(s.Job.ID)
		for _, in := range plain {
			if !available(in) {
				t.Fatalf("seed %d: job %d reads unavailable plain input %s", seed, s.Job.ID, in)
			}
		}
		for _, in := range produced {
			if !available(in) {
				if by, ok := rebuilt[in]; !ok || !slices.Contains(s.After, by) {
					t.Fatalf("seed %d: job %d reads %s, not available nor rebuilt before (After %v)", seed, s.Job.ID, in, s.After)
				}
			}
		}
		if s.Priority < s.Job.Priority {
			t.Fatalf("seed %d: job %d priority %d below its own", seed, s.Job.ID, s.Priority)
		}
		for _, a := range s.After {
			if p.Steps[stepOf[a]].Priority < s.Priority {
				t.Fatalf("seed %d: job %d runs before job %d at a lower priority", seed, a, s.Job.ID)
			}
		}
		for _, o := range s.Rebuilds {
			rebuilt[o] = s.Job.ID
		}
	}
	unrec := map[string]Unrecoverable{}
	for _, u := range p.Unrecoverable {
		unrec[u.Path] = u
		last := u.Chain[len(u.Chain)-1]
		if u.Chain[0] != u.Path || available(last) || g.ProducerID(last) != 0 {
			t.Fatalf("seed %d: chain %v does not end in a lost file without lineage", seed, u.Chain)
		}
		for k := 0; k+1 < len(u.Chain); k++ {
			produced, plain := g.Reads(g.ProducerID(u.Chain[k]))
			if !slices.Contains(produced, u.Chain[k+1]) && !slices.Contains(plain, u.Chain[k+1]) {
				t.Fatalf("seed %d: chain %v: %s is not read by the producer of %s", seed, u.Chain, u.Chain[k+1], u.Chain[k])
			}
		}
	}
	for _, f := range lost {
		_, isRebuilt := rebuilt[f]
		_, isUnrec := unrec[f]
		if available(f) || isRebuilt == isUnrec {
			t.Fatalf("seed %d: lost %s rebuilt %v, unrecoverable %v", seed, f, isRebuilt, isUnrec)
		}
	}
	// Every step is needed: it rebuilds a requested file or feeds a later step.
	needed := map[uint64]bool{}
	for _, f := range lost {
		if id, ok := rebuilt[f]; ok {
			needed[id] = true
		}
	}
	for i := len(p.Steps) - 1; i >= 0; i-- {
		s := p.Steps[i]
		if !needed[s.Job.ID] {
			t.Fatalf("seed %d: job %d planned but not needed", seed, s.Job.ID)
		}
		for _, a := range s.After {
			needed[a] = true
		}
	}
}
