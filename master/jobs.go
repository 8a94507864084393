package master

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/lineage"
	"github.com/sluicedata/sluice/master/state"
)

// Errors of the JobMaster service.
var (
	// ErrNoScheduler reports a SubmitJob on a master configured without a framework
	// scheduler (Config.Jobs is nil).
	ErrNoScheduler = errors.New("master: no framework scheduler to run jobs")
	// ErrJobRunning reports a change that needs a job to have ended (DeleteLineage of a
	// pending or running job, a second run of a running job).
	ErrJobRunning = errors.New("master: job is running")
)

// noSchedulerHint tells how to give a master a framework scheduler (every way).
const noSchedulerHint = "run Sluice with a framework scheduler (`sluice local`, `sluice framework nomad deploy`, " +
	"`sluice framework mesos run`) or start this master with `sluice master --framework HOST:PORT`"

// The job environment (api/job.proto, SubmitJob); client.JobEnv parses it.
const (
	envMaster  = "SLUICE_MASTER"
	envJobID   = "SLUICE_JOB_ID"
	envInputs  = "SLUICE_INPUTS"
	envOutputs = "SLUICE_OUTPUTS"
	// envPathSeparator separates the paths of envInputs and envOutputs.
	envPathSeparator = "\n"
)

// Bounds of a job spec.
const (
	maxJobPaths   = 10000
	maxJobArgs    = 10000
	maxJobEnvVars = 10000
)

// jobServer serves JobMaster. Like fsServer, handlers return plain errors that the
// interceptor maps.
type jobServer struct {
	sluicepb.UnimplementedJobMasterServer
	m *Master
}

// withJob attaches the job an error is about; nil stays nil.
func withJob(err error, id uint64) error {
	if err == nil {
		return nil
	}
	var de *detailError
	if errors.As(err, &de) {
		de.jobID = strconv.FormatUint(id, 10)
		return err
	}
	return &detailError{jobID: strconv.FormatUint(id, 10), err: err}
}

// checkJobSpec validates a spec and returns it with clean paths.
func checkJobSpec(spec *sluicepb.JobSpec) (*sluicepb.JournalJobSpec, error) {
	if spec == nil {
		return nil, invalidf("no job spec")
	}
	switch {
	case len(spec.GetCommand()) == 0 || spec.GetCommand()[0] == "":
		return nil, invalidf("job has no command")
	case len(spec.GetCommand()) > maxJobArgs:
		return nil, invalidf("job command has %d arguments, more than %d", len(spec.GetCommand()), maxJobArgs)
	case len(spec.GetOutputs()) == 0:
		return nil, invalidf("job has no output")
	case len(spec.GetInputs())+len(spec.GetOutputs()) > maxJobPaths:
		return nil, invalidf("job has more than %d paths", maxJobPaths)
	case len(spec.GetEnv()) > maxJobEnvVars:
		return nil, invalidf("job has more than %d environment variables", maxJobEnvVars)
	case spec.GetCpu() < 0 || spec.GetMemMb() < 0:
		return nil, invalidf("negative cpu %v or mem_mb %d", spec.GetCpu(), spec.GetMemMb())
	}
	for k := range spec.GetEnv() {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, invalidf("environment variable name %q", k)
		}
	}
	seen := make(map[string]bool)
	clean := func(ps []string) ([]string, error) {
		var out []string
		for _, p := range ps {
			c, err := cleanPath(p)
			if err != nil {
				return nil, withPath(err, p)
			}
			if c == "/" {
				return nil, withPath(invalidf("/ cannot be a job path"), c)
			}
			if seen[c] {
				return nil, withPath(invalidf("%s is listed twice", c), c)
			}
			seen[c] = true
			out = append(out, c)
		}
		return out, nil
	}
	inputs, err := clean(spec.GetInputs())
	if err != nil {
		return nil, err
	}
	outputs, err := clean(spec.GetOutputs())
	if err != nil {
		return nil, err
	}
	return &sluicepb.JournalJobSpec{Name: spec.GetName(), Command: slices.Clone(spec.GetCommand()),
		Inputs: inputs, Outputs: outputs, Priority: spec.GetPriority(), Cpu: spec.GetCpu(), MemMb: spec.GetMemMb(),
		Env: spec.GetEnv(), WorkingDir: spec.GetWorkingDir()}, nil
}

