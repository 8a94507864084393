// Package lineagetest builds random lineage graphs for property tests of lineage and its
// users.
package lineagetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sluicedata/sluice/lineage"
)

// RandomGraph returns a graph of up to n jobs drawn from r. Each job writes one or two
// files into one of a few directories and reads a few earlier outputs, sometimes a
// whole directory (which may later gain outputs of newer jobs), sometimes a plain
// /in/... file that no job produces. Candidates that Add refuses as cycles are dropped,
// so the graph is valid and its shape includes what directory inputs make possible.
// Priorities range over 0..3 and run times over 1..10 s.
func RandomGraph(r *rand.Rand, n int) *lineage.Graph {
	g := lineage.New()
	var outs []string
	for id := uint64(1); id <= uint64(n); id++ {
		j := lineage.Job{
			ID:         id,
			Name:       fmt.Sprintf("job%d", id),
			Command:    []string{"run", fmt.Sprint(id)},
			Priority:   r.IntN(4),
			SubmitTime: time.Unix(int64(id), 0).UTC(),
			RunTime:    time.Duration(1+r.IntN(10)) * time.Second,
			State:      lineage.StateCompleted,
		}
		dir := fmt.Sprintf("/d%d", r.IntN(4))
		for k := range 1 + r.IntN(2) {
			j.Outputs = append(j.Outputs, fmt.Sprintf("%s/f%d_%d", dir, id, k))
		}
		seen := map[string]bool{}
		for range r.IntN(4) {
			var in string
			switch x := r.IntN(10); {
			case x == 0:
				in = fmt.Sprintf("/d%d", r.IntN(4))
			case x == 1 || len(outs) == 0:
				in = fmt.Sprintf("/in/p%d", r.IntN(5))
			default:
				in = outs[r.IntN(len(outs))]
			}
			if !seen[in] && in != dir {
				seen[in] = true
				j.Inputs = append(j.Inputs, in)
			}
		}
		err := g.Add(j)
		switch {
		case errors.Is(err, lineage.ErrCycle), errors.Is(err, lineage.ErrOutputIsInput):
			continue
		case err != nil:
			panic(fmt.Sprintf("lineagetest: unexpected refusal: %v", err))
		}
		outs = append(outs, j.Outputs...)
	}
	return g
}

// Outputs returns every output of g's jobs, in job order.
func Outputs(g *lineage.Graph) []string {
	var out []string
	for _, j := range g.Jobs() {
		out = append(out, j.Outputs...)
	}
	return out
}
