package master

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/lineage"
	"github.com/sluicedata/sluice/master/state"
)

// Job runs. While this master leads, one goroutine (jobRunner.run) owns every run of
// every job: it launches them through Config.Jobs, journals their start (RUNNING, with
// the task ID) and consumes the launcher's events to journal their end. Handlers hand
// launches to it (launch) and wait for the answer, so an event of a task is always
// handled after the task's start was journaled, without locks.
//
// Decisions:
//   - A job whose inputs other recorded jobs produce runs only once every such job has
//     COMPLETED: until then it stays PENDING (SubmitJob answers so), and it is FAILED
//     ("input job N failed") as soon as one of them fails or is killed, which fails its
//     own dependents in turn. Waiting jobs are checked after every run's end and every
//     second. Recompute runs (recompute.go) order themselves and do not wait.
//   - A run that exits 0 is COMPLETED only if every output is complete and not LOST;
//     otherwise (or on a non-zero exit, a launch failure, a lost task) it is FAILED, with
//     the reason and the tail of its log. The first completion records the outputs'
//     lengths and checksums (state.Job.OutputFacts) and every completion the run time.
//   - On gaining leadership the runner subscribes to the launcher's events first, then
//     reconciles: a RUNNING job whose task the launcher still runs stays RUNNING; one
//     whose task ended meanwhile gets that end; one whose task the launcher does not
//     know (it restarted with the master, as in `sluice local`) is FAILED with "master
//     restarted". A PENDING job waits for its inputs again and is launched when they are
//     ready: one whose launch the former leader started but never confirmed may thus run
//     twice, which deterministic jobs allow (a FrameworkScheduler is idempotent on the
//     job and attempt). Without a launcher every job not ended is FAILED.
//   - When the launcher's event stream ends (a FrameworkScheduler that restarted or
//     forgot events), the runner subscribes again (after 1 s, then backing off to 5 s
//     while that fails; launches go on meanwhile) and reconciles again: every RUNNING
//     job, those launched by this runner included, is asked for (JobStatus), since its
//     end may have fallen in the gap. A task the launcher no longer knows (the framework
//     scheduler restarted without it) is a lost run: the job is FAILED with "task lost",
//     which lets a recompute try again and `sluice job wait` return. A task whose state
//     cannot be read is asked for again every second until it can.
//   - KILLED is final: a kill racing a launch wins, and the launched task is killed.

// maxLogTail bounds the log tail journaled with the end of a run that failed;
// maxCompletedLogTail that of a run that completed (kept short: every job's record is
// in every snapshot).
const (
	maxLogTail          = 4 << 10
	maxCompletedLogTail = 1 << 10
)

// launchTimeout bounds one LaunchJob call, so that a framework scheduler that does not
// answer cannot hold up every other run.
const launchTimeout = time.Minute

// jobRunner is the leader's owner of job runs; see above.
type jobRunner struct {
	m   *Master
	l   JobLauncher
	log *slog.Logger
	// reqs carries launches to run; done is closed when run returns.
	reqs chan launchRequest
	done chan struct{}
	// nextJobID hands out job IDs for SubmitJob; seeded from the View at leadership.
	nextJobID atomic.Uint64

	// tasks maps the task IDs of live runs to their job and run, unsure those of them
	// whose state the last reconcile could not read, and waiting the PENDING jobs
	// waiting for their input jobs to their launch priority; run's goroutine only.
	tasks   map[string]taskRef
	unsure  map[string]taskRef
	waiting map[uint64]int
}

type taskRef struct {
	jobID   uint64
	attempt int32
}

// launchRequest asks the runner for a new run of a job. With whenReady (SubmitJob) the
// job waits, PENDING, for the jobs producing its inputs to complete.
type launchRequest struct {
	jobID     uint64
	priority  int
	recompute bool
	whenReady bool
	reply     chan launchReply
}

type launchReply struct {
	job state.Job
	err error
}

