package master

import (
	"cmp"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// blockMaster is the leader's soft state: executors and where block copies live. It is
// never journaled; a new leader rebuilds it from registrations (executors it does not
// know get a REGISTER command at their next heartbeat). Safe for concurrent use.
type blockMaster struct {
	// mu guards every field below.
	mu        sync.Mutex
	executors map[uint64]*executorEntry
	blocks    map[uint64]*blockEntry
	// nextID is the next executor ID to hand out; startTerm seeds it from the clock so
	// that IDs of former leaders are not handed out again.
	nextID uint64
}

// executorEntry is one registered executor.
type executorEntry struct {
	info          *sluicepb.ExecutorInfo // master-owned fields kept current
	lastHeartbeat time.Time
	lost          bool
	blocks        map[uint64]string // block ID → tier alias
	// Commands waiting for the next heartbeat.
	removeIDs []uint64
	freeIDs   []uint64
	persist   []*sluicepb.PersistFile
}

// blockEntry is one block: its committed length and checksum and its copies.
type blockEntry struct {
	length int64
	crc    uint32
	locs   map[uint64]string // executor ID → tier alias
}

// location is one copy of a block as reported to clients.
type location struct {
	executorID uint64
	tier       string
}

func newBlockMaster() *blockMaster {
	b := &blockMaster{}
	b.reset()
	return b
}

// reset forgets everything (leadership lost).
func (b *blockMaster) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.executors = make(map[uint64]*executorEntry)
	b.blocks = make(map[uint64]*blockEntry)
}

// startTerm seeds executor IDs for a new leadership term.
func (b *blockMaster) startTerm() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextID = max(b.nextID, uint64(time.Now().UnixMilli())<<8)
}

// tierRank orders tier aliases, fastest first.
func tierRank(t string) int {
	switch t {
	case "MEM":
		return 0
	case "SSD":
		return 1
	case "HDD":
		return 2
	}
	return 3
}

// register admits an executor with the blocks it holds. keep tells which held blocks the
// namespace knows (with a matching length); the others are returned for removal. An
// executor re-registering with a known ID keeps it; an unknown previous ID is reused if
// free. A live entry with the same RPC address under another ID is replaced. dropped are
// blocks that lost their last copy in the replacement.
func (b *blockMaster) register(info *sluicepb.ExecutorInfo, held []*sluicepb.StoredBlock, keep func(*sluicepb.StoredBlock) bool, now time.Time) (id uint64, remove, dropped []uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id = info.GetId()
	// A previous ID is kept unless another live executor (another address) has it now;
	// a previous ID this leader never saw is taken as is, so IDs survive a master
	// restart.
	if old, ok := b.executors[id]; id == 0 || (ok && old.info.GetRpcAddress() != info.GetRpcAddress() && !old.lost) {
		for {
			b.nextID++
			if _, taken := b.executors[b.nextID]; !taken {
				break
			}
		}
		id = b.nextID
	}
	e := &executorEntry{info: proto.Clone(info).(*sluicepb.ExecutorInfo), lastHeartbeat: now,
		blocks: make(map[uint64]string, len(held))}
	// Re-registration replaces what the master knew of this executor: the block list
	// it sends is the whole truth, so copies it no longer reports are dropped.
	if old, ok := b.executors[id]; ok {
		dropped = append(dropped, b.dropExecutorLocked(id, old)...)
	}
	e.info.Id = id
	e.info.State = sluicepb.ExecutorState_EXECUTOR_STATE_LIVE
	e.info.LastHeartbeatMs = now.UnixMilli()
	b.executors[id] = e
	for _, sb := range held {
		if !keep(sb) {
			remove = append(remove, sb.GetBlockId())
			continue
		}
		b.addLocked(id, e, sb)
	}
	// The same address under another ID is this executor's former life (it restarted
	// and lost its ID): forget it, after the new block list was taken, so copies it still
	// holds never count as lost.
	for oid, old := range b.executors {
		if oid != id && !old.lost && old.info.GetRpcAddress() == info.GetRpcAddress() {
			dropped = append(dropped, b.dropExecutorLocked(oid, old)...)
			delete(b.executors, oid)
		}
	}
	b.updateCountsLocked(e)
	return id, remove, b.stillUncovered(dropped)
}

// addLocked records a copy of sb on executor id.
func (b *blockMaster) addLocked(id uint64, e *executorEntry, sb *sluicepb.StoredBlock) {
	be := b.blocks[sb.GetBlockId()]
	if be == nil {
		be = &blockEntry{length: sb.GetLength(), crc: sb.GetCrc32C(), locs: make(map[uint64]string, 1)}
		b.blocks[sb.GetBlockId()] = be
	}
	be.locs[id] = sb.GetTier()
	e.blocks[sb.GetBlockId()] = sb.GetTier()
}

// dropExecutorLocked removes executor id's copies and returns the blocks it held.
func (b *blockMaster) dropExecutorLocked(id uint64, e *executorEntry) []uint64 {
	out := make([]uint64, 0, len(e.blocks))
	for bid := range e.blocks {
		if be := b.blocks[bid]; be != nil {
			delete(be.locs, id)
		}
		out = append(out, bid)
	}
	e.blocks = make(map[uint64]string)
	return out
}

