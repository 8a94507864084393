package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/lineage"
)

// Lineage jobs. The job records live in the View (immutable, like inodes) and, mirrored,
// in one lineage.Graph owned by the State (see State.Lineage). Three entries change them:
// SubmitJob (a new PENDING job and its output placeholders, all or nothing), JobStateChanged
// (a run starts or ends) and DeleteLineage. Each applies every namespace check first and
// changes the graph last, with an operation that either succeeds whole or changes nothing,
// so a refused entry leaves both the View and the graph as they were.

// FirstJobID is the first lineage job ID the leader hands out.
const FirstJobID uint64 = 1

// Errors of job runs, returned in Result.Err by JobStateChanged entries.
var (
	// ErrJobEnded reports a change of a run that has already ended (a second end, a kill
	// racing a completion), or a new run of a KILLED job.
	ErrJobEnded = errors.New("state: job run already ended")
	// ErrStaleRun reports a change naming another run (attempt) than the job's current
	// one: a late event of a run that a newer run replaced.
	ErrStaleRun = errors.New("state: not the job's current run")
)

// Job is one lineage job record: the lineage.Job the graph holds (command, paths,
// priority, submit time, state, run time of the last successful run) and the rest of
// what was submitted and of the latest run. Values handed out by queries are copies.
type Job struct {
	lineage.Job
	// Env is the environment the submitter added; WorkingDir the job's directory.
	Env        map[string]string
	WorkingDir string
	// StartTimeMs and EndTimeMs bound the latest run (0 before it starts, or while it
	// runs). Attempts counts runs, recomputes included; the latest run is number Attempts.
	StartTimeMs int64
	EndTimeMs   int64
	Attempts    int32
	// Recomputing tells that the latest run rebuilds lost outputs.
	Recomputing bool
	// TaskID, Host and LogPath locate the latest run on the framework scheduler.
	TaskID  string
	Host    string
	LogPath string
	// ExitCode, Message and LogTail explain how the latest run ended.
	ExitCode int32
	Message  string
	LogTail  string
	// OutputFacts are the outputs as the first successful run left them: what a
	// recompute is checked against. Empty until the job first completes.
	OutputFacts []OutputFact
}

// OutputFact is one output of a job as its first successful run left it.
type OutputFact struct {
	Path     string
	FileID   uint64
	Length   int64
	Checksum string // opaque ("crc32c:…"), empty if not recorded
}

// Clone returns a deep copy of j.
func (j Job) Clone() Job {
	j.Job = j.Job.Clone()
	j.Env = maps.Clone(j.Env)
	j.OutputFacts = slices.Clone(j.OutputFacts)
	return j
}

// Ended reports whether the latest run has ended (COMPLETED, FAILED or KILLED).
func (j Job) Ended() bool {
	return j.State == lineage.StateCompleted || j.State == lineage.StateFailed || j.State == lineage.StateKilled
}

// Fact returns the recorded fact of output p.
func (j Job) Fact(p string) (OutputFact, bool) {
	for _, f := range j.OutputFacts {
		if f.Path == p {
			return f, true
		}
	}
	return OutputFact{}, false
}

func jobKey(id uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), id) }

