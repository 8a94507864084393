package lineage

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchJobs returns n jobs, each reading two earlier outputs (or a plain input) and
// writing one file into one of 16 directories; every 50th job reads the whole directory
// its predecessor wrote into, which no later job writes into.
func benchJobs(n int) []Job {
	r := rand.New(rand.NewPCG(1, 1))
	jobs := make([]Job, 0, n)
	for i := 1; i <= n; i++ {
		j := Job{ID: uint64(i), Command: []string{"x"}, Outputs: []string{fmt.Sprintf("/d%d/f%d", i%16, i)}, State: StateCompleted}
		if i%50 == 49 {
			j.Outputs = []string{fmt.Sprintf("/b%d/f%d", i/50, i)}
		}
		switch {
		case i == 1:
			j.Inputs = []string{"/in"}
		case i%50 == 0:
			j.Inputs = []string{fmt.Sprintf("/b%d", i/50-1)}
		default:
			a, b := jobs[r.IntN(i-1)].Outputs[0], jobs[r.IntN(i-1)].Outputs[0]
			j.Inputs = []string{a}
			if b != a {
				j.Inputs = append(j.Inputs, b)
			}
		}
		jobs = append(jobs, j)
	}
	return jobs
}

// BenchmarkGraph_Add measures recording 10,000 jobs one by one, as a journal replay does.
func BenchmarkGraph_Add(b *testing.B) {
	jobs := benchJobs(10000)
	for b.Loop() {
		g := New()
		for _, j := range jobs {
			if err := g.Add(j); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkGraph_RankCheckpoints measures one Edge ranking over 10,000 jobs' outputs.
func BenchmarkGraph_RankCheckpoints(b *testing.B) {
	g := New()
	var files []FileFacts
	for _, j := range benchJobs(10000) {
		if err := g.Add(j); err != nil {
			b.Fatal(err)
		}
		files = append(files, FileFacts{Path: j.Outputs[0], Size: 1 << 20, Complete: true, Persisted: j.ID%3 == 0})
	}
	cfg := DefaultEdgeConfig()
	for b.Loop() {
		if len(g.PlanCheckpoints(files, cfg)) == 0 {
			b.Fatal("empty plan")
		}
	}
}

// BenchmarkGraph_Exposure measures the exposure of 10,000 jobs none of whose outputs is
// persisted: the worst case.
func BenchmarkGraph_Exposure(b *testing.B) {
	g := New()
	for _, j := range benchJobs(10000) {
		if err := g.Add(j); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if len(g.Exposure(func(string) bool { return true })) != 10000 {
			b.Fatal("not every job exposed")
		}
	}
}
