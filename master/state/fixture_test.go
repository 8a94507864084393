package state

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// fixture drives a State the way the master does: IDs from an IDAllocator, times and
// indexes advancing, every entry encoded and applied through the journal codec.
type fixture struct {
	t     testing.TB
	s     *State
	ids   *IDAllocator
	now   int64
	index uint64
}

const blockSize = 64

// newFixture returns a state with "/" mounted on file:///ufs.
func newFixture(t testing.TB) *fixture {
	f := &fixture{t: t, s: New(), now: 1000}
	f.ids = NewIDAllocator(f.s.View().NextID())
	f.must(EntryMount, &sluicepb.MountEntry{Path: "/", UfsUri: "file:///ufs", Owner: "root", Group: "root", Mode: 0o755})
	return f
}

// apply encodes, applies and returns the result of one entry.
func (f *fixture) apply(typ EntryType, msg proto.Message) Result {
	f.t.Helper()
	data, err := Encode(typ, msg)
	if err != nil {
		f.t.Fatalf("Encode(%v): %v", typ, err)
	}
	f.index++
	f.now += 10
	return f.s.Apply(f.index, data)
}

func (f *fixture) must(typ EntryType, msg proto.Message) Result {
	f.t.Helper()
	r := f.apply(typ, msg)
	if r.Err != nil {
		f.t.Fatalf("apply %v %v: %v", typ, msg, r.Err)
	}
	return r
}

func (f *fixture) reserve(p string) *sluicepb.JournalIdRange {
	f.t.Helper()
	r, err := f.ids.ReserveForPath(p)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) createFileEntry(p string) *sluicepb.CreateFileEntry {
	return &sluicepb.CreateFileEntry{Path: p, Ids: f.reserve(p), Recursive: true, BlockSize: blockSize,
		Owner: "u", Group: "g", Mode: 0o644, DirMode: 0o755, TimeMs: f.now}
}

func (f *fixture) mkdirEntry(p string) *sluicepb.CreateDirectoryEntry {
	return &sluicepb.CreateDirectoryEntry{Path: p, Ids: f.reserve(p), Recursive: true,
		Owner: "u", Group: "g", Mode: 0o755, TimeMs: f.now}
}

// file creates a file (and its parents); length >= 0 also completes it.
func (f *fixture) file(p string, length int64) Inode {
	f.t.Helper()
	in := f.must(EntryCreateFile, f.createFileEntry(p)).Inode
	if length >= 0 {
		in = f.must(EntryCompleteFile, &sluicepb.CompleteFileEntry{Id: in.ID, Length: length, TimeMs: f.now}).Inode
	}
	return in
}

func (f *fixture) mkdir(p string) Inode {
	f.t.Helper()
	return f.must(EntryCreateDirectory, f.mkdirEntry(p)).Inode
}

func (f *fixture) mount(p, uri string, readOnly bool) Inode {
	f.t.Helper()
	return f.must(EntryMount, &sluicepb.MountEntry{Path: p, UfsUri: uri, ReadOnly: readOnly,
		Ids: f.reserve(p), Mode: 0o755, TimeMs: f.now}).Inode
}

func (f *fixture) get(p string) Inode {
	f.t.Helper()
	in, err := f.s.View().Get(p)
	if err != nil {
		f.t.Fatalf("Get(%s): %v", p, err)
	}
	return in
}

func (f *fixture) exists(p string) bool {
	_, err := f.s.View().Get(p)
	return err == nil
}

// newTree returns a fixture holding:
//
//	/a/f        complete file, 100 bytes (2 blocks)
//	/a/g        incomplete file
//	/a/sub/h    complete file, 10 bytes
//	/e          empty directory
//	/ro         read-only mount of file:///ro, holding the loaded file /ro/x
//	/m          mount of file:///m, holding /m/y (complete)
func newTree(t testing.TB) *fixture {
	f := newFixture(t)
	f.file("/a/f", 100)
	f.file("/a/g", -1)
	f.file("/a/sub/h", 10)
	f.mkdir("/e")
	f.mount("/ro", "file:///ro", true)
	r, _ := f.ids.Reserve(1)
	f.must(EntryLoadMetadata, &sluicepb.LoadMetadataEntry{TimeMs: f.now, LoadedDirs: []string{"/ro"},
		Inodes: []*sluicepb.LoadedInode{{Id: r.First, Path: "/ro/x", Length: 5, BlockSize: blockSize}}})
	f.mount("/m", "file:///m", false)
	f.file("/m/y", 1)
	return f
}
