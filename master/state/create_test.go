package state

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

func createFile(p string, edit ...func(*sluicepb.CreateFileEntry)) func(f *fixture) (EntryType, proto.Message) {
	return func(f *fixture) (EntryType, proto.Message) {
		e := f.createFileEntry(p)
		for _, fn := range edit {
			fn(e)
		}
		return EntryCreateFile, e
	}
}

func TestState_CreateFile(t *testing.T) {
	nonRecursive := func(e *sluicepb.CreateFileEntry) { e.Recursive = false }
	runCases(t, []opCase{
		{name: "new file", entry: createFile("/a/new"), check: func(t *testing.T, f *fixture, r Result) {
			in := f.get("/a/new")
			if in.ID != r.Inode.ID || in.Complete || in.Directory || in.BlockSize != blockSize ||
				in.CreationTimeMs == 0 || in.Owner != "u" || in.Mode != 0o644 || in.PersistenceState != NotPersisted {
				t.Errorf("created %+v", in)
			}
			if p := f.get("/a"); p.ModificationTimeMs != in.CreationTimeMs {
				t.Errorf("parent mtime %d, want %d", p.ModificationTimeMs, in.CreationTimeMs)
			}
		}},
		{name: "recursive parents", entry: createFile("/x/y/z"), check: func(t *testing.T, f *fixture, r Result) {
			if len(r.Created) != 2 || r.Created[0].Path != "/x" || r.Created[1].Path != "/x/y" || r.Inode.Path != "/x/y/z" {
				t.Errorf("result %+v", r)
			}
			if d := f.get("/x/y"); !d.Directory || d.Mode != 0o755 || !d.ChildrenLoaded {
				t.Errorf("parent %+v", d)
			}
		}},
		{name: "attributes", entry: createFile("/a/attr", func(e *sluicepb.CreateFileEntry) {
			e.Pinned, e.TtlMs, e.TtlAction, e.JobId = true, 500, sluicepb.JournalTtlAction_JOURNAL_TTL_ACTION_FREE, 42
		}), check: func(t *testing.T, f *fixture, r Result) {
			in := f.get("/a/attr")
			if !in.Pinned || in.TTLMs != 500 || in.TTLAction != TTLFree || in.JobID != 42 {
				t.Errorf("created %+v", in)
			}
		}},
		{name: "file exists", entry: createFile("/a/f"), want: ErrExists},
		{name: "directory exists", entry: createFile("/a/sub"), want: ErrExists},
		{name: "root", entry: createFile("/"), want: ErrExists},
		{name: "missing parent", entry: createFile("/nope/f", nonRecursive), want: ErrNotFound},
		{name: "parent is a file", entry: createFile("/a/f/x"), want: ErrNotDirectory},
		{name: "relative path", entry: createFile("a/b"), want: ErrInvalidPath},
		{name: "dot dot", entry: createFile("/a/../b"), want: ErrInvalidPath},
		{name: "zero block size", entry: createFile("/a/z", func(e *sluicepb.CreateFileEntry) { e.BlockSize = 0 }), want: ErrInvalidArgument},
		{name: "negative TTL", entry: createFile("/a/z", func(e *sluicepb.CreateFileEntry) { e.TtlMs = -1 }), want: ErrInvalidArgument},
		{name: "bad mode", entry: createFile("/a/z", func(e *sluicepb.CreateFileEntry) { e.Mode = 0o10000 }), want: ErrInvalidArgument},
		{name: "read-only mount", entry: createFile("/ro/new"), want: ErrReadOnly},
		{name: "no IDs", entry: createFile("/a/z", func(e *sluicepb.CreateFileEntry) { e.Ids = nil }), want: ErrInvalidArgument},
		{name: "ID in use", entry: createFile("/a/z", func(e *sluicepb.CreateFileEntry) {
			e.Ids = &sluicepb.JournalIdRange{First: FirstID, Count: 1}
		}), want: ErrInvalidArgument},
		{name: "ID beyond 40 bits", entry: createFile("/a/z", func(e *sluicepb.CreateFileEntry) {
			e.Ids = &sluicepb.JournalIdRange{First: MaxID + 1, Count: 1}
		}), want: ErrInvalidArgument},
		{name: "too few IDs for parents", entry: createFile("/p/q/r", func(e *sluicepb.CreateFileEntry) { e.Ids.Count = 2 }), want: ErrInvalidArgument},
		{name: "unused IDs are skipped", entry: createFile("/a/z", func(e *sluicepb.CreateFileEntry) { e.Ids.Count = 5 }),
			check: func(t *testing.T, f *fixture, r Result) {
				if got, want := f.s.View().NextID(), r.Inode.ID+5; got != want {
					t.Errorf("NextID() = %d, want %d", got, want)
				}
			}},
	})
}

func completeFile(p string, length int64, edit ...func(*sluicepb.CompleteFileEntry)) func(f *fixture) (EntryType, proto.Message) {
	return func(f *fixture) (EntryType, proto.Message) {
		id := uint64(12345)
		if in, err := f.s.View().Get(p); err == nil {
			id = in.ID
		}
		e := &sluicepb.CompleteFileEntry{Id: id, Length: length, TimeMs: f.now, Checksum: "crc32c:00ff"}
		for _, fn := range edit {
			fn(e)
		}
		return EntryCompleteFile, e
	}
}

