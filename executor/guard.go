package executor

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
)

// Guards. A block written to this executor (WriteBlock, CommitLocalBlock) may be the only
// copy of its data: evicting it would lose the file, which the master then marks LOST.
// So the executor guards every block it stores from new data: a guarded block is pinned in
// the store and never evicted, and a write that cannot get space without evicting one
// fails with NO_SPACE instead. Each heartbeat names the files of the guarded blocks (at
// most maxGuardReport, rotating through the rest on later heartbeats); the master answers
// which of them are PERSISTED (unguarded: the UFS has a copy), recomputable outputs of
// lineage jobs (unguarded, but protected, so evicted last) or gone (unguarded; REMOVE_BLOCKS
// and registration delete them). After persisting a file itself the executor heartbeats
// at once rather than unguarding on its own: the master acknowledges stale persist
// reports without recording them, so only its answer says PERSISTED. Blocks cached from
// the UFS are never guarded.
//
// The master keeps no guard state, and neither does the disk: after a restart the
// executor guards every block it holds until the registration's answer (conservative).
//
// Pins work the same stateless way: each heartbeat also names files of the blocks the
// executor holds, of any kind (at most maxGuardReport, rotating), and the master answers
// which of them are pinned; the executor user-pins their blocks and drops the user pin
// of the others. So a pin or unpin of a file whose blocks are already cached, and the
// pins of a restarted executor, take effect within a few heartbeats.
//
// User pins (the pinned attribute of a file, given with a write or a cache request) are
// kept apart from guards, because the store's pin is a flag, not a count: a block is
// pinned in the store if and only if it is user-pinned or guarded.

// maxGuardReport is the most file IDs one heartbeat or registration names (the master's
// bound too).
const maxGuardReport = 8192

// guards is the executor's record of guarded and user-pinned blocks.
type guards struct {
	// mu guards every field. It is held across the store's Pin and Unpin calls made for
	// them, so the store's flag always matches the record (the store never calls back
	// into the executor while holding its own lock).
	mu      sync.Mutex
	guarded map[blocks.ID]struct{}
	pinned  map[blocks.ID]struct{}
	// next is where the next report starts: the smallest file ID not below it comes
	// first, so that every guarded file is named within a few heartbeats.
	next uint64
	// nextHeld is the same for the held files whose pins the master is asked about.
	nextHeld uint64
}

func (g *guards) init() {
	g.guarded = make(map[blocks.ID]struct{})
	g.pinned = make(map[blocks.ID]struct{})
}

// guard records a block just committed with the store's pin set (CreateOptions.Pinned),
// and whether a user pinned it too.
func (g *guards) guard(id blocks.ID, userPinned bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.guarded[id] = struct{}{}
	if userPinned {
		g.pinned[id] = struct{}{}
	}
}

// guardAll guards every block store holds: after a restart nothing says which blocks
// are safe to evict until the master answers.
func (g *guards) guardAll(store *blocks.Store) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range store.Blocks() {
		if err := store.Pin(m.ID); err == nil {
			g.guarded[m.ID] = struct{}{}
		}
	}
}

// pinUser records a user pin and pins the block in store.
func (g *guards) pinUser(store *blocks.Store, id blocks.ID) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := store.Pin(id); err != nil {
		return err
	}
	g.pinned[id] = struct{}{}
	return nil
}

// forget drops a block that left the store.
func (g *guards) forget(id blocks.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.guarded, id)
	delete(g.pinned, id)
}

// isGuarded reports whether id is guarded.
func (g *guards) isGuarded(id blocks.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.guarded[id]
	return ok
}

// isUserPinned reports whether a user pinned id.
func (g *guards) isUserPinned(id blocks.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.pinned[id]
	return ok
}

// report returns up to limit distinct file IDs of guarded blocks, in ascending order
// from where the previous report stopped, wrapping around.
func (g *guards) report(limit int) []uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := make([]blocks.ID, 0, len(g.guarded))
	for id := range g.guarded {
		ids = append(ids, id)
	}
	return rotate(fileIDsOf(ids), &g.next, limit)
}

