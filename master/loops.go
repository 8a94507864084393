package master

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
)

// forgetLostAfter is how long a LOST executor stays listed (GetReport, ListExecutors
// with include_lost, the web UI) after its last heartbeat.
const forgetLostAfter = time.Hour

// lostLoop declares executors lost when they miss heartbeats for HeartbeatTimeout. One
// HeartbeatTimeout after gaining leadership it also checks every un-persisted file: one
// whose blocks were not re-registered by any executor by then lost them while no master
// was watching.
func (m *Master) lostLoop(ctx context.Context) {
	tick := time.NewTicker(m.cfg.LostCheckInterval)
	defer tick.Stop()
	grace := time.NewTimer(m.cfg.HeartbeatTimeout)
	defer grace.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-grace.C:
			m.scanUncovered(ctx)
		case now := <-tick.C:
			m.blocks.forgetLost(now.Add(-forgetLostAfter))
			for _, id := range m.blocks.silent(now.Add(-m.cfg.HeartbeatTimeout)) {
				if err := m.executorLost(ctx, id, "missed heartbeats"); err != nil && ctx.Err() == nil {
					m.log.Error("cannot handle lost executor", "executor_id", id, "err", err)
				}
			}
		}
	}
}

// scanUncovered marks LOST every complete, un-persisted file with a block no executor
// holds.
func (m *Master) scanUncovered(ctx context.Context) {
	v := m.st.View()
	for _, s := range []state.PersistenceState{state.NotPersisted, state.ToBePersisted} {
		for in := range v.FilesByPersistence(s) {
			if ctx.Err() != nil {
				return
			}
			if in.Complete && m.uncovered(in) {
				if err := m.markLost(ctx, in); err != nil {
					m.log.Error("cannot mark file lost", "path", in.Path, "err", err)
				}
			}
		}
	}
	m.rec.kick()
}

// uncovered reports whether some block of a complete file has no copy.
func (m *Master) uncovered(in state.Inode) bool {
	for _, id := range in.BlockIDs() {
		if _, _, ok := m.blocks.committed(id); !ok {
			return true
		}
	}
	return false
}

// executorLost declares an executor lost, drops its blocks, fails its persist tasks and
// marks LOST the un-persisted files left without a copy of some block.
func (m *Master) executorLost(ctx context.Context, id uint64, why string) error {
	info, _ := m.blocks.executorInfo(id)
	dropped, ok := m.blocks.markLost(id)
	if !ok {
		return nil
	}
	m.metrics.executorsLost.Inc()
	m.log.Warn("executor lost", "executor_id", id, "rpc_address", info.GetRpcAddress(), "task_id", info.GetTaskId(),
		"reason", why, "blocks_without_copy", len(dropped))
	m.persist.failExecutor(id, m.cfg.PersistRetryBase, m.cfg.PersistRetryMax)
	return m.checkDropped(ctx, dropped)
}

// checkDropped marks LOST the files of blocks that have no copy left, unless persisted.
func (m *Master) checkDropped(ctx context.Context, dropped []uint64) error {
	var files []uint64
	for _, b := range dropped {
		files = append(files, sluicepb.BlockFileID(b))
	}
	slices.Sort(files)
	files = slices.Compact(files)
	var errs []error
	v := m.st.View()
	for _, fid := range files {
		in, err := v.GetByID(fid)
		if err != nil || !in.IsFile() || !in.Complete {
			continue
		}
		if in.PersistenceState == state.Persisted || in.PersistenceState == state.Lost {
			continue
		}
		if err := m.markLost(ctx, in); err != nil {
			errs = append(errs, err)
		}
	}
	// One plan for every file this loss took, so that each rebuild carries the
	// priority of every job that needs it (recompute.go).
	m.rec.kick()
	return errors.Join(errs...)
}

// checkRecovered moves LOST files back to NOT_PERSISTED once every block has a copy
// again: an executor thought lost came back with them, or a recompute rewrote them
// (CommitBlock accepts blocks of complete files).
func (m *Master) checkRecovered(ctx context.Context, added []uint64) {
	var files []uint64
	for _, b := range added {
		files = append(files, sluicepb.BlockFileID(b))
	}
	slices.Sort(files)
	files = slices.Compact(files)
	v := m.st.View()
	for _, fid := range files {
		in, err := v.GetByID(fid)
		if err != nil || in.PersistenceState != state.Lost || !in.Complete || m.uncovered(in) {
			// An incomplete LOST file is an output reset for its recompute: completing
			// it makes it readable (recompute.go).
			continue
		}
		if _, err := m.apply(ctx, state.EntrySetPersistenceState, &sluicepb.SetPersistenceStateEntry{
			Id: in.ID, State: sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_NOT_PERSISTED, TimeMs: nowMs(),
		}); err != nil {
			m.log.Error("cannot mark file recovered", "path", in.Path, "err", err)
			continue
		}
		m.log.Info("lost file readable again", "path", in.Path, "file_id", in.ID)
	}
}

