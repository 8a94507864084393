package state

import (
	"errors"
	"testing"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/lineage"
)

// completedJob submits job 1 writing /out/p and /out/q, completes both outputs (10 and
// 20 bytes) and the job's first run.
func completedJob(t *testing.T) (*fixture, Inode, Inode) {
	f := newTree(t)
	f.must(EntrySubmitJob, f.submitEntry(1, []string{"/a/f"}, []string{"/out/p", "/out/q"}))
	f.must(EntryJobStateChanged, f.stateEntry(1, lineage.StateRunning, 1))
	p := f.get("/out/p")
	q := f.get("/out/q")
	f.must(EntryCompleteFile, &sluicepb.CompleteFileEntry{Id: p.ID, Length: 10, Checksum: "crc32c:aa", TimeMs: f.now})
	f.must(EntryCompleteFile, &sluicepb.CompleteFileEntry{Id: q.ID, Length: 20, TimeMs: f.now})
	f.must(EntryJobStateChanged, f.stateEntry(1, lineage.StateCompleted, 1))
	return f, f.get("/out/p"), f.get("/out/q")
}

func TestState_ResetJobOutputs(t *testing.T) {
	f, p, q := completedJob(t)
	f.must(EntrySetPersistenceState, &sluicepb.SetPersistenceStateEntry{Id: p.ID,
		State: sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_LOST, TimeMs: f.now})
	f.must(EntrySetPersistenceState, &sluicepb.SetPersistenceStateEntry{Id: q.ID,
		State: sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_PERSISTED, UfsPath: "/out/q", TimeMs: f.now})
	res := f.must(EntryResetJobOutputs, &sluicepb.ResetJobOutputsEntry{JobId: 1, TimeMs: f.now})
	if res.Job.ID != 1 {
		t.Errorf("Result.Job = %+v", res.Job)
	}
	for _, path := range []string{"/out/p", "/out/q"} {
		in := f.get(path)
		if in.Complete || in.Length != 0 || in.Checksum != "" || in.PersistenceState != Lost || in.UFSPath != "" || in.JobID != 1 {
			t.Errorf("%s after reset = %+v, want an INCOMPLETE LOST placeholder of job 1", path, in)
		}
	}
	n := 0
	for range f.s.View().FilesByPersistence(Lost) {
		n++
	}
	if n != 2 {
		t.Errorf("%d LOST files indexed, want 2", n)
	}
	// The rerun completes the placeholder again, which makes it readable: NOT_PERSISTED.
	in := f.must(EntryCompleteFile, &sluicepb.CompleteFileEntry{Id: p.ID, Length: 10, TimeMs: f.now}).Inode
	if !in.Complete || in.PersistenceState != NotPersisted || len(in.BlockIDs()) != 1 {
		t.Errorf("completed again = %+v", in)
	}
}

func TestState_ResetJobOutputsRefusals(t *testing.T) {
	f, _, _ := completedJob(t)
	if r := f.apply(EntryResetJobOutputs, &sluicepb.ResetJobOutputsEntry{JobId: 9}); !errors.Is(r.Err, ErrNotFound) {
		t.Errorf("reset of an unknown job = %v, want ErrNotFound", r.Err)
	}
	f.must(EntryJobStateChanged, f.stateEntry(1, lineage.StateRunning, 2))
	if r := f.apply(EntryResetJobOutputs, &sluicepb.ResetJobOutputsEntry{JobId: 1}); !errors.Is(r.Err, ErrJobRunning) {
		t.Errorf("reset of a running job = %v, want ErrJobRunning", r.Err)
	}
	if in := f.get("/out/p"); !in.Complete {
		t.Error("a refused reset changed an output")
	}
	// An output deleted or no longer bound to the job is left alone.
	f.must(EntryJobStateChanged, f.stateEntry(1, lineage.StateFailed, 2))
	f.must(EntryDelete, &sluicepb.DeleteEntry{Path: "/out/q"})
	f.must(EntryResetJobOutputs, &sluicepb.ResetJobOutputsEntry{JobId: 1, TimeMs: f.now})
	if f.exists("/out/q") {
		t.Error("reset recreated a deleted output")
	}
}

func TestState_JobOutputMismatch(t *testing.T) {
	f, _, _ := completedJob(t)
	msg := "non-deterministic: /out/p rebuilt with 11 bytes, originally 10 bytes"
	if r := f.apply(EntryJobOutputMismatch, &sluicepb.JobOutputMismatchEntry{JobId: 1, Attempt: 2, Message: msg}); !errors.Is(r.Err, ErrStaleRun) {
		t.Errorf("mismatch of another run = %v, want ErrStaleRun", r.Err)
	}
	if r := f.apply(EntryJobOutputMismatch, &sluicepb.JobOutputMismatchEntry{JobId: 1, Attempt: 1}); !errors.Is(r.Err, ErrInvalidArgument) {
		t.Errorf("mismatch without message = %v, want ErrInvalidArgument", r.Err)
	}
	res := f.must(EntryJobOutputMismatch, &sluicepb.JobOutputMismatchEntry{JobId: 1, Attempt: 1, Message: msg, TimeMs: f.now})
	j, _ := f.s.View().Job(1)
	if res.Job.Message != msg || j.Message != msg || j.State != lineage.StateCompleted {
		t.Errorf("job after mismatch = %+v", j)
	}
	f.graphJobs() // the graph still agrees with the records
}
