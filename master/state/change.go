package state

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// removeTree removes in (at path clean) and everything below it and returns what it
// removed, parents first, with the paths they had.
func (t *txn) removeTree(in *Inode, clean string) []Inode {
	nodes := t.subtree(in)
	paths := make(map[uint64]string, len(nodes))
	paths[in.ID] = clean
	out := make([]Inode, 0, len(nodes))
	for _, n := range nodes {
		if n.ID != in.ID {
			paths[n.ID] = joinPath(paths[n.ParentID], n.Name)
		}
		out = append(out, withPath(n, paths[n.ID]))
	}
	for _, n := range slices.Backward(nodes) {
		t.remove(n)
	}
	t.touch(in.ParentID)
	return out
}

// mountBelow returns a mount point at or under clean, if any.
func (t *txn) mountBelow(clean string) (Mount, bool) {
	for _, m := range t.mounts {
		if isUnder(m.Path, clean) {
			return m, true
		}
	}
	return Mount{}, false
}

// applyDelete removes an inode; a directory with children only if recursive. "/", mount
// points and directories holding mount points cannot be deleted (unmount first).
func (t *txn) applyDelete(e *sluicepb.DeleteEntry) ([]Inode, error) {
	t.timeMs = e.GetTimeMs()
	clean, err := ValidatePath(e.GetPath())
	if err != nil {
		return nil, err
	}
	if clean == "/" {
		return nil, fmt.Errorf("cannot delete /: %w", ErrInvalidArgument)
	}
	in, err := lookup(t, clean)
	if err != nil {
		return nil, err
	}
	if m, ok := t.mountBelow(clean); ok {
		return nil, fmt.Errorf("%s holds mount point %s: %w", clean, m.Path, ErrMountConflict)
	}
	if err := t.checkWritable(clean); err != nil {
		return nil, err
	}
	if in.Directory && !e.GetRecursive() && t.hasChildren(in.ID) {
		return nil, fmt.Errorf("%s: %w", clean, ErrDirectoryNotEmpty)
	}
	return t.removeTree(in, clean), nil
}

// applyRename moves src to dst. dst must not exist (ErrExists, also for dst == src), its
// parent must be an existing directory, and a directory cannot move into itself
// (ErrInvalidArgument). Renames stay within one mount and never move a mount point
// (ErrMountConflict). UFS paths of persisted inodes in the moved tree follow the move.
func (t *txn) applyRename(e *sluicepb.RenameEntry) (*Inode, error) {
	t.timeMs = e.GetTimeMs()
	src, err := ValidatePath(e.GetSrc())
	if err != nil {
		return nil, err
	}
	dst, err := ValidatePath(e.GetDst())
	if err != nil {
		return nil, err
	}
	if src == "/" || dst == "/" {
		return nil, fmt.Errorf("rename %s to %s: %w", src, dst, ErrInvalidArgument)
	}
	in, err := lookup(t, src)
	if err != nil {
		return nil, err
	}
	if _, err := lookup(t, dst); err == nil {
		return nil, fmt.Errorf("rename to %s: %w", dst, ErrExists)
	}
	if isUnder(dst, src) {
		return nil, fmt.Errorf("rename %s into itself (%s): %w", src, dst, ErrInvalidArgument)
	}
	parent, name, err := t.lookupParent(dst)
	if err != nil {
		return nil, err
	}
	if m, ok := t.mountBelow(src); ok {
		return nil, fmt.Errorf("%s holds mount point %s: %w", src, m.Path, ErrMountConflict)
	}
	ms, _ := resolveMount(t.mounts, src)
	md, _ := resolveMount(t.mounts, dst)
	if ms.Path != md.Path {
		return nil, fmt.Errorf("rename %s to %s crosses mounts: %w", src, dst, ErrMountConflict)
	}
	if err := t.checkWritable(src); err != nil {
		return nil, err
	}
	oldUFS, newUFS := t.ufsPathOf(src), t.ufsPathOf(dst)
	oldParent := in.ParentID
	moved := t.update(in.ID, func(n *Inode) { n.ParentID, n.Name = parent.ID, name })
	t.touch(oldParent)
	t.touch(parent.ID)
	if oldUFS != "" {
		for _, n := range t.subtree(moved) {
			if n.UFSPath != "" && isUnder(n.UFSPath, oldUFS) {
				p := newUFS + strings.TrimPrefix(n.UFSPath, oldUFS)
				n = t.update(n.ID, func(n *Inode) { n.UFSPath = p })
			}
			if n.ID == moved.ID {
				moved = n
			}
		}
	}
	return moved, nil
}

