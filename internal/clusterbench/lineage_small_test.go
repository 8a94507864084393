package clusterbench

import (
	"testing"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/internal/bench"
)

// The lineage benchmarks' measuring code at small sizes (see harness_small_test.go).

func TestLineageHarness_Write(t *testing.T) {
	data := bench.Payload(smallSize, 5)
	le := newLineageEnv(t, 1, 4*smallSize, smallBlock, data)
	_, ct := newPlainEnv(t, 4*smallSize, smallBlock, nil)
	for round := range 2 {
		job, through, err := lineageWriteRound(t.Context(), le, ct, "/ct", data, round)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if job <= 0 || through <= 0 {
			t.Errorf("round %d: job write %v, CACHE_THROUGH write %v", round, job, through)
		}
	}
	// Both rounds deleted their files; the job outputs were never checkpointed.
	for _, c := range []*client.Client{le.cl, ct} {
		for _, dir := range []string{"/lineage-write", "/ct"} {
			if l, err := c.List(t.Context(), dir, client.ListOptions{}); err == nil && len(l) != 0 {
				t.Errorf("%s still lists %d files", dir, len(l))
			}
		}
	}
	st, err := le.cl.GetCheckpointStatus(t.Context(), "/", 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetTotals().GetPersistedFiles() != 1 {
		t.Errorf("checkpoint status: %v; want only /checkpoint-debt persisted", st.GetTotals())
	}
}

func TestLineageHarness_Recovery(t *testing.T) {
	le := newLineageEnv(t, 2, 3*smallSize, smallBlock, bench.Payload(smallSize, 6))
	for round := range 2 {
		tm, err := recoveryRound(t.Context(), le, outPath("/recovery", round))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if tm.original <= 0 || tm.originalWrite <= 0 || tm.recover <= 0 {
			t.Errorf("round %d: %+v", round, tm)
		}
	}
}
