package executor

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
)

// registration is the executor's standing with the master.
type registration struct {
	// mu guards every field.
	mu         sync.Mutex
	execID     uint64
	registered bool
	// admitted is closed while registered; a fresh one is made on unregister.
	admitted  chan struct{}
	clusterID string
	interval  time.Duration
}

func (r *registration) init() { r.admitted = make(chan struct{}) }

func (r *registration) id() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.execID
}

func (r *registration) isRegistered() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.registered
}

func (r *registration) set(id uint64, clusterID string, interval time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.execID, r.clusterID, r.interval = id, clusterID, interval
	if !r.registered {
		r.registered = true
		close(r.admitted)
	}
}

// unset makes the next heartbeat loop iteration register again; the ID is kept and
// offered to the master for reuse.
func (r *registration) unset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.registered {
		r.registered = false
		r.admitted = make(chan struct{})
	}
}

// wait returns the executor ID once registered, or ctx's error.
func (r *registration) wait(ctx context.Context) (uint64, error) {
	r.mu.Lock()
	if r.registered {
		defer r.mu.Unlock()
		return r.execID, nil
	}
	ch := r.admitted
	r.mu.Unlock()
	select {
	case <-ch:
		return r.id(), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// deltas collects the block changes to report in the next heartbeat. An entry stays
// until a heartbeat that carried it is acknowledged and it has not changed since.
type deltas struct {
	// mu guards every field.
	mu      sync.Mutex
	gen     uint64
	added   map[blocks.ID]addedBlock
	removed map[blocks.ID]uint64 // gen
}

type addedBlock struct {
	sb  *sluicepb.StoredBlock
	gen uint64
}

func (d *deltas) init() {
	d.added = make(map[blocks.ID]addedBlock)
	d.removed = make(map[blocks.ID]uint64)
}

func (d *deltas) add(m blocks.BlockMeta) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	delete(d.removed, m.ID)
	d.added[m.ID] = addedBlock{sb: storedBlock(m), gen: d.gen}
}

func (d *deltas) remove(id blocks.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	delete(d.added, id)
	d.removed[id] = d.gen
}

// snapshot returns what the next heartbeat reports and the generation it saw.
func (d *deltas) snapshot() (added []*sluicepb.StoredBlock, removed []uint64, gen uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.added {
		added = append(added, a.sb)
	}
	for id := range d.removed {
		removed = append(removed, uint64(id))
	}
	slices.SortFunc(added, func(a, b *sluicepb.StoredBlock) int { return cmpUint(a.BlockId, b.BlockId) })
	slices.Sort(removed)
	return added, removed, d.gen
}

// ack drops the entries a heartbeat reported that have not changed since generation gen.
func (d *deltas) ack(gen uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	maps.DeleteFunc(d.added, func(_ blocks.ID, a addedBlock) bool { return a.gen <= gen })
	maps.DeleteFunc(d.removed, func(_ blocks.ID, g uint64) bool { return g <= gen })
}

// resetWith runs fn (which lists every held block) with the deltas cleared under one
// lock, so that a change racing with a registration is either in fn's listing or in the
// next heartbeat.
func (d *deltas) resetWith(fn func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn()
	clear(d.added)
	clear(d.removed)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func storedBlock(m blocks.BlockMeta) *sluicepb.StoredBlock {
	return &sluicepb.StoredBlock{BlockId: uint64(m.ID), Length: m.Size, Tier: string(m.Tier), Crc32C: m.Checksum}
}

// onStoreEvent records the changes the store makes on its own for the next heartbeat.
func (e *Executor) onStoreEvent(ev blocks.Event) {
	switch ev.Kind {
	case blocks.EventEvicted, blocks.EventCorrupt:
		e.blockGone(ev.Block)
		e.metrics.evictions.WithLabelValues(ev.Kind.String(), string(ev.From)).Inc()
	case blocks.EventDemoted:
		if s := e.store.Load(); s != nil {
			if m, err := s.Stat(ev.Block); err == nil {
				e.deltas.add(m)
			}
		}
	}
}

// backoff doubles a wait from min up to max.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

// sleepCtx waits d or until ctx ends; it reports whether ctx is still alive.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// heartbeatLoop registers and heartbeats until ctx ends, retrying with backoff while no
// master answers. Commands run in order; long ones (persists, removals of locked
// blocks) run in tracked goroutines so they never delay the next heartbeat.
func (e *Executor) heartbeatLoop(ctx context.Context) {
	bo := backoff{min: min(50*time.Millisecond, e.cfg.HeartbeatInterval), max: e.cfg.MaxBackoff}
	for ctx.Err() == nil {
		if !e.reg.isRegistered() {
			if err := e.register(ctx); err != nil {
				if ctx.Err() == nil {
					e.log.Warn("register with master", "err", err)
				}
				sleepCtx(ctx, bo.next())
				continue
			}
			bo.reset()
		}
		cmds, err := e.heartbeat(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if isNotRegistered(err) {
				e.log.Info("master does not know this executor; registering again", "err", err)
				e.reg.unset()
				continue
			}
			e.log.Warn("heartbeat", "err", err)
			sleepCtx(ctx, bo.next())
			continue
		}
		bo.reset()
		e.execute(ctx, cmds)
		if !e.reg.isRegistered() {
			continue
		}
		t := time.NewTimer(e.interval())
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-e.hbKick:
		}
		t.Stop()
	}
}

func (e *Executor) interval() time.Duration {
	e.reg.mu.Lock()
	defer e.reg.mu.Unlock()
	if e.reg.interval > 0 {
		return e.reg.interval
	}
	return e.cfg.HeartbeatInterval
}

// isNotRegistered reports a master answer that means "register again".
func isNotRegistered(err error) bool {
	return hasReason(err, sluicepb.ErrorReason_ERROR_REASON_EXECUTOR_NOT_REGISTERED) ||
		(status.Code(err) == codes.FailedPrecondition && errorDetail(err) == nil)
}

// register introduces the executor with every block it holds and deletes the blocks the
// master does not know.
func (e *Executor) register(ctx context.Context) error {
	store, err := e.storeOrErr()
	if err != nil {
		return err
	}
	var held []blocks.BlockMeta
	e.deltas.resetWith(func() { held = store.Blocks() })
	req := &sluicepb.RegisterExecutorRequest{Executor: e.executorInfo(store), GuardedFileIds: e.guards.report(maxGuardReport)}
	req.Executor.Id = e.reg.id()
	for _, m := range held {
		req.Blocks = append(req.Blocks, storedBlock(m))
	}
	var resp *sluicepb.RegisterExecutorResponse
	err = e.master.call(ctx, func(ctx context.Context, c sluicepb.ExecutorMasterClient) error {
		var err error
		resp, err = c.RegisterExecutor(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	e.reg.mu.Lock()
	old := e.reg.clusterID
	e.reg.mu.Unlock()
	if old != "" && resp.GetClusterId() != "" && old != resp.GetClusterId() {
		e.log.Warn("master belongs to another cluster", "old_cluster_id", old, "cluster_id", resp.GetClusterId())
	}
	e.reg.set(resp.GetExecutorId(), resp.GetClusterId(), time.Duration(resp.GetHeartbeatIntervalMs())*time.Millisecond)
	e.log.Info("registered with master", "executor_id", resp.GetExecutorId(), "blocks", len(held), "remove", len(resp.GetRemoveBlockIds()))
	for _, id := range resp.GetRemoveBlockIds() {
		e.removeAsync(blocks.ID(id))
	}
	e.applyGuards(resp.GetGuards())
	return nil
}

// heartbeat reports usage and block changes and returns the master's commands.
func (e *Executor) heartbeat(ctx context.Context) ([]*sluicepb.ExecutorCommand, error) {
	store, err := e.storeOrErr()
	if err != nil {
		return nil, err
	}
	added, removed, gen := e.deltas.snapshot()
	req := &sluicepb.HeartbeatRequest{
		ExecutorId:        e.reg.id(),
		Tiers:             tierUsage(store.Usage()),
		AddedBlocks:       added,
		RemovedBlockIds:   removed,
		PersistingFileIds: e.persist.running(),
		GuardedFileIds:    e.guards.report(maxGuardReport),
		HeldFileIds:       e.guards.heldSample(store, maxGuardReport),
	}
	var resp *sluicepb.HeartbeatResponse
	err = e.master.call(ctx, func(ctx context.Context, c sluicepb.ExecutorMasterClient) error {
		var err error
		resp, err = c.Heartbeat(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.deltas.ack(gen)
	e.applyGuards(resp.GetGuards())
	if err := e.guards.applyPins(store, req.GetHeldFileIds(), resp.GetGuards().GetPinnedFileIds()); err != nil {
		e.log.Warn("apply pins", "err", err)
	}
	return resp.GetCommands(), nil
}

// execute carries out heartbeat commands in order.
func (e *Executor) execute(ctx context.Context, cmds []*sluicepb.ExecutorCommand) {
	for _, c := range cmds {
		switch c.GetType() {
		case sluicepb.CommandType_COMMAND_TYPE_REGISTER:
			e.reg.unset()
		case sluicepb.CommandType_COMMAND_TYPE_REMOVE_BLOCKS, sluicepb.CommandType_COMMAND_TYPE_FREE:
			for _, id := range c.GetBlockIds() {
				e.removeAsync(blocks.ID(id))
			}
		case sluicepb.CommandType_COMMAND_TYPE_PERSIST_FILES:
			for _, pf := range c.GetPersistFiles() {
				e.submitPersist(ctx, pf)
			}
		case sluicepb.CommandType_COMMAND_TYPE_NOTHING, sluicepb.CommandType_COMMAND_TYPE_UNSPECIFIED:
		default:
			e.log.Warn("unknown command", "type", c.GetType())
		}
	}
}

// removeTracker remembers the removals under way so a repeated command starts no
// second one.
type removeTracker struct {
	// mu guards pending.
	mu      sync.Mutex
	pending map[blocks.ID]bool
}

func (r *removeTracker) init() { r.pending = make(map[blocks.ID]bool) }

// removeAsync deletes a block in a tracked goroutine: a block locked by readers goes when
// they release it. The removal is reported in the next heartbeat, also when the block
// was already gone.
func (e *Executor) removeAsync(id blocks.ID) {
	e.removes.mu.Lock()
	if e.removes.pending[id] {
		e.removes.mu.Unlock()
		return
	}
	e.removes.pending[id] = true
	e.removes.mu.Unlock()
	e.wg.Go(func() {
		defer func() {
			e.removes.mu.Lock()
			delete(e.removes.pending, id)
			e.removes.mu.Unlock()
		}()
		store, err := e.storeOrErr()
		if err != nil {
			return
		}
		err = store.Remove(e.life, id)
		switch {
		case err == nil || errors.Is(err, blocks.ErrNotFound):
			e.blockGone(id)
		case e.life.Err() == nil:
			e.log.Warn("remove block", "block_id", uint64(id), "err", err)
		}
	})
}