func newJobRunner(m *Master) *jobRunner {
	r := &jobRunner{m: m, l: m.cfg.Jobs, log: m.log,
		reqs: make(chan launchRequest), done: make(chan struct{}), tasks: make(map[string]taskRef),
		unsure: make(map[string]taskRef), waiting: make(map[uint64]int)}
	r.nextJobID.Store(max(m.st.View().NextJobID(), state.FirstJobID))
	return r
}

// runJobs runs the job runner while this master leads: it is published (m.jobRunner)
// once reconciled, and withdrawn when ctx ends.
func (m *Master) runJobs(ctx context.Context) {
	r := newJobRunner(m)
	defer close(r.done)
	if r.l == nil {
		r.failUnknown(ctx, "master restarted without a framework scheduler")
		return
	}
	events := r.subscribe(ctx)
	if events == nil {
		return
	}
	r.reconcile(ctx, true)
	m.jobRunner.Store(r)
	defer m.jobRunner.CompareAndSwap(r, nil)
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	retryIn := resubscribeDelay
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	r.startReady(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if events != nil {
				r.recheck(ctx)
			}
			r.startReady(ctx)
		case req := <-r.reqs:
			j, err := r.start(ctx, req)
			req.reply <- launchReply{job: j, err: err}
		case ev, ok := <-events:
			if !ok {
				// The stream ended; subscribe again later. Events of the gap are lost:
				// the reconcile after the new subscription makes up for them.
				r.log.Warn("job events stream ended; subscribing again", "retry_in", resubscribeDelay)
				events, retryIn = nil, resubscribeDelay
				retry.Reset(retryIn)
				continue
			}
			r.handle(ctx, ev)
			r.startReady(ctx)
		case <-retry.C:
			// One attempt per timer, so that launches and kills go on while it fails.
			ch, err := r.l.JobEvents(ctx)
			if err != nil {
				retryIn = min(2*retryIn, maxResubscribeDelay)
				r.log.Warn("cannot watch job events, retrying", "err", err, "retry_in", retryIn)
				retry.Reset(retryIn)
				continue
			}
			events = ch
			r.reconcile(ctx, false)
			r.startReady(ctx)
		}
	}
}

// resubscribeDelay is how long the runner waits before subscribing again to a launcher
// whose event stream ended; maxResubscribeDelay bounds the pause between failed tries.
const (
	resubscribeDelay    = time.Second
	maxResubscribeDelay = 5 * time.Second
)

// statusTimeout bounds one JobStatus call of a reconcile, so that a framework scheduler
// that does not answer cannot hold up every other run.
const statusTimeout = 10 * time.Second