// stillUncovered filters ids to the blocks with no copy left.
func (b *blockMaster) stillUncovered(ids []uint64) []uint64 {
	var out []uint64
	for _, id := range ids {
		if be := b.blocks[id]; be == nil || len(be.locs) == 0 {
			out = append(out, id)
		}
	}
	return out
}

func (b *blockMaster) updateCountsLocked(e *executorEntry) {
	var capb, used int64
	for _, t := range e.info.GetTiers() {
		capb += t.GetCapacityBytes()
		used += t.GetUsedBytes()
	}
	e.info.CapacityBytes, e.info.UsedBytes = capb, used
	e.info.BlockCount = int64(len(e.blocks))
}

// heartbeatResult is what a heartbeat produced.
type heartbeatResult struct {
	known    bool
	commands []*sluicepb.ExecutorCommand
	remove   []uint64 // added blocks the namespace does not know
	dropped  []uint64 // removed blocks that have no copy left
}

// heartbeat applies an executor's report and takes its pending commands. An unknown or
// LOST executor gets known=false (it must register again).
func (b *blockMaster) heartbeat(req *sluicepb.HeartbeatRequest, keep func(*sluicepb.StoredBlock) bool, now time.Time) heartbeatResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := req.GetExecutorId()
	e, ok := b.executors[id]
	if !ok || e.lost {
		return heartbeatResult{}
	}
	res := heartbeatResult{known: true}
	e.lastHeartbeat = now
	e.info.LastHeartbeatMs = now.UnixMilli()
	if len(req.GetTiers()) > 0 {
		e.info.Tiers = cloneTiers(req.GetTiers())
	}
	for _, bid := range req.GetRemovedBlockIds() {
		if _, held := e.blocks[bid]; !held {
			continue
		}
		delete(e.blocks, bid)
		if be := b.blocks[bid]; be != nil {
			delete(be.locs, id)
			if len(be.locs) == 0 {
				res.dropped = append(res.dropped, bid)
			}
		}
	}
	for _, sb := range req.GetAddedBlocks() {
		if !keep(sb) {
			res.remove = append(res.remove, sb.GetBlockId())
			continue
		}
		b.addLocked(id, e, sb)
	}
	e.removeIDs = append(e.removeIDs, res.remove...)
	b.updateCountsLocked(e)
	if len(e.removeIDs) > 0 {
		res.commands = append(res.commands, &sluicepb.ExecutorCommand{Type: sluicepb.CommandType_COMMAND_TYPE_REMOVE_BLOCKS, BlockIds: e.removeIDs})
	}
	if len(e.freeIDs) > 0 {
		res.commands = append(res.commands, &sluicepb.ExecutorCommand{Type: sluicepb.CommandType_COMMAND_TYPE_FREE, BlockIds: e.freeIDs})
	}
	if len(e.persist) > 0 {
		res.commands = append(res.commands, &sluicepb.ExecutorCommand{Type: sluicepb.CommandType_COMMAND_TYPE_PERSIST_FILES, PersistFiles: e.persist})
	}
	e.removeIDs, e.freeIDs, e.persist = nil, nil, nil
	return res
}

func cloneTiers(ts []*sluicepb.TierUsage) []*sluicepb.TierUsage {
	out := make([]*sluicepb.TierUsage, len(ts))
	for i, t := range ts {
		out[i] = proto.Clone(t).(*sluicepb.TierUsage)
	}
	return out
}

// live reports whether executor id is registered and live.
func (b *blockMaster) live(id uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.executors[id]
	return ok && !e.lost
}

// commit records a committed block copy. It returns false if the executor is unknown.
func (b *blockMaster) commit(execID uint64, sb *sluicepb.StoredBlock) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.executors[execID]
	if !ok || e.lost {
		return false
	}
	if be := b.blocks[sb.GetBlockId()]; be != nil {
		be.length, be.crc = sb.GetLength(), sb.GetCrc32C()
	}
	b.addLocked(execID, e, sb)
	b.updateCountsLocked(e)
	return true
}

// committed returns the committed length and checksum of a block with a live copy.
func (b *blockMaster) committed(id uint64) (length int64, crc uint32, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	be := b.blocks[id]
	if be == nil || len(be.locs) == 0 {
		return 0, 0, false
	}
	return be.length, be.crc, true
}

// locations returns the copies of a block, fastest tier first.
func (b *blockMaster) locations(id uint64) []location {
	b.mu.Lock()
	defer b.mu.Unlock()
	be := b.blocks[id]
	if be == nil {
		return nil
	}
	out := make([]location, 0, len(be.locs))
	for eid, tier := range be.locs {
		out = append(out, location{executorID: eid, tier: tier})
	}
	slices.SortFunc(out, func(a, c location) int {
		return cmp.Or(cmp.Compare(tierRank(a.tier), tierRank(c.tier)), cmp.Compare(a.executorID, c.executorID))
	})
	return out
}