// applySetAttribute sets the attributes present in the entry, on the inode at path and,
// if recursive, on all below it. Under a read-only mount only pinning and TTLs that
// free (rather than delete) are allowed.
func (t *txn) applySetAttribute(e *sluicepb.SetAttributeEntry) (*Inode, error) {
	t.timeMs = e.GetTimeMs()
	clean, err := ValidatePath(e.GetPath())
	if err != nil {
		return nil, err
	}
	switch {
	case !(e.Pinned != nil) && !(e.TtlMs != nil) && !(e.TtlAction != nil) && !(e.Mode != nil) && !(e.Owner != nil) && !(e.Group != nil):
		return nil, fmt.Errorf("%s: no attribute to set: %w", clean, ErrInvalidArgument)
	case e.GetTtlMs() < 0 || !ttlActionFrom(e.GetTtlAction()).valid():
		return nil, fmt.Errorf("%s: TTL %d ms, action %v: %w", clean, e.GetTtlMs(), e.GetTtlAction(), ErrInvalidArgument)
	}
	if err := checkMode(e.GetMode()); err != nil {
		return nil, err
	}
	in, err := lookup(t, clean)
	if err != nil {
		return nil, err
	}
	// A TTL that deletes changes the UFS; one that frees touches only the cache.
	action, ttl := in.TTLAction, in.TTLMs
	if e.TtlAction != nil {
		action = ttlActionFrom(e.GetTtlAction())
	}
	if e.TtlMs != nil {
		ttl = e.GetTtlMs()
	}
	deletes := (e.TtlMs != nil || e.TtlAction != nil) && action == TTLDelete && ttl > 0
	if e.Mode != nil || e.Owner != nil || e.Group != nil || deletes {
		if err := t.checkWritable(clean); err != nil {
			return nil, err
		}
		if e.GetRecursive() {
			for _, m := range t.mounts {
				if m.ReadOnly && isUnder(m.Path, clean) {
					return nil, fmt.Errorf("%s holds read-only mount %s: %w", clean, m.Path, ErrReadOnly)
				}
			}
		}
	}
	set := func(n *Inode) {
		if e.Pinned != nil {
			n.Pinned = e.GetPinned()
		}
		if e.TtlMs != nil {
			n.TTLMs = e.GetTtlMs()
		}
		if e.TtlAction != nil {
			n.TTLAction = ttlActionFrom(e.GetTtlAction())
		}
		if e.Mode != nil {
			n.Mode = e.GetMode()
		}
		if e.Owner != nil {
			n.Owner = e.GetOwner()
		}
		if e.Group != nil {
			n.Group = e.GetGroup()
		}
	}
	targets := []*Inode{in}
	if e.GetRecursive() {
		targets = t.subtree(in)
	}
	var out *Inode
	for _, n := range targets {
		nw := t.update(n.ID, set)
		if out == nil {
			out = nw
		}
	}
	return out, nil
}

