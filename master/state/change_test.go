package state

import (
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

func entry(typ EntryType, msg proto.Message) func(*fixture) (EntryType, proto.Message) {
	return func(*fixture) (EntryType, proto.Message) { return typ, msg }
}

func paths(ins []Inode) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.Path
	}
	return out
}

func TestState_Delete(t *testing.T) {
	del := func(p string, recursive bool) func(*fixture) (EntryType, proto.Message) {
		return entry(EntryDelete, &sluicepb.DeleteEntry{Path: p, Recursive: recursive, TimeMs: 99999})
	}
	runCases(t, []opCase{
		{name: "file", entry: del("/a/f", false), check: func(t *testing.T, f *fixture, r Result) {
			if f.exists("/a/f") || len(r.Removed) != 1 || r.Removed[0].Path != "/a/f" || r.Removed[0].BlockCount() != 2 {
				t.Errorf("removed %+v", r.Removed)
			}
			if f.get("/a").ModificationTimeMs != 99999 {
				t.Errorf("parent mtime not updated")
			}
		}},
		{name: "empty directory", entry: del("/e", false)},
		{name: "recursive", entry: del("/a", true), check: func(t *testing.T, f *fixture, r Result) {
			got, want := paths(r.Removed), []string{"/a", "/a/f", "/a/g", "/a/sub", "/a/sub/h"}
			if len(got) != len(want) {
				t.Fatalf("removed %v, want %v", got, want)
			}
			for i := range got {
				if got[i] != want[i] || f.exists(want[i]) {
					t.Errorf("removed %v, want %v", got, want)
				}
			}
		}},
		{name: "under a mount", entry: del("/m/y", false)},
		{name: "not empty", entry: del("/a", false), want: ErrDirectoryNotEmpty},
		{name: "root", entry: del("/", true), want: ErrInvalidArgument},
		{name: "mount point", entry: del("/m", true), want: ErrMountConflict},
		{name: "holds a mount point", setup: func(f *fixture) { f.mount("/e/mm", "file:///mm", false) },
			entry: del("/e", true), want: ErrMountConflict},
		{name: "missing", entry: del("/nope", false), want: ErrNotFound},
		{name: "read-only", entry: del("/ro/x", false), want: ErrReadOnly},
	})
}

