package master

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
)

// executorServer serves ExecutorMaster.
type executorServer struct {
	sluicepb.UnimplementedExecutorMasterServer
	m *Master
}

// checkTier validates a tier alias.
func checkTier(t string) error {
	if t == "" || len(t) > 32 {
		return invalidf("tier alias %q", t)
	}
	return nil
}

// checkStoredBlock validates a block an executor reports.
func checkStoredBlock(b *sluicepb.StoredBlock) error {
	id := b.GetBlockId()
	if err := sluicepb.CheckBlockID(sluicepb.BlockFileID(id), sluicepb.BlockIndex(id)); err != nil || sluicepb.BlockFileID(id) < state.FirstID {
		return invalidf("block ID %d", id)
	}
	if b.GetLength() < 0 || b.GetLength() > MaxBlockSize {
		return invalidf("block %d: length %d", id, b.GetLength())
	}
	return checkTier(b.GetTier())
}

// blockKnown reports whether the namespace knows a block an executor holds: a valid
// block whose file exists and either is being written (INCOMPLETE) or is complete with a
// block of that index and exactly that length. Anything else is never trusted: the
// executor deletes it (a malformed block report does not fail the whole registration
// or heartbeat, which would keep the executor from ever getting through).
func blockKnown(v *state.View, b *sluicepb.StoredBlock) bool {
	if checkStoredBlock(b) != nil {
		return false
	}
	in, err := v.GetByID(sluicepb.BlockFileID(b.GetBlockId()))
	if err != nil || !in.IsFile() {
		return false
	}
	if !in.Complete {
		return b.GetLength() <= in.BlockSize
	}
	i := int64(sluicepb.BlockIndex(b.GetBlockId()))
	return i < in.BlockCount() && b.GetLength() == blockLen(in, int(i))
}

// heldIDs returns the IDs of blocks, without those in removed.
func heldIDs(blocks []*sluicepb.StoredBlock, removed []uint64) []uint64 {
	out := make([]uint64, 0, len(blocks))
	for _, b := range blocks {
		if !slices.Contains(removed, b.GetBlockId()) {
			out = append(out, b.GetBlockId())
		}
	}
	return out
}

// RegisterExecutor admits an executor with the blocks it holds; blocks the namespace
// does not know are returned for deletion (see blockKnown).
func (s *executorServer) RegisterExecutor(ctx context.Context, req *sluicepb.RegisterExecutorRequest) (*sluicepb.RegisterExecutorResponse, error) {
	m := s.m
	info := req.GetExecutor()
	if info == nil {
		return nil, invalidf("no executor info")
	}
	if _, _, err := net.SplitHostPort(info.GetRpcAddress()); err != nil {
		return nil, invalidf("executor RPC address %q: %v", info.GetRpcAddress(), err)
	}
	if info.GetPid() < 0 {
		return nil, invalidf("pid %d", info.GetPid())
	}
	for _, t := range info.GetTiers() {
		if err := checkTier(t.GetAlias()); err != nil {
			return nil, err
		}
		if t.GetCapacityBytes() < 0 || t.GetUsedBytes() < 0 {
			return nil, invalidf("tier %s: negative capacity or use", t.GetAlias())
		}
	}
	v := m.st.View()
	id, remove, dropped := m.blocks.register(info, req.GetBlocks(), func(b *sluicepb.StoredBlock) bool { return blockKnown(v, b) }, time.Now())
	m.log.Info("executor registered", "executor_id", id, "rpc_address", info.GetRpcAddress(), "host", info.GetHost(),
		"pid", info.GetPid(), "task_id", info.GetTaskId(), "blocks", len(req.GetBlocks()), "removed", len(remove))
	if err := m.checkDropped(ctx, dropped); err != nil {
		m.log.Error("cannot mark files lost", "err", err)
	}
	m.checkRecovered(ctx, heldIDs(req.GetBlocks(), remove))
	m.persist.kick()
	m.rec.executorJoined() // recomputes waiting for an executor go on
	return &sluicepb.RegisterExecutorResponse{ExecutorId: id, RemoveBlockIds: remove,
		HeartbeatIntervalMs: m.cfg.HeartbeatInterval.Milliseconds(), ClusterId: m.clusterID(),
		Guards: guardAnswer(v, req.GetGuardedFileIds(), nil)}, nil
}