func TestState_CompleteFile(t *testing.T) {
	runCases(t, []opCase{
		{name: "complete", entry: completeFile("/a/g", 130), check: func(t *testing.T, f *fixture, r Result) {
			in := f.get("/a/g")
			want := []uint64{sluicepb.NewBlockID(in.ID, 0), sluicepb.NewBlockID(in.ID, 1), sluicepb.NewBlockID(in.ID, 2)}
			if !in.Complete || in.Length != 130 || in.Checksum != "crc32c:00ff" || len(in.BlockIDs()) != 3 || in.BlockIDs()[2] != want[2] {
				t.Errorf("completed %+v, blocks %v, want %v", in, in.BlockIDs(), want)
			}
		}},
		{name: "empty file", entry: completeFile("/a/g", 0), check: func(t *testing.T, f *fixture, r Result) {
			if in := f.get("/a/g"); !in.Complete || in.BlockCount() != 0 {
				t.Errorf("completed %+v", in)
			}
		}},
		{name: "through", entry: completeFile("/a/g", 1, func(e *sluicepb.CompleteFileEntry) {
			e.Persisted, e.UfsPath, e.UfsFingerprint = true, "/a/g", "fp"
		}), check: func(t *testing.T, f *fixture, r Result) {
			if in := f.get("/a/g"); in.PersistenceState != Persisted || in.UFSPath != "/a/g" || in.UFSFingerprint != "fp" {
				t.Errorf("completed %+v", in)
			}
		}},
		{name: "twice", entry: completeFile("/a/f", 100), want: ErrFileComplete},
		{name: "directory", entry: completeFile("/a/sub", 0), want: ErrIsDirectory},
		{name: "unknown", entry: completeFile("/nope", 0), want: ErrNotFound},
		{name: "negative length", entry: completeFile("/a/g", -1), want: ErrInvalidArgument},
		{name: "too many blocks", entry: completeFile("/a/g", blockSize*MaxBlocksPerFile+1), want: ErrInvalidArgument},
		{name: "persisted without path", entry: completeFile("/a/g", 1, func(e *sluicepb.CompleteFileEntry) { e.Persisted = true }), want: ErrInvalidArgument},
	})
}

func createDir(p string, edit ...func(*sluicepb.CreateDirectoryEntry)) func(f *fixture) (EntryType, proto.Message) {
	return func(f *fixture) (EntryType, proto.Message) {
		e := f.mkdirEntry(p)
		for _, fn := range edit {
			fn(e)
		}
		return EntryCreateDirectory, e
	}
}

func TestState_CreateDirectory(t *testing.T) {
	allowExists := func(e *sluicepb.CreateDirectoryEntry) { e.AllowExists = true }
	runCases(t, []opCase{
		{name: "new", entry: createDir("/a/d"), check: func(t *testing.T, f *fixture, r Result) {
			if in := f.get("/a/d"); !in.Directory || in.ID != r.Inode.ID || in.PersistenceState != NotPersisted {
				t.Errorf("created %+v", in)
			}
		}},
		{name: "recursive takes first ID", entry: createDir("/p/q/r"), check: func(t *testing.T, f *fixture, r Result) {
			if len(r.Created) != 2 || r.Created[0].ID != r.Inode.ID+1 || r.Created[1].ID != r.Inode.ID+2 || r.Inode.Path != "/p/q/r" {
				t.Errorf("result %+v", r)
			}
		}},
		{name: "persisted", entry: createDir("/m/d/e", func(e *sluicepb.CreateDirectoryEntry) { e.Persisted = true }),
			check: func(t *testing.T, f *fixture, r Result) {
				for p, ufs := range map[string]string{"/m/d": "/d", "/m/d/e": "/d/e"} {
					if in := f.get(p); in.PersistenceState != Persisted || in.UFSPath != ufs {
						t.Errorf("%s: %+v, want UFS path %s", p, in, ufs)
					}
				}
			}},
		{name: "exists allowed", entry: createDir("/a/sub", allowExists), check: func(t *testing.T, f *fixture, r Result) {
			if r.Inode.ID != f.get("/a/sub").ID {
				t.Errorf("result %+v", r.Inode)
			}
		}},
		{name: "root allowed", entry: createDir("/", allowExists)},
		{name: "exists", entry: createDir("/a/sub"), want: ErrExists},
		{name: "file exists", entry: createDir("/a/f", allowExists), want: ErrExists},
		{name: "missing parent", entry: createDir("/q/r", func(e *sluicepb.CreateDirectoryEntry) { e.Recursive = false }), want: ErrNotFound},
		{name: "parent is a file", entry: createDir("/a/f/d"), want: ErrNotDirectory},
		{name: "read-only", entry: createDir("/ro/d"), want: ErrReadOnly},
		{name: "NUL", entry: createDir("/a/\x00"), want: ErrInvalidPath},
	})
}
