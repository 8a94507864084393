package master

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/lineage"
	"github.com/sluicedata/sluice/master/state"
)

// persister is the leader's checkpoint queue: the files being persisted or waiting to be
// retried, ordered each round by the Edge planner (lineage.Graph.PlanCheckpoints) and
// throttled by Config.PersistConcurrency, CheckpointConfig.MaxBytesInFlight and a token
// bucket of CheckpointConfig.Bandwidth. It is soft state: a new leader finds the
// TO_BE_PERSISTED files and un-checkpointed lineage outputs again in the journaled
// state. Safe for concurrent use.
type persister struct {
	// mu guards every field below.
	mu    sync.Mutex
	items map[uint64]*persistItem
	// nextAttempt numbers persist attempts; seeded from the clock so attempt numbers
	// (and temporary UFS names) of former leaders are not reused.
	nextAttempt uint64
	wake        chan struct{}
	// now is the clock (time.Now; tests replace it before the master runs).
	now func() time.Time
	// configured tells that bucket and thru were set from the Config.
	configured bool
	bucket     tokenBucket
	thru       throughput
	// accesses counts reads of files since this master leads (Edge hotness).
	accesses map[uint64]int64
	// waiting describes what waited for a checkpoint at the last round.
	waiting checkpointStats
}

// persistItem is one file undergoing its checkpoint or waiting to retry it.
type persistItem struct {
	fileID    uint64
	failures  int
	notBefore time.Time
	// In flight: the executor, attempt, deadline and UFS names of the current task.
	inflight bool
	executor uint64
	attempt  uint64
	deadline time.Time
	ufsPath  string // final path within the mount's FS
	tmpPath  string
	mountID  uint64
}

func newPersister() *persister {
	return &persister{items: make(map[uint64]*persistItem), wake: make(chan struct{}, 1),
		nextAttempt: uint64(time.Now().UnixNano()), now: time.Now, accesses: make(map[uint64]int64)}
}

// configure sets the throttle and the throughput window from cfg, once. Called with mu
// held.
func (q *persister) configure(cfg CheckpointConfig) {
	if q.configured {
		return
	}
	q.configured = true
	q.bucket = newTokenBucket(cfg.Bandwidth, cfg.Burst)
	q.thru.window = cfg.ThroughputWindow
	if q.thru.window <= 0 {
		q.thru.window = DefaultCheckpointConfig().ThroughputWindow
	}
}

// reset forgets the queue (leadership lost).
func (q *persister) reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = make(map[uint64]*persistItem)
	q.accesses = make(map[uint64]int64)
	q.waiting = checkpointStats{}
}

// load wakes the loop on gaining leadership: it finds the TO_BE_PERSISTED files in v.
func (q *persister) load(*state.View) { q.kick() }

// add queues a file; queuing it twice changes nothing.
func (q *persister) add(id uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.items[id]; !ok {
		q.items[id] = &persistItem{fileID: id}
	}
	q.kick()
}

// touched counts a read of a file (its hotness for the planner).
func (q *persister) touched(id uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.accesses[id]++
}

func (q *persister) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// remove drops a file from the queue (deleted, persisted, given up).
func (q *persister) remove(id uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.items[id]; !ok {
		return
	}
	delete(q.items, id)
	delete(q.accesses, id)
	q.kick()
}

// persistedBytes records a finished checkpoint of n bytes for the throughput window.
func (q *persister) persistedBytes(n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.thru.add(q.now(), n)
}

// fail ends a file's current attempt and schedules a retry after a doubling delay.
func (q *persister) fail(id, attempt uint64, base, most time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	it, ok := q.items[id]
	if !ok || !it.inflight || (attempt != 0 && it.attempt != attempt) {
		return false
	}
	it.inflight = false
	it.retryLater(time.Now(), base, most)
	return true
}

// retryLater counts a failure and delays the next attempt: base, doubling with each
// failure, at most most.
func (it *persistItem) retryLater(now time.Time, base, most time.Duration) {
	it.failures++
	it.notBefore = now.Add(min(base<<min(it.failures-1, 20), most))
}

// failExecutor fails every task in flight on an executor.
func (q *persister) failExecutor(execID uint64, base, most time.Duration) {
	q.mu.Lock()
	var ids []uint64
	for _, it := range q.items {
		if it.inflight && it.executor == execID {
			ids = append(ids, it.fileID)
		}
	}
	q.mu.Unlock()
	for _, id := range ids {
		q.fail(id, 0, base, most)
	}
}

// extend pushes the deadline of tasks an executor reports as still running.
func (q *persister) extend(execID uint64, fileIDs []uint64, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, id := range fileIDs {
		if it, ok := q.items[id]; ok && it.inflight && it.executor == execID {
			it.deadline = time.Now().Add(d)
		}
	}
}