// subscribe opens the launcher's event stream, retrying until ctx ends (nil then).
func (r *jobRunner) subscribe(ctx context.Context) <-chan JobEvent {
	delay := 50 * time.Millisecond
	for {
		ch, err := r.l.JobEvents(ctx)
		if err == nil {
			return ch
		}
		r.log.Warn("cannot watch job events, retrying", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// launch asks the runner for a new run of a job and waits for its start. It returns the
// job as journaled after the launch (RUNNING, or FAILED if the launch failed — then with
// an error saying why).
func (r *jobRunner) launch(ctx context.Context, req launchRequest) (state.Job, error) {
	req.reply = make(chan launchReply, 1)
	select {
	case r.reqs <- req:
	case <-r.done:
		return state.Job{}, fmt.Errorf("leadership lost: %w", ErrUnavailable)
	case <-ctx.Done():
		return state.Job{}, ctx.Err()
	}
	select {
	case rep := <-req.reply:
		return rep.job, rep.err
	case <-ctx.Done():
		return state.Job{}, ctx.Err()
	}
}

// start launches the next run of a job and journals it; run's goroutine only.
func (r *jobRunner) start(ctx context.Context, req launchRequest) (state.Job, error) {
	m := r.m
	j, ok := m.st.View().Job(req.jobID)
	switch {
	case !ok:
		return state.Job{}, withJob(fmt.Errorf("job %d: %w", req.jobID, ErrNotFound), req.jobID)
	case j.State == lineage.StateRunning:
		return j, withJob(fmt.Errorf("job %d: run %d: %w", j.ID, j.Attempts, ErrJobRunning), j.ID)
	case j.State == lineage.StateKilled:
		return j, withJob(fmt.Errorf("job %d was killed: %w", j.ID, state.ErrJobEnded), j.ID)
	case req.whenReady && j.State == lineage.StatePending:
		switch ready, why := r.inputsReady(j); {
		case why != "":
			r.journalEnd(ctx, j.ID, j.Attempts, failedEntry(why))
			nj, _ := m.st.View().Job(j.ID)
			return nj, nil
		case !ready:
			r.waiting[j.ID] = max(req.priority, j.Priority)
			return j, nil
		}
	}
	attempt := j.Attempts + 1
	lctx, cancel := context.WithTimeout(ctx, launchTimeout)
	defer cancel()
	taskID, err := r.l.LaunchJob(lctx, JobLaunch{
		JobID: j.ID, Attempt: attempt, Name: cmp.Or(j.Name, "job-"+strconv.FormatUint(j.ID, 10)),
		Command: j.Command, Env: m.jobEnv(j), WorkingDir: j.WorkingDir, CPU: j.CPU, MemMB: j.MemMB,
		Priority: max(req.priority, j.Priority), Recompute: req.recompute, PreferHosts: m.preferHosts(j.Inputs),
	})
	if err != nil {
		err = fmt.Errorf("launch job %d: %w", j.ID, err)
		r.journalEnd(ctx, j.ID, attempt, &sluicepb.JobStateChangedEntry{
			State: sluicepb.JournalJobState_JOURNAL_JOB_STATE_FAILED, ExitCode: -1,
			Message: "launch failed: " + err.Error(), Recomputing: req.recompute})
		nj, _ := m.st.View().Job(j.ID)
		return nj, withJob(err, j.ID)
	}
	res, err := m.apply(ctx, state.EntryJobStateChanged, &sluicepb.JobStateChangedEntry{
		JobId: j.ID, State: sluicepb.JournalJobState_JOURNAL_JOB_STATE_RUNNING, Attempt: attempt,
		TimeMs: nowMs(), TaskId: taskID, Recomputing: req.recompute})
	if err != nil {
		// Killed meanwhile, or the journal is gone: the task must not run unrecorded.
		if kerr := r.l.KillJob(context.WithoutCancel(ctx), taskID); kerr != nil {
			r.log.Warn("cannot kill unrecorded job task", "job_id", j.ID, "task_id", taskID, "err", kerr)
		}
		return state.Job{}, withJob(fmt.Errorf("record start of job %d: %w", j.ID, err), j.ID)
	}
	r.tasks[taskID] = taskRef{jobID: j.ID, attempt: attempt}
	r.log.Info("job started", "job_id", j.ID, "attempt", attempt, "task_id", taskID, "recompute", req.recompute)
	return res.Job, nil
}

// inputsReady reports whether every job producing an input of j has completed, or why
// j cannot run (one of them failed or was killed).
func (r *jobRunner) inputsReady(j state.Job) (ready bool, why string) {
	ready = true
	r.m.st.Lineage(func(v *state.View, g *lineage.Graph) {
		for _, pid := range g.Parents(j.ID) {
			p, _ := v.Job(pid)
			switch p.State {
			case lineage.StateCompleted:
			case lineage.StateFailed, lineage.StateKilled:
				ready, why = false, fmt.Sprintf("input job %d %s", pid, p.State)
				return
			default:
				ready = false
			}
		}
	})
	return ready, why
}

// startReady launches the waiting jobs whose input jobs have completed and fails those
// whose input jobs failed, until a pass changes nothing (a failure fails a chain).
func (r *jobRunner) startReady(ctx context.Context) {
	for changed := true; changed && ctx.Err() == nil; {
		changed = false
		ids := slices.Sorted(maps.Keys(r.waiting))
		for _, id := range ids {
			prio := r.waiting[id]
			j, ok := r.m.st.View().Job(id)
			if !ok || j.State != lineage.StatePending {
				delete(r.waiting, id)
				continue
			}
			ready, why := r.inputsReady(j)
			switch {
			case why != "":
				delete(r.waiting, id)
				r.journalEnd(ctx, id, j.Attempts, failedEntry(why))
				changed = true
			case ready:
				delete(r.waiting, id)
				if _, err := r.start(ctx, launchRequest{jobID: id, priority: prio}); err != nil {
					r.log.Warn("job launch", "job_id", id, "err", err)
				}
				changed = true
			}
		}
	}
}

// handle journals the end of a run; run's goroutine only.
func (r *jobRunner) handle(ctx context.Context, ev JobEvent) {
	ref, ok := r.tasks[ev.TaskID]
	if !ok || !ev.State.Terminal() {
		return
	}
	delete(r.tasks, ev.TaskID)
	delete(r.unsure, ev.TaskID)
	r.finish(ctx, ref, ev)
}

// finish journals how run ref ended, from its terminal event.
func (r *jobRunner) finish(ctx context.Context, ref taskRef, ev JobEvent) {
	v := r.m.st.View()
	j, ok := v.Job(ref.jobID)
	if !ok || j.Attempts != ref.attempt || j.Ended() {
		return // forgotten, replaced by a newer run, or already ended (killed)
	}
	e := &sluicepb.JobStateChangedEntry{ExitCode: int32(ev.ExitCode), Host: ev.Host, LogPath: ev.LogPath,
		LogTail: tail(ev.LogTail, maxLogTail)}
	end := ev.Time
	if end.IsZero() {
		end = time.Now()
	}
	e.TimeMs = end.UnixMilli()
	switch ev.State {
	case TaskFinished:
		if why := outputsProblem(v, j); why != "" {
			e.State, e.Message = sluicepb.JournalJobState_JOURNAL_JOB_STATE_FAILED, "exited 0 but "+why
			break
		}
		e.State = sluicepb.JournalJobState_JOURNAL_JOB_STATE_COMPLETED
		e.LogTail = tail(e.LogTail, maxCompletedLogTail)
		e.RunTimeMs = max(e.TimeMs-j.StartTimeMs, 0)
		for _, p := range j.Outputs {
			if in, err := v.Get(p); err == nil {
				e.OutputFacts = append(e.OutputFacts, &sluicepb.JournalOutputFact{Path: p, FileId: in.ID,
					Length: in.Length, Checksum: in.Checksum})
			}
		}
	case TaskKilled:
		e.State, e.Message = sluicepb.JournalJobState_JOURNAL_JOB_STATE_KILLED, cmp.Or(ev.Message, "killed")
	case TaskLost:
		e.State, e.Message = sluicepb.JournalJobState_JOURNAL_JOB_STATE_FAILED, "task lost: "+cmp.Or(ev.Message, "node lost")
	default:
		e.State = sluicepb.JournalJobState_JOURNAL_JOB_STATE_FAILED
		e.Message = cmp.Or(ev.Message, "exit status "+strconv.Itoa(ev.ExitCode))
	}
	r.journalEnd(ctx, j.ID, ref.attempt, e)
}

// journalEnd journals the end of run attempt of job id (e's job and attempt are set
// here). A run that ended meanwhile keeps its first end.
func (r *jobRunner) journalEnd(ctx context.Context, id uint64, attempt int32, e *sluicepb.JobStateChangedEntry) {
	e.JobId, e.Attempt = id, attempt
	e.Message = strings.ToValidUTF8(e.Message, "\uFFFD")
	if e.TimeMs == 0 {
		e.TimeMs = nowMs()
	}
	_, err := r.m.apply(ctx, state.EntryJobStateChanged, e)
	switch {
	case err == nil:
		lvl := slog.LevelInfo
		if e.State != sluicepb.JournalJobState_JOURNAL_JOB_STATE_COMPLETED {
			lvl = slog.LevelWarn
		}
		r.log.Log(ctx, lvl, "job ended", "job_id", id, "attempt", attempt, "state", e.State, "exit_code", e.GetExitCode(),
			"message", e.GetMessage(), "run_time_ms", e.GetRunTimeMs())
	case errors.Is(err, state.ErrJobEnded) || errors.Is(err, state.ErrStaleRun) || errors.Is(err, state.ErrNotFound):
	default:
		r.log.Error("cannot record job end", "job_id", id, "attempt", attempt, "err", err)
	}
}

// outputsProblem tells why a run that exited 0 did not make its outputs ("" if it did).
func outputsProblem(v *state.View, j state.Job) string {
	var probs []string
	for _, p := range j.Outputs {
		in, err := v.Get(p)
		switch {
		case err != nil:
			probs = append(probs, "output "+p+" is gone")
		case in.Directory:
			probs = append(probs, "output "+p+" is a directory")
		case !in.Complete:
			probs = append(probs, "left output "+p+" incomplete")
		case in.PersistenceState == state.Lost:
			probs = append(probs, "output "+p+" is still lost")
		}
	}
	return strings.Join(probs, "; ")
}

// reconcile brings the records of live runs in line with the launcher (see above),
// after a subscription to its events: every RUNNING job's task is asked for, whether
// or not this runner launched it. first tells the subscription made on gaining
// leadership (a task unknown then is one of a master that restarted) from the later
// ones (a task unknown then was lost by a framework scheduler that restarted).
func (r *jobRunner) reconcile(ctx context.Context, first bool) {
	live := make(map[string]bool)
	for j := range r.m.st.View().Jobs() {
		if ctx.Err() != nil {
			return
		}
		switch {
		case j.State == lineage.StatePending:
			if _, ok := r.waiting[j.ID]; !ok {
				r.waiting[j.ID] = j.Priority
			}
		case j.State == lineage.StateRunning && j.TaskID == "":
			r.journalEnd(ctx, j.ID, j.Attempts, failedEntry("master restarted before the launch was confirmed"))
		case j.State == lineage.StateRunning:
			live[j.TaskID] = true
			r.checkTask(ctx, j.TaskID, taskRef{jobID: j.ID, attempt: j.Attempts}, first)
		}
	}
	// Runs that ended or were replaced outside the events (killed, recomputed) are
	// no longer live.
	for id := range r.tasks {
		if !live[id] {
			delete(r.tasks, id)
			delete(r.unsure, id)
		}
	}
}

// recheck asks again for the tasks whose state the last reconcile could not read.
func (r *jobRunner) recheck(ctx context.Context) {
	for _, id := range slices.Sorted(maps.Keys(r.unsure)) {
		if ctx.Err() != nil {
			return
		}
		r.checkTask(ctx, id, r.unsure[id], false)
	}
}

// checkTask asks the launcher for the state of run ref's task id and applies it: an
// end is journaled, a live task is followed through the events (r.tasks), a task whose
// state cannot be read is followed and asked for again (r.unsure), and a task the
// launcher does not know is FAILED (see reconcile for masterRestarted).
func (r *jobRunner) checkTask(ctx context.Context, id string, ref taskRef, masterRestarted bool) {
	sctx, cancel := context.WithTimeout(ctx, statusTimeout)
	ev, err := r.l.JobStatus(sctx, id)
	cancel()
	delete(r.unsure, id)
	switch {
	case errors.Is(err, ErrUnknownTask) && masterRestarted:
		delete(r.tasks, id)
		r.journalEnd(ctx, ref.jobID, ref.attempt, failedEntry("master restarted; the framework scheduler does not know task "+id))
	case errors.Is(err, ErrUnknownTask):
		delete(r.tasks, id)
		r.finish(ctx, ref, JobEvent{TaskID: id, State: TaskLost, ExitCode: -1,
			Message: "the framework scheduler no longer knows task " + id + " (it restarted)"})
	case err != nil:
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("cannot ask for job task; asking again", "job_id", ref.jobID, "task_id", id, "err", err)
		r.tasks[id] = ref
		r.unsure[id] = ref
	case ev.State.Terminal():
		delete(r.tasks, id)
		ev.TaskID = id
		r.finish(ctx, ref, ev)
	default:
		r.tasks[id] = ref
	}
}

// failUnknown fails every pending or running job: nothing can tell how they end.
func (r *jobRunner) failUnknown(ctx context.Context, why string) {
	for j := range r.m.st.View().Jobs() {
		if !j.Ended() {
			r.journalEnd(ctx, j.ID, j.Attempts, failedEntry(why))
		}
	}
}

func failedEntry(why string) *sluicepb.JobStateChangedEntry {
	return &sluicepb.JobStateChangedEntry{State: sluicepb.JournalJobState_JOURNAL_JOB_STATE_FAILED, ExitCode: -1, Message: why}
}

// jobEnv is the environment of a job's run: the submitted variables and the job's own
// (api/job.proto), which override them.
func (m *Master) jobEnv(j state.Job) map[string]string {
	env := maps.Clone(j.Env)
	if env == nil {
		env = make(map[string]string)
	}
	env[envMaster] = strings.Join(m.masterAddrs(), ",")
	env[envJobID] = strconv.FormatUint(j.ID, 10)
	env[envInputs] = strings.Join(j.Inputs, envPathSeparator)
	env[envOutputs] = strings.Join(j.Outputs, envPathSeparator)
	return env
}

// maxLocalityBlocks bounds the input blocks preferHosts looks at, so that a job over a
// huge tree does not hold up the launches.
const maxLocalityBlocks = 1 << 16

// preferHosts lists the hosts of the live executors holding blocks of the files at or
// under inputs, the one holding the most bytes first (ties by name): JobLaunch's
// locality hint.
func (m *Master) preferHosts(inputs []string) []string {
	v := m.st.View()
	bytes := make(map[string]int64)
	hostOf := make(map[uint64]string) // executor ID → host, "" when lost or unknown
	budget := maxLocalityBlocks
	for _, p := range inputs {
		_ = v.Walk(p, func(in state.Inode) error {
			if in.Directory || !in.Complete {
				return nil
			}
			for i, id := range in.BlockIDs() {
				if budget--; budget < 0 {
					return fs.SkipAll
				}
				for _, loc := range m.blocks.locations(id) {
					h, ok := hostOf[loc.executorID]
					if !ok {
						if info, found := m.blocks.executorInfo(loc.executorID); found &&
							info.GetState() != sluicepb.ExecutorState_EXECUTOR_STATE_LOST {
							h = info.GetHost()
						}
						hostOf[loc.executorID] = h
					}
					if h != "" {
						bytes[h] += blockLen(in, i)
					}
				}
			}
			return nil
		})
	}
	hosts := slices.Collect(maps.Keys(bytes))
	slices.SortFunc(hosts, func(a, b string) int { return cmp.Or(cmp.Compare(bytes[b], bytes[a]), cmp.Compare(a, b)) })
	return hosts
}

// masterAddrs lists the gRPC addresses of every master, this one first.
func (m *Master) masterAddrs() []string {
	addrs := []string{m.rpcAddr}
	for _, a := range m.cfg.PeerRPCAddrs {
		if a != m.rpcAddr && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) > 1 {
		slices.Sort(addrs[1:])
	}
	return addrs
}

// tail returns the end of s within n bytes, cut at a line start when one is near, as
// valid UTF-8 (journal strings must be).
func tail(s string, n int) string {
	if len(s) > n {
		s = s[len(s)-n:]
		if i := strings.IndexByte(s, '\n'); i >= 0 && i < n/4 {
			s = s[i+1:]
		}
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