// heldSample returns up to limit distinct file IDs of the blocks store holds, rotating
// like report, for the master to say which are pinned.
func (g *guards) heldSample(store *blocks.Store, limit int) []uint64 {
	held := store.Blocks()
	ids := make([]blocks.ID, len(held))
	for i, m := range held {
		ids[i] = m.ID
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return rotate(fileIDsOf(ids), &g.nextHeld, limit)
}

// fileIDsOf returns the distinct file IDs of ids, sorted.
func fileIDsOf(ids []blocks.ID) []uint64 {
	files := make([]uint64, 0, len(ids))
	for _, id := range ids {
		files = append(files, sluicepb.BlockFileID(uint64(id)))
	}
	slices.Sort(files)
	return slices.Compact(files)
}

// rotate returns up to limit of the sorted, distinct files, in ascending order from
// *next, wrapping around, and advances *next past them (to 0 when all fit).
func rotate(files []uint64, next *uint64, limit int) []uint64 {
	if len(files) <= limit {
		*next = 0
		return files
	}
	start, _ := slices.BinarySearch(files, *next)
	out := make([]uint64, 0, limit)
	for i := 0; i < limit; i++ {
		out = append(out, files[(start+i)%len(files)])
	}
	*next = out[len(out)-1] + 1
	return out
}

// applyPins carries out the master's answer about the held files of sample: the blocks
// of the files in pinned are user-pinned, those of the other files of sample are not
// (they stay pinned in the store while guarded).
func (g *guards) applyPins(store *blocks.Store, sample, pinned []uint64) error {
	if len(sample) == 0 {
		return nil
	}
	want := make(map[uint64]bool, len(sample))
	for _, f := range sample {
		want[f] = false
	}
	for _, f := range pinned {
		if _, ok := want[f]; ok {
			want[f] = true
		}
	}
	// A block committed pinned but not yet recorded (guard or pinUser follow the commit)
	// is left alone: only the records say which pins this may drop.
	held := store.Blocks()
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for _, m := range held {
		pin, ok := want[sluicepb.BlockFileID(uint64(m.ID))]
		if !ok {
			continue
		}
		_, user := g.pinned[m.ID]
		_, guarded := g.guarded[m.ID]
		var err error
		switch {
		case pin && !user:
			if err = store.Pin(m.ID); err == nil {
				g.pinned[m.ID] = struct{}{}
			}
		case !pin && user:
			delete(g.pinned, m.ID)
			if !guarded {
				err = store.Unpin(m.ID)
			}
		}
		if err != nil && !errors.Is(err, blocks.ErrNotFound) {
			errs = append(errs, fmt.Errorf("apply pin of block %v: %w", m.ID, err))
		}
	}
	return errors.Join(errs...)
}

// unguardFiles stops guarding the blocks of files; the blocks of the files in protect
// are marked protected, those of the others unprotected when unprotect is set. A block a
// user pinned stays pinned.
func (g *guards) unguardFiles(store *blocks.Store, files []uint64, protect, unprotect bool) error {
	if len(files) == 0 {
		return nil
	}
	set := make(map[uint64]struct{}, len(files))
	for _, f := range files {
		set[f] = struct{}{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for id := range g.guarded {
		if _, ok := set[sluicepb.BlockFileID(uint64(id))]; !ok {
			continue
		}
		delete(g.guarded, id)
		var err error
		switch {
		case protect:
			err = store.SetProtected(id, true)
		case unprotect:
			err = store.SetProtected(id, false)
		}
		if _, user := g.pinned[id]; !user && err == nil {
			err = store.Unpin(id)
		}
		if err != nil && !errors.Is(err, blocks.ErrNotFound) {
			errs = append(errs, fmt.Errorf("unguard block %v: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// applyGuards carries out the master's answer about guarded files.
func (e *Executor) applyGuards(ans *sluicepb.GuardAnswer) {
	if ans == nil {
		return
	}
	store, err := e.storeOrErr()
	if err != nil {
		return
	}
	errs := errors.Join(
		e.guards.unguardFiles(store, ans.GetPersistedFileIds(), false, true),
		e.guards.unguardFiles(store, ans.GetLineageFileIds(), true, false),
		e.guards.unguardFiles(store, ans.GetGoneFileIds(), false, false),
	)
	if errs != nil {
		e.log.Warn("unguard blocks", "err", errs)
	}
}

// kickHeartbeat asks for an early heartbeat (after a persist, so that the master's
// guard answer unguards the file's blocks soon).
func (e *Executor) kickHeartbeat() {
	select {
	case e.hbKick <- struct{}{}:
	default:
	}
}

// blockGone records that a block left the store: for the next heartbeat, and for the
// guards.
func (e *Executor) blockGone(id blocks.ID) {
	e.deltas.remove(id)
	e.guards.forget(id)
}

// fitsTier reports whether n bytes fit in the capacity of tier (any tier when empty),
// free or not.
func fitsTier(store *blocks.Store, tier blocks.TierAlias, n int64) bool {
	for _, u := range store.Usage() {
		if tier == "" || u.Alias == tier {
			for _, d := range u.Dirs {
				if d.Capacity >= n {
					return true
				}
			}
		}
	}
	return false
}

// noSpace explains a NO_SPACE failure of a write: guarded blocks are never evicted, so a
// full tier is full of data not yet persisted (or pinned, or being read).
func noSpace(err error) error {
	if errors.Is(err, blocks.ErrNoSpace) {
		return fmt.Errorf("the tier is full of data not yet persisted (or pinned, or being read), which is never evicted; persist or delete files, or give the tier more space: %w", err)
	}
	return err
}