// SubmitJob validates the job, journals it with its output placeholders and launches it,
// or has it wait for the jobs producing its inputs (jobs_run.go). The answer carries the
// job then: RUNNING, PENDING while it waits, or FAILED when the framework scheduler
// refused it or an input job failed (the record stays, with the reason).
func (s *jobServer) SubmitJob(ctx context.Context, req *sluicepb.SubmitJobRequest) (*sluicepb.SubmitJobResponse, error) {
	m := s.m
	if m.cfg.Jobs == nil {
		return nil, fmt.Errorf("cannot run jobs: %s: %w", noSchedulerHint, ErrNoScheduler)
	}
	spec, err := checkJobSpec(req.GetSpec())
	if err != nil {
		return nil, err
	}
	r := m.jobRunner.Load()
	if r == nil {
		return nil, fmt.Errorf("job runner starting: %w", ErrUnavailable)
	}
	// Paths that exist only in the UFS must be known before the checks.
	for _, p := range spec.GetInputs() {
		if err := m.loader.ensure(ctx, p, sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ONCE, false); err != nil {
			return nil, withPath(err, p)
		}
	}
	n := 0
	for _, p := range spec.GetOutputs() {
		if err := m.loader.ensure(ctx, path.Dir(p), sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ONCE, true); err != nil {
			return nil, withPath(err, p)
		}
		n += max(state.PathDepth(p), 1)
	}
	// Checked again, authoritatively, when the entry applies; here for clear answers.
	if err := m.precheckJob(spec); err != nil {
		return nil, err
	}
	alloc, err := m.allocator()
	if err != nil {
		return nil, err
	}
	ids, err := alloc.Reserve(n)
	if err != nil {
		return nil, err
	}
	id := r.nextJobID.Add(1) - 1
	res, err := m.apply(ctx, state.EntrySubmitJob, &sluicepb.SubmitJobEntry{
		JobId: id, Spec: spec, TimeMs: nowMs(), Ids: ids, BlockSize: m.cfg.DefaultBlockSize,
		Owner: m.cfg.DefaultOwner, Group: m.cfg.DefaultGroup, Mode: 0o644, DirMode: 0o755,
	})
	if err != nil {
		return nil, err
	}
	m.log.Info("job submitted", "job_id", id, "name", spec.GetName(), "inputs", spec.GetInputs(), "outputs", spec.GetOutputs())
	j, err := r.launch(ctx, launchRequest{jobID: id, priority: int(spec.GetPriority()), whenReady: true})
	if err != nil && !errors.Is(err, ErrJobRunning) {
		// The job is recorded; its launch failed or is still under way. Answer the record.
		m.log.Warn("job launch", "job_id", id, "err", err)
		var ok bool
		if j, ok = m.st.View().Job(id); !ok {
			j = res.Job
		}
	}
	return &sluicepb.SubmitJobResponse{Job: m.jobInfos(m.st.View(), []state.Job{j})[0]}, nil
}

// precheckJob tells why the state would refuse spec, with the path at fault.
func (m *Master) precheckJob(spec *sluicepb.JournalJobSpec) error {
	var err error
	m.st.Lineage(func(v *state.View, g *lineage.Graph) {
		for _, p := range spec.GetInputs() {
			if _, e := v.Get(p); e != nil && g.ProducerID(p) == 0 {
				err = withPath(fmt.Errorf("input %s: %w", p, e), p)
				return
			}
		}
		for _, p := range spec.GetOutputs() {
			if _, e := v.Get(p); e == nil {
				err = withPath(fmt.Errorf("output %s: %w", p, state.ErrExists), p)
				return
			}
			if other := g.ProducerID(p); other != 0 {
				err = withPath(fmt.Errorf("output %s is produced by job %d: %w", p, other, lineage.ErrOutputTaken), p)
				return
			}
		}
	})
	return err
}

// jobByID parses a job ID and returns its record.
func (m *Master) jobByID(s string) (state.Job, error) {
	id, err := parseJobID(s)
	if err != nil {
		return state.Job{}, err
	}
	if id == 0 {
		return state.Job{}, invalidf("no job ID")
	}
	j, ok := m.st.View().Job(id)
	if !ok {
		return state.Job{}, withJob(fmt.Errorf("job %d: %w", id, ErrNotFound), id)
	}
	return j, nil
}

// GetJob returns a job; for a running job the launcher adds where its log is.
func (s *jobServer) GetJob(ctx context.Context, req *sluicepb.GetJobRequest) (*sluicepb.GetJobResponse, error) {
	j, err := s.m.jobByID(req.GetJobId())
	if err != nil {
		return nil, err
	}
	info := s.m.jobInfos(s.m.st.View(), []state.Job{j})[0]
	s.m.addLiveStatus(ctx, j, info)
	return &sluicepb.GetJobResponse{Job: info}, nil
}

