package master

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
)

// persister is the leader's checkpoint queue: TO_BE_PERSISTED files in FIFO order, at
// most PersistConcurrency of them handed to executors at once. It is soft state: a new
// leader rebuilds it from the journaled TO_BE_PERSISTED files. Safe for concurrent use.
type persister struct {
	// mu guards every field below.
	mu    sync.Mutex
	order []uint64 // FIFO of file IDs, in flight or waiting
	items map[uint64]*persistItem
	// nextAttempt numbers persist attempts; seeded from the clock so attempt numbers
	// (and temporary UFS names) of former leaders are not reused.
	nextAttempt uint64
	wake        chan struct{}
}

// persistItem is one file waiting for or undergoing its checkpoint.
type persistItem struct {
	fileID    uint64
	enqueued  time.Time
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
		nextAttempt: uint64(time.Now().UnixNano())}
}

// reset forgets the queue (leadership lost).
func (q *persister) reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.order, q.items = nil, make(map[uint64]*persistItem)
}

// load queues every TO_BE_PERSISTED file of v (leadership gained).
func (q *persister) load(v *state.View) {
	for in := range v.FilesByPersistence(state.ToBePersisted) {
		q.add(in.ID)
	}
}

// add queues a file; queuing it twice changes nothing.
func (q *persister) add(id uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.items[id]; ok {
		return
	}
	q.items[id] = &persistItem{fileID: id, enqueued: time.Now()}
	q.order = append(q.order, id)
	q.kick()
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
	q.order = slices.DeleteFunc(q.order, func(x uint64) bool { return x == id })
	q.kick()
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

// stats returns the queue length and the age of its oldest file.
func (q *persister) stats(now time.Time) (n int, lag time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range q.items {
		lag = max(lag, now.Sub(it.enqueued))
	}
	return len(q.items), lag
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

// persistLoop hands queued files to executors, in FIFO order and at most
// PersistConcurrency at once, and hands out again tasks whose executor went quiet.
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

// dispatchPersists runs one round of the persist loop.
func (m *Master) dispatchPersists() {
	q := m.persist
	now := time.Now()
	v := m.st.View()
	q.mu.Lock()
	defer q.mu.Unlock()
	// First expire the tasks whose executor went quiet about them, and count the ones
	// still running against the concurrency bound.
	running := 0
	for _, it := range q.items {
		if it.inflight && now.After(it.deadline) {
			m.log.Warn("persist task timed out", "file_id", it.fileID, "executor_id", it.executor, "attempt", it.attempt)
			it.inflight = false
			it.retryLater(now, m.cfg.PersistRetryBase, m.cfg.PersistRetryMax)
		}
		if it.inflight {
			running++
		}
	}
	// Then hand out waiting files in FIFO order. A file in backoff keeps its place but
	// does not hold up the files behind it.
	var gone []uint64
	for _, id := range q.order {
		if running >= m.cfg.PersistConcurrency {
			break
		}
		it := q.items[id]
		if it.inflight || now.Before(it.notBefore) {
			continue
		}
		in, err := v.GetByID(id)
		if err != nil || in.PersistenceState != state.ToBePersisted {
			// Deleted, LOST, or persisted some other way (THROUGH, a report that
			// arrived after a timeout): nothing left to do.
			gone = append(gone, id)
			continue
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
		q.nextAttempt++
		it.inflight, it.executor, it.attempt = true, execID, pf.GetAttempt()
		it.deadline = now.Add(m.cfg.PersistTimeout)
		r, _ := v.Resolve(in.Path)
		it.ufsPath, it.tmpPath, it.mountID = r.UFSPath, tempUFSPath(r.UFSPath, in.ID, pf.GetAttempt()), r.MountID
		running++
		m.log.Debug("persist task sent", "path", in.Path, "executor_id", execID, "attempt", pf.GetAttempt())
	}
	for _, id := range gone {
		delete(q.items, id)
		q.order = slices.DeleteFunc(q.order, func(x uint64) bool { return x == id })
	}
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
	m.metrics.persisted.Inc()
	m.log.Debug("file persisted", "path", in.Path, "bytes", req.GetBytes(), "duration_ms", req.GetDurationMs())
	return nil
}
