package master

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/lineage"
	"github.com/sluicedata/sluice/master/state"
)

// defaultStatusFiles is GetCheckpointStatus's bound on per-file rows when none is asked.
const defaultStatusFiles = 1000

// GetCheckpointStatus reports the checkpoint state of a subtree: per un-checkpointed
// complete file its state, size, wait and producing job (oldest first); totals; and the
// recompute exposure, the jobs that would rerun if every executor died now (complete
// files of the subtree without a UFS copy lost, with the ancestors their rebuild needs),
// from lineage.Graph.Exposure.
func (s *jobServer) GetCheckpointStatus(_ context.Context, req *sluicepb.GetCheckpointStatusRequest) (*sluicepb.GetCheckpointStatusResponse, error) {
	m := s.m
	root := cmp.Or(req.GetPath(), "/")
	root, err := cleanPath(root)
	if err != nil {
		return nil, err
	}
	if req.GetMaxFiles() < 0 {
		return nil, invalidf("max_files %d is negative", req.GetMaxFiles())
	}
	limit := int(req.GetMaxFiles())
	if limit == 0 {
		limit = defaultStatusFiles
	}
	now := time.Now()
	v := m.st.View()
	resp := &sluicepb.GetCheckpointStatusResponse{Totals: &sluicepb.CheckpointTotals{}}
	tot := resp.Totals
	var rows []*sluicepb.CheckpointFileStatus
	err = v.Walk(root, func(in state.Inode) error {
		if in.Directory || !in.Complete {
			return nil
		}
		switch in.PersistenceState {
		case state.Persisted:
			tot.PersistedFiles++
			return nil
		case state.Lost:
			tot.LostFiles++
			return nil
		}
		row := &sluicepb.CheckpointFileStatus{Path: in.Path, FileId: in.ID,
			PersistenceState: persistenceToWire(in.PersistenceState), Length: in.Length, BytesWaiting: in.Length,
			WaitingMs: max(now.UnixMilli()-in.ModificationTimeMs, 0)}
		if in.JobID != 0 {
			row.JobId = strconv.FormatUint(in.JobID, 10)
			if j, ok := v.Job(in.JobID); ok {
				row.Priority = int32(j.Priority)
			}
		}
		if it, ok := m.persist.current(in.ID); ok && it.inflight {
			row.InProgress = true
			tot.InProgress++
		}
		tot.FilesWaiting++
		tot.BytesWaiting += in.Length
		tot.OldestWaitingMs = max(tot.OldestWaitingMs, row.WaitingMs)
		rows = append(rows, row)
		return nil
	})
	if err != nil && !errors.Is(err, fs.SkipAll) {
		return nil, withPath(err, root)
	}
	slices.SortStableFunc(rows, func(a, b *sluicepb.CheckpointFileStatus) int {
		return cmp.Or(cmp.Compare(b.WaitingMs, a.WaitingMs), cmp.Compare(a.Path, b.Path))
	})
	if len(rows) > limit {
		rows, resp.FilesTruncated = rows[:limit], true
	}
	resp.Files = rows
	tot.ThroughputBytesPerSec = m.checkpointThroughput() // checkpoint.go
	resp.Exposure, resp.ExposureRunTimeMs = m.exposure(root)
	return resp, nil
}

// exposure lists the jobs a loss of every complete, un-persisted file under root would
// rerun, in recompute order, with the sum of their run times.
func (m *Master) exposure(root string) ([]*sluicepb.RecomputeExposure, int64) {
	var costs []lineage.JobCost
	m.st.Lineage(func(v *state.View, g *lineage.Graph) {
		costs = g.Exposure(func(p string) bool {
			if !under(p, root) {
				return false
			}
			in, err := v.Get(p)
			return err == nil && in.IsFile() && in.Complete && in.PersistenceState != state.Persisted
		})
	})
	out := make([]*sluicepb.RecomputeExposure, 0, len(costs))
	for _, c := range costs {
		out = append(out, &sluicepb.RecomputeExposure{JobId: strconv.FormatUint(c.ID, 10), Name: c.Name,
			RunTimeMs: c.RunTime.Milliseconds(), UnpersistedOutputs: c.Lost, Depth: int32(c.Depth)})
	}
	return out, lineage.TotalRunTime(costs).Milliseconds()
}

// under reports whether clean path p is dir or lies below it.
func under(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir) && p[len(dir)] == '/'
}
