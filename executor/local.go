package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
)

// ErrLockNotFound reports a lock ID (or short-circuit temporary block) the executor does
// not hold: never given, already closed, or released after its session timed out.
var ErrLockNotFound = errors.New("executor: no such lock")

// leases holds what short-circuit clients hold on this executor: read locks of blocks
// they read through the file system (OpenLocalBlock) and temporary blocks they write
// (CreateLocalBlock). Each belongs to a client session (client_id); a session that makes
// no call for Config.LocalLockTimeout loses its leases: locks are closed, temporary
// blocks aborted. This bounds what a crashed client can pin.
type leases struct {
	// mu guards every field.
	mu       sync.Mutex
	nextLock uint64
	locks    map[uint64]*lockLease
	temps    map[blocks.ID]*tempLease
	// sessions is the last call of each client.
	sessions map[string]time.Time
}

type lockLease struct {
	r      *blocks.BlockReader
	client string
	since  time.Time
}

type tempLease struct {
	tb     *blocks.TempBlock
	client string
	since  time.Time
	// pinned is the user's pin of the block (kept apart from its guard).
	pinned bool
	// prefilled is the size of the recycled file the block was handed (0: a new file).
	prefilled int64
}

func (l *leases) init() {
	l.locks = make(map[uint64]*lockLease)
	l.temps = make(map[blocks.ID]*tempLease)
	l.sessions = make(map[string]time.Time)
}

// touchLocked renews client's session.
func (l *leases) touchLocked(client string, now time.Time) {
	if client != "" {
		l.sessions[client] = now
	}
}

func (l *leases) lastSeenLocked(client string, since time.Time) time.Time {
	if t, ok := l.sessions[client]; ok && client != "" && t.After(since) {
		return t
	}
	return since
}

func (l *leases) touch(client string) {
	l.mu.Lock()
	l.touchLocked(client, time.Now())
	l.mu.Unlock()
}

func (l *leases) addLock(r *blocks.BlockReader, client string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.touchLocked(client, now)
	l.nextLock++
	l.locks[l.nextLock] = &lockLease{r: r, client: client, since: now}
	return l.nextLock
}

func (l *leases) takeLock(id uint64) (*lockLease, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ll, ok := l.locks[id]
	if ok {
		delete(l.locks, id)
		l.touchLocked(ll.client, time.Now())
	}
	return ll, ok
}

func (l *leases) addTemp(tb *blocks.TempBlock, client string, pinned bool, prefilled int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.touchLocked(client, now)
	l.temps[tb.ID()] = &tempLease{tb: tb, client: client, since: now, pinned: pinned, prefilled: prefilled}
}

func (l *leases) takeTemp(id blocks.ID) (*tempLease, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tl, ok := l.temps[id]
	if ok {
		delete(l.temps, id)
		l.touchLocked(tl.client, time.Now())
	}
	return tl, ok
}

// expire removes the leases whose session has been idle for timeout and returns them.
func (l *leases) expire(now time.Time, timeout time.Duration) ([]*lockLease, []*tempLease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var locks []*lockLease
	var temps []*tempLease
	for id, ll := range l.locks {
		if now.Sub(l.lastSeenLocked(ll.client, ll.since)) > timeout {
			locks = append(locks, ll)
			delete(l.locks, id)
		}
	}
	for id, tl := range l.temps {
		if now.Sub(l.lastSeenLocked(tl.client, tl.since)) > timeout {
			temps = append(temps, tl)
			delete(l.temps, id)
		}
	}
	for c, t := range l.sessions {
		if now.Sub(t) > timeout {
			delete(l.sessions, c)
		}
	}
	return locks, temps
}