// addLiveStatus fills the host and log of a live run from the launcher, best effort.
func (m *Master) addLiveStatus(ctx context.Context, j state.Job, info *sluicepb.JobInfo) {
	if m.cfg.Jobs == nil || j.TaskID == "" || j.Ended() || (j.LogPath != "" && j.Host != "") {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ev, err := m.cfg.Jobs.JobStatus(ctx, j.TaskID)
	if err != nil {
		return
	}
	info.Host = cmp.Or(info.Host, ev.Host)
	info.LogPath = cmp.Or(info.LogPath, ev.LogPath)
	info.LogTail = cmp.Or(info.LogTail, ev.LogTail)
}

// ListJobs lists jobs, newest first.
func (s *jobServer) ListJobs(_ context.Context, req *sluicepb.ListJobsRequest) (*sluicepb.ListJobsResponse, error) {
	want, ok := jobStateFromWire(req.GetState())
	if !ok {
		return nil, invalidf("job state %v", req.GetState())
	}
	if req.GetLimit() < 0 {
		return nil, invalidf("limit %d is negative", req.GetLimit())
	}
	v := s.m.st.View()
	var jobs []state.Job
	for j := range v.Jobs() {
		if req.GetState() == sluicepb.JobState_JOB_STATE_UNSPECIFIED || j.State == want {
			jobs = append(jobs, j)
		}
	}
	slices.Reverse(jobs)
	if l := int(req.GetLimit()); l > 0 && len(jobs) > l {
		jobs = jobs[:l]
	}
	return &sluicepb.ListJobsResponse{Jobs: s.m.jobInfos(v, jobs)}, nil
}

// KillJob kills a pending or running job; an ended job is returned as it is.
func (s *jobServer) KillJob(ctx context.Context, req *sluicepb.KillJobRequest) (*sluicepb.KillJobResponse, error) {
	m := s.m
	j, err := m.jobByID(req.GetJobId())
	if err != nil {
		return nil, err
	}
	if !j.Ended() {
		if err := m.killJob(ctx, j, "killed on request"); err != nil {
			return nil, withJob(err, j.ID)
		}
		j, _ = m.st.View().Job(j.ID)
	}
	return &sluicepb.KillJobResponse{Job: m.jobInfos(m.st.View(), []state.Job{j})[0]}, nil
}

// killJob kills the current run of j through the launcher and journals it KILLED. A run
// that ended meanwhile keeps its end.
func (m *Master) killJob(ctx context.Context, j state.Job, why string) error {
	if j.TaskID != "" && j.State == lineage.StateRunning && m.cfg.Jobs != nil {
		if err := m.cfg.Jobs.KillJob(ctx, j.TaskID); err != nil && !errors.Is(err, ErrUnknownTask) {
			return fmt.Errorf("kill job %d task %s: %w", j.ID, j.TaskID, err)
		}
	}
	_, err := m.apply(ctx, state.EntryJobStateChanged, &sluicepb.JobStateChangedEntry{
		JobId: j.ID, State: sluicepb.JournalJobState_JOURNAL_JOB_STATE_KILLED, Attempt: j.Attempts,
		TimeMs: nowMs(), ExitCode: -1, Message: why})
	if errors.Is(err, state.ErrJobEnded) || errors.Is(err, state.ErrStaleRun) {
		return nil
	}
	if err == nil {
		m.log.Info("job killed", "job_id", j.ID, "task_id", j.TaskID, "reason", why)
	}
	return err
}

// DeleteLineage forgets a job (and with cascade its descendants); running jobs must be
// killed first.
func (s *jobServer) DeleteLineage(ctx context.Context, req *sluicepb.DeleteLineageRequest) (*sluicepb.DeleteLineageResponse, error) {
	m := s.m
	j, err := m.jobByID(req.GetJobId())
	if err != nil {
		return nil, err
	}
	var busy []string
	m.st.Lineage(func(v *state.View, g *lineage.Graph) {
		ids := []uint64{j.ID}
		if req.GetCascade() {
			for _, d := range g.DescendantJobs(j.ID, 0) {
				ids = append(ids, d.ID)
			}
		}
		for _, id := range ids {
			if r, ok := v.Job(id); ok && !r.Ended() {
				busy = append(busy, strconv.FormatUint(id, 10))
			}
		}
	})
	if len(busy) > 0 {
		return nil, withJob(fmt.Errorf("job %s still running; kill it first: %w", strings.Join(busy, ", "), ErrJobRunning), j.ID)
	}
	res, err := m.apply(ctx, state.EntryDeleteLineage, &sluicepb.DeleteLineageEntry{
		JobId: j.ID, Cascade: req.GetCascade(), TimeMs: nowMs()})
	if err != nil {
		return nil, withJob(err, j.ID)
	}
	resp := &sluicepb.DeleteLineageResponse{}
	for _, id := range res.RemovedJobs {
		resp.DeletedJobIds = append(resp.DeletedJobIds, strconv.FormatUint(id, 10))
	}
	m.log.Info("lineage deleted", "job_ids", resp.DeletedJobIds)
	return resp, nil
}

// GetLineage returns the job that produced a path (or a job) with its ancestors and
// descendants, in topological order.
func (s *jobServer) GetLineage(_ context.Context, req *sluicepb.GetLineageRequest) (*sluicepb.GetLineageResponse, error) {
	m := s.m
	if (req.GetPath() == "") == (req.GetJobId() == "") {
		return nil, invalidf("set exactly one of path and job_id")
	}
	if req.GetMaxDepth() < 0 {
		return nil, invalidf("max_depth %d is negative", req.GetMaxDepth())
	}
	var id uint64
	if req.GetPath() != "" {
		p, err := cleanPath(req.GetPath())
		if err != nil {
			return nil, err
		}
		m.st.Lineage(func(_ *state.View, g *lineage.Graph) { id = g.ProducerID(p) })
		if id == 0 {
			return nil, withPath(fmt.Errorf("no recorded job produces %s: %w", p, ErrNotFound), p)
		}
	} else {
		j, err := m.jobByID(req.GetJobId())
		if err != nil {
			return nil, err
		}
		id = j.ID
	}
	var (
		v               *state.View
		self, anc, desc []state.Job
		depth           = int(req.GetMaxDepth())
		collect         = func(v *state.View, js []lineage.Job) []state.Job {
			out := make([]state.Job, 0, len(js))
			for _, lj := range js {
				if j, ok := v.Job(lj.ID); ok {
					out = append(out, j)
				}
			}
			return out
		}
	)
	m.st.Lineage(func(lv *state.View, g *lineage.Graph) {
		v = lv
		if j, ok := lv.Job(id); ok {
			self = []state.Job{j}
		}
		anc = collect(lv, g.AncestorJobs(id, depth))
		desc = collect(lv, g.DescendantJobs(id, depth))
	})
	if len(self) == 0 {
		return nil, withJob(fmt.Errorf("job %d: %w", id, ErrNotFound), id)
	}
	infos := m.jobInfos(v, slices.Concat(self, anc, desc))
	return &sluicepb.GetLineageResponse{Job: infos[0], Ancestors: infos[1 : 1+len(anc)], Descendants: infos[1+len(anc):]}, nil
}

// jobInfos converts records to their wire form, with their parent and child jobs.
func (m *Master) jobInfos(v *state.View, jobs []state.Job) []*sluicepb.JobInfo {
	out := make([]*sluicepb.JobInfo, len(jobs))
	m.st.Lineage(func(_ *state.View, g *lineage.Graph) {
		for i, j := range jobs {
			out[i] = jobInfo(j, g.Parents(j.ID), g.Children(j.ID))
		}
	})
	return out
}

// jobInfo converts one record.
func jobInfo(j state.Job, parents, children []uint64) *sluicepb.JobInfo {
	ids := func(xs []uint64) []string {
		var out []string
		for _, x := range xs {
			out = append(out, strconv.FormatUint(x, 10))
		}
		return out
	}
	return &sluicepb.JobInfo{
		JobId: strconv.FormatUint(j.ID, 10),
		Spec: &sluicepb.JobSpec{Name: j.Name, Command: slices.Clone(j.Command), Inputs: slices.Clone(j.Inputs),
			Outputs: slices.Clone(j.Outputs), Priority: int32(j.Priority), Cpu: j.CPU, MemMb: j.MemMB,
			Env: j.Env, WorkingDir: j.WorkingDir},
		State:        jobStateToWire(j.State),
		SubmitTimeMs: j.SubmitTime.UnixMilli(),
		StartTimeMs:  j.StartTimeMs,
		EndTimeMs:    j.EndTimeMs,
		RunTimeMs:    j.RunTime.Milliseconds(),
		Attempts:     j.Attempts,
		Recomputing:  j.Recomputing && j.State == lineage.StateRunning,
		TaskId:       j.TaskID,
		ExitCode:     j.ExitCode,
		Message:      j.Message,
		LogTail:      j.LogTail,
		Host:         j.Host,
		LogPath:      j.LogPath,
		ParentJobIds: ids(parents),
		ChildJobIds:  ids(children),
	}
}

// jobStateToWire maps a lineage state to the wire enum (PENDING = 1 …).
func jobStateToWire(s lineage.State) sluicepb.JobState {
	return sluicepb.JobState(int32(s) + 1)
}

// jobStateFromWire maps a wire state; UNSPECIFIED is (0, true) and matches every state
// in filters.
func jobStateFromWire(s sluicepb.JobState) (lineage.State, bool) {
	if s == sluicepb.JobState_JOB_STATE_UNSPECIFIED {
		return 0, true
	}
	ls := lineage.State(int32(s) - 1)
	return ls, s > 0 && s <= 255 && ls.Valid()
}
