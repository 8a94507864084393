package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// sentinel is a client error value that may also match a standard io/fs error, so that
// errors.Is(err, fs.ErrNotExist) holds for ErrNotFound and io/fs-minded callers work.
type sentinel struct {
	msg string
	is  error
}

func (e *sentinel) Error() string { return e.msg }

// Is reports whether target is the io/fs error this sentinel stands for.
func (e *sentinel) Is(target error) bool { return e.is != nil && target == e.is }

func newSentinel(msg string, is error) error { return &sentinel{msg: "client: " + msg, is: is} }

// Sentinel errors. Errors returned by the client wrap one of them (test with errors.Is);
// errors that come from a server are *Error values carrying the server's message and
// details. ErrNotFound also matches fs.ErrNotExist, ErrAlreadyExists fs.ErrExist,
// ErrPermission fs.ErrPermission, ErrInvalidPath and ErrInvalidArgument fs.ErrInvalid, and
// ErrClosed fs.ErrClosed.
var (
	ErrNotFound              = newSentinel("not found", fs.ErrNotExist)
	ErrAlreadyExists         = newSentinel("already exists", fs.ErrExist)
	ErrFileIncomplete        = newSentinel("file incomplete", nil)
	ErrFileComplete          = newSentinel("file complete", nil)
	ErrNotLeader             = newSentinel("not leader", nil)
	ErrInvalidPath           = newSentinel("invalid path", fs.ErrInvalid)
	ErrInvalidArgument       = newSentinel("invalid argument", fs.ErrInvalid)
	ErrDirectoryNotEmpty     = newSentinel("directory not empty", nil)
	ErrNotADirectory         = newSentinel("not a directory", nil)
	ErrIsADirectory          = newSentinel("is a directory", nil)
	ErrNoSpace               = newSentinel("no space", nil)
	ErrFileLost              = newSentinel("file lost", nil)
	ErrReadOnly              = newSentinel("read-only mount", nil)
	ErrMountConflict         = newSentinel("mount conflict", nil)
	ErrUnknownScheme         = newSentinel("unknown UFS scheme", nil)
	ErrCorrupt               = newSentinel("block corrupt", nil)
	ErrPermission            = newSentinel("permission denied", fs.ErrPermission)
	ErrUnavailable           = newSentinel("unavailable", nil)
	ErrNotPersisted          = newSentinel("not persisted", nil)
	ErrIsMountPoint          = newSentinel("is a mount point", nil)
	ErrNotAMountPoint        = newSentinel("not a mount point", nil)
	ErrLineageHasDependents  = newSentinel("lineage has dependents", nil)
	ErrLengthMismatch        = newSentinel("length mismatch", nil)
	ErrJobFailed             = newSentinel("job failed", nil)
	ErrExecutorNotRegistered = newSentinel("executor not registered", nil)
	ErrUFS                   = newSentinel("under file system error", nil)
	ErrBlockLocked           = newSentinel("block locked", nil)
	ErrTimeout               = newSentinel("timeout", nil)
	ErrFailedPrecondition    = newSentinel("failed precondition", nil)
	ErrUnimplemented         = newSentinel("unimplemented", nil)
	ErrInternal              = newSentinel("internal error", nil)
	ErrClosed                = newSentinel("closed", fs.ErrClosed)
	ErrNoExecutor            = newSentinel("no executor available", nil)
	ErrWriteAborted          = newSentinel("write aborted", nil)
	ErrShortBlock            = newSentinel("block shorter than expected", nil)
)

// reasonTable is the client's one table from ErrorReason to sentinel. The server's table
// (api/errors.proto) gives each reason its code; the client trusts the reason and falls
// back to codeTable when a status carries no detail.
var reasonTable = map[sluicepb.ErrorReason]error{
	sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND:               ErrNotFound,
	sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS:          ErrAlreadyExists,
	sluicepb.ErrorReason_ERROR_REASON_FILE_INCOMPLETE:         ErrFileIncomplete,
	sluicepb.ErrorReason_ERROR_REASON_FILE_COMPLETE:           ErrFileComplete,
	sluicepb.ErrorReason_ERROR_REASON_NOT_LEADER:              ErrNotLeader,
	sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH:            ErrInvalidPath,
	sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT:        ErrInvalidArgument,
	sluicepb.ErrorReason_ERROR_REASON_DIRECTORY_NOT_EMPTY:     ErrDirectoryNotEmpty,
	sluicepb.ErrorReason_ERROR_REASON_NOT_A_DIRECTORY:         ErrNotADirectory,
	sluicepb.ErrorReason_ERROR_REASON_IS_A_DIRECTORY:          ErrIsADirectory,
	sluicepb.ErrorReason_ERROR_REASON_NO_SPACE:                ErrNoSpace,
	sluicepb.ErrorReason_ERROR_REASON_FILE_LOST:               ErrFileLost,
	sluicepb.ErrorReason_ERROR_REASON_READ_ONLY_MOUNT:         ErrReadOnly,
	sluicepb.ErrorReason_ERROR_REASON_MOUNT_CONFLICT:          ErrMountConflict,
	sluicepb.ErrorReason_ERROR_REASON_UNKNOWN_SCHEME:          ErrUnknownScheme,
	sluicepb.ErrorReason_ERROR_REASON_BLOCK_CORRUPT:           ErrCorrupt,
	sluicepb.ErrorReason_ERROR_REASON_PERMISSION_DENIED:       ErrPermission,
	sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE:             ErrUnavailable,
	sluicepb.ErrorReason_ERROR_REASON_NOT_PERSISTED:           ErrNotPersisted,
	sluicepb.ErrorReason_ERROR_REASON_IS_MOUNT_POINT:          ErrIsMountPoint,
	sluicepb.ErrorReason_ERROR_REASON_NOT_A_MOUNT_POINT:       ErrNotAMountPoint,
	sluicepb.ErrorReason_ERROR_REASON_LINEAGE_HAS_DEPENDENTS:  ErrLineageHasDependents,
	sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH:         ErrLengthMismatch,
	sluicepb.ErrorReason_ERROR_REASON_JOB_FAILED:              ErrJobFailed,
	sluicepb.ErrorReason_ERROR_REASON_EXECUTOR_NOT_REGISTERED: ErrExecutorNotRegistered,
	sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR:               ErrUFS,
	sluicepb.ErrorReason_ERROR_REASON_BLOCK_LOCKED:            ErrBlockLocked,
	sluicepb.ErrorReason_ERROR_REASON_TIMEOUT:                 ErrTimeout,
}

