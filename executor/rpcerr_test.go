package executor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/ufs"
)

func TestToStatus(t *testing.T) {
	master := statusErr(codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_COMPLETE)
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		reason sluicepb.ErrorReason
	}{
		{"block not found", fmt.Errorf("open: %w", blocks.ErrNotFound), codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"block exists", blocks.ErrExists, codes.AlreadyExists, sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS},
		{"no space", blocks.ErrNoSpace, codes.ResourceExhausted, sluicepb.ErrorReason_ERROR_REASON_NO_SPACE},
		{"corrupt", blocks.ErrCorrupt, codes.DataLoss, sluicepb.ErrorReason_ERROR_REASON_BLOCK_CORRUPT},
		{"store closed", blocks.ErrClosed, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE},
		{"unknown tier", blocks.ErrInvalidConfig, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"lock", ErrLockNotFound, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"invalid", invalidf("x"), codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"length", ErrLengthMismatch, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH},
		{"read-only", ErrReadOnlyMount, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_READ_ONLY_MOUNT},
		{"unavailable", ErrUnavailable, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE},
		{"unknown scheme", wrapUFS("open", "x://", ufs.ErrUnknownScheme), codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_UNKNOWN_SCHEME},
		{"ufs not found", wrapUFS("open", "mem://b/x", &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist}), codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"ufs exists", fs.ErrExist, codes.AlreadyExists, sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS},
		{"ufs permission", wrapUFS("create", "u", fs.ErrPermission), codes.PermissionDenied, sluicepb.ErrorReason_ERROR_REASON_PERMISSION_DENIED},
		{"ufs is dir", wrapUFS("open", "u", ufs.ErrIsDir), codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_IS_A_DIRECTORY},
		{"ufs not dir", wrapUFS("open", "u", ufs.ErrNotDir), codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_NOT_A_DIRECTORY},
		{"ufs invalid path", wrapUFS("open", "u", ufs.ErrInvalidPath), codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH},
		{"ufs other", wrapUFS("read", "u", errors.New("disk on fire")), codes.Internal, sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR},
		{"master status passes through", fmt.Errorf("commit: %w", master), codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_COMPLETE},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), codes.Canceled, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"deadline", wrapUFS("read", "u", context.DeadlineExceeded), codes.DeadlineExceeded, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"other", errors.New("boom"), codes.Internal, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := toStatus(tt.err, 42)
			if status.Code(got) != tt.code {
				t.Fatalf("code %v, want %v", status.Code(got), tt.code)
			}
			d := errorDetail(got)
			if tt.reason == sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED {
				if d != nil {
					t.Fatalf("detail %v, want none", d)
				}
				return
			}
			if d.GetReason() != tt.reason {
				t.Fatalf("reason %v, want %v", d.GetReason(), tt.reason)
			}
			if reasonOf(tt.err) != tt.reason {
				t.Fatalf("reasonOf %v, want %v", reasonOf(tt.err), tt.reason)
			}
		})
	}
	if toStatus(nil, 0) != nil {
		t.Fatal("toStatus(nil) is not nil")
	}
}

func TestSplitUFS(t *testing.T) {
	tests := []struct {
		uri, root, name string
		ok              bool
	}{
		{"s3://bucket/prefix/a.txt", "s3://bucket/", "/prefix/a.txt", true},
		{"file:///data/ufs/x", "file:///", "/data/ufs/x", true},
		{"file://localhost/x//y/", "file://localhost/", "/x/y", true},
		{"mem://b/a/../x", "", "", false},
		{"s3://bucket", "", "", false},
		{"s3://bucket/", "", "", false},
		{"relative/path", "", "", false},
		{"mailto:x@y", "", "", false},
		{"%zz", "", "", false},
	}
	for _, tt := range tests {
		root, name, err := splitUFS(tt.uri)
		if (err == nil) != tt.ok || root != tt.root || name != tt.name {
			t.Errorf("splitUFS(%q) = %q, %q, %v", tt.uri, root, name, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("splitUFS(%q) error %v is not ErrInvalidArgument", tt.uri, err)
		}
	}
}

// FuzzSplitUFS checks that splitUFS never panics and that what it accepts is a root URI
// ending in "/" and a clean absolute path without "..".
func FuzzSplitUFS(f *testing.F) {
	for _, s := range []string{"s3://b/k", "file:///a/b", "mem://x/../y", "", "://", "a:b", "s3://b/%2e%2e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		root, name, err := splitUFS(uri)
		if err != nil {
			return
		}
		if !strings.HasSuffix(root, "/") || !strings.Contains(root, "://") {
			t.Fatalf("root %q", root)
		}
		clean, cerr := ufs.CleanPath(name)
		if cerr != nil || clean != name || name == "/" {
			t.Fatalf("name %q not clean (%v)", name, cerr)
		}
	})
}

func TestCheckPersist(t *testing.T) {
	u := &sluicepb.UfsFile{Uri: "mem://b/f"}
	blk := func(off, n int64) *sluicepb.FileBlockInfo {
		return &sluicepb.FileBlockInfo{Block: &sluicepb.BlockInfo{Length: n}, Offset: off}
	}
	tests := []struct {
		name string
		pf   *sluicepb.PersistFile
		want error
	}{
		{"ok", &sluicepb.PersistFile{Ufs: u, Blocks: []*sluicepb.FileBlockInfo{blk(0, 5), blk(5, 3)}, Length: 8}, nil},
		{"empty file", &sluicepb.PersistFile{Ufs: u}, nil},
		{"no ufs", &sluicepb.PersistFile{}, ErrInvalidArgument},
		{"gap", &sluicepb.PersistFile{Ufs: u, Blocks: []*sluicepb.FileBlockInfo{blk(0, 5), blk(6, 3)}, Length: 9}, ErrInvalidArgument},
		{"no block info", &sluicepb.PersistFile{Ufs: u, Blocks: []*sluicepb.FileBlockInfo{{}}}, ErrInvalidArgument},
		{"length", &sluicepb.PersistFile{Ufs: u, Blocks: []*sluicepb.FileBlockInfo{blk(0, 5)}, Length: 6}, ErrLengthMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPersist(tt.pf)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("checkPersist: %v, want %v", err, tt.want)
			}
		})
	}
}