// Heartbeat applies an executor's usage and block changes and answers its pending
// commands (REMOVE_BLOCKS, FREE, PERSIST_FILES), NOTHING when there are none, or
// REGISTER when the executor is unknown or was declared lost. It also tells which of
// the executor's guarded files no longer need their guard, and which of its held files
// are pinned (guard.go).
func (s *executorServer) Heartbeat(ctx context.Context, req *sluicepb.HeartbeatRequest) (*sluicepb.HeartbeatResponse, error) {
	m := s.m
	for _, t := range req.GetTiers() {
		if err := checkTier(t.GetAlias()); err != nil {
			return nil, err
		}
	}
	v := m.st.View()
	res := m.blocks.heartbeat(req, func(b *sluicepb.StoredBlock) bool { return blockKnown(v, b) }, time.Now())
	if !res.known {
		return &sluicepb.HeartbeatResponse{Commands: []*sluicepb.ExecutorCommand{{Type: sluicepb.CommandType_COMMAND_TYPE_REGISTER}}}, nil
	}
	m.persist.extend(req.GetExecutorId(), req.GetPersistingFileIds(), m.cfg.PersistTimeout)
	if err := m.checkDropped(ctx, res.dropped); err != nil {
		m.log.Error("cannot mark files lost", "err", err)
	}
	m.checkRecovered(ctx, heldIDs(req.GetAddedBlocks(), res.remove))
	guards := guardAnswer(v, req.GetGuardedFileIds(), req.GetHeldFileIds())
	if len(res.commands) == 0 {
		return &sluicepb.HeartbeatResponse{Commands: []*sluicepb.ExecutorCommand{{Type: sluicepb.CommandType_COMMAND_TYPE_NOTHING}}, Guards: guards}, nil
	}
	return &sluicepb.HeartbeatResponse{Commands: res.commands, Guards: guards}, nil
}

// CommitBlock records a written block's copy, length and checksum. The block's file
// must exist; for a COMPLETE file (a cached copy read from the UFS or another executor)
// the length, and the checksum of existing copies, must match.
func (s *executorServer) CommitBlock(ctx context.Context, req *sluicepb.CommitBlockRequest) (*sluicepb.CommitBlockResponse, error) {
	m := s.m
	sb := &sluicepb.StoredBlock{BlockId: req.GetBlockId(), Length: req.GetLength(), Tier: req.GetTier(), Crc32C: req.GetCrc32C()}
	if err := checkStoredBlock(sb); err != nil {
		return nil, err
	}
	if !m.blocks.live(req.GetExecutorId()) {
		return nil, fmt.Errorf("executor %d: %w", req.GetExecutorId(), ErrExecutorNotRegistered)
	}
	v := m.st.View()
	in, err := v.GetByID(sluicepb.BlockFileID(req.GetBlockId()))
	switch {
	case err != nil:
		return nil, &detailError{blockID: req.GetBlockId(), err: fmt.Errorf("file of block %d: %w", req.GetBlockId(), state.ErrNotFound)}
	case in.Directory:
		return nil, &detailError{path: in.Path, err: fmt.Errorf("block %d of a directory: %w", req.GetBlockId(), state.ErrIsDirectory)}
	case int64(req.GetLength()) > in.BlockSize:
		return nil, &detailError{path: in.Path, blockID: req.GetBlockId(),
			err: fmt.Errorf("block %d: length %d above the block size %d: %w", req.GetBlockId(), req.GetLength(), in.BlockSize, ErrLengthMismatch)}
	case in.Complete && !blockKnown(v, sb):
		// A cached copy of a complete file's block (read with CACHE) must match it.
		return nil, &detailError{path: in.Path, blockID: req.GetBlockId(),
			err: fmt.Errorf("block %d of complete file %s: length %d does not match: %w", req.GetBlockId(), in.Path, req.GetLength(), ErrLengthMismatch)}
	}
	if in.Complete {
		if l, crc, ok := m.blocks.committed(req.GetBlockId()); ok && (l != req.GetLength() || crc != req.GetCrc32C()) {
			return nil, &detailError{path: in.Path, blockID: req.GetBlockId(),
				err: fmt.Errorf("block %d: crc %08x differs from the copies' %08x: %w", req.GetBlockId(), req.GetCrc32C(), crc, ErrLengthMismatch)}
		}
	}
	if !m.blocks.commit(req.GetExecutorId(), sb) {
		return nil, fmt.Errorf("executor %d: %w", req.GetExecutorId(), ErrExecutorNotRegistered)
	}
	if in.Complete && in.PersistenceState == state.Lost {
		m.checkRecovered(ctx, []uint64{req.GetBlockId()})
	}
	return &sluicepb.CommitBlockResponse{}, nil
}

// ReportPersisted takes the outcome of a persist task (see Master.persisted).
func (s *executorServer) ReportPersisted(ctx context.Context, req *sluicepb.ReportPersistedRequest) (*sluicepb.ReportPersistedResponse, error) {
	m := s.m
	if req.GetFileId() < state.FirstID || req.GetFileId() > state.MaxID {
		return nil, invalidf("file ID %d", req.GetFileId())
	}
	if !m.blocks.live(req.GetExecutorId()) {
		return nil, fmt.Errorf("executor %d: %w", req.GetExecutorId(), ErrExecutorNotRegistered)
	}
	if err := m.persisted(ctx, req); err != nil {
		return nil, err
	}
	return &sluicepb.ReportPersistedResponse{}, nil
}