// lineageKinds are the rows of the dispatch table for the lineage entries: the entries
// that change the lineage graph, applied under State.lineageMu.
var lineageKinds = map[EntryType]entryKind{
	EntrySubmitJob: {"submit_job", func() proto.Message { return new(sluicepb.SubmitJobEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			j, created, err := t.applySubmitJob(m.(*sluicepb.SubmitJobEntry))
			if err != nil {
				return Result{}, err
			}
			r, err := t.result(nil, created, nil)
			r.Job = j
			return r, err
		}},
	EntryJobStateChanged: {"job_state_changed", func() proto.Message { return new(sluicepb.JobStateChangedEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			j, err := t.applyJobStateChanged(m.(*sluicepb.JobStateChangedEntry))
			return Result{Job: j}, err
		}},
	EntryDeleteLineage: {"delete_lineage", func() proto.Message { return new(sluicepb.DeleteLineageEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			ids, err := t.applyDeleteLineage(m.(*sluicepb.DeleteLineageEntry))
			return Result{RemovedJobs: ids}, err
		}},
}

func (t *txn) job(id uint64) *Job {
	x, ok := t.jobs.Get(jobKey(id))
	if !ok {
		return nil
	}
	return x.(*Job)
}

// applySubmitJob records a PENDING job and creates its outputs as INCOMPLETE files bound
// to it, with their missing parent directories. Inputs must exist or be outputs of
// recorded jobs (ErrNotFound); outputs must not exist (ErrExists); the lineage checks
// (an output another job produces, an output that is an input, a cycle) come last.
func (t *txn) applySubmitJob(e *sluicepb.SubmitJobEntry) (Job, []*Inode, error) {
	t.timeMs = e.GetTimeMs()
	id := e.GetJobId()
	switch {
	case id < FirstJobID:
		return Job{}, nil, fmt.Errorf("job ID %d: %w", id, ErrInvalidArgument)
	case t.job(id) != nil:
		return Job{}, nil, fmt.Errorf("job %d: %w", id, lineage.ErrDuplicateID)
	case e.GetBlockSize() <= 0:
		return Job{}, nil, fmt.Errorf("block size %d: %w", e.GetBlockSize(), ErrInvalidArgument)
	}
	if err := checkMode(e.GetMode()); err != nil {
		return Job{}, nil, err
	}
	if err := checkMode(e.GetDirMode()); err != nil {
		return Job{}, nil, err
	}
	j := jobFromSpec(id, e.GetSpec())
	j.SubmitTime = time.UnixMilli(t.timeMs)
	if len(j.Outputs) == 0 {
		return Job{}, nil, fmt.Errorf("job %d has no output: %w", id, lineage.ErrInvalidJob)
	}
	for _, p := range slices.Concat(j.Inputs, j.Outputs) {
		if clean, err := ValidatePath(p); err != nil || clean != p {
			return Job{}, nil, fmt.Errorf("job %d: path %q is not absolute and clean: %w", id, p, ErrInvalidPath)
		}
	}
	for _, p := range j.Inputs {
		if _, err := lookup(t, p); err != nil && t.graph.ProducerID(p) == 0 {
			return Job{}, nil, fmt.Errorf("input %s: %w", p, err)
		}
	}
	ids, err := t.reserve(e.GetIds())
	if err != nil {
		return Job{}, nil, err
	}
	var created []*Inode
	d := newDir{owner: e.GetOwner(), group: e.GetGroup(), mode: e.GetDirMode()}
	for _, p := range j.Outputs {
		if err := t.checkWritable(p); err != nil {
			return Job{}, nil, err
		}
		if p == "/" {
			return Job{}, nil, fmt.Errorf("output /: %w", ErrExists)
		}
		fid, err := t.take(ids)
		if err != nil {
			return Job{}, nil, err
		}
		parent, err := t.ensureParents(p, true, ids, d, &created)
		if err != nil {
			return Job{}, nil, err
		}
		comps := components(p)
		name := comps[len(comps)-1]
		if t.child(parent.ID, name) != nil {
			return Job{}, nil, fmt.Errorf("output %s: %w", p, ErrExists)
		}
		// A pinned directory pins the files created in it, as for CreateFile.
		f := &Inode{ID: fid, ParentID: parent.ID, Name: name,
			Owner: e.GetOwner(), Group: e.GetGroup(), Mode: e.GetMode(),
			CreationTimeMs: t.timeMs, ModificationTimeMs: t.timeMs,
			Pinned: t.inode(parent.ID).Pinned, BlockSize: e.GetBlockSize(), JobID: id}
		t.put(nil, f)
		t.touch(parent.ID)
		created = append(created, f)
	}
	// The graph last: Add either records the job or changes nothing.
	if err := t.graph.Add(j.Job); err != nil {
		return Job{}, nil, err
	}
	t.jobs.Insert(jobKey(id), &j)
	t.nextJobID = max(t.nextJobID, id+1)
	return j.Clone(), created, nil
}

// applyJobStateChanged starts or ends a run of a job (see JobStateChangedEntry).
func (t *txn) applyJobStateChanged(e *sluicepb.JobStateChangedEntry) (Job, error) {
	cur := t.job(e.GetJobId())
	if cur == nil {
		return Job{}, fmt.Errorf("job %d: %w", e.GetJobId(), ErrNotFound)
	}
	to, ok := jobStateFrom(e.GetState())
	a := e.GetAttempt()
	switch {
	case !ok || to == lineage.StatePending:
		return Job{}, fmt.Errorf("job %d: state %v: %w", cur.ID, e.GetState(), ErrInvalidArgument)
	case e.GetRunTimeMs() < 0 || a < 0:
		return Job{}, fmt.Errorf("job %d: negative run time or attempt: %w", cur.ID, ErrInvalidArgument)
	}
	nj := cur.Clone()
	keep := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	keep(&nj.TaskID, e.GetTaskId())
	keep(&nj.Host, e.GetHost())
	keep(&nj.LogPath, e.GetLogPath())
	if to == lineage.StateRunning {
		switch {
		case cur.State == lineage.StateKilled:
			return Job{}, fmt.Errorf("job %d was killed: %w", cur.ID, ErrJobEnded)
		case a < max(cur.Attempts, 1):
			return Job{}, fmt.Errorf("job %d: run %d, current run %d: %w", cur.ID, a, cur.Attempts, ErrStaleRun)
		case a == cur.Attempts && cur.State != lineage.StateRunning:
			return Job{}, fmt.Errorf("job %d: run %d: %w", cur.ID, a, ErrJobEnded)
		}
		if a > cur.Attempts {
			// A new run: forget how the previous one ended.
			nj.Attempts, nj.StartTimeMs, nj.EndTimeMs = a, e.GetTimeMs(), 0
			nj.ExitCode, nj.Message, nj.LogTail = 0, "", ""
			nj.TaskID, nj.Host, nj.LogPath = e.GetTaskId(), e.GetHost(), e.GetLogPath()
			nj.Recomputing = e.GetRecomputing()
		}
	} else {
		// An end: of the current run, or of a next run that never started (its launch
		// failed), which then counts as a run.
		switch {
		case a == cur.Attempts && cur.Ended():
			return Job{}, fmt.Errorf("job %d: run %d is %v: %w", cur.ID, a, cur.State, ErrJobEnded)
		case a == cur.Attempts+1 && (cur.State == lineage.StateRunning || cur.State == lineage.StateKilled):
			return Job{}, fmt.Errorf("job %d: run %d while run %d is %v: %w", cur.ID, a, cur.Attempts, cur.State, ErrJobEnded)
		case a != cur.Attempts && a != cur.Attempts+1:
			return Job{}, fmt.Errorf("job %d: run %d, current run %d: %w", cur.ID, a, cur.Attempts, ErrStaleRun)
		}
		if a > cur.Attempts {
			nj.Attempts, nj.StartTimeMs = a, e.GetTimeMs()
			nj.TaskID, nj.Host, nj.LogPath = e.GetTaskId(), e.GetHost(), e.GetLogPath()
			nj.Recomputing = e.GetRecomputing()
		}
		nj.EndTimeMs = e.GetTimeMs()
		nj.ExitCode, nj.Message, nj.LogTail = e.GetExitCode(), e.GetMessage(), e.GetLogTail()
		if to == lineage.StateCompleted {
			nj.RunTime = time.Duration(e.GetRunTimeMs()) * time.Millisecond
			if len(nj.OutputFacts) == 0 {
				for _, f := range e.GetOutputFacts() {
					nj.OutputFacts = append(nj.OutputFacts, OutputFact{Path: f.GetPath(), FileID: f.GetFileId(),
						Length: f.GetLength(), Checksum: f.GetChecksum()})
				}
			}
		}
	}
	nj.State = to
	// The graph last; both calls fail only for a job the graph does not hold, which the
	// View holds, so neither fails while the two agree.
	if to == lineage.StateCompleted {
		if err := t.graph.SetRunTime(nj.ID, nj.RunTime); err != nil {
			return Job{}, err
		}
	}
	if err := t.graph.SetState(nj.ID, to); err != nil {
		return Job{}, err
	}
	t.jobs.Insert(jobKey(nj.ID), &nj)
	return nj.Clone(), nil
}

// applyDeleteLineage forgets a job (and with cascade its descendants). Output files
// stay; those still bound to a forgotten job lose their producing job.
func (t *txn) applyDeleteLineage(e *sluicepb.DeleteLineageEntry) ([]uint64, error) {
	t.timeMs = e.GetTimeMs()
	if t.job(e.GetJobId()) == nil {
		return nil, fmt.Errorf("job %d: %w", e.GetJobId(), ErrNotFound)
	}
	removed, err := t.graph.Remove(e.GetJobId(), e.GetCascade())
	if err != nil {
		return nil, err
	}
	for _, id := range removed {
		j := t.job(id)
		if j == nil {
			continue
		}
		t.jobs.Delete(jobKey(id))
		for _, p := range j.Outputs {
			if in, err := lookup(t, p); err == nil && !in.Directory && in.JobID == id {
				t.update(in.ID, func(n *Inode) { n.JobID = 0 })
			}
		}
	}
	return removed, nil
}

// Job returns the record of job id.
func (v *View) Job(id uint64) (Job, bool) {
	x, ok := v.jobs.Get(jobKey(id))
	if !ok {
		return Job{}, false
	}
	return x.(*Job).Clone(), true
}

// Jobs yields every job record by ID ascending.
func (v *View) Jobs() iter.Seq[Job] {
	return func(yield func(Job) bool) {
		it := v.jobs.Root().Iterator()
		for _, x, ok := it.Next(); ok; _, x, ok = it.Next() {
			if !yield(x.(*Job).Clone()) {
				return
			}
		}
	}
}

// JobCount returns the number of recorded jobs.
func (v *View) JobCount() int { return v.jobs.Len() }

// NextJobID returns the smallest job ID no applied entry has used: where the leader's
// job IDs start.
func (v *View) NextJobID() uint64 { return v.nextJobID }

// Lineage calls fn with the lineage graph and the View it mirrors (the graph holds
// exactly the View's jobs), under the lineage lock. fn must not keep g nor change it,
// and should be quick: entries that change lineage wait for it. fn may read the State's
// other Views, but must not apply entries (that would deadlock).
func (s *State) Lineage(fn func(v *View, g *lineage.Graph)) {
	s.lineageMu.Lock()
	defer s.lineageMu.Unlock()
	fn(s.cur.Load(), s.graph)
}

// jobFromSpec builds a PENDING job record from a journal spec.
func jobFromSpec(id uint64, s *sluicepb.JournalJobSpec) Job {
	j := Job{
		Job: lineage.Job{ID: id, Name: s.GetName(), Command: slices.Clone(s.GetCommand()),
			Inputs: slices.Clone(s.GetInputs()), Outputs: slices.Clone(s.GetOutputs()),
			Priority: int(s.GetPriority()), CPU: s.GetCpu(), MemMB: s.GetMemMb()},
		Env:        maps.Clone(s.GetEnv()),
		WorkingDir: s.GetWorkingDir(),
	}
	return j.Clone() // empty slices and maps become nil
}

// JobSpecEntry returns the journal form of a job's spec.
func JobSpecEntry(j Job) *sluicepb.JournalJobSpec {
	return &sluicepb.JournalJobSpec{Name: j.Name, Command: slices.Clone(j.Command),
		Inputs: slices.Clone(j.Inputs), Outputs: slices.Clone(j.Outputs), Priority: int32(j.Priority),
		Cpu: j.CPU, MemMb: j.MemMB, Env: maps.Clone(j.Env), WorkingDir: j.WorkingDir}
}

// JobStateEntry returns the journal enum of a lineage state.
func JobStateEntry(s lineage.State) sluicepb.JournalJobState {
	return sluicepb.JournalJobState(s)
}

// jobStateFrom converts a journal enum (same numbering as lineage.State).
func jobStateFrom(x sluicepb.JournalJobState) (lineage.State, bool) {
	if x < 0 || x > 0xff || !lineage.State(x).Valid() {
		return 0, false
	}
	return lineage.State(x), true
}

func toSnapshotJob(j *Job) *sluicepb.SnapshotJob {
	s := &sluicepb.SnapshotJob{
		JobId: j.ID, Spec: JobSpecEntry(*j), State: JobStateEntry(j.State),
		SubmitTimeMs: j.SubmitTime.UnixMilli(), StartTimeMs: j.StartTimeMs, EndTimeMs: j.EndTimeMs,
		RunTimeMs: j.RunTime.Milliseconds(), Attempts: j.Attempts, Recomputing: j.Recomputing,
		TaskId: j.TaskID, Host: j.Host, LogPath: j.LogPath,
		ExitCode: j.ExitCode, Message: j.Message, LogTail: j.LogTail,
	}
	for _, f := range j.OutputFacts {
		s.OutputFacts = append(s.OutputFacts, &sluicepb.JournalOutputFact{Path: f.Path, FileId: f.FileID,
			Length: f.Length, Checksum: f.Checksum})
	}
	return s
}

func fromSnapshotJob(s *sluicepb.SnapshotJob) (*Job, error) {
	st, ok := jobStateFrom(s.GetState())
	switch {
	case !ok:
		return nil, fmt.Errorf("job %d: bad state %v", s.GetJobId(), s.GetState())
	case s.GetJobId() < FirstJobID:
		return nil, fmt.Errorf("job ID %d", s.GetJobId())
	case s.GetAttempts() < 0 || s.GetRunTimeMs() < 0:
		return nil, fmt.Errorf("job %d: negative attempts or run time", s.GetJobId())
	}
	j := jobFromSpec(s.GetJobId(), s.GetSpec())
	j.State = st
	j.SubmitTime = time.UnixMilli(s.GetSubmitTimeMs())
	j.RunTime = time.Duration(s.GetRunTimeMs()) * time.Millisecond
	j.StartTimeMs, j.EndTimeMs, j.Attempts, j.Recomputing = s.GetStartTimeMs(), s.GetEndTimeMs(), s.GetAttempts(), s.GetRecomputing()
	j.TaskID, j.Host, j.LogPath = s.GetTaskId(), s.GetHost(), s.GetLogPath()
	j.ExitCode, j.Message, j.LogTail = s.GetExitCode(), s.GetMessage(), s.GetLogTail()
	for _, f := range s.GetOutputFacts() {
		j.OutputFacts = append(j.OutputFacts, OutputFact{Path: f.GetPath(), FileID: f.GetFileId(),
			Length: f.GetLength(), Checksum: f.GetChecksum()})
	}
	return &j, nil
}
