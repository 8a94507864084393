package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/master/state"
)

// Errors of the journal. State errors (state.ErrExists …) come back from Apply as they
// are.
var (
	// ErrNotLeader reports an Apply or Barrier on a master that is not the leader. The
	// error is a *NotLeaderError carrying the leader's address when one is known.
	ErrNotLeader = errors.New("journal: not the leader")
	// ErrLeadershipLost reports an entry whose leader lost its leadership before the
	// entry was known to commit: it may or may not be applied. Callers must not report
	// success, and should re-read the state (on the new leader) before retrying.
	ErrLeadershipLost = errors.New("journal: leadership lost, outcome unknown")
	// ErrClosed reports a call on a closed Journal.
	ErrClosed = errors.New("journal: closed")
)

// NotLeaderError is the ErrNotLeader a follower returns, with where to go instead.
type NotLeaderError struct {
	// Leader is the Raft address of the leader, empty if none is known.
	Leader string
}

func (e *NotLeaderError) Error() string {
	if e.Leader == "" {
		return "journal: not the leader, no leader known"
	}
	return "journal: not the leader, the leader is " + e.Leader
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// maxAppendEntries bounds the entries of one log write and one replication message.
const maxAppendEntries = 256

// Journal is the master's Raft-replicated journal: entries go through Raft and, once
// committed, into the state.State given to Open, on every master alike. Safe for
// concurrent use.
type Journal struct {
	raft      *raft.Raft
	fsm       *fsm
	logs      *raftboltdb.BoltStore
	counted   *countingStore // logs as Raft's log store, counting writes
	transport raft.Transport
	ownsTrans bool // the Journal created transport and closes it
	logger    *slog.Logger

	// waiters tracks the goroutines that wait for Raft futures on behalf of callers
	// that gave up (ctx done); Close waits for them.
	waiters sync.WaitGroup
	// results hands applied entries' results from the FSM to the Apply calls that wait
	// for them (delivery.go).
	results *deliveries

	// applyMu is held shared while Apply hands an entry to Raft and exclusively by Close
	// to set closing: once Close holds it, no entry enters Raft's queue any more, so a
	// Barrier can drain the queue before Raft shuts down (Raft drops entries still
	// queued at shutdown without answering their futures).
	applyMu sync.RWMutex
	closing bool

	closeOnce sync.Once
	closeErr  error
}

// Open opens (or creates) the journal in cfg.Dir and starts Raft with st as its state
// machine. st must be fresh (state.New()): Raft restores the latest snapshot into it and
// then replays the log tail once this master knows the commit index (a leader after its
// first commit, a follower after hearing from the leader); Barrier waits for that. A new
// cluster is bootstrapped with cfg.Peers (or this master alone).
func Open(cfg Config, st *state.State) (*Journal, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "master.journal")
	hlog := newHclog(logger)
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}

	j := &Journal{results: newDeliveries(), logger: logger}
	j.fsm = &fsm{st: st, logger: logger, results: j.results}
	ok := false
	defer func() {
		if !ok {
			j.closeStores()
		}
	}()

	var err error
	j.logs, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db"),
		// Every log write is a bbolt transaction; without a freelist to write back it
		// writes fewer pages (bbolt rebuilds the freelist when it opens the file, as
		// etcd does). Each commit still syncs.
		BoltOptions: &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType}})
	if err != nil {
		return nil, fmt.Errorf("journal: open log store: %w", err)
	}
	j.counted = &countingStore{LogStore: j.logs}
	cached, err := raft.NewLogCache(512, j.counted)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, cfg.SnapshotRetain, hlog.Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("journal: open snapshot store: %w", err)
	}
	if cfg.Transport != nil {
		j.transport = cfg.Transport
	} else {
		// Without an advertise address the transport advertises what it bound, the
		// port chosen included when BindAddr asks for port 0.
		var adv net.Addr
		if cfg.AdvertiseAddr != "" {
			if adv, err = resolveTCP(cfg.AdvertiseAddr); err != nil {
				return nil, err
			}
		}
		nt, err := raft.NewTCPTransportWithLogger(cfg.BindAddr, adv, 3, 10*time.Second, hlog.Named("transport"))
		if err != nil {
			return nil, fmt.Errorf("journal: listen for Raft on %s: %w", cfg.BindAddr, err)
		}
		j.transport, j.ownsTrans = nt, true
	}

	self := j.transport.LocalAddr()
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(self)
	rc.Logger = hlog
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	// Group commit: Apply hands its entry to a buffered channel rather than waiting for
	// the leader loop to take it, and the leader loop stores everything queued while it
	// wrote the previous batch in one log write (one fsync). Raft's enqueue timeout then
	// only applies when the channel is full; Apply's ctx still bounds the caller's wait.
	// Raft drops what is still queued at shutdown, so Close drains the queue first.
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = maxAppendEntries
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("journal: %v: %w", err, ErrInvalidConfig)
	}

	existing, err := raft.HasExistingState(cached, j.logs, snaps)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if !existing {
		peers := cfg.Peers
		if len(peers) == 0 {
			peers = []string{string(self)}
		}
		var conf raft.Configuration
		for _, p := range peers {
			conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(p), Address: raft.ServerAddress(p)})
		}
		if err := raft.BootstrapCluster(rc, cached, j.logs, snaps, j.transport, conf); err != nil {
			return nil, fmt.Errorf("journal: bootstrap: %w", err)
		}
		logger.Info("bootstrapped raft cluster", "servers", len(peers))
	}
	j.raft, err = raft.NewRaft(rc, j.fsm, cached, j.logs, snaps, j.transport)
	if err != nil {
		return nil, fmt.Errorf("journal: start raft: %w", err)
	}
	ok = true
	return j, nil
}

