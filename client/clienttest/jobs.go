package clienttest

import (
	"context"
	"path"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// The fake JobMaster. It records jobs and their lineage, creates output placeholders and
// answers queries like the real master, but runs nothing: a submitted job stays RUNNING
// until the test ends its run with FinishJob (or changes it with UpdateJob). Job IDs are
// decimal numbers from 1, so ID order is submission order, which is also a topological
// order (a job's inputs exist before it is submitted). Every function expects c.mu held
// unless it takes it.

// jobServer is the fake JobMaster.
type jobServer struct {
	sluicepb.UnimplementedJobMasterServer
	c *Cluster
}

// job is one recorded job.
type job struct {
	id   uint64
	info *sluicepb.JobInfo
}

// jobByID returns the recorded job with the decimal ID id.
func (c *Cluster) jobByID(id string) (*job, error) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err == nil {
		for _, j := range c.jobs {
			if j.id == n {
				return j, nil
			}
		}
	}
	return nil, jobNotFound(id)
}

// withJob runs f on job id under the cluster's lock; an unknown job fails with NOT_FOUND.
func withJob[T any](c *Cluster, id string, f func(j *job) (T, error)) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j, err := c.jobByID(id)
	if err != nil {
		var zero T
		return zero, err
	}
	return f(j)
}

func jobNotFound(id string) error {
	return fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, "", "job %q not found", id)
}

// within reports whether p is dir or lies below it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// dependsOn reports whether job b reads an output of job a.
func dependsOn(b, a *job) bool {
	for _, in := range b.info.GetSpec().GetInputs() {
		for _, out := range a.info.GetSpec().GetOutputs() {
			if within(out, in) {
				return true
			}
		}
	}
	return false
}

// producer returns the job that writes file p, or nil.
func (c *Cluster) producer(p string) *job {
	for _, j := range c.jobs {
		for _, out := range j.info.GetSpec().GetOutputs() {
			if out == p {
				return j
			}
		}
	}
	return nil
}

// relatives returns the jobs reachable from j through step (parents or children), at most
// maxDepth levels away (0: unbounded), by ID ascending.
func (c *Cluster) relatives(j *job, maxDepth int32, up bool) []*job {
	seen := map[*job]bool{j: true}
	level := []*job{j}
	for depth := int32(1); len(level) > 0 && (maxDepth == 0 || depth <= maxDepth); depth++ {
		var next []*job
		for _, x := range level {
			for _, y := range c.jobs {
				if seen[y] {
					continue
				}
				if (up && dependsOn(x, y)) || (!up && dependsOn(y, x)) {
					seen[y] = true
					next = append(next, y)
				}
			}
		}
		level = next
	}
	var out []*job
	for _, y := range c.jobs {
		if seen[y] && y != j {
			out = append(out, y)
		}
	}
	return out
}

// jobView returns a copy of j's info with its parents and children filled in.
func (c *Cluster) jobView(j *job) *sluicepb.JobInfo {
	info := proto.Clone(j.info).(*sluicepb.JobInfo)
	info.ParentJobIds, info.ChildJobIds = nil, nil
	for _, y := range c.jobs {
		if y == j {
			continue
		}
		if dependsOn(j, y) {
			info.ParentJobIds = append(info.ParentJobIds, y.info.GetJobId())
		}
		if dependsOn(y, j) {
			info.ChildJobIds = append(info.ChildJobIds, y.info.GetJobId())
		}
	}
	return info
}

func (c *Cluster) jobViews(js []*job) []*sluicepb.JobInfo {
	out := make([]*sluicepb.JobInfo, 0, len(js))
	for _, j := range js {
		out = append(out, c.jobView(j))
	}
	return out
}