// current returns a copy of the item of a file, if queued.
func (q *persister) current(id uint64) (persistItem, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	it, ok := q.items[id]
	if !ok {
		return persistItem{}, false
	}
	return *it, true
}

// stats returns the number of files waiting for a checkpoint (in flight included) and
// the age of the oldest, as of the loop's last round.
func (q *persister) stats(now time.Time) (n int, lag time.Duration) {
	n, _, lag = q.waitingTotals(now)
	return n, lag
}

// waitingTotals returns the files waiting for a checkpoint (in flight included), their
// bytes and the age of the oldest, as of the loop's last round.
func (q *persister) waitingTotals(now time.Time) (files int, bytes int64, lag time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.waiting.oldest.IsZero() {
		lag = max(now.Sub(q.waiting.oldest), 0)
	}
	return q.waiting.files, q.waiting.bytes, lag
}

// schedulePersist journals TO_BE_PERSISTED for a NOT_PERSISTED complete file and queues it.
func (m *Master) schedulePersist(ctx context.Context, in state.Inode) error {
	if in.PersistenceState == state.NotPersisted {
		if _, err := m.apply(ctx, state.EntrySetPersistenceState, &sluicepb.SetPersistenceStateEntry{
			Id: in.ID, State: sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_TO_BE_PERSISTED, TimeMs: nowMs(),
		}); err != nil {
			return err
		}
	}
	m.persist.add(in.ID)
	return nil
}

// persistLoop hands files to executors in the Edge planner's order, within the
// concurrency, bytes-in-flight and bandwidth bounds, and hands out again tasks whose
// executor went quiet.
func (m *Master) persistLoop(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		m.dispatchPersists()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-m.persist.wake:
		}
	}
}

// dispatchPersists runs one round of the persist loop: expire quiet tasks, gather the
// facts of every file that may be checkpointed, ask the Edge planner what to start, and
// start it while the token bucket allows.
func (m *Master) dispatchPersists() {
	q := m.persist
	v := m.st.View()
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	q.configure(m.cfg.Checkpoint)
	// First expire the tasks whose executor went quiet about them.
	for _, it := range q.items {
		if it.inflight && now.After(it.deadline) {
			m.log.Warn("persist task timed out", "file_id", it.fileID, "executor_id", it.executor, "attempt", it.attempt)
			it.inflight = false
			it.retryLater(now, m.cfg.PersistRetryBase, m.cfg.PersistRetryMax)
		}
	}
	facts := m.checkpointFacts(v, now)
	var plan []lineage.Candidate
	m.st.Lineage(func(_ *state.View, g *lineage.Graph) {
		plan = g.PlanCheckpoints(facts, m.cfg.Checkpoint.edge(m.cfg.PersistConcurrency))
	})
	for _, c := range plan {
		if !q.bucket.ready(now) {
			break
		}
		in, err := v.GetByID(c.ID)
		if err != nil {
			continue
		}
		it := q.items[c.ID]
		if it == nil {
			it = &persistItem{fileID: c.ID}
			q.items[c.ID] = it
		}
		pf, execID, ok := m.persistTask(v, in, q.nextAttempt+1)
		if !ok {
			// No live executor holds the blocks yet (a restart before registrations) or
			// any more (the loss check will mark the file LOST): try again later.
			it.retryLater(now, m.cfg.PersistRetryBase, m.cfg.PersistRetryMax)
			continue
		}
		if !m.blocks.queuePersist(execID, pf) {
			continue
		}
		q.bucket.spend(in.Length)
		q.nextAttempt++
		it.inflight, it.executor, it.attempt = true, execID, pf.GetAttempt()
		it.deadline = now.Add(m.cfg.PersistTimeout)
		r, _ := v.Resolve(in.Path)
		it.ufsPath, it.tmpPath, it.mountID = r.UFSPath, tempUFSPath(r.UFSPath, in.ID, pf.GetAttempt()), r.MountID
		m.log.Debug("persist task sent", "path", in.Path, "executor_id", execID, "attempt", pf.GetAttempt(),
			"reason", c.Reason.String(), "job_id", c.JobID)
	}
}

