package state

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	iradix "github.com/hashicorp/go-immutable-radix"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/lineage"
)

// snapshotVersion is the format of the stream WriteSnapshot writes.
const snapshotVersion = 1

// maxRecordSize bounds one snapshot record (a mount with many options is the largest).
const maxRecordSize = 16 << 20

// WriteSnapshot writes the View as a stream of length-delimited SnapshotRecord messages:
// a header (format version, next ID, applied index), every inode with parents before
// children, every mount, and a footer with the counts. The View is immutable, so this
// may run for as long as the I/O takes while applies go on.
func (v *View) WriteSnapshot(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	// Deterministic, so that equal Views give equal bytes (mount options are maps).
	opts := protodelim.MarshalOptions{MarshalOptions: proto.MarshalOptions{Deterministic: true}}
	put := func(rec *sluicepb.SnapshotRecord) error {
		_, err := opts.MarshalTo(bw, rec)
		return err
	}
	err := put(&sluicepb.SnapshotRecord{Record: &sluicepb.SnapshotRecord_Header{Header: &sluicepb.SnapshotHeader{
		Version: snapshotVersion, NextId: v.nextID, AppliedIndex: v.applied, NextJobId: v.nextJobID}}})
	if err != nil {
		return fmt.Errorf("write snapshot header: %w", err)
	}
	var inodes uint64
	queue := []uint64{RootID}
	for len(queue) > 0 {
		in := v.inode(queue[0])
		queue = queue[1:]
		if in.Directory {
			queue = append(queue, childIDs(v.children.Root(), in.ID)...)
		}
		if err := put(&sluicepb.SnapshotRecord{Record: &sluicepb.SnapshotRecord_Inode{Inode: toSnapshotInode(in)}}); err != nil {
			return fmt.Errorf("write snapshot inode %d: %w", in.ID, err)
		}
		inodes++
	}
	for _, m := range v.mounts {
		err := put(&sluicepb.SnapshotRecord{Record: &sluicepb.SnapshotRecord_Mount{Mount: &sluicepb.SnapshotMount{
			Path: m.Path, UfsUri: m.UFSURI, ReadOnly: m.ReadOnly, Options: m.Options, Id: m.ID}}})
		if err != nil {
			return fmt.Errorf("write snapshot mount %s: %w", m.Path, err)
		}
	}
	var jobs uint64
	it := v.jobs.Root().Iterator()
	for _, x, ok := it.Next(); ok; _, x, ok = it.Next() {
		j := x.(*Job)
		if err := put(&sluicepb.SnapshotRecord{Record: &sluicepb.SnapshotRecord_Job{Job: toSnapshotJob(j)}}); err != nil {
			return fmt.Errorf("write snapshot job %d: %w", j.ID, err)
		}
		jobs++
	}
	err = put(&sluicepb.SnapshotRecord{Record: &sluicepb.SnapshotRecord_Footer{Footer: &sluicepb.SnapshotFooter{
		InodeCount: inodes, MountCount: uint64(len(v.mounts)), JobCount: jobs}}})
	if err != nil {
		return fmt.Errorf("write snapshot footer: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// Restore replaces the whole state by the snapshot read from r. On error the state is
// left as it was. It waits for a running apply to finish.
func (s *State) Restore(r io.Reader) error {
	v, g, err := readSnapshot(r)
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.lineageMu.Lock()
	defer s.lineageMu.Unlock()
	s.graph = g
	s.cur.Store(v)
	return nil
}

// ReadSnapshot reads a stream WriteSnapshot wrote and checks it: the header comes first,
// the root first among inodes, every inode after its parent, no ID twice, no name twice
// in a directory, no ID at or above the next ID, every mount on a directory that is
// marked as its mount point, lineage jobs that form a valid graph (lineage.Restore) with
// IDs below the next job ID, and the footer's counts. Errors wrap ErrCorruptSnapshot.
func ReadSnapshot(r io.Reader) (*View, error) {
	v, _, err := readSnapshot(r)
	return v, err
}

// readSnapshot is ReadSnapshot, which also returns the lineage graph of the jobs.
func readSnapshot(r io.Reader) (*View, *lineage.Graph, error) {
	v, jobs, err := readSnapshotView(r)
	if err != nil {
		return nil, nil, err
	}
	ls := lineage.Snapshot{Version: 1}
	for _, j := range jobs {
		ls.Jobs = append(ls.Jobs, j.Job)
	}
	g, err := lineage.Restore(ls)
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot: lineage: %v: %w", err, ErrCorruptSnapshot)
	}
	return v, g, nil
}

func readSnapshotView(r io.Reader) (*View, []*Job, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	opts := protodelim.UnmarshalOptions{MaxSize: maxRecordSize}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("snapshot: %s: %w", fmt.Sprintf(format, args...), ErrCorruptSnapshot)
	}
	read := func() (*sluicepb.SnapshotRecord, error) {
		rec := new(sluicepb.SnapshotRecord)
		if err := opts.UnmarshalFrom(br, rec); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, bad("truncated")
			}
			return nil, bad("%v", err)
		}
		return rec, nil
	}
	rec, err := read()
	if err != nil {
		return nil, nil, err
	}
	h := rec.GetHeader()
	switch {
	case h == nil:
		return nil, nil, bad("no header")
	case h.GetVersion() != snapshotVersion:
		return nil, nil, bad("version %d, want %d", h.GetVersion(), snapshotVersion)
	case h.GetNextId() < FirstID || h.GetNextId() > MaxID+1:
		return nil, nil, bad("next ID %d", h.GetNextId())
	}
	nextJobID := max(h.GetNextJobId(), FirstJobID)
	empty := &View{inodes: iradix.New(), children: iradix.New(), ttl: iradix.New(),
		persist: iradix.New(), nextID: h.GetNextId(), jobs: iradix.New(), nextJobID: nextJobID}
	t := newTxn(empty)
	var inodes uint64
	var mounts []Mount
	var jobs []*Job
	for {
		rec, err := read()
		if err != nil {
			return nil, nil, err
		}
		switch x := rec.GetRecord().(type) {
		case *sluicepb.SnapshotRecord_Inode:
			in := fromSnapshotInode(x.Inode)
			if err := checkRestoredInode(t, in, inodes == 0); err != nil {
				return nil, nil, bad("%v", err)
			}
			t.put(nil, in)
			inodes++
		case *sluicepb.SnapshotRecord_Mount:
			m := x.Mount
			in := t.inode(m.GetId())
			clean, err := ValidatePath(m.GetPath())
			dup := slices.ContainsFunc(mounts, func(o Mount) bool { return o.Path == clean || o.ID == m.GetId() })
			if err != nil || in == nil || !in.Directory || !in.MountPoint || pathOf(t, in) != clean || dup {
				return nil, nil, bad("mount %q on inode %d", m.GetPath(), m.GetId())
			}
			mounts = append(mounts, Mount{ID: m.GetId(), Path: clean, UFSURI: m.GetUfsUri(),
				ReadOnly: m.GetReadOnly(), Options: maps.Clone(m.GetOptions())})
		case *sluicepb.SnapshotRecord_Job:
			j, err := fromSnapshotJob(x.Job)
			switch {
			case err != nil:
				return nil, nil, bad("%v", err)
			case j.ID >= nextJobID:
				return nil, nil, bad("job %d at or above next job ID %d", j.ID, nextJobID)
			case t.job(j.ID) != nil:
				return nil, nil, bad("job %d twice", j.ID)
			}
			t.jobs.Insert(jobKey(j.ID), j)
			jobs = append(jobs, j)
		case *sluicepb.SnapshotRecord_Footer:
			if x.Footer.GetInodeCount() != inodes || x.Footer.GetMountCount() != uint64(len(mounts)) ||
				x.Footer.GetJobCount() != uint64(len(jobs)) {
				return nil, nil, bad("footer counts %d inodes, %d mounts and %d jobs, read %d, %d and %d",
					x.Footer.GetInodeCount(), x.Footer.GetMountCount(), x.Footer.GetJobCount(), inodes, len(mounts), len(jobs))
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				return nil, nil, bad("data after the footer")
			}
			slices.SortFunc(mounts, func(a, b Mount) int { return strings.Compare(a.Path, b.Path) })
			t.mounts = mounts
			return t.commit(h.GetAppliedIndex()), jobs, nil
		default:
			return nil, nil, bad("unknown record %T", rec.GetRecord())
		}
	}
}