// executorInfo returns a copy of an executor's info.
func (b *blockMaster) executorInfo(id uint64) (*sluicepb.ExecutorInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.executors[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(e.info).(*sluicepb.ExecutorInfo), true
}

// list returns copies of the executors, by ID; LOST ones only with includeLost.
func (b *blockMaster) list(includeLost bool) []*sluicepb.ExecutorInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*sluicepb.ExecutorInfo, 0, len(b.executors))
	for _, e := range b.executors {
		if e.lost && !includeLost {
			continue
		}
		out = append(out, proto.Clone(e.info).(*sluicepb.ExecutorInfo))
	}
	slices.SortFunc(out, func(a, c *sluicepb.ExecutorInfo) int { return cmp.Compare(a.GetId(), c.GetId()) })
	return out
}

// blockCount returns the number of distinct blocks with at least one copy.
func (b *blockMaster) blockCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, be := range b.blocks {
		if len(be.locs) > 0 {
			n++
		}
	}
	return n
}

// find returns the executor whose ID (decimal) or task ID is s.
func (b *blockMaster) find(s string) (uint64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id, err := strconv.ParseUint(s, 10, 64); err == nil {
		if _, ok := b.executors[id]; ok {
			return id, true
		}
	}
	for id, e := range b.executors {
		if s != "" && e.info.GetTaskId() == s && !e.lost {
			return id, true
		}
	}
	return 0, false
}

// silent returns the live executors whose last heartbeat is older than deadline.
func (b *blockMaster) silent(deadline time.Time) []uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []uint64
	for id, e := range b.executors {
		if !e.lost && e.lastHeartbeat.Before(deadline) {
			out = append(out, id)
		}
	}
	return out
}

// forgetLost drops LOST executors whose last heartbeat is older than before.
func (b *blockMaster) forgetLost(before time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, e := range b.executors {
		if e.lost && e.lastHeartbeat.Before(before) {
			delete(b.executors, id)
		}
	}
}

// markLost declares an executor LOST, drops its copies and returns the blocks left with
// no copy. It reports false if the executor was unknown or already lost.
func (b *blockMaster) markLost(id uint64) ([]uint64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.executors[id]
	if !ok || e.lost {
		return nil, false
	}
	e.lost = true
	e.info.State = sluicepb.ExecutorState_EXECUTOR_STATE_LOST
	held := b.dropExecutorLocked(id, e)
	e.removeIDs, e.freeIDs, e.persist = nil, nil, nil
	b.updateCountsLocked(e)
	return b.stillUncovered(held), true
}

// removeBlocks forgets blocks (their files are gone) and tells their holders to delete
// them (REMOVE_BLOCKS) at the next heartbeat.
func (b *blockMaster) removeBlocks(ids []uint64) { b.dropCopies(ids, false) }

// free drops the cached copies of blocks (they stay in the UFS) and tells the holders
// to remove them with a FREE command. It returns the number of copies dropped.
func (b *blockMaster) free(ids []uint64) int64 { return b.dropCopies(ids, true) }

// dropCopies drops every copy of ids and queues the holders' REMOVE_BLOCKS or FREE
// command. Removed blocks are forgotten; freed ones keep their committed length.
func (b *blockMaster) dropCopies(ids []uint64, free bool) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int64
	for _, id := range ids {
		be := b.blocks[id]
		if be == nil {
			continue
		}
		for eid := range be.locs {
			if e := b.executors[eid]; e != nil {
				delete(e.blocks, id)
				if free {
					e.freeIDs = append(e.freeIDs, id)
				} else {
					e.removeIDs = append(e.removeIDs, id)
				}
				b.updateCountsLocked(e)
			}
			n++
		}
		if free {
			be.locs = make(map[uint64]string)
		} else {
			delete(b.blocks, id)
		}
	}
	return n
}

// blocksOfFile returns the IDs of known blocks whose file is fileID (incomplete files
// have no derived block list).
func (b *blockMaster) blocksOfFile(fileID uint64) []uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []uint64
	for id := range b.blocks {
		if sluicepb.BlockFileID(id) == fileID {
			out = append(out, id)
		}
	}
	return out
}

// bestHolder returns the live executor holding most of ids (any live executor when ids
// is empty), preferring the lowest ID on ties.
func (b *blockMaster) bestHolder(ids []uint64) (uint64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	count := make(map[uint64]int)
	for _, id := range ids {
		if be := b.blocks[id]; be != nil {
			for eid := range be.locs {
				count[eid]++
			}
		}
	}
	var best uint64
	bestN := -1
	for eid, e := range b.executors {
		if e.lost || (len(ids) > 0 && count[eid] == 0) {
			continue
		}
		if n := count[eid]; n > bestN || (n == bestN && eid < best) {
			best, bestN = eid, n
		}
	}
	return best, bestN >= 0
}

// queuePersist adds a persist task to an executor's next heartbeat answer.
func (b *blockMaster) queuePersist(execID uint64, pf *sluicepb.PersistFile) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.executors[execID]
	if !ok || e.lost {
		return false
	}
	e.persist = append(e.persist, pf)
	return true
}
