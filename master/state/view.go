package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"strings"

	iradix "github.com/hashicorp/go-immutable-radix"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// View is an immutable version of the whole state: what the state held after one
// applied entry. Applies never change a View, they build the next one (the trees are
// persistent radix trees that share what did not change), so a View may be read by any
// number of goroutines for as long as they like, with no lock, and every answer it
// gives is consistent with every other. A snapshot is a View written out.
type View struct {
	inodes    *iradix.Tree // inodeKey(id) → *Inode; the *Inode is never modified
	children  *iradix.Tree // childKey(parent, name) → uint64 child ID, sorted by name
	ttl       *iradix.Tree // ttlKey(expiry, id) → nil, for inodes with a TTL
	persist   *iradix.Tree // persistKey(state, id) → nil, for files
	mounts    []Mount      // sorted by Path; replaced, never modified in place
	nextID    uint64       // smallest ID no entry has reserved
	applied   uint64       // Raft index of the last applied entry
	files     int          // number of files (the rest of inodes are directories)
	jobs      *iradix.Tree // jobKey(id) → *Job, lineage job records; the *Job is never modified
	nextJobID uint64       // smallest lineage job ID no entry has used
}

// reader is what path walks need; both View and an apply's txn provide it.
type reader interface {
	inode(id uint64) *Inode
	child(parent uint64, name string) *Inode
}

// idKeyLen is the length of an ID in tree keys: its 16 hexadecimal digits, one per
// byte (values 0-15), most significant first, so keys sort as the IDs do. A byte per
// bit-nibble keeps radix nodes at most 16 wide: IDs are dense, and with a byte per 8
// bits every new ID would copy the 256-edge nodes on its path (each apply copies the
// nodes it changes), several KiB per entry.
const idKeyLen = 16

// appendID appends the key form of id to b.
func appendID(b []byte, id uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, byte(id>>shift)&0xf)
	}
	return b
}

// parseID reads an ID from the first idKeyLen bytes of a key.
func parseID(k []byte) uint64 {
	var id uint64
	for _, d := range k[:idKeyLen] {
		id = id<<4 | uint64(d)
	}
	return id
}

func inodeKey(id uint64) []byte { return appendID(make([]byte, 0, idKeyLen), id) }

func childKey(parent uint64, name string) []byte {
	return append(appendID(make([]byte, 0, idKeyLen+len(name)), parent), name...)
}

func ttlKey(expiry int64, id uint64) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+idKeyLen), uint64(expiry)^(1<<63))
	return appendID(b, id)
}

func persistKey(s PersistenceState, id uint64) []byte {
	return appendID(append(make([]byte, 0, 1+idKeyLen), byte(s)), id)
}

// keyBufLen is the size of the stack buffers of lookup keys: an ID and a name of up to
// 64 bytes need no allocation (reads are the master's hottest path).
const keyBufLen = idKeyLen + 64

func (v *View) inode(id uint64) *Inode {
	var buf [idKeyLen]byte
	x, ok := v.inodes.Get(appendID(buf[:0], id))
	if !ok {
		return nil
	}
	return x.(*Inode)
}

func (v *View) child(parent uint64, name string) *Inode {
	var buf [keyBufLen]byte
	x, ok := v.children.Get(append(appendID(buf[:0], parent), name...))
	if !ok {
		return nil
	}
	return v.inode(x.(uint64))
}

// nextComponent splits the first element off rest, a clean path without its leading
// "/" (or what remains of one).
func nextComponent(rest string) (name, after string) {
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i], rest[i+1:]
	}
	return rest, ""
}

// lookup walks a clean path from the root.
func lookup(r reader, clean string) (*Inode, error) {
	in := r.inode(RootID)
	for rest := clean[1:]; rest != ""; {
		var name string
		name, rest = nextComponent(rest)
		if !in.Directory {
			return nil, fmt.Errorf("%s: parent of %q is a file: %w", clean, name, ErrNotDirectory)
		}
		next := r.child(in.ID, name)
		if next == nil {
			return nil, fmt.Errorf("%s: %w", clean, ErrNotFound)
		}
		in = next
	}
	return in, nil
}

// Loaded reports whether the clean path p exists and every directory from "/" down to
// its parent has its UFS children loaded, as well as p itself when target is set and p
// is a directory: then loading metadata along p (LoadMetadata ONCE) has nothing to do.
// It answers false for anything else, a path that is not clean included.
func (v *View) Loaded(p string, target bool) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	in := v.inode(RootID)
	for rest := p[1:]; rest != ""; {
		var name string
		name, rest = nextComponent(rest)
		if !in.Directory || !in.ChildrenLoaded || name == "" {
			return false
		}
		if in = v.child(in.ID, name); in == nil {
			return false
		}
	}
	return !target || !in.Directory || in.ChildrenLoaded
}

