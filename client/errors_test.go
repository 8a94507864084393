package client

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
)

// statusWith builds a status error with an optional detail.
func statusWith(code codes.Code, msg string, d *sluicepb.ErrorDetail) error {
	st := status.New(code, msg)
	if d != nil {
		var err error
		if st, err = st.WithDetails(d); err != nil {
			panic(err)
		}
	}
	return st.Err()
}

func TestDecodeError_Table(t *testing.T) {
	r := func(reason sluicepb.ErrorReason) *sluicepb.ErrorDetail { return &sluicepb.ErrorDetail{Reason: reason} }
	tests := []struct {
		name string
		err  error
		want []error
	}{
		{"not found", statusWith(codes.NotFound, "stat /a: no such path", r(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND)), []error{ErrNotFound, fs.ErrNotExist}},
		{"exists", statusWith(codes.AlreadyExists, "x", r(sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS)), []error{ErrAlreadyExists, fs.ErrExist}},
		{"incomplete", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_FILE_INCOMPLETE)), []error{ErrFileIncomplete}},
		{"complete", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_FILE_COMPLETE)), []error{ErrFileComplete}},
		{"not leader", statusWith(codes.Unavailable, "x", &sluicepb.ErrorDetail{Reason: sluicepb.ErrorReason_ERROR_REASON_NOT_LEADER, LeaderAddress: "m2:19998"}), []error{ErrNotLeader}},
		{"invalid path", statusWith(codes.InvalidArgument, "x", r(sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH)), []error{ErrInvalidPath, fs.ErrInvalid}},
		{"invalid argument", statusWith(codes.InvalidArgument, "x", r(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT)), []error{ErrInvalidArgument, fs.ErrInvalid}},
		{"not empty", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_DIRECTORY_NOT_EMPTY)), []error{ErrDirectoryNotEmpty}},
		{"not a dir", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_NOT_A_DIRECTORY)), []error{ErrNotADirectory}},
		{"is a dir", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_IS_A_DIRECTORY)), []error{ErrIsADirectory}},
		{"no space", statusWith(codes.ResourceExhausted, "x", r(sluicepb.ErrorReason_ERROR_REASON_NO_SPACE)), []error{ErrNoSpace}},
		{"lost", statusWith(codes.FailedPrecondition, "x", &sluicepb.ErrorDetail{Reason: sluicepb.ErrorReason_ERROR_REASON_FILE_LOST, JobId: "job-7"}), []error{ErrFileLost}},
		{"read only", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_READ_ONLY_MOUNT)), []error{ErrReadOnly}},
		{"mount conflict", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_MOUNT_CONFLICT)), []error{ErrMountConflict}},
		{"unknown scheme", statusWith(codes.InvalidArgument, "x", r(sluicepb.ErrorReason_ERROR_REASON_UNKNOWN_SCHEME)), []error{ErrUnknownScheme}},
		{"corrupt", statusWith(codes.DataLoss, "x", r(sluicepb.ErrorReason_ERROR_REASON_BLOCK_CORRUPT)), []error{ErrCorrupt}},
		{"permission", statusWith(codes.PermissionDenied, "x", r(sluicepb.ErrorReason_ERROR_REASON_PERMISSION_DENIED)), []error{ErrPermission, fs.ErrPermission}},
		{"unavailable", statusWith(codes.Unavailable, "x", r(sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE)), []error{ErrUnavailable}},
		{"not persisted", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_NOT_PERSISTED)), []error{ErrNotPersisted}},
		{"is mount point", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_IS_MOUNT_POINT)), []error{ErrIsMountPoint}},
		{"not a mount point", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_NOT_A_MOUNT_POINT)), []error{ErrNotAMountPoint}},
		{"dependents", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_LINEAGE_HAS_DEPENDENTS)), []error{ErrLineageHasDependents}},
		{"length", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH)), []error{ErrLengthMismatch}},
		{"job failed", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_JOB_FAILED)), []error{ErrJobFailed}},
		{"unregistered", statusWith(codes.FailedPrecondition, "x", r(sluicepb.ErrorReason_ERROR_REASON_EXECUTOR_NOT_REGISTERED)), []error{ErrExecutorNotRegistered}},
		{"ufs", statusWith(codes.Internal, "x", r(sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR)), []error{ErrUFS}},
		{"ufs transient", statusWith(codes.Unavailable, "x", r(sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR)), []error{ErrUFS}},
		{"locked", statusWith(codes.Aborted, "x", r(sluicepb.ErrorReason_ERROR_REASON_BLOCK_LOCKED)), []error{ErrBlockLocked}},
		{"server timeout", statusWith(codes.DeadlineExceeded, "x", r(sluicepb.ErrorReason_ERROR_REASON_TIMEOUT)), []error{ErrTimeout}},
		// Without a detail the code decides.
		{"bare not found", status.Error(codes.NotFound, "x"), []error{ErrNotFound, fs.ErrNotExist}},
		{"bare unavailable", status.Error(codes.Unavailable, "connection refused"), []error{ErrUnavailable}},
		{"bare precondition", status.Error(codes.FailedPrecondition, "x"), []error{ErrFailedPrecondition}},
		{"bare internal", status.Error(codes.Internal, "x"), []error{ErrInternal}},
		{"bare unimplemented", status.Error(codes.Unimplemented, "x"), []error{ErrUnimplemented}},
		{"unknown code", status.Error(codes.Code(99), "x"), []error{ErrInternal}},
		{"unknown reason", statusWith(codes.NotFound, "x", r(sluicepb.ErrorReason(999))), []error{ErrNotFound}},
		// Context errors pass through unchanged.
		{"canceled", status.Error(codes.Canceled, "x"), []error{context.Canceled}},
		{"deadline", status.Error(codes.DeadlineExceeded, "x"), []error{context.DeadlineExceeded}},
		{"context error", fmt.Errorf("dial: %w", context.DeadlineExceeded), []error{context.DeadlineExceeded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeError(tt.err)
			for _, w := range tt.want {
				if !errors.Is(got, w) {
					t.Errorf("decodeError(%v) = %v, which is not %v", tt.err, got, w)
				}
			}
			if errors.Is(got, ErrNotFound) != errors.Is(tt.want[0], ErrNotFound) {
				t.Errorf("decodeError(%v) = %v: ErrNotFound mismatch", tt.err, got)
			}
			var se *Error
			if errors.As(got, &se) {
				if st, _ := status.FromError(tt.err); !strings.Contains(got.Error(), st.Message()) {
					t.Errorf("message %q lost the server's text %q", got.Error(), st.Message())
				}
			}
		})
	}
	if decodeError(nil) != nil {
		t.Error("decodeError(nil) != nil")
	}
	plain := errors.New("plain")
	if decodeError(plain) != plain {
		t.Error("a non-status error must come back as is")
	}
}