// checkpointFacts gathers, with q.mu held, the planner's facts about every file that may
// be checkpointed (see checkpointable): in flight, ready, or (left out of the facts but
// counted as waiting) in backoff after a failure. It drops the queue items of files that
// need no checkpoint any more and records the waiting totals in q.waiting.
func (m *Master) checkpointFacts(v *state.View, now time.Time) []lineage.FileFacts {
	q := m.persist
	var facts []lineage.FileFacts
	seen := make(map[uint64]bool)
	st := checkpointStats{}
	consider := func(in state.Inode) {
		if seen[in.ID] {
			return
		}
		seen[in.ID] = true
		it := q.items[in.ID]
		completed := time.UnixMilli(in.ModificationTimeMs)
		st.files++
		st.bytes += in.Length
		if st.oldest.IsZero() || completed.Before(st.oldest) {
			st.oldest = completed
		}
		if it != nil && !it.inflight && now.Before(it.notBefore) {
			return
		}
		acc := q.accesses[in.ID]
		if acc == 0 && in.AccessTimeMs > in.ModificationTimeMs {
			acc = 1 // read before this master led
		}
		facts = append(facts, lineage.FileFacts{Path: in.Path, ID: in.ID, Size: in.Length,
			Complete: !m.uncovered(in), InFlight: it != nil && it.inflight, Accesses: acc, CompletedAt: completed})
	}
	for in := range v.FilesByPersistence(state.ToBePersisted) {
		if in.Complete {
			consider(in)
		}
	}
	for j := range v.Jobs() {
		for _, p := range j.Outputs {
			in, err := v.Get(p)
			if err == nil && checkpointable(in, j.ID) {
				consider(in)
			}
		}
	}
	// Items of files that no longer need a checkpoint (deleted, LOST, persisted some
	// other way) go, unless a task still runs: its report settles it.
	for id, it := range q.items {
		if !seen[id] && !it.inflight {
			delete(q.items, id)
		}
	}
	q.waiting = st
	return facts
}

// persistTask builds the PERSIST_FILES task of a file and picks the executor that holds
// most of its blocks. ok is false when no live executor can do it now.
func (m *Master) persistTask(v *state.View, in state.Inode, attempt uint64) (*sluicepb.PersistFile, uint64, bool) {
	r, err := v.Resolve(in.Path)
	if err != nil || r.ReadOnly {
		return nil, 0, false
	}
	ids := in.BlockIDs()
	execID, ok := m.blocks.bestHolder(ids)
	if !ok {
		return nil, 0, false
	}
	blocks := m.fileBlocks(v, in, 0, 0)
	for _, b := range blocks {
		if len(b.GetLocations()) == 0 {
			return nil, 0, false
		}
	}
	f := ufsFile(r)
	return &sluicepb.PersistFile{
		FileId:     in.ID,
		Path:       in.Path,
		Ufs:        f,
		TempUfsUri: ufsURI(r.UFSURI, tempUFSPath(r.UFSPath, in.ID, attempt)),
		Blocks:     blocks,
		Length:     in.Length,
		Attempt:    attempt,
		Mode:       in.Mode,
		Owner:      in.Owner,
		Group:      in.Group,
	}, execID, true
}

// persisted handles a ReportPersisted: a success journals PERSISTED (after moving the UFS
// copy if the file was renamed meanwhile), a failure retries later. Stale reports (another
// attempt, another executor) are ignored.
func (m *Master) persisted(ctx context.Context, req *sluicepb.ReportPersistedRequest) error {
	it, ok := m.persist.current(req.GetFileId())
	if !ok || !it.inflight || it.attempt != req.GetAttempt() || it.executor != req.GetExecutorId() {
		m.log.Debug("stale persist report ignored", "file_id", req.GetFileId(), "attempt", req.GetAttempt())
		return nil
	}
	base, most := m.cfg.PersistRetryBase, m.cfg.PersistRetryMax
	if !req.GetSuccess() {
		m.log.Warn("persist failed, will retry", "file_id", req.GetFileId(), "attempt", req.GetAttempt(),
			"reason", req.GetReason().String(), "error", req.GetError())
		m.persist.fail(req.GetFileId(), req.GetAttempt(), base, most)
		return nil
	}
	v := m.st.View()
	in, err := v.GetByID(req.GetFileId())
	if err != nil {
		m.persist.remove(req.GetFileId())
		return nil
	}
	r, err := v.Resolve(in.Path)
	if err != nil {
		return err
	}
	if r.MountID != it.mountID {
		m.persist.fail(in.ID, it.attempt, base, most)
		return nil
	}
	if r.UFSPath != it.ufsPath {
		// Renamed while being persisted: move the UFS copy along.
		f, err := m.fsOf(ctx, r)
		if err == nil {
			err = f.Rename(ctx, it.ufsPath, r.UFSPath)
		}
		if err != nil {
			m.log.Warn("cannot move the checkpoint of a renamed file", "path", in.Path, "err", err)
			m.persist.fail(in.ID, it.attempt, base, most)
			return nil
		}
	}
	_, err = m.apply(ctx, state.EntrySetPersistenceState, &sluicepb.SetPersistenceStateEntry{
		Id: in.ID, State: sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_PERSISTED,
		UfsPath: r.UFSPath, UfsFingerprint: fmt.Sprintf("size:%d", req.GetBytes()), TimeMs: nowMs(),
	})
	if err != nil {
		m.persist.fail(in.ID, it.attempt, base, most)
		return err
	}
	m.persist.remove(in.ID)
	m.persist.persistedBytes(in.Length)
	m.metrics.persisted.Inc()
	m.log.Debug("file persisted", "path", in.Path, "bytes", req.GetBytes(), "duration_ms", req.GetDurationMs())
	return nil
}