func (s *jobServer) SubmitJob(_ context.Context, req *sluicepb.SubmitJobRequest) (*sluicepb.SubmitJobResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	spec := req.GetSpec()
	invalid := func(format string, args ...any) error {
		return fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "", format, args...)
	}
	if len(spec.GetCommand()) == 0 || spec.GetCommand()[0] == "" {
		return nil, invalid("job has no command")
	}
	if len(spec.GetOutputs()) == 0 {
		return nil, invalid("job has no output")
	}
	seen := map[string]bool{}
	for _, p := range append(append([]string(nil), spec.GetInputs()...), spec.GetOutputs()...) {
		if err := checkPath(p); err != nil {
			return nil, err
		}
		if seen[p] {
			return nil, invalid("%s is listed twice", p)
		}
		seen[p] = true
	}
	for _, in := range spec.GetInputs() {
		if _, err := c.lookup(in, true); err != nil {
			return nil, err
		}
		for _, out := range spec.GetOutputs() {
			if within(out, in) {
				return nil, invalid("output %s is also an input", out)
			}
		}
	}
	for _, out := range spec.GetOutputs() {
		if _, err := c.lookup(out, true); err == nil {
			return nil, fail(sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS, out, "output %s exists", out)
		}
	}
	c.nextJobID++
	id := strconv.FormatUint(c.nextJobID, 10)
	for _, out := range spec.GetOutputs() {
		if _, err := c.mkdirs(path.Dir(out), 0o755, "", ""); err != nil {
			return nil, err
		}
		in := c.addInode(out, false, 0o644, "", "")
		in.writeType = sluicepb.WriteType_WRITE_TYPE_MUST_CACHE
		in.info.State = sluicepb.FileState_FILE_STATE_INCOMPLETE
		in.info.BlockSize = c.opts.BlockSize
		in.info.JobId = id
	}
	now := nowMs()
	j := &job{id: c.nextJobID, info: &sluicepb.JobInfo{
		JobId:        id,
		Spec:         proto.Clone(spec).(*sluicepb.JobSpec),
		State:        sluicepb.JobState_JOB_STATE_RUNNING,
		SubmitTimeMs: now,
		StartTimeMs:  now,
		Attempts:     1,
		TaskId:       "task-" + id + "-1",
		Host:         hostname(),
	}}
	c.jobs = append(c.jobs, j)
	return &sluicepb.SubmitJobResponse{Job: c.jobView(j)}, nil
}

func (s *jobServer) GetJob(_ context.Context, req *sluicepb.GetJobRequest) (*sluicepb.GetJobResponse, error) {
	return withJob(s.c, req.GetJobId(), func(j *job) (*sluicepb.GetJobResponse, error) {
		return &sluicepb.GetJobResponse{Job: s.c.jobView(j)}, nil
	})
}

func (s *jobServer) ListJobs(_ context.Context, req *sluicepb.ListJobsRequest) (*sluicepb.ListJobsResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := &sluicepb.ListJobsResponse{}
	for i := len(c.jobs) - 1; i >= 0; i-- {
		j := c.jobs[i]
		if req.GetState() != sluicepb.JobState_JOB_STATE_UNSPECIFIED && j.info.GetState() != req.GetState() {
			continue
		}
		if req.GetLimit() > 0 && len(resp.Jobs) == int(req.GetLimit()) {
			break
		}
		resp.Jobs = append(resp.Jobs, c.jobView(j))
	}
	return resp, nil
}

func (s *jobServer) KillJob(_ context.Context, req *sluicepb.KillJobRequest) (*sluicepb.KillJobResponse, error) {
	return withJob(s.c, req.GetJobId(), func(j *job) (*sluicepb.KillJobResponse, error) {
		switch j.info.GetState() {
		case sluicepb.JobState_JOB_STATE_PENDING, sluicepb.JobState_JOB_STATE_RUNNING:
			j.info.State = sluicepb.JobState_JOB_STATE_KILLED
			j.info.EndTimeMs = nowMs()
			j.info.ExitCode = -1
			j.info.Message = "killed on request"
		}
		return &sluicepb.KillJobResponse{Job: s.c.jobView(j)}, nil
	})
}