// Apply journals one entry and waits until it is committed and applied to this master's
// state, then returns what the apply produced. A state error (state.ErrExists …) is
// returned as the error, with the Result beside it. Only the leader applies: others
// return a *NotLeaderError.
//
// ctx bounds the wait: its deadline also limits how long the entry may wait for room in
// Raft's queue. Concurrent calls share log writes (group commit). An entry whose ctx
// ends after it was handed to Raft may still commit (Apply then returns ctx.Err()); so
// may one that fails with ErrLeadershipLost. Apply never reports success before the
// entry is durable on a quorum and applied here, so an acknowledged entry survives any
// crash. After Close, Apply fails with ErrClosed.
func (j *Journal) Apply(ctx context.Context, t state.EntryType, msg proto.Message) (state.Result, error) {
	data, err := state.Encode(t, msg)
	if err != nil {
		return state.Result{}, fmt.Errorf("journal: %w", err)
	}
	timeout, err := timeoutOf(ctx)
	if err != nil {
		return state.Result{}, err
	}
	d := j.results.add()
	defer j.results.remove(d)
	j.applyMu.RLock()
	if j.closing {
		j.applyMu.RUnlock()
		return state.Result{}, ErrClosed
	}
	f := j.raft.ApplyLog(raft.Log{Data: data, Extensions: d.tag}, timeout)
	j.applyMu.RUnlock()
	if ctx.Done() == nil {
		// Nothing can cancel the wait: wait for the future itself.
		if err := j.mapError(f.Error()); err != nil {
			return state.Result{}, err
		}
		return responseOf(t, f)
	}
	// The FSM hands the result over as soon as it applied the entry (one goroutine
	// hand-off less than the future); a goroutine waits for the future for the cases
	// where Raft answers without applying (not the leader, leadership lost, shutdown).
	done := make(chan error, 1)
	j.waiters.Go(func() { done <- f.Error() })
	select {
	case res := <-d.ch:
		return res, res.Err
	case err := <-done:
		if err := j.mapError(err); err != nil {
			return state.Result{}, err
		}
		return responseOf(t, f)
	case <-ctx.Done():
		return state.Result{}, ctx.Err()
	}
}

// responseOf returns the state.Result of an applied entry's future.
func responseOf(t state.EntryType, f raft.ApplyFuture) (state.Result, error) {
	res, ok := f.Response().(state.Result)
	if !ok {
		return state.Result{}, fmt.Errorf("journal: entry %v: unexpected response %T", t, f.Response())
	}
	return res, res.Err
}

// Barrier waits until every entry committed before it is applied to this master's
// state: a new leader calls it before reading its state (e.g. to start an
// IDAllocator). Only the leader can issue it. ctx as in Apply.
func (j *Journal) Barrier(ctx context.Context) error {
	timeout, err := timeoutOf(ctx)
	if err != nil {
		return err
	}
	return j.wait(ctx, j.raft.Barrier(timeout))
}

