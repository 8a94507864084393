package master

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/lineage"
	"github.com/sluicedata/sluice/master/journal"
	"github.com/sluicedata/sluice/master/state"
	"github.com/sluicedata/sluice/ufs"
)

// Errors of the master. Handlers return them (wrapped with %w) and toStatus turns them,
// with the state, journal and ufs sentinels, into gRPC statuses through one table.
var (
	// ErrNotLeader reports a call on a master that is not the Raft leader.
	ErrNotLeader = errors.New("master: not the leader")
	// ErrUnavailable reports a master that cannot answer yet (starting, gaining
	// leadership, shutting down).
	ErrUnavailable = errors.New("master: unavailable")
	// ErrInvalidArgument reports a request field that is out of range.
	ErrInvalidArgument = errors.New("master: invalid argument")
	// ErrInvalidPath reports a malformed Sluice path.
	ErrInvalidPath = errors.New("master: invalid path")
	// ErrNotPersisted reports a Free of a file with no UFS copy.
	ErrNotPersisted = errors.New("master: file not persisted")
	// ErrIsMountPoint reports a delete or rename of a mount point.
	ErrIsMountPoint = errors.New("master: is a mount point")
	// ErrNotAMountPoint reports an unmount of a path that is not a mount point.
	ErrNotAMountPoint = errors.New("master: not a mount point")
	// ErrExecutorNotRegistered reports a call from an executor the master does not know.
	ErrExecutorNotRegistered = errors.New("master: executor not registered")
	// ErrBlockNotCommitted reports a CompleteFile naming a block no executor committed.
	ErrBlockNotCommitted = errors.New("master: block not committed")
	// ErrLengthMismatch reports a block or file whose length or checksum differs from
	// what was committed.
	ErrLengthMismatch = errors.New("master: length mismatch")
	// ErrFileLost reports a read of a LOST file.
	ErrFileLost = errors.New("master: file lost")
	// ErrTimeout reports a server-side wait (Persist with wait) that ran out.
	ErrTimeout = errors.New("master: timeout")
	// ErrUFS reports a failure of an under file system.
	ErrUFS = errors.New("master: under file system error")
	// ErrNotFound reports an executor or block the master does not know.
	ErrNotFound = errors.New("master: not found")
)

// errorRow is one line of the error table.
type errorRow struct {
	err    error
	code   codes.Code
	reason sluicepb.ErrorReason
}

