package master

import (
	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
)

// Guards. An executor never evicts the blocks written to it while their data may exist
// nowhere else: it "guards" them (pins them in its store) and names their files in every
// registration and heartbeat; the master answers which of those files no longer need it.
// The master keeps no state for this: the answer is derived from the namespace each
// time, so it survives restarts and leader changes of either side, and an executor that
// restarts simply guards everything it holds until the first answer.

// maxGuardQuery bounds the file IDs one registration or heartbeat may ask about; the
// executor sends at most this many at a time and rotates through the rest. IDs beyond it
// are ignored (they stay guarded on the executor until a later heartbeat asks again).
const maxGuardQuery = 8192

// guardAnswer classifies the guarded files (guardedIDs) and names the pinned ones among
// the held files (heldIDs) an executor asks about; see classifyGuarded and pinnedFiles.
// It returns nil when there is nothing to tell. Both lists are capped at maxGuardQuery.
func guardAnswer(v *state.View, guardedIDs, heldIDs []uint64) *sluicepb.GuardAnswer {
	ans := classifyGuarded(v, guardedIDs)
	pinned := pinnedFiles(v, heldIDs)
	if len(pinned) == 0 {
		return ans
	}
	if ans == nil {
		ans = &sluicepb.GuardAnswer{}
	}
	ans.PinnedFileIds = pinned
	return ans
}

// pinnedFiles returns the files of fileIDs that exist and are pinned, in order, so that
// a pin or unpin reaches the executors already holding the file's blocks. Like the
// guards, it is derived from the namespace each time.
func pinnedFiles(v *state.View, fileIDs []uint64) []uint64 {
	if len(fileIDs) > maxGuardQuery {
		fileIDs = fileIDs[:maxGuardQuery]
	}
	var out []uint64
	for _, id := range fileIDs {
		if in, err := v.GetByID(id); err == nil && !in.Directory && in.Pinned {
			out = append(out, id)
		}
	}
	return out
}

// classifyGuarded classifies the guarded files an executor asks about: PERSISTED files may
// be evicted like any cached data; complete, un-persisted outputs of lineage jobs are
// recomputable, so they may go too, evicted last (protected); files that no longer exist
// need no guard. Every other file (not yet persisted, being written, LOST without a job)
// stays guarded. It returns nil when there is nothing to tell.
func classifyGuarded(v *state.View, fileIDs []uint64) *sluicepb.GuardAnswer {
	if len(fileIDs) > maxGuardQuery {
		fileIDs = fileIDs[:maxGuardQuery]
	}
	ans := &sluicepb.GuardAnswer{}
	for _, id := range fileIDs {
		in, err := v.GetByID(id)
		switch {
		case err != nil || in.Directory:
			// A directory never holds blocks: a file ID that names one is gone too.
			ans.GoneFileIds = append(ans.GoneFileIds, id)
		case in.PersistenceState == state.Persisted:
			ans.PersistedFileIds = append(ans.PersistedFileIds, id)
		case in.Complete && recomputable(v, in):
			// Its lineage record still protects it (lineage_gc.go).
			ans.LineageFileIds = append(ans.LineageFileIds, id)
		}
	}
	if len(ans.PersistedFileIds)+len(ans.LineageFileIds)+len(ans.GoneFileIds) == 0 {
		return nil
	}
	return ans
}
