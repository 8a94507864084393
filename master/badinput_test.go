package master

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/ufs"
)

func TestMaster_BadInput(t *testing.T) {
	tm, _ := startMaster(t, nil)
	e := newFakeExecutor(t, tm, "127.0.0.1:1")
	e.register()
	writeFile(t, tm, e, "/done", []byte("complete"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	inc, err := tm.fs.CreateFile(callCtx(t), &sluicepb.CreateFileRequest{Path: "/incomplete", BlockSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	incID := inc.GetFile().GetFileId()
	if _, err := tm.fs.Mount(callCtx(t), &sluicepb.MountRequest{Path: "/mnt", UfsUri: "mem://other"}); err != nil {
		t.Fatal(err)
	}
	long := "/" + strings.Repeat("x", 300)
	badU := uint32(0o10000)

	type call func(context.Context) error
	cases := []struct {
		name   string
		call   call
		code   codes.Code
		reason sluicepb.ErrorReason
	}{
		{"relative path", func(ctx context.Context) error {
			_, err := tm.fs.GetStatus(ctx, &sluicepb.GetStatusRequest{Path: "a/b"})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH},
		{"empty path", func(ctx context.Context) error {
			_, err := tm.fs.ListStatus(ctx, &sluicepb.ListStatusRequest{})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH},
		{"dot-dot path", func(ctx context.Context) error {
			_, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/a/../b"})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH},
		{"NUL in path", func(ctx context.Context) error {
			_, err := tm.fs.CreateDirectory(ctx, &sluicepb.CreateDirectoryRequest{Path: "/a\x00b"})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH},
		{"long name", func(ctx context.Context) error {
			_, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: long})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH},
		{"negative block size", func(ctx context.Context) error {
			_, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/n", BlockSize: -1})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"bad write type", func(ctx context.Context) error {
			_, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/n", WriteType: 99})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"bad mode", func(ctx context.Context) error {
			_, err := tm.fs.SetAttribute(ctx, &sluicepb.SetAttributeRequest{Path: "/done", Mode: &badU})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"no attribute", func(ctx context.Context) error {
			_, err := tm.fs.SetAttribute(ctx, &sluicepb.SetAttributeRequest{Path: "/done"})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"complete a complete file", func(ctx context.Context) error {
			_, err := tm.fs.CompleteFile(ctx, &sluicepb.CompleteFileRequest{Path: "/done", Length: 8})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_COMPLETE},
		{"complete with an uncommitted block", func(ctx context.Context) error {
			_, err := tm.fs.CompleteFile(ctx, &sluicepb.CompleteFileRequest{Path: "/incomplete", Length: 3,
				Blocks: []*sluicepb.BlockInfo{{BlockId: sluicepb.NewBlockID(incID, 0), Length: 3}}})
			return err
		}, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"complete with a wrong block ID", func(ctx context.Context) error {
			_, err := tm.fs.CompleteFile(ctx, &sluicepb.CompleteFileRequest{Path: "/incomplete", Length: 3,
				Blocks: []*sluicepb.BlockInfo{{BlockId: sluicepb.NewBlockID(incID, 1), Length: 3}}})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"complete with missing blocks", func(ctx context.Context) error {
			_, err := tm.fs.CompleteFile(ctx, &sluicepb.CompleteFileRequest{Path: "/incomplete", Length: 10})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"complete with a wrong file ID", func(ctx context.Context) error {
			_, err := tm.fs.CompleteFile(ctx, &sluicepb.CompleteFileRequest{Path: "/incomplete", FileId: incID + 100})
			return err
		}, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"negative length", func(ctx context.Context) error {
			_, err := tm.fs.CompleteFile(ctx, &sluicepb.CompleteFileRequest{Path: "/incomplete", Length: -5})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"blocks of an incomplete file", func(ctx context.Context) error {
			_, err := tm.fs.GetBlockLocations(ctx, &sluicepb.GetBlockLocationsRequest{Path: "/incomplete"})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_INCOMPLETE},
		{"blocks of a directory", func(ctx context.Context) error {
			_, err := tm.fs.GetBlockLocations(ctx, &sluicepb.GetBlockLocationsRequest{Path: "/mnt"})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_IS_A_DIRECTORY},
		{"missing file", func(ctx context.Context) error {
			_, err := tm.fs.GetStatus(ctx, &sluicepb.GetStatusRequest{Path: "/nope"})
			return err
		}, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"unknown mount scheme", func(ctx context.Context) error {
			_, err := tm.fs.Mount(ctx, &sluicepb.MountRequest{Path: "/hd", UfsUri: "hdfs://nn/x"})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_UNKNOWN_SCHEME},
		{"mount URI without scheme", func(ctx context.Context) error {
			_, err := tm.fs.Mount(ctx, &sluicepb.MountRequest{Path: "/hd", UfsUri: "bucket/x"})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"mount over a mount", func(ctx context.Context) error {
			_, err := tm.fs.Mount(ctx, &sluicepb.MountRequest{Path: "/mnt", UfsUri: "mem://third"})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_MOUNT_CONFLICT},
		{"mount over /", func(ctx context.Context) error {
			_, err := tm.fs.Mount(ctx, &sluicepb.MountRequest{Path: "/", UfsUri: "mem://third"})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_MOUNT_CONFLICT},
		{"mount an overlapping URI", func(ctx context.Context) error {
			_, err := tm.fs.Mount(ctx, &sluicepb.MountRequest{Path: "/again", UfsUri: "mem://other"})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_MOUNT_CONFLICT},
		{"mount over a file", func(ctx context.Context) error {
			_, err := tm.fs.Mount(ctx, &sluicepb.MountRequest{Path: "/done", UfsUri: "mem://third"})
			return err
		}, codes.AlreadyExists, sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS},
		{"unmount a plain directory", func(ctx context.Context) error {
			if _, err := tm.fs.CreateDirectory(ctx, &sluicepb.CreateDirectoryRequest{Path: "/plain", AllowExists: true}); err != nil {
				return err
			}
			_, err := tm.fs.Unmount(ctx, &sluicepb.UnmountRequest{Path: "/plain"})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_NOT_A_MOUNT_POINT},
		{"mount a missing UFS directory", func(ctx context.Context) error {
			_, err := tm.fs.Mount(ctx, &sluicepb.MountRequest{Path: "/m2", UfsUri: "mem://third/no/such/dir"})
			return err
		}, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"unmount an unclean path", func(ctx context.Context) error {
			_, err := tm.fs.Unmount(ctx, &sluicepb.UnmountRequest{Path: "/mnt/.."})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH},
		{"unmount /", func(ctx context.Context) error {
			_, err := tm.fs.Unmount(ctx, &sluicepb.UnmountRequest{Path: "/"})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_NOT_A_MOUNT_POINT},
		{"delete a mount point", func(ctx context.Context) error {
			_, err := tm.fs.Delete(ctx, &sluicepb.DeleteRequest{Path: "/mnt", Recursive: true})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_IS_MOUNT_POINT},
		{"delete /", func(ctx context.Context) error {
			_, err := tm.fs.Delete(ctx, &sluicepb.DeleteRequest{Path: "/", Recursive: true})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"rename across mounts", func(ctx context.Context) error {
			_, err := tm.fs.Rename(ctx, &sluicepb.RenameRequest{Src: "/done", Dst: "/mnt/done"})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_MOUNT_CONFLICT},
		{"rename a mount point", func(ctx context.Context) error {
			_, err := tm.fs.Rename(ctx, &sluicepb.RenameRequest{Src: "/mnt", Dst: "/mnt2"})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_IS_MOUNT_POINT},
		{"free an un-persisted file", func(ctx context.Context) error {
			_, err := tm.fs.Free(ctx, &sluicepb.FreeRequest{Path: "/done"})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_NOT_PERSISTED},
		{"heartbeat with a tier without alias", func(ctx context.Context) error {
			_, err := tm.ex.Heartbeat(ctx, &sluicepb.HeartbeatRequest{ExecutorId: e.id, Tiers: []*sluicepb.TierUsage{{CapacityBytes: 1}}})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"commit from an unknown executor", func(ctx context.Context) error {
			_, err := tm.ex.CommitBlock(ctx, &sluicepb.CommitBlockRequest{ExecutorId: 12345, BlockId: sluicepb.NewBlockID(incID, 0), Length: 1, Tier: "MEM"})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_EXECUTOR_NOT_REGISTERED},
		{"commit a block longer than the block size", func(ctx context.Context) error {
			_, err := tm.ex.CommitBlock(ctx, &sluicepb.CommitBlockRequest{ExecutorId: e.id, BlockId: sluicepb.NewBlockID(incID, 0), Length: 5, Tier: "MEM"})
			return err
		}, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH},
		{"commit without a tier", func(ctx context.Context) error {
			_, err := tm.ex.CommitBlock(ctx, &sluicepb.CommitBlockRequest{ExecutorId: e.id, BlockId: sluicepb.NewBlockID(incID, 0), Length: 1})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"register without an address", func(ctx context.Context) error {
			_, err := tm.ex.RegisterExecutor(ctx, &sluicepb.RegisterExecutorRequest{Executor: &sluicepb.ExecutorInfo{}})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"register without executor info", func(ctx context.Context) error {
			_, err := tm.ex.RegisterExecutor(ctx, &sluicepb.RegisterExecutorRequest{})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"oversized message", func(ctx context.Context) error {
			_, err := tm.fs.GetStatus(ctx, &sluicepb.GetStatusRequest{Path: "/" + strings.Repeat("y", 2<<20)})
			return err
		}, codes.ResourceExhausted, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"bad job ID", func(ctx context.Context) error {
			_, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/j", JobId: "job-x"})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantReason(t, c.call(callCtx(t)), c.code, c.reason)
		})
	}
	// The master still serves after all of it.
	if tm.status("/done").GetLength() != 8 {
		t.Fatal("master lost /done")
	}
}

// brokenFS is a UFS whose every call fails with an error outside the ufs contract.
type brokenFS struct{ ufs.FS }

var errBroken = errors.New("disk on fire")

func (brokenFS) Stat(context.Context, string) (ufs.FileInfo, error) { return ufs.FileInfo{}, errBroken }
func (brokenFS) List(context.Context, string) ([]ufs.FileInfo, error) {
	return nil, errBroken
}

func TestMaster_UFSErrors(t *testing.T) {
	broken := false
	tm, _ := startMaster(t, func(c *Config) {
		c.UFS["broken"] = func(_ context.Context, u *url.URL, _ map[string]string) (ufs.FS, error) {
			if u.Host == "unreachable" {
				return nil, errBroken
			}
			broken = true
			return brokenFS{}, nil
		}
	})
	_, err := tm.fs.Mount(callCtx(t), &sluicepb.MountRequest{Path: "/b", UfsUri: "broken://unreachable"})
	wantReason(t, err, codes.Internal, sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR)
	_, err = tm.fs.Mount(callCtx(t), &sluicepb.MountRequest{Path: "/b", UfsUri: "broken://host"})
	wantReason(t, err, codes.Internal, sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR)
	if !broken {
		t.Fatal("factory not called")
	}
}