// applySetPersistenceState moves an inode between persistence states:
//   - NOT_PERSISTED: from TO_BE_PERSISTED (a checkpoint given up) or LOST (recomputed).
//   - TO_BE_PERSISTED: a COMPLETE file, from NOT_PERSISTED.
//   - PERSISTED: a COMPLETE file or a directory, from any state, with its UFS path.
//   - LOST: a file that is not PERSISTED (persisted data is re-read from the UFS).
//
// Setting the current state again is allowed and changes nothing but the UFS fields.
func (t *txn) applySetPersistenceState(e *sluicepb.SetPersistenceStateEntry) (*Inode, error) {
	t.timeMs = e.GetTimeMs()
	in := t.inode(e.GetId())
	if in == nil {
		return nil, fmt.Errorf("inode %d: %w", e.GetId(), ErrNotFound)
	}
	to := persistenceFrom(e.GetState())
	from := in.PersistenceState
	bad := func(why string) error {
		return fmt.Errorf("inode %d: %v to %v: %s: %w", in.ID, from, to, why, ErrInvalidArgument)
	}
	switch {
	case !to.valid():
		return nil, bad("unknown state")
	case in.Directory && to != Persisted && to != NotPersisted:
		return nil, fmt.Errorf("inode %d: directories are PERSISTED or NOT_PERSISTED: %w", in.ID, ErrIsDirectory)
	case to == NotPersisted && from == Persisted:
		return nil, bad("persisted data stays persisted")
	case to == ToBePersisted && (from == Persisted || from == Lost):
		return nil, bad("nothing to checkpoint")
	case (to == ToBePersisted || to == Persisted) && !in.Directory && !in.Complete:
		return nil, fmt.Errorf("inode %d: %w", in.ID, ErrFileIncomplete)
	case to == Persisted && e.GetUfsPath() == "":
		return nil, bad("no UFS path")
	case to == Lost && from == Persisted:
		return nil, bad("persisted data is never lost")
	}
	return t.update(in.ID, func(n *Inode) {
		n.PersistenceState = to
		if to == Persisted {
			n.UFSPath, n.UFSFingerprint = e.GetUfsPath(), e.GetUfsFingerprint()
		}
	}), nil
}

// applyLoadMetadata inserts what a UFS listing found. Paths that exist are skipped, so
// loading twice is harmless; a missing parent or a bad field fails the whole entry.
func (t *txn) applyLoadMetadata(e *sluicepb.LoadMetadataEntry) ([]*Inode, error) {
	t.timeMs = e.GetTimeMs()
	var created []*Inode
	for _, li := range e.GetInodes() {
		clean, err := ValidatePath(li.GetPath())
		if err != nil {
			return nil, err
		}
		if _, err := lookup(t, clean); err == nil || clean == "/" {
			continue
		}
		parent, name, err := t.lookupParent(clean)
		if err != nil {
			return nil, err
		}
		if err := checkMode(li.GetMode()); err != nil {
			return nil, err
		}
		ids, err := t.reserve(&sluicepb.JournalIdRange{First: li.GetId(), Count: 1})
		if err != nil {
			return nil, err
		}
		id, err := t.take(ids)
		if err != nil {
			return nil, err
		}
		mtime := li.GetUfsMtimeMs()
		if mtime == 0 {
			mtime = t.timeMs
		}
		in := &Inode{ID: id, ParentID: parent.ID, Name: name, Directory: li.GetDirectory(),
			Owner: li.GetOwner(), Group: li.GetGroup(), Mode: li.GetMode(),
			CreationTimeMs: mtime, ModificationTimeMs: mtime,
			PersistenceState: Persisted, UFSPath: t.ufsPathOf(clean), UFSFingerprint: li.GetUfsFingerprint()}
		if !in.Directory {
			if _, err := blocksFor(li.GetLength(), li.GetBlockSize()); err != nil {
				return nil, fmt.Errorf("%s: %w", clean, err)
			}
			in.Length, in.BlockSize, in.Complete = li.GetLength(), li.GetBlockSize(), true
		}
		t.put(nil, in)
		created = append(created, in)
	}
	for _, p := range e.GetLoadedDirs() {
		clean, err := ValidatePath(p)
		if err != nil {
			return nil, err
		}
		in, err := lookup(t, clean)
		if err != nil {
			return nil, err
		}
		if !in.Directory {
			return nil, fmt.Errorf("%s: %w", clean, ErrNotDirectory)
		}
		if !in.ChildrenLoaded {
			t.update(in.ID, func(n *Inode) { n.ChildrenLoaded = true })
		}
	}
	return created, nil
}

// applyUpdateAccessTime records a read; access times only move forward.
func (t *txn) applyUpdateAccessTime(e *sluicepb.UpdateAccessTimeEntry) (*Inode, error) {
	in := t.inode(e.GetId())
	if in == nil {
		return nil, fmt.Errorf("inode %d: %w", e.GetId(), ErrNotFound)
	}
	if in.AccessTimeMs >= e.GetTimeMs() {
		return in, nil
	}
	return t.update(in.ID, func(n *Inode) { n.AccessTimeMs = e.GetTimeMs() }), nil
}
