package clienttest

import (
	"context"

	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// metaServer is the fake MetaMaster of master self.
type metaServer struct {
	sluicepb.UnimplementedMetaMasterServer
	c    *Cluster
	self int
}

// masterInfo describes master self; c.mu must be held.
func (c *Cluster) masterInfo(self int) *sluicepb.GetMasterInfoResponse {
	info := &sluicepb.GetMasterInfoResponse{
		RpcAddress: c.masters[self].addr,
		IsLeader:   c.leader == self,
		Version:    "clienttest",
		ClusterId:  "clienttest",
		RaftState:  "Follower",
	}
	if c.leader >= 0 {
		info.LeaderAddress = c.masters[c.leader].addr
	}
	if info.IsLeader {
		info.RaftState = "Leader"
	}
	for i, m := range c.masters {
		info.Peers = append(info.Peers, &sluicepb.RaftPeer{
			Id: m.addr, RpcAddress: m.addr, Voter: true, Leader: i == c.leader,
		})
	}
	return info
}

func (s *metaServer) GetMasterInfo(context.Context, *sluicepb.GetMasterInfoRequest) (*sluicepb.GetMasterInfoResponse, error) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.c.masterInfo(s.self), nil
}

func (s *metaServer) ListExecutors(_ context.Context, req *sluicepb.ListExecutorsRequest) (*sluicepb.ListExecutorsResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return &sluicepb.ListExecutorsResponse{Executors: c.executorInfos(req.GetIncludeLost())}, nil
}

func (s *metaServer) GetReport(_ context.Context, req *sluicepb.GetReportRequest) (*sluicepb.GetReportResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := &sluicepb.GetReportResponse{
		Executors:   c.executorInfos(req.GetIncludeLostExecutors()),
		Persistence: &sluicepb.PersistenceCounts{},
		Master:      c.masterInfo(s.self),
	}
	mem := &sluicepb.TierUsage{Alias: "MEM"}
	for _, e := range c.executorInfos(true) {
		if e.GetState() == sluicepb.ExecutorState_EXECUTOR_STATE_LOST {
			resp.LostExecutors++
			continue
		}
		resp.LiveExecutors++
		resp.CapacityBytes += e.GetCapacityBytes()
		resp.UsedBytes += e.GetUsedBytes()
		mem.CapacityBytes += e.GetCapacityBytes()
		mem.UsedBytes += e.GetUsedBytes()
		mem.BlockCount += e.GetBlockCount()
	}
	resp.Tiers = []*sluicepb.TierUsage{mem}
	for id := range c.blockLocs {
		if len(c.liveLocations(id)) > 0 {
			resp.BlockCount++
		}
	}
	maxLost := int(req.GetMaxLostFiles())
	if maxLost <= 0 {
		maxLost = 1000
	}
	for _, in := range c.subtree("/") {
		if in.info.IsDir {
			resp.DirectoryCount++
			continue
		}
		resp.FileCount++
		pc := resp.Persistence
		switch in.info.PersistenceState {
		case sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED:
			pc.NotPersisted++
		case sluicepb.PersistenceState_PERSISTENCE_STATE_TO_BE_PERSISTED:
			pc.ToBePersisted++
		case sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED:
			pc.Persisted++
		case sluicepb.PersistenceState_PERSISTENCE_STATE_LOST:
			pc.Lost++
			if len(resp.LostFiles) == maxLost {
				resp.LostFilesTruncated = true
				continue
			}
			resp.LostFiles = append(resp.LostFiles, &sluicepb.LostFile{
				Path: in.info.Path, FileId: in.info.FileId, JobId: in.info.JobId, Length: in.info.Length,
			})
		}
	}
	return resp, nil
}

// withDetailLost is the FILE_LOST error of a LOST file, naming its job.
func withDetailLost(in *inode) error {
	return withDetail(codes.FailedPrecondition, &sluicepb.ErrorDetail{
		Reason: sluicepb.ErrorReason_ERROR_REASON_FILE_LOST, Path: in.info.Path, JobId: in.info.JobId,
	}, "%s is lost and was not recomputed", in.info.Path)
}
