package state

import (
	"fmt"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// newDir describes the directories an entry creates.
type newDir struct {
	owner, group string
	mode         uint32
	persisted    bool
}

// ensureParents returns the parent directory of clean (not "/"), creating the missing
// ones from ids when recursive. Created directories are appended to created.
func (t *txn) ensureParents(clean string, recursive bool, ids *idRange, d newDir, created *[]*Inode) (*Inode, error) {
	comps := components(clean)
	parent := t.inode(RootID)
	cur := "/"
	for _, name := range comps[:len(comps)-1] {
		cur = joinPath(cur, name)
		c := t.child(parent.ID, name)
		if c == nil {
			if !recursive {
				return nil, fmt.Errorf("%s: parent %s: %w", clean, cur, ErrNotFound)
			}
			dir, err := t.mkdir(parent.ID, name, cur, ids, d)
			if err != nil {
				return nil, err
			}
			*created = append(*created, dir)
			c = dir
		} else if !c.Directory {
			return nil, fmt.Errorf("%s: parent %s: %w", clean, cur, ErrNotDirectory)
		}
		parent = c
	}
	return parent, nil
}

// mkdir adds directory name (at path clean) under parent, with the next reserved ID.
func (t *txn) mkdir(parent uint64, name, clean string, ids *idRange, d newDir) (*Inode, error) {
	id, err := t.take(ids)
	if err != nil {
		return nil, err
	}
	in := &Inode{ID: id, ParentID: parent, Name: name, Directory: true,
		Owner: d.owner, Group: d.group, Mode: d.mode,
		CreationTimeMs: t.timeMs, ModificationTimeMs: t.timeMs,
		// A directory Sluice creates has no UFS children to load: the master loads a
		// path's metadata before creating under it.
		ChildrenLoaded: true}
	if d.persisted {
		in.PersistenceState = Persisted
		in.UFSPath = t.ufsPathOf(clean)
	}
	t.put(nil, in)
	t.touch(parent)
	return in, nil
}

func checkMode(mode uint32) error {
	if mode > 0o7777 {
		return fmt.Errorf("mode %o: %w", mode, ErrInvalidArgument)
	}
	return nil
}

// applyCreateFile creates an INCOMPLETE file. The file takes the first reserved ID and
// the parents created on the way (recursive) the following ones.
func (t *txn) applyCreateFile(e *sluicepb.CreateFileEntry) (*Inode, []*Inode, error) {
	t.timeMs = e.GetTimeMs()
	clean, err := ValidatePath(e.GetPath())
	if err != nil {
		return nil, nil, err
	}
	switch {
	case clean == "/":
		return nil, nil, fmt.Errorf("/: %w", ErrExists)
	case e.GetBlockSize() <= 0:
		return nil, nil, fmt.Errorf("block size %d: %w", e.GetBlockSize(), ErrInvalidArgument)
	case e.GetTtlMs() < 0 || !ttlActionFrom(e.GetTtlAction()).valid():
		return nil, nil, fmt.Errorf("TTL %d ms, action %v: %w", e.GetTtlMs(), e.GetTtlAction(), ErrInvalidArgument)
	}
	if err := checkMode(e.GetMode()); err != nil {
		return nil, nil, err
	}
	if err := checkMode(e.GetDirMode()); err != nil {
		return nil, nil, err
	}
	if err := t.checkWritable(clean); err != nil {
		return nil, nil, err
	}
	ids, err := t.reserve(e.GetIds())
	if err != nil {
		return nil, nil, err
	}
	id, err := t.take(ids)
	if err != nil {
		return nil, nil, err
	}
	var created []*Inode
	parent, err := t.ensureParents(clean, e.GetRecursive(), ids,
		newDir{owner: e.GetOwner(), group: e.GetGroup(), mode: e.GetDirMode()}, &created)
	if err != nil {
		return nil, nil, err
	}
	comps := components(clean)
	name := comps[len(comps)-1]
	if t.child(parent.ID, name) != nil {
		return nil, nil, fmt.Errorf("%s: %w", clean, ErrExists)
	}
	f := &Inode{ID: id, ParentID: parent.ID, Name: name,
		Owner: e.GetOwner(), Group: e.GetGroup(), Mode: e.GetMode(),
		CreationTimeMs: t.timeMs, ModificationTimeMs: t.timeMs,
		Pinned: e.GetPinned(), TTLMs: e.GetTtlMs(), TTLAction: ttlActionFrom(e.GetTtlAction()),
		BlockSize: e.GetBlockSize(), JobID: e.GetJobId()}
	t.put(nil, f)
	t.touch(parent.ID)
	return f, created, nil
}

// applyCompleteFile closes an INCOMPLETE file: write-once, so a second completion fails
// with ErrFileComplete. The length fixes the blocks (see Inode.BlockIDs).
func (t *txn) applyCompleteFile(e *sluicepb.CompleteFileEntry) (*Inode, error) {
	t.timeMs = e.GetTimeMs()
	f := t.inode(e.GetId())
	switch {
	case f == nil:
		return nil, fmt.Errorf("file %d: %w", e.GetId(), ErrNotFound)
	case f.Directory:
		return nil, fmt.Errorf("inode %d: %w", f.ID, ErrIsDirectory)
	case f.Complete:
		return nil, fmt.Errorf("file %d: %w", f.ID, ErrFileComplete)
	case e.GetPersisted() && e.GetUfsPath() == "":
		return nil, fmt.Errorf("file %d persisted without a UFS path: %w", f.ID, ErrInvalidArgument)
	}
	if _, err := blocksFor(e.GetLength(), f.BlockSize); err != nil {
		return nil, fmt.Errorf("file %d: %w", f.ID, err)
	}
	return t.update(f.ID, func(in *Inode) {
		in.Complete = true
		in.Length = e.GetLength()
		in.Checksum = e.GetChecksum()
		if in.PersistenceState == Lost {
			// An output reset for a recompute (ResetJobOutputs): rewritten, so readable.
			in.PersistenceState = NotPersisted
		}
		in.ModificationTimeMs = max(in.ModificationTimeMs, t.timeMs)
		if e.GetPersisted() {
			in.PersistenceState = Persisted
			in.UFSPath = e.GetUfsPath()
			in.UFSFingerprint = e.GetUfsFingerprint()
		}
	}), nil
}

// applyCreateDirectory creates a directory, which takes the first reserved ID; missing
// parents (recursive) take the following ones. An existing directory is returned
// unchanged when allow_exists is set.
func (t *txn) applyCreateDirectory(e *sluicepb.CreateDirectoryEntry) (*Inode, []*Inode, error) {
	t.timeMs = e.GetTimeMs()
	clean, err := ValidatePath(e.GetPath())
	if err != nil {
		return nil, nil, err
	}
	if err := checkMode(e.GetMode()); err != nil {
		return nil, nil, err
	}
	if in, err := lookup(t, clean); err == nil {
		if in.Directory && e.GetAllowExists() {
			return in, nil, nil
		}
		return nil, nil, fmt.Errorf("%s: %w", clean, ErrExists)
	}
	if err := t.checkWritable(clean); err != nil {
		return nil, nil, err
	}
	ids, err := t.reserve(e.GetIds())
	if err != nil {
		return nil, nil, err
	}
	// The directory takes the first ID: set it aside, create the parents from the rest.
	first := *ids
	if _, err := t.take(ids); err != nil {
		return nil, nil, err
	}
	d := newDir{owner: e.GetOwner(), group: e.GetGroup(), mode: e.GetMode(), persisted: e.GetPersisted()}
	var created []*Inode
	parent, err := t.ensureParents(clean, e.GetRecursive(), ids, d, &created)
	if err != nil {
		return nil, nil, err
	}
	comps := components(clean)
	first.end = first.next + 1
	dir, err := t.mkdir(parent.ID, comps[len(comps)-1], clean, &first, d)
	if err != nil {
		return nil, nil, err
	}
	return dir, created, nil
}
