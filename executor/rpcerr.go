package executor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/ufs"
)

// Errors of the executor. Errors returned by its methods and carried across gRPC wrap
// them (or a blocks or ufs sentinel); use errors.Is.
var (
	// ErrInvalidArgument reports a request field out of range or missing.
	ErrInvalidArgument = errors.New("executor: invalid argument")
	// ErrLengthMismatch reports a block or file whose length differs from the one expected
	// (a short UFS read, a short-circuit file of another size, a persisted file).
	ErrLengthMismatch = errors.New("executor: length mismatch")
	// ErrReadOnlyMount reports a UFS write under a read-only mount.
	ErrReadOnlyMount = errors.New("executor: read-only mount")
	// ErrUnavailable reports that the executor cannot do the work now: no master has
	// admitted it yet, or it is shutting down.
	ErrUnavailable = errors.New("executor: unavailable")
	// ErrUFS reports a failure of an under file system that no more precise error
	// describes.
	ErrUFS = errors.New("executor: under file system failed")
	// ErrRunning reports a second call of Run.
	ErrRunning = errors.New("executor: already run")
)

// errorTable is the executor's one table from sentinel errors to gRPC codes and error
// reasons (api/errors.proto). The first entry the error matches wins, so precise
// entries come before general ones.
var errorTable = []struct {
	err    error
	code   codes.Code
	reason sluicepb.ErrorReason
}{
	{blocks.ErrNotFound, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
	{blocks.ErrExists, codes.AlreadyExists, sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS},
	{blocks.ErrNoSpace, codes.ResourceExhausted, sluicepb.ErrorReason_ERROR_REASON_NO_SPACE},
	{blocks.ErrCorrupt, codes.DataLoss, sluicepb.ErrorReason_ERROR_REASON_BLOCK_CORRUPT},
	{blocks.ErrInvalidConfig, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
	{blocks.ErrClosed, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE},
	{ErrLockNotFound, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
	{ErrInvalidArgument, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
	{ErrLengthMismatch, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH},
	{ErrReadOnlyMount, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_READ_ONLY_MOUNT},
	{ErrUnavailable, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE},
	{ufs.ErrUnknownScheme, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_UNKNOWN_SCHEME},
	{ufs.ErrInvalidPath, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH},
	{ufs.ErrIsDir, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_IS_A_DIRECTORY},
	{ufs.ErrNotDir, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_NOT_A_DIRECTORY},
	{fs.ErrNotExist, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
	{fs.ErrExist, codes.AlreadyExists, sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS},
	{fs.ErrPermission, codes.PermissionDenied, sluicepb.ErrorReason_ERROR_REASON_PERMISSION_DENIED},
	{ErrUFS, codes.Internal, sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR},
}

// toStatus turns err into the gRPC error a handler returns: context errors pass through
// as Canceled/DeadlineExceeded, errors that already carry a gRPC status (from a master or
// another executor) keep it, table errors get their code and an ErrorDetail naming
// blockID (when not 0), and anything else is Internal.
func toStatus(err error, blockID uint64) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			st := status.New(e.code, err.Error())
			if d, derr := st.WithDetails(&sluicepb.ErrorDetail{Reason: e.reason, BlockId: blockID}); derr == nil {
				st = d
			}
			return st.Err()
		}
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// reasonOf returns the error reason of err for ReportPersisted: the table's, or the one
// in the ErrorDetail of a gRPC status, or UFS_ERROR.
func reasonOf(err error) sluicepb.ErrorReason {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.reason
		}
	}
	if d := errorDetail(err); d != nil {
		return d.GetReason()
	}
	return sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR
}

// errorDetail returns the ErrorDetail of a gRPC status error, or nil.
func errorDetail(err error) *sluicepb.ErrorDetail {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		if ed, ok := d.(*sluicepb.ErrorDetail); ok {
			return ed
		}
	}
	return nil
}

// hasReason reports whether err is a gRPC status with an ErrorDetail of reason r.
func hasReason(err error, r sluicepb.ErrorReason) bool {
	d := errorDetail(err)
	return d != nil && d.GetReason() == r
}

// ufsError marks an error of an under file system call, so that it maps to UFS_ERROR
// unless it wraps something more precise (fs.ErrNotExist, …).
type ufsError struct {
	op  string
	uri string
	err error
}

func (e *ufsError) Error() string { return fmt.Sprintf("ufs %s %s: %v", e.op, e.uri, e.err) }
func (e *ufsError) Unwrap() error { return e.err }

// Is makes every ufsError match ErrUFS.
func (e *ufsError) Is(target error) bool { return target == ErrUFS }

func wrapUFS(op, uri string, err error) error {
	if err == nil {
		return nil
	}
	return &ufsError{op: op, uri: uri, err: err}
}

// invalidf returns an ErrInvalidArgument error.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidArgument)
}
