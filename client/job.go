package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// Lineage jobs (the JobMaster service). Each call is one call to the leader master through
// callMaster, like the metadata operations of fs.go; job facts come back as the sluicepb
// messages themselves (see "Values returned" in the package doc).

// jobMaster runs fn with a JobMaster client on the leader; see callMaster.
func (c *Client) jobMaster(ctx context.Context, fn func(ctx context.Context, m sluicepb.JobMasterClient) error) error {
	return c.callMaster(ctx, callOpts{}, func(ctx context.Context, cc *grpc.ClientConn) error {
		return fn(ctx, sluicepb.NewJobMasterClient(cc))
	})
}

// SubmitJob records spec's lineage, has the master create its outputs as INCOMPLETE
// placeholders and launch its command, and returns the new job's ID. The master refuses a
// missing input (ErrNotFound), an existing output (ErrAlreadyExists) and a job that would
// close a cycle or is malformed (ErrInvalidArgument).
func (c *Client) SubmitJob(ctx context.Context, spec *sluicepb.JobSpec) (string, error) {
	var resp *sluicepb.SubmitJobResponse
	err := c.jobMaster(ctx, func(ctx context.Context, m sluicepb.JobMasterClient) (err error) {
		resp, err = m.SubmitJob(ctx, &sluicepb.SubmitJobRequest{Spec: spec})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("submit job %q: %w", spec.GetName(), err)
	}
	id := resp.GetJob().GetJobId()
	if id == "" {
		return "", fmt.Errorf("submit job %q: master returned no job ID: %w", spec.GetName(), ErrInternal)
	}
	return id, nil
}

// GetJob returns job id with its state; an unknown job fails with ErrNotFound.
func (c *Client) GetJob(ctx context.Context, id string) (*sluicepb.JobInfo, error) {
	var resp *sluicepb.GetJobResponse
	err := c.jobMaster(ctx, func(ctx context.Context, m sluicepb.JobMasterClient) (err error) {
		resp, err = m.GetJob(ctx, &sluicepb.GetJobRequest{JobId: id})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", id, err)
	}
	return resp.GetJob(), nil
}

// ListJobsOptions tune ListJobs.
type ListJobsOptions struct {
	// State keeps the jobs in this state; UNSPECIFIED keeps every job.
	State sluicepb.JobState
	// Limit bounds the answer; 0 means no bound.
	Limit int
}

// ListJobs lists jobs, newest first.
func (c *Client) ListJobs(ctx context.Context, opts ListJobsOptions) ([]*sluicepb.JobInfo, error) {
	if opts.Limit < 0 {
		return nil, fmt.Errorf("list jobs: negative limit %d: %w", opts.Limit, ErrInvalidArgument)
	}
	var resp *sluicepb.ListJobsResponse
	err := c.jobMaster(ctx, func(ctx context.Context, m sluicepb.JobMasterClient) (err error) {
		resp, err = m.ListJobs(ctx, &sluicepb.ListJobsRequest{State: opts.State, Limit: int32(opts.Limit)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return resp.GetJobs(), nil
}

// KillJob kills a PENDING or RUNNING job and returns it afterwards: KILLED, or the final
// state it had reached already.
func (c *Client) KillJob(ctx context.Context, id string) (*sluicepb.JobInfo, error) {
	var resp *sluicepb.KillJobResponse
	err := c.jobMaster(ctx, func(ctx context.Context, m sluicepb.JobMasterClient) (err error) {
		resp, err = m.KillJob(ctx, &sluicepb.KillJobRequest{JobId: id})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kill job %s: %w", id, err)
	}
	return resp.GetJob(), nil
}

// DeleteLineage forgets job id's lineage record and returns the IDs of the forgotten jobs,
// id first and descendants last. Without cascade it fails with ErrLineageHasDependents
// when other jobs read the job's outputs; with cascade their records go too. Output files
// stay, but un-persisted ones can no longer be recomputed.
func (c *Client) DeleteLineage(ctx context.Context, id string, cascade bool) ([]string, error) {
	var resp *sluicepb.DeleteLineageResponse
	err := c.jobMaster(ctx, func(ctx context.Context, m sluicepb.JobMasterClient) (err error) {
		resp, err = m.DeleteLineage(ctx, &sluicepb.DeleteLineageRequest{JobId: id, Cascade: cascade})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("delete lineage of job %s: %w", id, err)
	}
	return resp.GetDeletedJobIds(), nil
}

// GetCheckpointStatus reports the checkpoint state of the subtree at path ("" means "/"):
// per-file rows of the un-checkpointed files (oldest first, at most maxFiles; 0 lets the
// master use 1000), totals, and the recompute exposure.
func (c *Client) GetCheckpointStatus(ctx context.Context, path string, maxFiles int) (*sluicepb.GetCheckpointStatusResponse, error) {
	if maxFiles < 0 {
		return nil, fmt.Errorf("checkpoint status %s: negative file bound %d: %w", path, maxFiles, ErrInvalidArgument)
	}
	var resp *sluicepb.GetCheckpointStatusResponse
	err := c.jobMaster(ctx, func(ctx context.Context, m sluicepb.JobMasterClient) (err error) {
		resp, err = m.GetCheckpointStatus(ctx, &sluicepb.GetCheckpointStatusRequest{Path: path, MaxFiles: int32(maxFiles)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint status %s: %w", path, err)
	}
	return resp, nil
}

// GetLineage returns the job that produced the file at path with its ancestors and
// descendants (topological order), walking at most maxDepth levels each way (0: no bound).
// A path that no recorded job produced fails with ErrNotFound.
func (c *Client) GetLineage(ctx context.Context, path string, maxDepth int) (*sluicepb.GetLineageResponse, error) {
	return c.lineage(ctx, &sluicepb.GetLineageRequest{Path: path, MaxDepth: int32(maxDepth)}, path)
}

// GetJobLineage is GetLineage for a job ID instead of an output path.
func (c *Client) GetJobLineage(ctx context.Context, id string, maxDepth int) (*sluicepb.GetLineageResponse, error) {
	return c.lineage(ctx, &sluicepb.GetLineageRequest{JobId: id, MaxDepth: int32(maxDepth)}, "job "+id)
}

func (c *Client) lineage(ctx context.Context, req *sluicepb.GetLineageRequest, what string) (*sluicepb.GetLineageResponse, error) {
	if req.GetMaxDepth() < 0 {
		return nil, fmt.Errorf("lineage of %s: negative depth %d: %w", what, req.GetMaxDepth(), ErrInvalidArgument)
	}
	var resp *sluicepb.GetLineageResponse
	err := c.jobMaster(ctx, func(ctx context.Context, m sluicepb.JobMasterClient) (err error) {
		resp, err = m.GetLineage(ctx, req)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lineage of %s: %w", what, err)
	}
	return resp, nil
}

// JobEnded reports whether a job state is final for its current run: COMPLETED, FAILED or
// KILLED. A recompute may later start a new run of a COMPLETED job.
func JobEnded(s sluicepb.JobState) bool {
	switch s {
	case sluicepb.JobState_JOB_STATE_COMPLETED, sluicepb.JobState_JOB_STATE_FAILED, sluicepb.JobState_JOB_STATE_KILLED:
		return true
	}
	return false
}