func (s *jobServer) DeleteLineage(_ context.Context, req *sluicepb.DeleteLineageRequest) (*sluicepb.DeleteLineageResponse, error) {
	return withJob(s.c, req.GetJobId(), func(j *job) (*sluicepb.DeleteLineageResponse, error) {
		return s.c.deleteLineage(j, req.GetCascade())
	})
}

// deleteLineage forgets j and, with cascade, its descendants.
func (c *Cluster) deleteLineage(j *job, cascade bool) (*sluicepb.DeleteLineageResponse, error) {
	desc := c.relatives(j, 0, false)
	if len(desc) > 0 && !cascade {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_LINEAGE_HAS_DEPENDENTS, "",
			"job %s has dependent jobs %s", j.info.GetJobId(), strings.Join(jobIDs(desc), ", "))
	}
	gone := map[*job]bool{j: true}
	for _, d := range desc {
		gone[d] = true
	}
	resp := &sluicepb.DeleteLineageResponse{DeletedJobIds: append([]string{j.info.GetJobId()}, jobIDs(desc)...)}
	kept := c.jobs[:0]
	for _, x := range c.jobs {
		if !gone[x] {
			kept = append(kept, x)
		}
	}
	c.jobs = kept
	return resp, nil
}

func jobIDs(js []*job) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.info.GetJobId()
	}
	return out
}

func (s *jobServer) GetLineage(_ context.Context, req *sluicepb.GetLineageRequest) (*sluicepb.GetLineageResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	var j *job
	switch {
	case (req.GetPath() == "") == (req.GetJobId() == ""):
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "", "set exactly one of path and job_id")
	case req.GetPath() != "":
		if err := checkPath(req.GetPath()); err != nil {
			return nil, err
		}
		if j = c.producer(req.GetPath()); j == nil {
			return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, req.GetPath(), "no recorded job produced %s", req.GetPath())
		}
	default:
		var err error
		if j, err = c.jobByID(req.GetJobId()); err != nil {
			return nil, err
		}
	}
	return &sluicepb.GetLineageResponse{
		Job:         c.jobView(j),
		Ancestors:   c.jobViews(c.relatives(j, req.GetMaxDepth(), true)),
		Descendants: c.jobViews(c.relatives(j, req.GetMaxDepth(), false)),
	}, nil
}

func (s *jobServer) GetCheckpointStatus(_ context.Context, req *sluicepb.GetCheckpointStatusRequest) (*sluicepb.GetCheckpointStatusResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	root := req.GetPath()
	if root == "" {
		root = "/"
	}
	if _, err := c.lookup(root, false); err != nil {
		return nil, err
	}
	maxFiles := int(req.GetMaxFiles())
	if maxFiles <= 0 {
		maxFiles = 1000
	}
	now := nowMs()
	resp := &sluicepb.GetCheckpointStatusResponse{Totals: &sluicepb.CheckpointTotals{}}
	tot := resp.Totals
	var waiting []*sluicepb.CheckpointFileStatus
	for _, in := range c.subtree(root) {
		fi := in.info
		if fi.IsDir {
			continue
		}
		switch fi.PersistenceState {
		case sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED:
			tot.PersistedFiles++
			continue
		case sluicepb.PersistenceState_PERSISTENCE_STATE_LOST:
			tot.LostFiles++
			continue
		}
		if fi.State != sluicepb.FileState_FILE_STATE_COMPLETE {
			continue
		}
		row := &sluicepb.CheckpointFileStatus{
			Path: fi.Path, FileId: fi.FileId, PersistenceState: fi.PersistenceState,
			Length: fi.Length, BytesWaiting: fi.Length, WaitingMs: now - fi.ModificationTimeMs, JobId: fi.JobId,
		}
		if j := c.producer(fi.Path); j != nil {
			row.Priority = j.info.GetSpec().GetPriority()
		}
		tot.FilesWaiting++
		tot.BytesWaiting += fi.Length
		tot.OldestWaitingMs = max(tot.OldestWaitingMs, row.WaitingMs)
		waiting = append(waiting, row)
	}
	sort.SliceStable(waiting, func(a, b int) bool { return waiting[a].WaitingMs > waiting[b].WaitingMs })
	if len(waiting) > maxFiles {
		waiting, resp.FilesTruncated = waiting[:maxFiles], true
	}
	resp.Files = waiting
	resp.Exposure = c.exposure()
	for _, e := range resp.Exposure {
		resp.ExposureRunTimeMs += e.GetRunTimeMs()
	}
	return resp, nil
}