// sweep releases expired leases until ctx ends.
func (l *leases) sweep(ctx context.Context, timeout time.Duration, log *slog.Logger) {
	every := min(max(timeout/4, 5*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			locks, temps := l.expire(now, timeout)
			for _, ll := range locks {
				log.Warn("releasing short-circuit lock of an idle client", "block_id", uint64(ll.r.ID()), "client_id", ll.client)
				ll.r.Close()
			}
			for _, tl := range temps {
				log.Warn("aborting short-circuit block of an idle client", "block_id", uint64(tl.tb.ID()), "client_id", tl.client)
				tl.tb.Abort()
			}
		}
	}
}

// releaseAll closes every lock and aborts every temporary block (at shutdown).
func (l *leases) releaseAll() {
	locks, temps := l.expire(time.Now().Add(1<<62), 0)
	for _, ll := range locks {
		ll.r.Close()
	}
	for _, tl := range temps {
		tl.tb.Abort()
	}
}

// OpenLocalBlock read-locks a block for a short-circuit reader on this host and returns
// the path of its file. The lock holds until CloseLocalBlock or until the client's
// session times out (Config.LocalLockTimeout without a call carrying its client_id).
func (e *Executor) OpenLocalBlock(ctx context.Context, req *sluicepb.OpenLocalBlockRequest) (*sluicepb.OpenLocalBlockResponse, error) {
	id := req.GetBlockId()
	store, err := e.storeFor(id, nil)
	if err != nil {
		return nil, toStatus(err, id)
	}
	e.leases.touch(req.GetClientId())
	if req.GetPromote() {
		e.promote(ctx, store, blocks.ID(id))
	}
	r, err := store.OpenBlock(ctx, blocks.ID(id))
	if err != nil {
		if errors.Is(err, blocks.ErrNotFound) {
			e.metrics.cacheMisses.Inc()
		}
		return nil, toStatus(err, id)
	}
	e.metrics.cacheHits.Inc()
	e.metrics.readBytes.WithLabelValues(pathShortCircuit, string(r.Tier())).Add(float64(r.Size()))
	lock := e.leases.addLock(r, req.GetClientId())
	return &sluicepb.OpenLocalBlockResponse{
		Path: r.Path(), Length: r.Size(), Crc32C: r.Checksum(), LockId: lock, Tier: string(r.Tier()),
	}, nil
}

// CloseLocalBlock releases a lock of OpenLocalBlock.
func (e *Executor) CloseLocalBlock(ctx context.Context, req *sluicepb.CloseLocalBlockRequest) (*sluicepb.CloseLocalBlockResponse, error) {
	ll, ok := e.leases.takeLock(req.GetLockId())
	if !ok {
		return nil, toStatus(fmt.Errorf("lock %d: %w", req.GetLockId(), ErrLockNotFound), 0)
	}
	if err := ll.r.Close(); err != nil {
		return nil, toStatus(err, uint64(ll.r.ID()))
	}
	return &sluicepb.CloseLocalBlockResponse{}, nil
}

// CreateLocalBlock starts a short-circuit write: it reserves space and returns the path
// of a temporary block file that the client writes itself. On the MEM tier the file may
// be a recycled block file (blocks.TempBlock.PrepareDirect), as long as the reservation,
// whose pages are already allocated: the client must open it without O_TRUNC and write
// from offset 0; CommitLocalBlock cuts it to the length the client wrote.
func (e *Executor) CreateLocalBlock(ctx context.Context, req *sluicepb.CreateLocalBlockRequest) (*sluicepb.CreateLocalBlockResponse, error) {
	id := req.GetBlockId()
	var invalid error
	if req.GetReserveBytes() < 0 {
		invalid = invalidf("negative reservation %d", req.GetReserveBytes())
	}
	store, err := e.storeFor(id, invalid)
	if err != nil {
		return nil, toStatus(err, id)
	}
	// New data is guarded (pinned) from the start: see guard.go.
	tb, err := store.CreateTemp(ctx, blocks.ID(id), req.GetReserveBytes(), blocks.CreateOptions{
		Tier:      blocks.TierAlias(req.GetTier()),
		Pinned:    true,
		Protected: req.GetWriteType() == sluicepb.WriteType_WRITE_TYPE_MUST_CACHE,
	})
	if err != nil {
		return nil, toStatus(noSpace(err), id)
	}
	e.leases.addTemp(tb, req.GetClientId(), req.GetPinned(), tb.PrepareDirect())
	return &sluicepb.CreateLocalBlockResponse{Path: tb.Path(), BlockId: id, ReservedBytes: tb.Reserved(), Tier: string(tb.Tier())}, nil
}