func TestDecodeError_Details(t *testing.T) {
	err := decodeError(statusWith(codes.FailedPrecondition, "read /out: lost", &sluicepb.ErrorDetail{
		Reason: sluicepb.ErrorReason_ERROR_REASON_FILE_LOST, Path: "/out", JobId: "wc-1", BlockId: 42,
	}))
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("%v is not an *Error", err)
	}
	if se.Path != "/out" || se.JobID != "wc-1" || se.BlockID != 42 || se.Code != codes.FailedPrecondition ||
		se.Reason != sluicepb.ErrorReason_ERROR_REASON_FILE_LOST {
		t.Errorf("details not kept: %+v", se)
	}
	err = decodeError(statusWith(codes.Unavailable, "follower", &sluicepb.ErrorDetail{
		Reason: sluicepb.ErrorReason_ERROR_REASON_NOT_LEADER, LeaderAddress: "10.0.0.2:19998",
	}))
	if !errors.As(err, &se) || se.LeaderAddress != "10.0.0.2:19998" {
		t.Errorf("leader address not kept: %v", err)
	}
}

// FuzzDecodeStatus checks that any status decodes without panicking into a non-nil error
// that keeps the server's message, maps context codes without detail to context errors,
// and agrees with the reason table.
func FuzzDecodeStatus(f *testing.F) {
	f.Add(uint32(codes.NotFound), int32(1), "no such file", "", true)
	f.Add(uint32(codes.Unavailable), int32(5), "follower", "127.0.0.1:19998", true)
	f.Add(uint32(codes.Canceled), int32(0), "", "", false)
	f.Add(uint32(codes.DeadlineExceeded), int32(28), "persist wait", "", true)
	f.Add(uint32(200), int32(-3), "\xff", "x", true)
	f.Fuzz(func(t *testing.T, code uint32, reason int32, msg, leader string, withDetail bool) {
		if code == uint32(codes.OK) {
			return
		}
		var d *sluicepb.ErrorDetail
		if withDetail {
			d = &sluicepb.ErrorDetail{Reason: sluicepb.ErrorReason(reason), LeaderAddress: leader}
		}
		st := status.New(codes.Code(code), msg)
		if d != nil {
			var err error
			if st, err = st.WithDetails(d); err != nil {
				t.Skip()
			}
		}
		got := decodeStatus(st)
		if got == nil {
			t.Fatal("decodeStatus returned nil")
		}
		noReason := d == nil || d.GetReason() == sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED
		switch {
		case noReason && codes.Code(code) == codes.Canceled:
			if got != context.Canceled {
				t.Fatalf("Canceled decoded to %v", got)
			}
			return
		case noReason && codes.Code(code) == codes.DeadlineExceeded:
			if got != context.DeadlineExceeded {
				t.Fatalf("DeadlineExceeded decoded to %v", got)
			}
			return
		}
		var se *Error
		if !errors.As(got, &se) {
			t.Fatalf("decoded to %T, want *Error", got)
		}
		if se.Message != st.Message() || se.Code != codes.Code(code) {
			t.Fatalf("lost code or message: %+v", se)
		}
		if msg != "" && !strings.Contains(got.Error(), st.Message()) {
			t.Fatalf("Error() %q lacks the server message", got.Error())
		}
		if s, ok := reasonTable[sluicepb.ErrorReason(reason)]; ok && d != nil && !errors.Is(got, s) {
			t.Fatalf("reason %d decoded to %v, want %v", reason, got, s)
		}
		if errors.Unwrap(got) == nil {
			t.Fatal("no sentinel")
		}
		if d != nil && se.LeaderAddress != leader {
			t.Fatalf("leader %q became %q", leader, se.LeaderAddress)
		}
	})
}