// pathOf rebuilds the path of an inode from its ancestors.
func pathOf(r reader, in *Inode) string {
	if in.ID == RootID {
		return "/"
	}
	var names []string
	for in != nil && in.ID != RootID {
		names = append(names, in.Name)
		in = r.inode(in.ParentID)
	}
	n := 0
	for _, s := range names {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	for i := len(names) - 1; i >= 0; i-- {
		b = append(b, '/')
		b = append(b, names[i]...)
	}
	return string(b)
}

// childIDs returns the IDs of the children of a directory, sorted by name.
func childIDs(children *iradix.Node, parent uint64) []uint64 {
	var ids []uint64
	children.WalkPrefix(inodeKey(parent), func(_ []byte, v any) bool {
		ids = append(ids, v.(uint64))
		return false
	})
	return ids
}

// withPath returns a copy of in carrying its path.
func withPath(in *Inode, p string) Inode {
	c := *in
	c.Path = p
	return c
}

// Get returns the inode at path p.
func (v *View) Get(p string) (Inode, error) {
	clean, err := ValidatePath(p)
	if err != nil {
		return Inode{}, err
	}
	in, err := lookup(v, clean)
	if err != nil {
		return Inode{}, err
	}
	return withPath(in, clean), nil
}

// GetByID returns the inode with ID id.
func (v *View) GetByID(id uint64) (Inode, error) {
	in := v.inode(id)
	if in == nil {
		return Inode{}, fmt.Errorf("inode %d: %w", id, ErrNotFound)
	}
	return withPath(in, pathOf(v, in)), nil
}

// List returns the children of the directory at p, sorted by name. Listing a file
// returns the file alone, as HDFS and Alluxio do.
func (v *View) List(p string) ([]Inode, error) {
	clean, err := ValidatePath(p)
	if err != nil {
		return nil, err
	}
	in, err := lookup(v, clean)
	if err != nil {
		return nil, err
	}
	if !in.Directory {
		return []Inode{withPath(in, clean)}, nil
	}
	ids := childIDs(v.children.Root(), in.ID)
	out := make([]Inode, 0, len(ids))
	for _, id := range ids {
		c := v.inode(id)
		out = append(out, withPath(c, joinPath(clean, c.Name)))
	}
	return out, nil
}

// Walk calls fn for the inode at p and every inode below it, parents before children and
// siblings by name. If fn returns fs.SkipDir for a directory its children are skipped;
// fs.SkipAll ends the walk with nil; any other error ends it and is returned.
func (v *View) Walk(p string, fn func(Inode) error) error {
	clean, err := ValidatePath(p)
	if err != nil {
		return err
	}
	in, err := lookup(v, clean)
	if err != nil {
		return err
	}
	err = v.walk(in, clean, fn)
	if errors.Is(err, fs.SkipAll) {
		return nil
	}
	return err
}

func (v *View) walk(in *Inode, p string, fn func(Inode) error) error {
	if err := fn(withPath(in, p)); err != nil {
		if errors.Is(err, fs.SkipDir) && in.Directory {
			return nil
		}
		return err
	}
	if !in.Directory {
		return nil
	}
	for _, id := range childIDs(v.children.Root(), in.ID) {
		c := v.inode(id)
		if err := v.walk(c, joinPath(p, c.Name), fn); err != nil {
			return err
		}
	}
	return nil
}

// FilesByPersistence yields the files in persistence state s, by ID.
func (v *View) FilesByPersistence(s PersistenceState) iter.Seq[Inode] {
	return func(yield func(Inode) bool) {
		it := v.persist.Root().Iterator()
		it.SeekPrefix([]byte{byte(s)})
		for k, _, ok := it.Next(); ok; k, _, ok = it.Next() {
			in := v.inode(parseID(k[1:]))
			if !yield(withPath(in, pathOf(v, in))) {
				return
			}
		}
	}
}

// FileOfBlock returns the file that block blockID belongs to. It fails with ErrNotFound
// if that file does not exist, is a directory, or has no block of that index.
func (v *View) FileOfBlock(blockID uint64) (Inode, error) {
	in := v.inode(sluicepb.BlockFileID(blockID))
	if in == nil || in.Directory || int64(sluicepb.BlockIndex(blockID)) >= in.BlockCount() {
		return Inode{}, fmt.Errorf("block %d: %w", blockID, ErrNotFound)
	}
	return withPath(in, pathOf(v, in)), nil
}

// Expired yields the inodes whose TTL has expired at nowMs (CreationTimeMs+TTLMs <=
// nowMs), soonest expiry first.
func (v *View) Expired(nowMs int64) iter.Seq[Inode] {
	return func(yield func(Inode) bool) {
		it := v.ttl.Root().Iterator()
		for k, _, ok := it.Next(); ok; k, _, ok = it.Next() {
			if int64(binary.BigEndian.Uint64(k)^(1<<63)) > nowMs {
				return
			}
			in := v.inode(parseID(k[8:]))
			if !yield(withPath(in, pathOf(v, in))) {
				return
			}
		}
	}
}

// Counts are the sizes of a View.
type Counts struct {
	Files       int
	Directories int
	Mounts      int
}

// Counts returns the number of files, directories (the root included) and mounts.
func (v *View) Counts() Counts {
	return Counts{Files: v.files, Directories: v.inodes.Len() - v.files, Mounts: len(v.mounts)}
}

// NextID returns the smallest inode ID that no applied entry has reserved: where the
// leader's IDAllocator starts.
func (v *View) NextID() uint64 { return v.nextID }

// AppliedIndex returns the Raft index of the last entry applied to reach this View.
func (v *View) AppliedIndex() uint64 { return v.applied }
