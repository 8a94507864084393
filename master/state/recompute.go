package state

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/lineage"
)

// Recompute entries (api/recompute.proto). Before a run that rebuilds lost outputs the
// leader resets every output of the job to an INCOMPLETE placeholder (ResetJobOutputs),
// so the job's program claims and rewrites them exactly as on its first run; a rebuilt
// output that differs from the original is recorded on the job (JobOutputMismatch).

// ErrJobRunning reports a reset of the outputs of a job whose run is in progress.
var ErrJobRunning = errors.New("state: job is running")

// recomputeKinds are the dispatch-table rows of the recompute entries. They change
// inodes and the job records' run fields, never the lineage graph, so they are applied
// without the lineage lock.
var recomputeKinds = map[EntryType]entryKind{
	EntryResetJobOutputs: {"reset_job_outputs", func() proto.Message { return new(sluicepb.ResetJobOutputsEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			j, err := t.applyResetJobOutputs(m.(*sluicepb.ResetJobOutputsEntry))
			return Result{Job: j}, err
		}},
	EntryJobOutputMismatch: {"job_output_mismatch", func() proto.Message { return new(sluicepb.JobOutputMismatchEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			j, err := t.applyJobOutputMismatch(m.(*sluicepb.JobOutputMismatchEntry))
			return Result{Job: j}, err
		}},
}

// applyResetJobOutputs turns the outputs of a job that are still bound to it into
// INCOMPLETE, LOST placeholders (see ResetJobOutputsEntry).
func (t *txn) applyResetJobOutputs(e *sluicepb.ResetJobOutputsEntry) (Job, error) {
	t.timeMs = e.GetTimeMs()
	j := t.job(e.GetJobId())
	switch {
	case j == nil:
		return Job{}, fmt.Errorf("job %d: %w", e.GetJobId(), ErrNotFound)
	case j.State == lineage.StateRunning:
		return Job{}, fmt.Errorf("job %d: run %d in progress: %w", j.ID, j.Attempts, ErrJobRunning)
	}
	for _, p := range j.Outputs {
		in, err := lookup(t, p)
		if err != nil || in.Directory || in.JobID != j.ID {
			continue
		}
		if err := t.checkWritable(p); err != nil {
			return Job{}, err
		}
		t.update(in.ID, func(n *Inode) {
			n.Complete, n.Length, n.Checksum = false, 0, ""
			n.PersistenceState, n.UFSPath, n.UFSFingerprint = Lost, "", ""
			n.ModificationTimeMs = max(n.ModificationTimeMs, t.timeMs)
		})
	}
	return j.Clone(), nil
}

// applyJobOutputMismatch records on the job's current run that it rebuilt an output
// differently (see JobOutputMismatchEntry).
func (t *txn) applyJobOutputMismatch(e *sluicepb.JobOutputMismatchEntry) (Job, error) {
	cur := t.job(e.GetJobId())
	switch {
	case cur == nil:
		return Job{}, fmt.Errorf("job %d: %w", e.GetJobId(), ErrNotFound)
	case e.GetMessage() == "":
		return Job{}, fmt.Errorf("job %d: mismatch without a message: %w", cur.ID, ErrInvalidArgument)
	case e.GetAttempt() != cur.Attempts:
		return Job{}, fmt.Errorf("job %d: run %d, current run %d: %w", cur.ID, e.GetAttempt(), cur.Attempts, ErrStaleRun)
	}
	nj := cur.Clone()
	nj.Message = e.GetMessage()
	t.jobs.Insert(jobKey(nj.ID), &nj)
	return nj.Clone(), nil
}
