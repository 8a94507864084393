package state

import (
	"fmt"

	iradix "github.com/hashicorp/go-immutable-radix"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/lineage"
)

// txn is one apply in progress: radix-tree transactions over a base View. An entry that
// fails is dropped with its txn, so a failed apply changes nothing (no half-applied
// entry); one that succeeds commits into the next View. A txn is used by one goroutine.
type txn struct {
	inodes   *iradix.Txn
	children *iradix.Txn
	ttl      *iradix.Txn
	persist  *iradix.Txn
	jobs     *iradix.Txn
	mounts   []Mount // copied before any change
	nextID   uint64
	files    int
	timeMs   int64 // the entry's time, for modification times
	// nextJobID is the lineage job counter; graph is the state's lineage graph, set only
	// for the entries that change lineage (lineageKinds), which change it last.
	nextJobID uint64
	graph     *lineage.Graph
}

func newTxn(v *View) *txn {
	return &txn{
		inodes:   v.inodes.Txn(),
		children: v.children.Txn(),
		ttl:      v.ttl.Txn(),
		persist:  v.persist.Txn(),
		jobs:     v.jobs.Txn(),
		mounts:   v.mounts,
		nextID:   v.nextID,
		files:    v.files,

		nextJobID: v.nextJobID,
	}
}

func (t *txn) commit(applied uint64) *View {
	return &View{
		inodes:   t.inodes.Commit(),
		children: t.children.Commit(),
		ttl:      t.ttl.Commit(),
		persist:  t.persist.Commit(),
		mounts:   t.mounts,
		nextID:   t.nextID,
		applied:  applied,
		files:    t.files,

		jobs:      t.jobs.Commit(),
		nextJobID: t.nextJobID,
	}
}

func (t *txn) inode(id uint64) *Inode {
	x, ok := t.inodes.Get(inodeKey(id))
	if !ok {
		return nil
	}
	return x.(*Inode)
}

func (t *txn) child(parent uint64, name string) *Inode {
	x, ok := t.children.Get(childKey(parent, name))
	if !ok {
		return nil
	}
	return t.inode(x.(uint64))
}

// put stores nw, which replaces old (nil for a new inode), and keeps the indexes in step.
// nw must not be modified afterwards: Views share it.
func (t *txn) put(old, nw *Inode) {
	if old != nil {
		t.unindex(old)
	} else if !nw.Directory {
		t.files++
	}
	t.inodes.Insert(inodeKey(nw.ID), nw)
	if nw.ID != RootID {
		t.children.Insert(childKey(nw.ParentID, nw.Name), nw.ID)
	}
	if exp, ok := nw.ExpiryMs(); ok {
		t.ttl.Insert(ttlKey(exp, nw.ID), nil)
	}
	if !nw.Directory {
		t.persist.Insert(persistKey(nw.PersistenceState, nw.ID), nil)
	}
}

func (t *txn) unindex(old *Inode) {
	if old.ID != RootID {
		t.children.Delete(childKey(old.ParentID, old.Name))
	}
	if exp, ok := old.ExpiryMs(); ok {
		t.ttl.Delete(ttlKey(exp, old.ID))
	}
	if !old.Directory {
		t.persist.Delete(persistKey(old.PersistenceState, old.ID))
	}
}

// remove deletes one inode (not its children) and its index entries.
func (t *txn) remove(in *Inode) {
	t.unindex(in)
	t.inodes.Delete(inodeKey(in.ID))
	if !in.Directory {
		t.files--
	}
}

// update replaces the current version of inode id by a copy changed by fn, and returns it.
func (t *txn) update(id uint64, fn func(*Inode)) *Inode {
	old := t.inode(id)
	nw := *old
	fn(&nw)
	t.put(old, &nw)
	return &nw
}

// touch moves the modification time of directory id forward to the entry's time.
func (t *txn) touch(id uint64) {
	if in := t.inode(id); in.ModificationTimeMs < t.timeMs {
		t.update(id, func(in *Inode) { in.ModificationTimeMs = t.timeMs })
	}
}

// subtree returns in and every inode below it, parents before children.
func (t *txn) subtree(in *Inode) []*Inode {
	out := []*Inode{in}
	for i := 0; i < len(out); i++ {
		if out[i].Directory {
			for _, id := range childIDs(t.children.Root(), out[i].ID) {
				out = append(out, t.inode(id))
			}
		}
	}
	return out
}

// hasChildren reports whether directory id has at least one child.
func (t *txn) hasChildren(id uint64) bool {
	it := t.children.Root().Iterator()
	it.SeekPrefix(inodeKey(id))
	_, _, ok := it.Next()
	return ok
}

// idRange hands out the IDs an entry reserved, in order.
type idRange struct{ next, end uint64 }

// reserve checks the range an entry carries and advances the ID counter past it, so that
// even the IDs the entry leaves unused are never handed out again.
func (t *txn) reserve(r *sluicepb.JournalIdRange) (*idRange, error) {
	if r == nil || r.GetCount() == 0 {
		return nil, fmt.Errorf("no IDs reserved: %w", ErrInvalidArgument)
	}
	first, count := r.GetFirst(), uint64(r.GetCount())
	if first < FirstID || first > MaxID || count > MaxID-first+1 {
		return nil, fmt.Errorf("ID range [%d, +%d) out of [%d, %d]: %w", first, count, FirstID, MaxID, ErrInvalidArgument)
	}
	t.nextID = max(t.nextID, first+count)
	return &idRange{next: first, end: first + count}, nil
}

// take returns the next reserved ID, which must not be in use.
func (t *txn) take(r *idRange) (uint64, error) {
	if r.next >= r.end {
		return 0, fmt.Errorf("too few IDs reserved: %w", ErrInvalidArgument)
	}
	id := r.next
	r.next++
	if t.inode(id) != nil {
		return 0, fmt.Errorf("ID %d is in use: %w", id, ErrInvalidArgument)
	}
	return id, nil
}

// lookupParent finds the existing parent directory of a clean path other than "/".
func (t *txn) lookupParent(clean string) (*Inode, string, error) {
	i := len(clean) - 1
	for clean[i] != '/' {
		i--
	}
	dir, name := clean[:max(i, 1)], clean[i+1:]
	parent, err := lookup(t, dir)
	if err != nil {
		return nil, "", err
	}
	if !parent.Directory {
		return nil, "", fmt.Errorf("%s: parent %s: %w", clean, dir, ErrNotDirectory)
	}
	return parent, name, nil
}

// checkWritable fails with ErrReadOnly if clean lies under a read-only mount.
func (t *txn) checkWritable(clean string) error {
	if m, ok := resolveMount(t.mounts, clean); ok && m.ReadOnly {
		return fmt.Errorf("%s: under %s: %w", clean, m.Path, ErrReadOnly)
	}
	return nil
}

// ufsPathOf returns where clean lies within the FS of its mount ("" if none covers it).
func (t *txn) ufsPathOf(clean string) string {
	m, ok := resolveMount(t.mounts, clean)
	if !ok {
		return ""
	}
	return ufsRel(m.Path, clean)
}