func TestState_Rename(t *testing.T) {
	mv := func(src, dst string) func(*fixture) (EntryType, proto.Message) {
		return entry(EntryRename, &sluicepb.RenameEntry{Src: src, Dst: dst, TimeMs: 99999})
	}
	persist := func(p, ufs string) func(*fixture) {
		return func(f *fixture) {
			f.must(EntrySetPersistenceState, &sluicepb.SetPersistenceStateEntry{Id: f.get(p).ID,
				State: sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_PERSISTED, UfsPath: ufs})
		}
	}
	runCases(t, []opCase{
		{name: "file in place", entry: mv("/a/f", "/a/f2"), check: func(t *testing.T, f *fixture, r Result) {
			if f.exists("/a/f") || f.get("/a/f2").ID != r.Inode.ID || r.Inode.Path != "/a/f2" || r.Inode.Length != 100 {
				t.Errorf("renamed %+v", r.Inode)
			}
		}},
		{name: "file to another directory", entry: mv("/a/f", "/e/f"), check: func(t *testing.T, f *fixture, r Result) {
			if f.get("/a").ModificationTimeMs != 99999 || f.get("/e").ModificationTimeMs != 99999 {
				t.Errorf("parents' mtimes not updated")
			}
		}},
		{name: "directory", entry: mv("/a", "/e/b"), check: func(t *testing.T, f *fixture, r Result) {
			if f.get("/e/b/sub/h").Length != 10 || f.exists("/a") {
				t.Errorf("subtree did not move")
			}
		}},
		{name: "to root level", entry: mv("/a/sub/h", "/h")},
		{name: "UFS paths follow", setup: func(f *fixture) { persist("/a/sub/h", "/a/sub/h")(f); persist("/a/sub", "/a/sub")(f) },
			entry: mv("/a", "/z"), check: func(t *testing.T, f *fixture, r Result) {
				if in := f.get("/z/sub/h"); in.UFSPath != "/z/sub/h" {
					t.Errorf("UFS path %q", in.UFSPath)
				}
				if in := f.get("/z/sub"); in.UFSPath != "/z/sub" {
					t.Errorf("UFS path %q", in.UFSPath)
				}
			}},
		{name: "UFS path in a mount", setup: persist("/m/y", "/y"), entry: mv("/m/y", "/m/z"),
			check: func(t *testing.T, f *fixture, r Result) {
				if in := f.get("/m/z"); in.UFSPath != "/z" || r.Inode.UFSPath != "/z" {
					t.Errorf("UFS path %q", in.UFSPath)
				}
			}},
		{name: "dst exists", entry: mv("/a/f", "/a/g"), want: ErrExists},
		{name: "dst is a directory", entry: mv("/a/f", "/e"), want: ErrExists},
		{name: "onto itself", entry: mv("/a/f", "/a/f"), want: ErrExists},
		{name: "into itself", entry: mv("/a", "/a/sub/z"), want: ErrInvalidArgument},
		{name: "into its child", entry: mv("/a", "/a/z"), want: ErrInvalidArgument},
		{name: "dst parent missing", entry: mv("/a/f", "/nope/f"), want: ErrNotFound},
		{name: "dst parent is a file", entry: mv("/a/g", "/a/f/g"), want: ErrNotDirectory},
		{name: "src missing", entry: mv("/nope", "/z"), want: ErrNotFound},
		{name: "root", entry: mv("/", "/z"), want: ErrInvalidArgument},
		{name: "mount point", entry: mv("/m", "/mm"), want: ErrMountConflict},
		{name: "holds a mount point", setup: func(f *fixture) { f.mount("/e/mm", "file:///mm", false) },
			entry: mv("/e", "/e2"), want: ErrMountConflict},
		{name: "across mounts", entry: mv("/a/f", "/m/f"), want: ErrMountConflict},
		{name: "read-only", entry: mv("/ro/x", "/ro/z"), want: ErrReadOnly},
		{name: "bad dst", entry: mv("/a/f", "/a/../f"), want: ErrInvalidPath},
	})
}