// CommitLocalBlock seals a short-circuit write: the file must have the length the client
// names (or, for a recycled file, be no longer than it was handed over; it is cut to the
// length) and the CRC32C, when given; the block is committed to the store and to the
// master. On failure the block is discarded.
//
// The executor does not take the client's CRC32C on trust: the store computes the chunk
// checksums that later reads verify against from the bytes in the file (from its mapping
// for a recycled file, without a copy) and checks the client's CRC32C against them, so a
// client that wrote other bytes than it checksummed, or fewer than it reports, fails here
// rather than at a later read.
func (e *Executor) CommitLocalBlock(ctx context.Context, req *sluicepb.CommitLocalBlockRequest) (*sluicepb.CommitLocalBlockResponse, error) {
	id := req.GetBlockId()
	if err := checkBlockID(id); err != nil {
		return nil, toStatus(err, id)
	}
	tl, ok := e.leases.takeTemp(blocks.ID(id))
	if !ok {
		return nil, toStatus(fmt.Errorf("no short-circuit block %d being written: %w", id, ErrLockNotFound), id)
	}
	tb := tl.tb
	defer tb.Abort()
	if req.GetLength() < 0 {
		return nil, toStatus(invalidf("negative length %d", req.GetLength()), id)
	}
	fi, err := os.Stat(tb.Path())
	if err != nil {
		return nil, toStatus(fmt.Errorf("stat block file: %w", err), id)
	}
	// A recycled file holds old bytes past what the client wrote, up to its size when
	// handed over; a client may also have written past it.
	if size := fi.Size(); size != req.GetLength() && (size < req.GetLength() || size > tl.prefilled) {
		return nil, toStatus(fmt.Errorf("block %d: file has %d bytes, client wrote %d: %w", id, size, req.GetLength(), ErrLengthMismatch), id)
	}
	tb.SetLength(req.GetLength())
	if req.Crc32C != nil {
		tb.ExpectChecksum(req.GetCrc32C())
	}
	meta, err := tb.Commit(ctx)
	if err != nil {
		return nil, toStatus(noSpace(err), id)
	}
	e.guards.guard(meta.ID, tl.pinned)
	store, err := e.storeOrErr()
	if err != nil {
		return nil, toStatus(err, id)
	}
	if err := e.commitBlock(ctx, store, meta); err != nil {
		return nil, toStatus(err, id)
	}
	e.metrics.writeBytes.WithLabelValues(pathShortCircuit, string(meta.Tier)).Add(float64(meta.Size))
	return &sluicepb.CommitLocalBlockResponse{Length: meta.Size, Crc32C: meta.Checksum, Tier: string(meta.Tier)}, nil
}

// AbortLocalBlock discards a short-circuit block being written.
func (e *Executor) AbortLocalBlock(ctx context.Context, req *sluicepb.AbortLocalBlockRequest) (*sluicepb.AbortLocalBlockResponse, error) {
	id := req.GetBlockId()
	tl, ok := e.leases.takeTemp(blocks.ID(id))
	if !ok {
		return nil, toStatus(fmt.Errorf("no short-circuit block %d being written: %w", id, ErrLockNotFound), id)
	}
	if err := tl.tb.Abort(); err != nil {
		return nil, toStatus(err, id)
	}
	return &sluicepb.AbortLocalBlockResponse{}, nil
}
