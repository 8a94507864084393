package master

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
)

func TestMaster_Namespace(t *testing.T) {
	tm, stores := startMaster(t, nil)
	e := newFakeExecutor(t, tm, "127.0.0.1:1")
	e.register()
	ctx := callCtx(t)

	data := bytes.Repeat([]byte("sluice!"), 400) // 2800 bytes: 3 blocks of 1024
	f := writeFile(t, tm, e, "/a/b/c.txt", data, sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	if f.GetState() != sluicepb.FileState_FILE_STATE_COMPLETE || f.GetLength() != 2800 || len(f.GetBlockIds()) != 3 {
		t.Fatalf("completed file: %v", f)
	}
	if f.GetPersistenceState() != sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED || f.GetInMemoryPercent() != 100 {
		t.Fatalf("MUST_CACHE file: %v", f)
	}
	if f.GetUfsPath() != "mem://root/a/b/c.txt" {
		t.Fatalf("ufs path %q", f.GetUfsPath())
	}

	// Block locations: all on e, with offsets and checksums.
	bl, err := tm.fs.GetBlockLocations(ctx, &sluicepb.GetBlockLocationsRequest{Path: "/a/b/c.txt", Offset: 1500})
	if err != nil {
		t.Fatal(err)
	}
	if len(bl.GetBlocks()) != 2 || bl.GetBlocks()[0].GetOffset() != 1024 || bl.GetBlocks()[1].GetBlock().GetLength() != 2800-2048 {
		t.Fatalf("blocks from 1500: %v", bl.GetBlocks())
	}
	for _, b := range bl.GetBlocks() {
		if len(b.GetLocations()) != 1 || b.GetLocations()[0].GetExecutorId() != e.id || b.GetBlock().Crc32C == nil || b.GetUfs() != nil {
			t.Fatalf("block %v", b)
		}
	}

	// Listing, sorted by path, parents before children.
	if _, err := tm.fs.CreateDirectory(ctx, &sluicepb.CreateDirectoryRequest{Path: "/a/b-dir"}); err != nil {
		t.Fatal(err)
	}
	ls, err := tm.fs.ListStatus(ctx, &sluicepb.ListStatusRequest{Path: "/a", Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, fi := range ls.GetFiles() {
		paths = append(paths, fi.GetPath())
	}
	if diff := cmp.Diff([]string{"/a/b", "/a/b-dir", "/a/b/c.txt"}, paths); diff != "" {
		t.Fatalf("recursive listing (-want +got):\n%s", diff)
	}

	// Rename a file, then delete the tree; executors are told to remove the blocks.
	rn, err := tm.fs.Rename(ctx, &sluicepb.RenameRequest{Src: "/a/b/c.txt", Dst: "/a/d.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if rn.GetFile().GetPath() != "/a/d.txt" || rn.GetFile().GetFileId() != f.GetFileId() {
		t.Fatalf("renamed: %v", rn.GetFile())
	}
	_, err = tm.fs.Delete(ctx, &sluicepb.DeleteRequest{Path: "/a"})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_DIRECTORY_NOT_EMPTY)
	del, err := tm.fs.Delete(ctx, &sluicepb.DeleteRequest{Path: "/a", Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if del.GetDeletedCount() != 4 {
		t.Fatalf("deleted %d inodes, want 4", del.GetDeletedCount())
	}
	cmds := e.heartbeat()
	rm, err := commandOf(cmds, sluicepb.CommandType_COMMAND_TYPE_REMOVE_BLOCKS)
	if err != nil || len(rm.GetBlockIds()) != 3 || len(e.blocks) != 0 {
		t.Fatalf("after delete: commands %v, held %d", cmds, len(e.blocks))
	}

	// SetAttribute: pin, mode, owner, recursive.
	if _, err := tm.fs.CreateDirectory(ctx, &sluicepb.CreateDirectoryRequest{Path: "/x/y", Recursive: true}); err != nil {
		t.Fatal(err)
	}
	pin, mode, owner := true, uint32(0o700), "alice"
	sa, err := tm.fs.SetAttribute(ctx, &sluicepb.SetAttributeRequest{Path: "/x", Pinned: &pin, Mode: &mode, Owner: &owner, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	y := tm.status("/x/y")
	if !sa.GetFile().GetPinned() || !y.GetPinned() || y.GetMode() != 0o700 || y.GetOwner() != "alice" {
		t.Fatalf("attributes: %v / %v", sa.GetFile(), y)
	}
	if cr, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/x/y/new"}); err != nil || !cr.GetFile().GetPinned() {
		t.Fatalf("file in a pinned directory: %v %v", cr, err)
	}

	// CreateDirectory THROUGH creates it in the UFS at once.
	if _, err := tm.fs.CreateDirectory(ctx, &sluicepb.CreateDirectoryRequest{Path: "/through", WriteType: sluicepb.WriteType_WRITE_TYPE_THROUGH}); err != nil {
		t.Fatal(err)
	}
	if fi, err := stores.Get("root").Stat(ctx, "/through"); err != nil || !fi.IsDir {
		t.Fatalf("UFS dir: %v %v", fi, err)
	}

	// Overwrite replaces a complete file.
	writeFile(t, tm, e, "/o.txt", []byte("one"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	_, err = tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/o.txt"})
	wantReason(t, err, codes.AlreadyExists, sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS)
	cr, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/o.txt", Overwrite: true})
	if err != nil || cr.GetFile().GetState() != sluicepb.FileState_FILE_STATE_INCOMPLETE {
		t.Fatalf("overwrite: %v %v", cr, err)
	}
}

func TestMaster_ThroughWrite(t *testing.T) {
	tm, stores := startMaster(t, nil)
	ctx := callCtx(t)
	cr, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/t/file", Recursive: true, WriteType: sluicepb.WriteType_WRITE_TYPE_THROUGH})
	if err != nil {
		t.Fatal(err)
	}
	if cr.GetUfs().GetUri() != "mem://root/t/file" || cr.GetUfs().GetMountId() != 1 {
		t.Fatalf("THROUGH target: %v", cr.GetUfs())
	}
	_, err = tm.fs.CompleteFile(ctx, &sluicepb.CompleteFileRequest{Path: "/t/file", Length: 15, UfsWritten: true})
	wantReason(t, err, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND)
	stores.Get("root").Put("/t/file", []byte("through the UFS"))
	_, err = tm.fs.CompleteFile(ctx, &sluicepb.CompleteFileRequest{Path: "/t/file", Length: 14, UfsWritten: true})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH)
	resp, err := tm.fs.CompleteFile(ctx, &sluicepb.CompleteFileRequest{Path: "/t/file", Length: 15, UfsWritten: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetFile().GetPersistenceState() != sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED || len(resp.GetFile().GetBlockIds()) != 1 {
		t.Fatalf("THROUGH file: %v", resp.GetFile())
	}
	bl, err := tm.fs.GetBlockLocations(ctx, &sluicepb.GetBlockLocationsRequest{Path: "/t/file"})
	if err != nil {
		t.Fatal(err)
	}
	src := bl.GetBlocks()[0].GetUfs()
	if src.GetFile().GetUri() != "mem://root/t/file" || src.GetLength() != 15 || src.GetFileLength() != 15 || len(bl.GetBlocks()[0].GetLocations()) != 0 {
		t.Fatalf("UFS source: %v", bl.GetBlocks()[0])
	}
}

func TestMaster_AccessTime(t *testing.T) {
	tm, _ := startMaster(t, nil)
	e := newFakeExecutor(t, tm, "127.0.0.1:1")
	e.register()
	writeFile(t, tm, e, "/read-me", []byte("hot"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	if tm.status("/read-me").GetLastAccessTimeMs() != 0 {
		t.Fatal("access time before any read")
	}
	if _, err := tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: "/read-me"}); err != nil {
		t.Fatal(err)
	}
	tm.m.flushAccess(callCtx(t))
	if tm.status("/read-me").GetLastAccessTimeMs() == 0 {
		t.Fatal("read not recorded")
	}
}