// checkRestoredInode checks one inode read from a snapshot against what came before it.
func checkRestoredInode(t *txn, in *Inode, first bool) error {
	switch {
	case first != (in.ID == RootID):
		return fmt.Errorf("inode %d: the root must come first", in.ID)
	case in.ID == RootID && (!in.Directory || in.ParentID != 0 || in.Name != ""):
		return fmt.Errorf("malformed root")
	case in.ID > MaxID || in.ID >= t.nextID && in.ID != RootID:
		return fmt.Errorf("inode %d at or above next ID %d", in.ID, t.nextID)
	case t.inode(in.ID) != nil:
		return fmt.Errorf("inode %d twice", in.ID)
	case !in.PersistenceState.valid() || !in.TTLAction.valid():
		return fmt.Errorf("inode %d: bad persistence state or TTL action", in.ID)
	}
	if in.ID == RootID {
		return nil
	}
	parent := t.inode(in.ParentID)
	switch {
	case parent == nil || !parent.Directory:
		return fmt.Errorf("inode %d before its parent directory %d", in.ID, in.ParentID)
	case in.Name == "" || strings.ContainsAny(in.Name, "/\x00") || in.Name == "." || in.Name == "..":
		return fmt.Errorf("inode %d: bad name %q", in.ID, in.Name)
	case t.child(in.ParentID, in.Name) != nil:
		return fmt.Errorf("inode %d: name %q twice in directory %d", in.ID, in.Name, in.ParentID)
	}
	return nil
}

