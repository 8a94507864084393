package master

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// names lists the paths of a listing.
func names(fis []*sluicepb.FileInfo) []string {
	var out []string
	for _, fi := range fis {
		out = append(out, fi.GetPath())
	}
	return out
}

func TestMaster_MountAndMetadataLoading(t *testing.T) {
	tm, stores := startMaster(t, nil)
	ctx := callCtx(t)
	root, other := stores.Get("root"), stores.Get("other")
	root.Put("/data/a.csv", make([]byte, 3000))
	root.Put("/data/sub/b.csv", []byte("b"))
	other.Put("/x/y.txt", []byte("hello"))
	other.Put("/x/.y.txt.sluice-persist-9-9.tmp", []byte("half"))

	// NEVER answers from the namespace only.
	_, err := tm.fs.GetStatus(ctx, &sluicepb.GetStatusRequest{Path: "/data/a.csv", LoadMetadata: sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_NEVER})
	wantReason(t, err, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND)

	// ONCE (the default) loads the path on the way.
	a := tm.status("/data/a.csv")
	if a.GetPersistenceState() != sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED || a.GetLength() != 3000 ||
		len(a.GetBlockIds()) != 3 || a.GetInMemoryPercent() != 0 || a.GetState() != sluicepb.FileState_FILE_STATE_COMPLETE {
		t.Fatalf("loaded file: %v", a)
	}
	ls, err := tm.fs.ListStatus(ctx, &sluicepb.ListStatusRequest{Path: "/", Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/data", "/data/a.csv", "/data/sub", "/data/sub/b.csv"}, names(ls.GetFiles())); diff != "" {
		t.Fatalf("recursive listing (-want +got):\n%s", diff)
	}
	bl, err := tm.fs.GetBlockLocations(ctx, &sluicepb.GetBlockLocationsRequest{Path: "/data/a.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if b := bl.GetBlocks()[2]; b.GetUfs().GetOffsetInFile() != 2048 || b.GetUfs().GetLength() != 3000-2048 || b.GetUfs().GetFile().GetUri() != "mem://root/data/a.csv" {
		t.Fatalf("last block: %v", b)
	}

	// Files added to the UFS later appear with ALWAYS, not with ONCE.
	root.Put("/data/new.csv", []byte("new"))
	ls, err = tm.fs.ListStatus(ctx, &sluicepb.ListStatusRequest{Path: "/data"})
	if err != nil || len(ls.GetFiles()) != 2 {
		t.Fatalf("ONCE listing: %v %v", names(ls.GetFiles()), err)
	}
	ls, err = tm.fs.ListStatus(ctx, &sluicepb.ListStatusRequest{Path: "/data", LoadMetadata: sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ALWAYS})
	if err != nil || len(ls.GetFiles()) != 3 {
		t.Fatalf("ALWAYS listing: %v %v", names(ls.GetFiles()), err)
	}

	// Mount another UFS, read-only with options; its content loads under the mount point.
	mr, err := tm.fs.Mount(ctx, &sluicepb.MountRequest{Path: "/other", UfsUri: "mem://other", ReadOnly: true,
		Options: map[string]string{"region": "eu"}, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	if mr.GetMount().GetUfsType() != "mem" || !mr.GetMount().GetReadOnly() || !mr.GetMount().GetShared() || mr.GetMount().GetOptions() != nil {
		t.Fatalf("mount: %v", mr.GetMount())
	}
	ls, err = tm.fs.ListStatus(ctx, &sluicepb.ListStatusRequest{Path: "/other/x"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/other/x/y.txt"}, names(ls.GetFiles())); diff != "" {
		t.Fatalf("mounted listing skips temporary persist names (-want +got):\n%s", diff)
	}
	y := ls.GetFiles()[0]
	if y.GetUfsPath() != "mem://other/x/y.txt" || y.GetMountId() != mr.GetMount().GetMountId() {
		t.Fatalf("mounted file: %v", y)
	}
	mt, err := tm.fs.GetMountTable(ctx, &sluicepb.GetMountTableRequest{IncludeOptions: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(mt.GetMounts()) != 2 || mt.GetMounts()[0].GetPath() != "/" || mt.GetMounts()[1].GetOptions()["region"] != "eu" ||
		len(mt.GetMounts()[1].GetOptions()) != 1 {
		t.Fatalf("mount table: %v", mt.GetMounts())
	}

	// Read-only: no change below the mount point.
	_, err = tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/other/x/new"})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_READ_ONLY_MOUNT)
	_, err = tm.fs.Delete(ctx, &sluicepb.DeleteRequest{Path: "/other/x/y.txt"})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_READ_ONLY_MOUNT)
	if _, ok := other.Data("/x/y.txt"); !ok {
		t.Fatal("read-only UFS file deleted")
	}

	// A non-empty directory is no mount point.
	_, err = tm.fs.Mount(ctx, &sluicepb.MountRequest{Path: "/data", UfsUri: "mem://third"})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_DIRECTORY_NOT_EMPTY)

	// Unmount drops the metadata, never the UFS data.
	if _, err := tm.fs.Unmount(ctx, &sluicepb.UnmountRequest{Path: "/other"}); err != nil {
		t.Fatal(err)
	}
	_, err = tm.fs.GetStatus(ctx, &sluicepb.GetStatusRequest{Path: "/other/x/y.txt"})
	wantReason(t, err, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND)
	if _, ok := other.Data("/x/y.txt"); !ok {
		t.Fatal("unmount deleted UFS data")
	}

	// Delete removes from the UFS too, unless sluice_only; then the file comes back.
	if _, err := tm.fs.Delete(ctx, &sluicepb.DeleteRequest{Path: "/data/new.csv", SluiceOnly: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := root.Data("/data/new.csv"); !ok {
		t.Fatal("sluice_only delete removed the UFS file")
	}
	if _, err := tm.fs.Delete(ctx, &sluicepb.DeleteRequest{Path: "/data", Recursive: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := root.Data("/data/sub/b.csv"); ok {
		t.Fatal("delete left the UFS file")
	}
	// A persisted file's rename moves it in the UFS.
	root.Put("/r/src.txt", []byte("r"))
	if _, err := tm.fs.Rename(ctx, &sluicepb.RenameRequest{Src: "/r/src.txt", Dst: "/r/dst.txt"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := root.Data("/r/dst.txt"); !ok {
		t.Fatal("rename did not move the UFS file")
	}
	if tm.status("/r/dst.txt").GetUfsPath() != "mem://root/r/dst.txt" {
		t.Fatal("renamed file's UFS path")
	}
}
