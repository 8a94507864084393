package master

import (
	"cmp"
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
)

// metaServer serves MetaMaster.
type metaServer struct {
	sluicepb.UnimplementedMetaMasterServer
	m *Master
}

// masterInfo describes this master and the Raft cluster.
func (m *Master) masterInfo() *sluicepb.GetMasterInfoResponse {
	stats := m.j.Stats()
	leaderRaft := m.j.LeaderAddr()
	info := &sluicepb.GetMasterInfoResponse{
		LeaderAddress:    m.leaderRPC(leaderRaft),
		RpcAddress:       m.rpcAddr,
		IsLeader:         m.ready.Load() && m.j.IsLeader(),
		Version:          m.cfg.Version,
		StartTimeMs:      m.startTime.UnixMilli(),
		WebAddress:       m.HTTPAddr(),
		ClusterId:        m.clusterID(),
		RaftState:        stats["state"],
		RaftAppliedIndex: m.st.View().AppliedIndex(),
	}
	peers := slices.Clone(m.cfg.Journal.Peers)
	if !slices.Contains(peers, m.j.Addr()) {
		peers = append(peers, m.j.Addr())
	}
	slices.Sort(peers)
	for _, p := range peers {
		info.Peers = append(info.Peers, &sluicepb.RaftPeer{Id: p, RaftAddress: p, RpcAddress: m.leaderRPC(p),
			Voter: true, Leader: p == leaderRaft})
	}
	return info
}

// GetMasterInfo describes this master and the Raft cluster; followers answer it too.
func (s *metaServer) GetMasterInfo(context.Context, *sluicepb.GetMasterInfoRequest) (*sluicepb.GetMasterInfoResponse, error) {
	return s.m.masterInfo(), nil
}

// report builds the cluster report.
func (m *Master) report(includeLost bool, maxLost int) *sluicepb.GetReportResponse {
	if maxLost <= 0 {
		maxLost = 1000
	}
	r := &sluicepb.GetReportResponse{Master: m.masterInfo(), Persistence: &sluicepb.PersistenceCounts{}}
	tiers := map[string]*sluicepb.TierUsage{}
	for _, e := range m.blocks.list(true) {
		if e.GetState() == sluicepb.ExecutorState_EXECUTOR_STATE_LOST {
			r.LostExecutors++
			if !includeLost {
				continue
			}
		} else {
			r.LiveExecutors++
			r.CapacityBytes += e.GetCapacityBytes()
			r.UsedBytes += e.GetUsedBytes()
			for _, t := range e.GetTiers() {
				sum := tiers[t.GetAlias()]
				if sum == nil {
					sum = &sluicepb.TierUsage{Alias: t.GetAlias(), Ordinal: t.GetOrdinal()}
					tiers[t.GetAlias()] = sum
				}
				sum.CapacityBytes += t.GetCapacityBytes()
				sum.UsedBytes += t.GetUsedBytes()
				sum.BlockCount += t.GetBlockCount()
			}
		}
		r.Executors = append(r.Executors, e)
	}
	for _, t := range tiers {
		r.Tiers = append(r.Tiers, t)
	}
	slices.SortFunc(r.Tiers, func(a, b *sluicepb.TierUsage) int {
		return cmp.Or(cmp.Compare(a.GetOrdinal(), b.GetOrdinal()), strings.Compare(a.GetAlias(), b.GetAlias()))
	})
	v := m.st.View()
	c := v.Counts()
	r.FileCount, r.DirectoryCount = int64(c.Files), int64(c.Directories)
	r.BlockCount = int64(m.blocks.blockCount())
	for in := range v.FilesByPersistence(state.NotPersisted) {
		_ = in
		r.Persistence.NotPersisted++
	}
	for range v.FilesByPersistence(state.ToBePersisted) {
		r.Persistence.ToBePersisted++
	}
	for range v.FilesByPersistence(state.Persisted) {
		r.Persistence.Persisted++
	}
	for in := range v.FilesByPersistence(state.Lost) {
		r.Persistence.Lost++
		if len(r.LostFiles) >= maxLost {
			r.LostFilesTruncated = true
			continue
		}
		lf := &sluicepb.LostFile{Path: in.Path, FileId: in.ID, Length: in.Length}
		if in.JobID != 0 {
			lf.JobId = strconv.FormatUint(in.JobID, 10)
		}
		r.LostFiles = append(r.LostFiles, lf)
	}
	slices.SortFunc(r.LostFiles, func(a, b *sluicepb.LostFile) int { return strings.Compare(a.GetPath(), b.GetPath()) })
	return r
}

// GetReport summarizes executors, capacity, the namespace and lost files.
func (s *metaServer) GetReport(_ context.Context, req *sluicepb.GetReportRequest) (*sluicepb.GetReportResponse, error) {
	if req.GetMaxLostFiles() < 0 {
		return nil, invalidf("max_lost_files %d", req.GetMaxLostFiles())
	}
	return s.m.report(req.GetIncludeLostExecutors(), int(req.GetMaxLostFiles())), nil
}

// ListExecutors lists the executors by ID, LOST ones with include_lost.
func (s *metaServer) ListExecutors(_ context.Context, req *sluicepb.ListExecutorsRequest) (*sluicepb.ListExecutorsResponse, error) {
	return &sluicepb.ListExecutorsResponse{Executors: s.m.blocks.list(req.GetIncludeLost())}, nil
}

// leaderFree lists the methods followers answer themselves.
var leaderFree = map[string]bool{
	sluicepb.MetaMaster_GetMasterInfo_FullMethodName: true,
}

// unaryInterceptor checks leadership (except for leaderFree methods), converts handler
// errors to statuses through the error table, counts calls, and turns a panic into
// codes.Internal (validation, not this, keeps bad input from panicking).
func (m *Master) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			m.log.Error("panic in RPC handler", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("panic: %v", r)
		}
		err = toStatus(err, m.leaderRPC)
		m.metrics.rpc(info.FullMethod, status.Code(err), time.Since(start))
	}()
	if !leaderFree[info.FullMethod] {
		if err := m.checkLeader(); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}