// Snapshot makes Raft take a snapshot now and compact its log, and waits for it.
func (j *Journal) Snapshot(ctx context.Context) error {
	return j.wait(ctx, j.raft.Snapshot())
}

// timeoutOf derives Raft's enqueue timeout from ctx: 0 (none) without a deadline.
func timeoutOf(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d, ok := ctx.Deadline()
	if !ok {
		return 0, nil
	}
	timeout := time.Until(d)
	if timeout <= 0 {
		return 0, context.DeadlineExceeded
	}
	return timeout, nil
}

// wait waits for a Raft future or ctx, whichever ends first, and maps Raft's errors.
func (j *Journal) wait(ctx context.Context, f raft.Future) error {
	if ctx.Done() == nil {
		// Nothing can cancel the wait: no goroutine needed.
		return j.mapError(f.Error())
	}
	done := make(chan error, 1)
	j.waiters.Go(func() { done <- f.Error() })
	select {
	case err := <-done:
		return j.mapError(err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (j *Journal) mapError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return &NotLeaderError{Leader: j.LeaderAddr()}
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%v: %w", err, ErrLeadershipLost)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrEnqueueTimeout):
		// Not started, so not committed.
		return fmt.Errorf("journal: %v: %w", err, context.DeadlineExceeded)
	}
	return fmt.Errorf("journal: %w", err)
}

// IsLeader reports whether this master is the Raft leader now.
func (j *Journal) IsLeader() bool { return j.raft.State() == raft.Leader }

// LeaderAddr returns the Raft address of the leader as this master knows it, or "".
func (j *Journal) LeaderAddr() string {
	addr, _ := j.raft.LeaderWithID()
	return string(addr)
}

// Addr returns this master's Raft address (and ID).
func (j *Journal) Addr() string { return string(j.transport.LocalAddr()) }

// LeaderCh delivers true when this master gains leadership and false when it loses it.
// It keeps only the latest change if the receiver is slow, and there is one channel per
// Journal: give it to one consumer, which starts the leader-only loops (after Barrier)
// on true and cancels them on false.
func (j *Journal) LeaderCh() <-chan bool { return j.raft.LeaderCh() }

// WaitForLeader waits until some master of the cluster is known as the leader and
// returns its address.
func (j *Journal) WaitForLeader(ctx context.Context) (string, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if addr := j.LeaderAddr(); addr != "" {
			return addr, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-tick.C:
		}
	}
}

// Stats returns Raft's statistics (state, term, indexes …) for the web UI and metrics.
func (j *Journal) Stats() map[string]string { return j.raft.Stats() }

// Close stops Raft, waits for pending calls, and closes the stores and the transport it
// opened. Entries not yet acknowledged may or may not survive. Safe to call twice.
func (j *Journal) Close() error {
	j.closeOnce.Do(func() {
		j.applyMu.Lock()
		j.closing = true
		j.applyMu.Unlock()
		j.drain()
		if err := j.raft.Shutdown().Error(); err != nil {
			j.closeErr = fmt.Errorf("journal: shut down raft: %w", err)
		}
		j.waiters.Wait()
		if err := j.closeStores(); err != nil && j.closeErr == nil {
			j.closeErr = err
		}
	})
	return j.closeErr
}

// drainTimeout bounds how long Close waits for the entries queued before it to be
// applied.
const drainTimeout = 5 * time.Second

// drain waits (up to drainTimeout) until the leader applied every entry handed to Raft
// before Close stopped new ones, so none is left in Raft's queue at shutdown. Followers
// answer their queue themselves (ErrNotLeader).
func (j *Journal) drain() {
	if !j.IsLeader() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := j.wait(ctx, j.raft.Barrier(drainTimeout)); err != nil {
		j.logger.Warn("entries queued at close may be dropped", "err", err)
	}
}

func (j *Journal) closeStores() error {
	var errs []error
	if j.ownsTrans {
		if c, ok := j.transport.(interface{ Close() error }); ok {
			errs = append(errs, c.Close())
		}
	}
	if j.logs != nil {
		errs = append(errs, j.logs.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("journal: close: %w", err)
	}
	return nil
}
