package state

import (
	"fmt"
	"sync"
	"sync/atomic"

	iradix "github.com/hashicorp/go-immutable-radix"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/lineage"
)

// State is the master's metadata: the namespace and the mount table, changed only by
// applying journal entries, in journal order, on every replica alike.
//
// Concurrency: writers (Apply, ApplyEntry, Restore) are serialized by a mutex; each
// publishes a new immutable View with one atomic store. Readers take View() without any
// lock and never wait for a writer, nor a writer for them. The brief's RWMutex is thus
// replaced by copy-on-write: a read lock would only guard the load of one pointer.
type State struct {
	// writeMu serializes the writers of cur, so each builds on the View before it.
	writeMu sync.Mutex
	// cur is the latest View.
	cur atomic.Pointer[View]
	// lineageMu guards graph, which mirrors the job records of the latest View. Writers
	// that change lineage hold writeMu and then lineageMu while they change graph and
	// publish the View, so a holder of lineageMu sees a graph and a View that agree (see
	// Lineage). A lineage.Graph is not safe for concurrent use, even for reads.
	lineageMu sync.Mutex
	graph     *lineage.Graph
}

// Result is what applying one entry produced. Inodes in it carry their paths.
type Result struct {
	// Index is the Raft index of the entry (0 when applied outside a journal).
	Index uint64
	// Inode is the inode the entry created or changed: the file, the directory, the
	// renamed inode at its new path, the target of SetAttribute, the mount point.
	Inode Inode
	// Created lists the directories created on the way by a recursive create, and what
	// LoadMetadata inserted, parents first.
	Created []Inode
	// Removed lists what Delete or Unmount removed, parents first, with the paths they
	// had: the caller drops the blocks of removed files.
	Removed []Inode
	// Job is the lineage job record a SubmitJob or JobStateChanged entry created or
	// changed.
	Job Job
	// RemovedJobs are the IDs of the jobs a DeleteLineage entry forgot, in topological
	// order (the named job first, descendants last).
	RemovedJobs []uint64
	// Err is the state error of an entry that changed nothing (ErrExists …).
	Err error
}

// New returns a state holding only the root directory "/" (ID RootID, mode 0755,
// unmounted): every replica starts from it and reaches the same state by the journal.
func New() *State {
	root := &Inode{ID: RootID, Directory: true, Mode: 0o755, ChildrenLoaded: true}
	empty := &View{inodes: iradix.New(), children: iradix.New(), ttl: iradix.New(),
		persist: iradix.New(), nextID: FirstID, jobs: iradix.New(), nextJobID: FirstJobID}
	t := newTxn(empty)
	t.put(nil, root)
	s := &State{graph: lineage.New()}
	s.cur.Store(t.commit(0))
	return s
}

// View returns the current immutable View. It is safe to call from any goroutine.
func (s *State) View() *View { return s.cur.Load() }

// Apply decodes and applies one journal entry at Raft index index. A state error is in
// Result.Err and changes nothing. Apply panics if data cannot be decoded (see Decode):
// replicas would diverge otherwise. An unknown ignorable entry changes nothing.
func (s *State) Apply(index uint64, data []byte) Result {
	t, msg := mustDecode(data)
	return s.ApplyEntry(index, t, msg)
}

// ApplyEntry applies a decoded entry; msg nil stands for an ignorable entry this master
// does not know. A msg of another type than t's payload is a bug of the caller and fails
// with ErrInvalidArgument.
func (s *State) ApplyEntry(index uint64, t EntryType, msg proto.Message) Result {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var graph *lineage.Graph
	if _, ok := lineageKinds[t]; ok {
		s.lineageMu.Lock()
		defer s.lineageMu.Unlock()
		graph = s.graph
	}
	base := s.cur.Load()
	applied := base.applied
	if index != 0 {
		applied = index
	}
	res, err := apply(base, t, msg, graph)
	res.Index = index
	if err != nil {
		// Nothing changed but the applied index.
		v := *base
		v.applied = applied
		s.cur.Store(&v)
		return Result{Index: index, Err: err}
	}
	s.cur.Store(res.next.commit(applied))
	return res.Result
}

type applied struct {
	Result
	next *txn
}

func apply(base *View, typ EntryType, msg proto.Message, graph *lineage.Graph) (applied, error) {
	k, ok := entryKinds[typ]
	t := newTxn(base)
	t.graph = graph
	switch {
	case msg == nil && typ&Ignorable != 0 && !ok:
		return applied{next: t}, nil
	case !ok || msg == nil || msg.ProtoReflect().Descriptor() != k.new().ProtoReflect().Descriptor():
		return applied{}, fmt.Errorf("apply %v: payload %T: %w", typ, msg, ErrInvalidArgument)
	}
	res, err := k.apply(t, msg)
	if err != nil {
		return applied{}, fmt.Errorf("%v: %w", typ, err)
	}
	return applied{Result: res, next: t}, nil
}

// result builds a Result from what an apply returned, with paths.
func (t *txn) result(in *Inode, created []*Inode, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	var r Result
	// Later changes of the same entry (a parent's modification time) made new versions:
	// report the latest.
	if in != nil {
		in = t.inode(in.ID)
		r.Inode = withPath(in, pathOf(t, in))
	}
	for _, c := range created {
		c = t.inode(c.ID)
		r.Created = append(r.Created, withPath(c, pathOf(t, c)))
	}
	return r, nil
}

func (t *txn) result1(in *Inode, err error) (Result, error) { return t.result(in, nil, err) }