func TestState_SetAttribute(t *testing.T) {
	set := func(p string, fn func(*sluicepb.SetAttributeEntry)) func(*fixture) (EntryType, proto.Message) {
		e := &sluicepb.SetAttributeEntry{Path: p, TimeMs: 99999}
		fn(e)
		return entry(EntrySetAttribute, e)
	}
	free := sluicepb.JournalTtlAction_JOURNAL_TTL_ACTION_FREE
	runCases(t, []opCase{
		{name: "pin", entry: set("/a/f", func(e *sluicepb.SetAttributeEntry) { e.Pinned = proto.Bool(true) }),
			check: func(t *testing.T, f *fixture, r Result) {
				if in := f.get("/a/f"); !in.Pinned || in.Owner != "u" || !r.Inode.Pinned {
					t.Errorf("set %+v", in)
				}
			}},
		{name: "recursive", entry: set("/a", func(e *sluicepb.SetAttributeEntry) {
			e.TtlMs, e.TtlAction, e.Owner, e.Group, e.Mode, e.Recursive = proto.Int64(5), &free, proto.String("o"), proto.String("gg"), proto.Uint32(0o700), true
		}), check: func(t *testing.T, f *fixture, r Result) {
			for _, p := range []string{"/a", "/a/f", "/a/sub", "/a/sub/h"} {
				if in := f.get(p); in.TTLMs != 5 || in.TTLAction != TTLFree || in.Owner != "o" || in.Group != "gg" || in.Mode != 0o700 {
					t.Errorf("%s: %+v", p, in)
				}
			}
			if in := f.get("/e"); in.Owner == "o" {
				t.Errorf("/e changed")
			}
		}},
		{name: "not recursive", entry: set("/a", func(e *sluicepb.SetAttributeEntry) { e.Owner = proto.String("o") }),
			check: func(t *testing.T, f *fixture, r Result) {
				if f.get("/a").Owner != "o" || f.get("/a/f").Owner == "o" {
					t.Errorf("owner set wrongly")
				}
			}},
		{name: "clear TTL", setup: func(f *fixture) {
			f.must(EntrySetAttribute, &sluicepb.SetAttributeEntry{Path: "/a/f", TtlMs: proto.Int64(10)})
		}, entry: set("/a/f", func(e *sluicepb.SetAttributeEntry) { e.TtlMs = proto.Int64(0) }),
			check: func(t *testing.T, f *fixture, r Result) {
				for in := range f.s.View().Expired(1 << 60) {
					t.Errorf("%s still expires", in.Path)
				}
			}},
		{name: "pin read-only", entry: set("/ro/x", func(e *sluicepb.SetAttributeEntry) { e.Pinned = proto.Bool(true) })},
		{name: "free TTL read-only", entry: set("/ro/x", func(e *sluicepb.SetAttributeEntry) { e.TtlMs, e.TtlAction = proto.Int64(1), &free })},
		{name: "delete TTL read-only", entry: set("/ro/x", func(e *sluicepb.SetAttributeEntry) { e.TtlMs = proto.Int64(1) }), want: ErrReadOnly},
		{name: "mode read-only", entry: set("/ro/x", func(e *sluicepb.SetAttributeEntry) { e.Mode = proto.Uint32(0o600) }), want: ErrReadOnly},
		{name: "recursive over a read-only mount", entry: set("/", func(e *sluicepb.SetAttributeEntry) {
			e.Owner, e.Recursive = proto.String("o"), true
		}), want: ErrReadOnly},
		{name: "recursive pin over a read-only mount", entry: set("/", func(e *sluicepb.SetAttributeEntry) {
			e.Pinned, e.Recursive = proto.Bool(true), true
		})},
		{name: "huge TTL", entry: set("/a/f", func(e *sluicepb.SetAttributeEntry) { e.TtlMs = proto.Int64(math.MaxInt64) }),
			check: func(t *testing.T, f *fixture, r Result) {
				for in := range f.s.View().Expired(1 << 62) {
					t.Errorf("%s expires", in.Path)
				}
			}},
		{name: "nothing", entry: set("/a/f", func(e *sluicepb.SetAttributeEntry) {}), want: ErrInvalidArgument},
		{name: "negative TTL", entry: set("/a/f", func(e *sluicepb.SetAttributeEntry) { e.TtlMs = proto.Int64(-1) }), want: ErrInvalidArgument},
		{name: "bad mode", entry: set("/a/f", func(e *sluicepb.SetAttributeEntry) { e.Mode = proto.Uint32(0o17777) }), want: ErrInvalidArgument},
		{name: "missing", entry: set("/nope", func(e *sluicepb.SetAttributeEntry) { e.Pinned = proto.Bool(true) }), want: ErrNotFound},
	})
}