// exposure lists the jobs that a loss of every un-persisted complete file would rerun, in
// ID (topological) order, each with the number of exposed ancestors it needs.
func (c *Cluster) exposure() []*sluicepb.RecomputeExposure {
	unpersisted := func(p string) bool {
		in := c.inodes[p]
		return in != nil && in.info.State == sluicepb.FileState_FILE_STATE_COMPLETE &&
			in.info.PersistenceState != sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED
	}
	exposed := map[*job][]string{}
	for _, j := range c.jobs {
		for _, out := range j.info.GetSpec().GetOutputs() {
			if unpersisted(out) {
				exposed[j] = append(exposed[j], out)
			}
		}
	}
	var out []*sluicepb.RecomputeExposure
	for _, j := range c.jobs {
		lost := exposed[j]
		if lost == nil {
			continue
		}
		depth := 0
		for _, a := range c.relatives(j, 0, true) {
			if exposed[a] != nil {
				depth++
			}
		}
		out = append(out, &sluicepb.RecomputeExposure{
			JobId: j.info.GetJobId(), Name: j.info.GetSpec().GetName(), RunTimeMs: j.info.GetRunTimeMs(),
			UnpersistedOutputs: lost, Depth: int32(depth),
		})
	}
	return out
}

// FinishJob ends the current run of job id as the framework scheduler would report it:
// with exit code 0 and every output complete the job becomes COMPLETED (its run time
// recorded), otherwise FAILED with a message and logTail. It reports whether the job
// exists.
func (c *Cluster) FinishJob(id string, exitCode int, logTail string) bool {
	_, err := withJob(c, id, func(j *job) (struct{}, error) {
		c.finishJob(j, exitCode, logTail)
		return struct{}{}, nil
	})
	return err == nil
}

// finishJob ends j's run; see FinishJob.
func (c *Cluster) finishJob(j *job, exitCode int, logTail string) {
	info := j.info
	info.EndTimeMs = max(nowMs(), info.GetStartTimeMs())
	info.ExitCode = int32(exitCode)
	info.LogTail = logTail
	info.Recomputing = false
	var incomplete []string
	for _, out := range info.GetSpec().GetOutputs() {
		if in := c.inodes[out]; in == nil || in.info.State != sluicepb.FileState_FILE_STATE_COMPLETE {
			incomplete = append(incomplete, out)
		}
	}
	switch {
	case exitCode != 0:
		info.State = sluicepb.JobState_JOB_STATE_FAILED
		info.Message = "exit status " + strconv.Itoa(exitCode)
	case len(incomplete) > 0:
		info.State = sluicepb.JobState_JOB_STATE_FAILED
		info.Message = "output incomplete: " + strings.Join(incomplete, ", ")
	default:
		info.State = sluicepb.JobState_JOB_STATE_COMPLETED
		info.Message = ""
		info.RunTimeMs = info.EndTimeMs - info.StartTimeMs
	}
}

// UpdateJob applies f to job id's record under the cluster's lock (to set times, attempts,
// a log path or a recompute, as the real master would) and reports whether the job exists.
func (c *Cluster) UpdateJob(id string, f func(*sluicepb.JobInfo)) bool {
	_, err := withJob(c, id, func(j *job) (struct{}, error) {
		f(j.info)
		return struct{}{}, nil
	})
	return err == nil
}