func toSnapshotInode(in *Inode) *sluicepb.SnapshotInode {
	return &sluicepb.SnapshotInode{
		Id: in.ID, ParentId: in.ParentID, Name: in.Name, Directory: in.Directory,
		Owner: in.Owner, Group: in.Group, Mode: in.Mode,
		CreationTimeMs: in.CreationTimeMs, ModificationTimeMs: in.ModificationTimeMs, AccessTimeMs: in.AccessTimeMs,
		Pinned: in.Pinned, TtlMs: in.TTLMs, TtlAction: sluicepb.JournalTtlAction(in.TTLAction),
		PersistenceState: sluicepb.JournalPersistenceState(in.PersistenceState),
		UfsPath:          in.UFSPath, UfsFingerprint: in.UFSFingerprint,
		MountPoint: in.MountPoint, ChildrenLoaded: in.ChildrenLoaded,
		Length: in.Length, BlockSize: in.BlockSize, Complete: in.Complete, JobId: in.JobID, Checksum: in.Checksum,
	}
}

func fromSnapshotInode(s *sluicepb.SnapshotInode) *Inode {
	return &Inode{
		ID: s.GetId(), ParentID: s.GetParentId(), Name: s.GetName(), Directory: s.GetDirectory(),
		Owner: s.GetOwner(), Group: s.GetGroup(), Mode: s.GetMode(),
		CreationTimeMs: s.GetCreationTimeMs(), ModificationTimeMs: s.GetModificationTimeMs(), AccessTimeMs: s.GetAccessTimeMs(),
		Pinned: s.GetPinned(), TTLMs: s.GetTtlMs(), TTLAction: ttlActionFrom(s.GetTtlAction()),
		PersistenceState: persistenceFrom(s.GetPersistenceState()),
		UFSPath:          s.GetUfsPath(), UFSFingerprint: s.GetUfsFingerprint(),
		MountPoint: s.GetMountPoint(), ChildrenLoaded: s.GetChildrenLoaded(),
		Length: s.GetLength(), BlockSize: s.GetBlockSize(), Complete: s.GetComplete(), JobID: s.GetJobId(), Checksum: s.GetChecksum(),
	}
}