func TestState_SetPersistenceState(t *testing.T) {
	const (
		not  = sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_NOT_PERSISTED
		tbp  = sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_TO_BE_PERSISTED
		done = sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_PERSISTED
		lost = sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_LOST
	)
	setTo := func(p string, s sluicepb.JournalPersistenceState, ufs string) func(*fixture) (EntryType, proto.Message) {
		return func(f *fixture) (EntryType, proto.Message) {
			id := uint64(99999)
			if in, err := f.s.View().Get(p); err == nil {
				id = in.ID
			}
			return EntrySetPersistenceState, &sluicepb.SetPersistenceStateEntry{Id: id, State: s, UfsPath: ufs, UfsFingerprint: "fp"}
		}
	}
	from := func(p string, s sluicepb.JournalPersistenceState) func(*fixture) {
		return func(f *fixture) {
			typ, msg := setTo(p, s, "/a/f")(f)
			f.must(typ, msg)
		}
	}
	expect := func(p string, s PersistenceState, ufs string) func(*testing.T, *fixture, Result) {
		return func(t *testing.T, f *fixture, r Result) {
			in := f.get(p)
			if in.PersistenceState != s || in.UFSPath != ufs || r.Inode.PersistenceState != s {
				t.Errorf("%s: %v at %q, want %v at %q", p, in.PersistenceState, in.UFSPath, s, ufs)
			}
			n := 0
			for in := range f.s.View().FilesByPersistence(s) {
				if in.Path == p {
					n++
				}
			}
			if n != 1 && !in.Directory {
				t.Errorf("FilesByPersistence(%v) lists %s %d times", s, p, n)
			}
		}
	}
	runCases(t, []opCase{
		{name: "to be persisted", entry: setTo("/a/f", tbp, ""), check: expect("/a/f", ToBePersisted, "")},
		{name: "persisted", setup: from("/a/f", tbp), entry: setTo("/a/f", done, "/a/f"), check: expect("/a/f", Persisted, "/a/f")},
		{name: "lost", entry: setTo("/a/f", lost, ""), check: expect("/a/f", Lost, "")},
		{name: "recomputed", setup: from("/a/f", lost), entry: setTo("/a/f", not, ""), check: expect("/a/f", NotPersisted, "")},
		{name: "checkpoint given up", setup: from("/a/f", tbp), entry: setTo("/a/f", not, ""), check: expect("/a/f", NotPersisted, "")},
		{name: "directory persisted", entry: setTo("/a/sub", done, "/a/sub"), check: expect("/a/sub", Persisted, "/a/sub")},
		{name: "again", setup: from("/a/f", lost), entry: setTo("/a/f", lost, ""), check: expect("/a/f", Lost, "")},
		{name: "persisted is never lost", setup: from("/a/f", done), entry: setTo("/a/f", lost, ""), want: ErrInvalidArgument},
		{name: "persisted stays", setup: from("/a/f", done), entry: setTo("/a/f", not, ""), want: ErrInvalidArgument},
		{name: "lost cannot be checkpointed", setup: from("/a/f", lost), entry: setTo("/a/f", tbp, ""), want: ErrInvalidArgument},
		{name: "incomplete", entry: setTo("/a/g", tbp, ""), want: ErrFileIncomplete},
		{name: "incomplete persisted", entry: setTo("/a/g", done, "/a/g"), want: ErrFileIncomplete},
		{name: "no UFS path", entry: setTo("/a/f", done, ""), want: ErrInvalidArgument},
		{name: "directory lost", entry: setTo("/a/sub", lost, ""), want: ErrIsDirectory},
		{name: "unknown state", entry: setTo("/a/f", 9, ""), want: ErrInvalidArgument},
		{name: "state out of byte range", entry: setTo("/a/f", 256, ""), want: ErrInvalidArgument},
		{name: "missing", entry: setTo("/nope", tbp, ""), want: ErrNotFound},
	})
}