// errorTable maps every sentinel the master can return to its gRPC code and reason
// (api/errors.proto). The first row whose sentinel matches (errors.Is) wins, so the more
// specific errors come first.
var errorTable = []errorRow{
	{ErrNotLeader, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_NOT_LEADER},
	{journal.ErrNotLeader, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_NOT_LEADER},
	{journal.ErrLeadershipLost, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE},
	{journal.ErrClosed, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE},
	{ErrUnavailable, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE},
	{ErrInvalidPath, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH},
	{state.ErrInvalidPath, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH},
	{ufs.ErrInvalidPath, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH},
	{ErrInvalidArgument, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
	{state.ErrInvalidArgument, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
	{ufs.ErrUnknownScheme, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_UNKNOWN_SCHEME},
	{ErrNotPersisted, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_NOT_PERSISTED},
	{ErrIsMountPoint, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_IS_MOUNT_POINT},
	{ErrNotAMountPoint, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_NOT_A_MOUNT_POINT},
	{ErrExecutorNotRegistered, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_EXECUTOR_NOT_REGISTERED},
	{ErrLengthMismatch, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH},
	{ErrFileLost, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_LOST},
	{ErrBlockNotCommitted, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
	{ErrNotFound, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
	{ErrTimeout, codes.DeadlineExceeded, sluicepb.ErrorReason_ERROR_REASON_TIMEOUT},
	{state.ErrNotFound, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
	{state.ErrExists, codes.AlreadyExists, sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS},
	{state.ErrNotDirectory, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_NOT_A_DIRECTORY},
	{state.ErrIsDirectory, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_IS_A_DIRECTORY},
	{state.ErrDirectoryNotEmpty, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_DIRECTORY_NOT_EMPTY},
	{state.ErrFileIncomplete, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_INCOMPLETE},
	{state.ErrFileComplete, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_COMPLETE},
	{state.ErrReadOnly, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_READ_ONLY_MOUNT},
	{state.ErrMountConflict, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_MOUNT_CONFLICT},
	// Lineage jobs (jobs.go): refusals of SubmitJob, DeleteLineage, KillJob.
	{ErrNoScheduler, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
	{ErrJobRunning, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
	{ErrUnknownTask, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
	{state.ErrJobEnded, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
	{state.ErrStaleRun, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
	{lineage.ErrHasDependents, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_LINEAGE_HAS_DEPENDENTS},
	{lineage.ErrOutputTaken, codes.AlreadyExists, sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS},
	{lineage.ErrCycle, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
	{lineage.ErrOutputIsInput, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
	{lineage.ErrInvalidJob, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
	{lineage.ErrDuplicateID, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
	{lineage.ErrNotFound, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
	// UFS errors last: the namespace sentinels above take precedence when both match.
	{fs.ErrNotExist, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
	{fs.ErrExist, codes.AlreadyExists, sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS},
	{fs.ErrPermission, codes.PermissionDenied, sluicepb.ErrorReason_ERROR_REASON_PERMISSION_DENIED},
	{ufs.ErrNotEmpty, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_DIRECTORY_NOT_EMPTY},
	{ufs.ErrNotDir, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_NOT_A_DIRECTORY},
	{ufs.ErrIsDir, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_IS_A_DIRECTORY},
	{ErrUFS, codes.Internal, sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR},
}

// detailError carries ErrorDetail fields (path, job, block) beside an error.
type detailError struct {
	path    string
	jobID   string
	blockID uint64
	err     error
}

func (e *detailError) Error() string { return e.err.Error() }
func (e *detailError) Unwrap() error { return e.err }

// withPath attaches the Sluice path an error is about; nil stays nil.
func withPath(err error, p string) error {
	if err == nil {
		return nil
	}
	return &detailError{path: p, err: err}
}

// invalidf returns an ErrInvalidArgument error.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidArgument)
}

// toStatus turns an error into a gRPC status error through errorTable. Context errors
// pass through as Canceled/DeadlineExceeded without a detail, gRPC status errors pass
// unchanged, and an unknown error becomes codes.Internal with its message.
// leaderRPC gives the leader's gRPC address for NOT_LEADER details.
func toStatus(err error, leaderRPC func(raftAddr string) string) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrTimeout):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	for _, row := range errorTable {
		if !errors.Is(err, row.err) {
			continue
		}
		d := &sluicepb.ErrorDetail{Reason: row.reason}
		if row.reason == sluicepb.ErrorReason_ERROR_REASON_NOT_LEADER {
			var nl *journal.NotLeaderError
			if errors.As(err, &nl) && leaderRPC != nil {
				d.LeaderAddress = leaderRPC(nl.Leader)
			}
			var ml *notLeaderError
			if errors.As(err, &ml) {
				d.LeaderAddress = ml.leaderRPC
			}
		}
		var de *detailError
		if errors.As(err, &de) {
			d.Path, d.JobId, d.BlockId = de.path, de.jobID, de.blockID
		}
		st, serr := status.New(row.code, err.Error()).WithDetails(d)
		if serr != nil {
			return status.Error(row.code, err.Error())
		}
		return st.Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// notLeaderError is the master's ErrNotLeader with the leader's gRPC address.
type notLeaderError struct{ leaderRPC string }

func (e *notLeaderError) Error() string {
	if e.leaderRPC == "" {
		return "master: not the leader (leader unknown)"
	}
	return "master: not the leader (leader at " + e.leaderRPC + ")"
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *notLeaderError) Is(target error) bool { return target == ErrNotLeader }
