package framework

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/scheduler"
)

// Errors of the Server. Handlers return them (or the scheduler's sentinels) wrapped with
// %w, and toStatus turns them into gRPC statuses through errorTable.
var (
	// ErrInvalidArgument reports a request field that is missing or out of range.
	ErrInvalidArgument = errors.New("framework: invalid argument")
	// ErrUnknownJob reports a job_id the Server launched no task for (or forgot).
	ErrUnknownJob = errors.New("framework: unknown job")
	// ErrNotServing reports a call before Run has started or after it returned.
	ErrNotServing = errors.New("framework: not serving")
	// ErrEventsMissed reports a WatchEvents position the Server cannot resume from:
	// another epoch, events forgotten, or a reader that fell too far behind.
	ErrEventsMissed = errors.New("framework: events missed")
)

// errorRow is one line of the error table.
type errorRow struct {
	err    error
	code   codes.Code
	reason sluicepb.ErrorReason
}

// errorTable maps every sentinel a handler can return to its gRPC code and reason
// (api/errors.proto). The first row whose sentinel matches (errors.Is) wins.
var errorTable = []errorRow{
	{ErrInvalidArgument, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
	{scheduler.ErrInvalidTask, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
	{ErrUnknownJob, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
	{scheduler.ErrUnknownTask, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
	{ErrNotServing, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE},
	{scheduler.ErrNotRunning, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE},
	{scheduler.ErrClosed, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE},
	{ErrEventsMissed, codes.OutOfRange, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
	{scheduler.ErrUnsupported, codes.Unimplemented, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
}

// toStatus turns an error into a gRPC status error through errorTable. Context errors
// become Canceled or DeadlineExceeded without a detail, status errors pass unchanged,
// and anything else is Internal.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	for _, row := range errorTable {
		if !errors.Is(err, row.err) {
			continue
		}
		st, derr := status.New(row.code, err.Error()).WithDetails(&sluicepb.ErrorDetail{Reason: row.reason})
		if derr != nil {
			return status.Error(row.code, err.Error())
		}
		return st.Err()
	}
	return status.Error(codes.Internal, err.Error())
}