// markLost journals LOST for a file and says so loudly when no lineage can rebuild it.
func (m *Master) markLost(ctx context.Context, in state.Inode) error {
	if _, err := m.apply(ctx, state.EntrySetPersistenceState, &sluicepb.SetPersistenceStateEntry{
		Id: in.ID, State: sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_LOST, TimeMs: nowMs(),
	}); err != nil {
		return err
	}
	m.persist.remove(in.ID)
	m.metrics.filesLost.Inc()
	if in.JobID == 0 {
		m.log.Warn("file lost: data is gone and no lineage can rebuild it", "path", in.Path, "file_id", in.ID, "length", in.Length)
	} else {
		m.log.Info("file lost, recomputable by its job", "path", in.Path, "file_id", in.ID, "job_id", in.JobID)
	}
	return nil
}

// ttlLoop applies expired TTLs: DELETE removes the path from Sluice and the UFS; FREE
// drops the cached blocks of persisted files and clears the TTL (as Alluxio does), so
// it acts once.
func (m *Master) ttlLoop(ctx context.Context) {
	tick := time.NewTicker(m.cfg.TTLCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			m.applyTTLs(ctx, now)
		}
	}
}

func (m *Master) applyTTLs(ctx context.Context, now time.Time) {
	for in := range m.st.View().Expired(now.UnixMilli()) {
		if ctx.Err() != nil {
			return
		}
		if _, err := m.st.View().GetByID(in.ID); err != nil {
			continue // removed with an expired parent
		}
		var err error
		switch in.TTLAction {
		case state.TTLFree:
			_, _, err = m.free(ctx, in.Path, true, false)
			if errors.Is(err, ErrNotPersisted) || errors.Is(err, state.ErrFileIncomplete) {
				m.log.Warn("TTL free skipped: data not persisted", "path", in.Path, "err", err)
				err = nil
			}
			if err == nil {
				zero := int64(0)
				_, err = m.apply(ctx, state.EntrySetAttribute, &sluicepb.SetAttributeEntry{Path: in.Path, TtlMs: &zero, TimeMs: nowMs()})
			}
		default:
			_, err = m.deletePath(ctx, in.Path, true, false)
		}
		if err != nil && !errors.Is(err, state.ErrNotFound) && ctx.Err() == nil {
			m.log.Error("cannot apply TTL", "path", in.Path, "action", in.TTLAction.String(), "err", err)
		} else if err == nil {
			m.log.Info("TTL applied", "path", in.Path, "action", in.TTLAction.String())
		}
	}
}

// accessTracker collects the files read through the master; the leader journals their
// access times in batches (ignorable UpdateAccessTime entries) instead of one Raft entry
// per read.
type accessTracker struct {
	// mu guards pending.
	mu      sync.Mutex
	pending map[uint64]int64
}

// touchAccess records a read of a file now.
func (m *Master) touchAccess(id uint64) {
	a := &m.access
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending == nil {
		a.pending = make(map[uint64]int64)
	}
	a.pending[id] = nowMs()
	m.persist.touched(id)
}

// accessLoop journals recorded access times every few seconds.
func (m *Master) accessLoop(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			m.flushAccess(ctx)
		}
	}
}

// flushAccess journals the access times recorded since the last flush.
func (m *Master) flushAccess(ctx context.Context) {
	m.access.mu.Lock()
	pending := m.access.pending
	m.access.pending = nil
	m.access.mu.Unlock()
	for id, ts := range pending {
		if _, err := m.j.Apply(ctx, state.EntryUpdateAccessTime, &sluicepb.UpdateAccessTimeEntry{Id: id, TimeMs: ts}); err != nil &&
			!errors.Is(err, state.ErrNotFound) && ctx.Err() == nil {
			m.log.Debug("cannot record access time", "file_id", id, "err", err)
		}
	}
}