func TestState_LoadMetadata(t *testing.T) {
	load := func(dirs []string, items ...*sluicepb.LoadedInode) func(*fixture) (EntryType, proto.Message) {
		return func(f *fixture) (EntryType, proto.Message) {
			r, _ := f.ids.Reserve(max(len(items), 1))
			for i, it := range items {
				if it.Id == 0 {
					it.Id = r.First + uint64(i)
				}
			}
			return EntryLoadMetadata, &sluicepb.LoadMetadataEntry{Inodes: items, LoadedDirs: dirs, TimeMs: 5}
		}
	}
	runCases(t, []opCase{
		{name: "files and directories", entry: load([]string{"/m", "/m/d"},
			&sluicepb.LoadedInode{Path: "/m/d", Directory: true, Mode: 0o755},
			&sluicepb.LoadedInode{Path: "/m/d/big", Length: 3*blockSize + 1, BlockSize: blockSize, UfsMtimeMs: 77, UfsFingerprint: "fp"},
			&sluicepb.LoadedInode{Path: "/m/y", Length: 9, BlockSize: blockSize}, // exists: skipped
		), check: func(t *testing.T, f *fixture, r Result) {
			in := f.get("/m/d/big")
			if !in.Complete || in.PersistenceState != Persisted || in.UFSPath != "/d/big" || in.BlockCount() != 4 ||
				in.ModificationTimeMs != 77 || in.UFSFingerprint != "fp" {
				t.Errorf("loaded %+v", in)
			}
			if d := f.get("/m/d"); !d.ChildrenLoaded || d.PersistenceState != Persisted || d.UFSPath != "/d" {
				t.Errorf("loaded %+v", d)
			}
			if !f.get("/m").ChildrenLoaded || f.get("/m/y").Length != 1 || len(r.Created) != 2 {
				t.Errorf("created %v", paths(r.Created))
			}
			if got, err := f.s.View().FileOfBlock(sluicepb.NewBlockID(in.ID, 3)); err != nil || got.Path != "/m/d/big" {
				t.Errorf("FileOfBlock = %v, %v", got.Path, err)
			}
		}},
		{name: "in a read-only mount", entry: load(nil, &sluicepb.LoadedInode{Path: "/ro/w", Length: 1, BlockSize: blockSize})},
		{name: "missing parent", entry: load(nil,
			&sluicepb.LoadedInode{Path: "/m/ok", Length: 1, BlockSize: blockSize},
			&sluicepb.LoadedInode{Path: "/m/nope/x", Length: 1, BlockSize: blockSize}), want: ErrNotFound},
		{name: "no block size", entry: load(nil, &sluicepb.LoadedInode{Path: "/m/x", Length: 1}), want: ErrInvalidArgument},
		{name: "ID in use", entry: load(nil, &sluicepb.LoadedInode{Id: RootID, Path: "/m/x", Length: 1, BlockSize: blockSize}), want: ErrInvalidArgument},
		{name: "loaded dir is a file", entry: load([]string{"/a/f"}), want: ErrNotDirectory},
		{name: "loaded dir missing", entry: load([]string{"/zz"}), want: ErrNotFound},
		{name: "bad path", entry: load(nil, &sluicepb.LoadedInode{Path: "m/x"}), want: ErrInvalidPath},
	})
}

func TestState_UpdateAccessTime(t *testing.T) {
	at := func(p string, ms int64) func(*fixture) (EntryType, proto.Message) {
		return func(f *fixture) (EntryType, proto.Message) {
			id := uint64(99999)
			if in, err := f.s.View().Get(p); err == nil {
				id = in.ID
			}
			return EntryUpdateAccessTime, &sluicepb.UpdateAccessTimeEntry{Id: id, TimeMs: ms}
		}
	}
	runCases(t, []opCase{
		{name: "forward", entry: at("/a/f", 5000), check: func(t *testing.T, f *fixture, r Result) {
			if f.get("/a/f").AccessTimeMs != 5000 {
				t.Errorf("access time %d", f.get("/a/f").AccessTimeMs)
			}
		}},
		{name: "never back", setup: func(f *fixture) {
			typ, msg := at("/a/f", 5000)(f)
			f.must(typ, msg)
		}, entry: at("/a/f", 10), check: func(t *testing.T, f *fixture, r Result) {
			if f.get("/a/f").AccessTimeMs != 5000 {
				t.Errorf("access time %d", f.get("/a/f").AccessTimeMs)
			}
		}},
		{name: "missing", entry: at("/nope", 1), want: ErrNotFound},
	})
}