// codeTable maps a gRPC code to a sentinel when the status has no (known) reason.
var codeTable = map[codes.Code]error{
	codes.NotFound:           ErrNotFound,
	codes.AlreadyExists:      ErrAlreadyExists,
	codes.FailedPrecondition: ErrFailedPrecondition,
	codes.InvalidArgument:    ErrInvalidArgument,
	codes.OutOfRange:         ErrInvalidArgument,
	codes.ResourceExhausted:  ErrNoSpace,
	codes.DataLoss:           ErrCorrupt,
	codes.PermissionDenied:   ErrPermission,
	codes.Unauthenticated:    ErrPermission,
	codes.Unavailable:        ErrUnavailable,
	codes.Aborted:            ErrBlockLocked,
	codes.Unimplemented:      ErrUnimplemented,
	codes.DeadlineExceeded:   ErrTimeout,
	codes.Internal:           ErrInternal,
	codes.Unknown:            ErrInternal,
}

// Error is a failure reported by a Sluice server (master or executor). It keeps the
// server's code, message and ErrorDetail, and unwraps to the client sentinel that the
// reason (or, without one, the code) maps to, so errors.Is(err, client.ErrNotFound) holds.
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Reason is the ErrorDetail reason, or ERROR_REASON_UNSPECIFIED without a detail.
	Reason sluicepb.ErrorReason
	// Message is the server's status message.
	Message string
	// LeaderAddress is the leader's address of a NOT_LEADER answer, when known.
	LeaderAddress string
	// Path is the Sluice path the error is about, when the server named one.
	Path string
	// JobID is the lineage job the error is about (FILE_LOST, JOB_FAILED), when named.
	JobID string
	// BlockID is the block the error is about, or 0.
	BlockID uint64

	sentinel error
}

// Error returns the server's message followed by the client's name for the cause.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.sentinel.Error()
	}
	return fmt.Sprintf("%s (%s)", e.Message, e.sentinel.Error())
}

// Unwrap returns the sentinel the error maps to.
func (e *Error) Unwrap() error { return e.sentinel }

// decodeError turns an error returned by a gRPC call into the client's error: nil stays nil,
// context errors (codes.Canceled and codes.DeadlineExceeded without a detail, or the
// context errors themselves) come back as context.Canceled and context.DeadlineExceeded,
// a gRPC status becomes an *Error, and anything else is returned as is.
func decodeError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	return decodeStatus(st)
}

// decodeStatus maps a status to the client's error; see decodeError. An OK status, which
// no failed call should carry, maps to ErrInternal so that a failure is never lost.
func decodeStatus(st *status.Status) error {
	var detail *sluicepb.ErrorDetail
	for _, d := range st.Details() {
		if ed, ok := d.(*sluicepb.ErrorDetail); ok {
			detail = ed
			break
		}
	}
	if detail == nil || detail.GetReason() == sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED {
		switch st.Code() {
		case codes.Canceled:
			return context.Canceled
		case codes.DeadlineExceeded:
			return context.DeadlineExceeded
		}
	}
	e := &Error{Code: st.Code(), Message: st.Message()}
	if detail != nil {
		e.Reason = detail.GetReason()
		e.LeaderAddress = detail.GetLeaderAddress()
		e.Path = detail.GetPath()
		e.JobID = detail.GetJobId()
		e.BlockID = detail.GetBlockId()
	}
	if s, ok := reasonTable[e.Reason]; ok {
		e.sentinel = s
	} else if s, ok := codeTable[e.Code]; ok {
		e.sentinel = s
	} else {
		e.sentinel = ErrInternal
	}
	return e
}

// isContextErr reports whether err is (or wraps) a context error.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
