package recompute

import (
	"fmt"
	"testing"

	"github.com/sluicedata/sluice/lineage"
)

// BenchmarkNewPlan plans the recovery of the last output of a 10,000-job graph (each job
// reads the outputs of the two before it) when every output is lost: the worst case.
func BenchmarkNewPlan(b *testing.B) {
	g := lineage.New()
	const n = 10000
	for i := 1; i <= n; i++ {
		j := lineage.Job{ID: uint64(i), Command: []string{"x"}, Outputs: []string{fmt.Sprintf("/o%d", i)}, Inputs: []string{"/in"}}
		for k := max(1, i-2); k < i; k++ {
			j.Inputs = append(j.Inputs, fmt.Sprintf("/o%d", k))
		}
		if err := g.Add(j); err != nil {
			b.Fatal(err)
		}
	}
	available := func(p string) bool { return p == "/in" }
	for b.Loop() {
		if p := NewPlan(g, []string{fmt.Sprintf("/o%d", n)}, available); len(p.Steps) != n {
			b.Fatalf("%d steps", len(p.Steps))
		}
	}
}
