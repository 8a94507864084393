package master

import (
	"context"
	"errors"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/lineage"
	"github.com/sluicedata/sluice/master/state"
)

// lineageGCLoop forgets, every LineageGCInterval, the lineage that protects nothing any
// more (collectLineage).
func (m *Master) lineageGCLoop(ctx context.Context) {
	tick := time.NewTicker(m.cfg.LineageGCInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := m.collectLineage(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("lineage garbage collection", "err", err)
			}
		}
	}
}

// collectLineage journals DeleteLineage for every completed job whose outputs, and whose
// descendants' outputs, are all checkpointed (lineage.Graph.Collectable), descendants
// first, and returns the IDs it forgot. An output that no longer exists counts as
// checkpointed: there is nothing left for its lineage to protect. A job that changed
// meanwhile (a new dependent, a recompute) is skipped until the next round.
func (m *Master) collectLineage(ctx context.Context) ([]uint64, error) {
	var ids []uint64
	m.st.Lineage(func(v *state.View, g *lineage.Graph) {
		ids = g.Collectable(func(p string) bool { return checkpointed(v, p) })
	})
	var forgot []uint64
	for _, id := range ids {
		_, err := m.apply(ctx, state.EntryDeleteLineage, &sluicepb.DeleteLineageEntry{JobId: id, TimeMs: nowMs()})
		switch {
		case err == nil:
			forgot = append(forgot, id)
		case errors.Is(err, lineage.ErrHasDependents) || errors.Is(err, state.ErrNotFound):
		default:
			return forgot, err
		}
	}
	if len(forgot) > 0 {
		m.log.Info("lineage collected: outputs checkpointed", "job_ids", forgot)
	}
	return forgot, nil
}

// checkpointed reports whether file p needs no lineage: it is PERSISTED, or gone.
func checkpointed(v *state.View, p string) bool {
	in, err := v.Get(p)
	return err != nil || in.Directory || in.PersistenceState == state.Persisted
}

// recomputable reports whether a file can be rebuilt by its lineage: it is the output of
// a recorded job and has no UFS copy. (Forgetting a job clears the producing job of its
// outputs, so in.JobID names a live record whenever it is set.)
func recomputable(v *state.View, in state.Inode) bool {
	if in.Directory || in.JobID == 0 || in.PersistenceState == state.Persisted {
		return false
	}
	_, ok := v.Job(in.JobID)
	return ok
}
