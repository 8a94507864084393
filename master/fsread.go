package master

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
)

func checkLoadType(t sluicepb.LoadMetadataType) (sluicepb.LoadMetadataType, error) {
	if _, ok := sluicepb.LoadMetadataType_name[int32(t)]; !ok {
		return 0, invalidf("load metadata type %d", t)
	}
	if t == sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_UNSPECIFIED {
		t = sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ONCE
	}
	return t, nil
}

// loadFor validates a read request's path and load type and loads the path's UFS
// metadata accordingly (with listTarget, a directory's children too).
func (m *Master) loadFor(ctx context.Context, path string, t sluicepb.LoadMetadataType, listTarget bool) (string, sluicepb.LoadMetadataType, error) {
	p, err := cleanPath(path)
	if err != nil {
		return "", 0, err
	}
	lt, err := checkLoadType(t)
	if err != nil {
		return "", 0, err
	}
	if err := m.loader.ensure(ctx, p, lt, listTarget); err != nil {
		return "", 0, withPath(err, p)
	}
	return p, lt, nil
}

// GetStatus returns one path's metadata, loading it from the UFS per load_metadata.
func (s *fsServer) GetStatus(ctx context.Context, req *sluicepb.GetStatusRequest) (*sluicepb.GetStatusResponse, error) {
	m := s.m
	p, _, err := m.loadFor(ctx, req.GetPath(), req.GetLoadMetadata(), false)
	if err != nil {
		return nil, err
	}
	v := m.st.View()
	in, err := v.Get(p)
	if err != nil {
		return nil, withPath(err, p)
	}
	return &sluicepb.GetStatusResponse{File: m.fileInfo(v, in)}, nil
}

// ListStatus lists a directory (its subtree with recursive; a file lists itself), sorted
// by path, loading UFS metadata per load_metadata.
func (s *fsServer) ListStatus(ctx context.Context, req *sluicepb.ListStatusRequest) (*sluicepb.ListStatusResponse, error) {
	m := s.m
	p, lt, err := m.loadFor(ctx, req.GetPath(), req.GetLoadMetadata(), true)
	if err != nil {
		return nil, err
	}
	if req.GetRecursive() {
		if err := m.loader.ensureTree(ctx, p, lt); err != nil {
			return nil, withPath(err, p)
		}
	}
	v := m.st.View()
	in, err := v.Get(p)
	if err != nil {
		return nil, withPath(err, p)
	}
	var out []*sluicepb.FileInfo
	switch {
	case !in.Directory:
		out = append(out, m.fileInfo(v, in))
	case req.GetRecursive():
		err = v.Walk(p, func(c state.Inode) error {
			if c.ID != in.ID {
				out = append(out, m.fileInfo(v, c))
			}
			return nil
		})
	default:
		var children []state.Inode
		children, err = v.List(p)
		for _, c := range children {
			out = append(out, m.fileInfo(v, c))
		}
	}
	if err != nil {
		return nil, withPath(err, p)
	}
	slices.SortFunc(out, func(a, b *sluicepb.FileInfo) int { return strings.Compare(a.GetPath(), b.GetPath()) })
	return &sluicepb.ListStatusResponse{Files: out}, nil
}

// GetBlockLocations returns a complete file's blocks in a range with their live copies
// (fastest tier first) and, for PERSISTED files, their UFS source. A LOST file is answered
// at once unless wait_for_recompute asks to wait for its recompute.
func (s *fsServer) GetBlockLocations(ctx context.Context, req *sluicepb.GetBlockLocationsRequest) (*sluicepb.GetBlockLocationsResponse, error) {
	m := s.m
	p, err := cleanPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	if req.GetOffset() < 0 || req.GetLength() < 0 {
		return nil, invalidf("offset %d and length %d must not be negative", req.GetOffset(), req.GetLength())
	}
	if err := m.loader.ensure(ctx, p, sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ONCE, false); err != nil {
		return nil, withPath(err, p)
	}
	for {
		ch := m.changed()
		v := m.st.View()
		in, err := v.Get(p)
		if err != nil {
			return nil, withPath(err, p)
		}
		switch {
		case in.Directory:
			return nil, withPath(fmt.Errorf("%s: %w", p, state.ErrIsDirectory), p)
		case !in.Complete && in.PersistenceState != state.Lost:
			// A LOST incomplete file is an output reset for its recompute (recompute.go).
			return nil, withPath(fmt.Errorf("%s: %w", p, state.ErrFileIncomplete), p)
		}
		if in.PersistenceState == state.Lost && req.GetWaitForRecompute() {
			if err := m.waitRecompute(ctx, in, ch); err != nil {
				return nil, err
			}
			continue
		}
		m.touchAccess(in.ID)
		return &sluicepb.GetBlockLocationsResponse{File: m.fileInfo(v, in),
			Blocks: m.fileBlocks(v, in, req.GetOffset(), req.GetLength())}, nil
	}
}

// fileBlocks lists the blocks of a complete file that overlap [off, off+length) (to the
// end when length is 0), with their copies and, for persisted files, their UFS source.
func (m *Master) fileBlocks(v *state.View, in state.Inode, off, length int64) []*sluicepb.FileBlockInfo {
	var src *sluicepb.UfsFile
	if in.PersistenceState == state.Persisted {
		if r, err := v.Resolve(in.Path); err == nil {
			src = ufsFile(r)
		}
	}
	end := in.Length
	if length > 0 {
		end = min(end, off+length)
	}
	var out []*sluicepb.FileBlockInfo
	for i, id := range in.BlockIDs() {
		start := int64(i) * in.BlockSize
		bl := blockLen(in, i)
		if start+bl <= off || start >= end {
			continue
		}
		fb := &sluicepb.FileBlockInfo{Block: &sluicepb.BlockInfo{BlockId: id, Length: bl}, Offset: start,
			Locations: m.blockLocations(id)}
		if l, crc, ok := m.blocks.committed(id); ok && l == bl {
			fb.Block.Crc32C = &crc
		}
		if src != nil {
			fb.Ufs = &sluicepb.UfsBlockSource{File: src, OffsetInFile: start, Length: bl, FileLength: in.Length}
		}
		out = append(out, fb)
	}
	return out
}

// blockLocations returns the wire locations of a block's copies, fastest tier first.
func (m *Master) blockLocations(id uint64) []*sluicepb.BlockLocation {
	var out []*sluicepb.BlockLocation
	for _, l := range m.blocks.locations(id) {
		info, ok := m.blocks.executorInfo(l.executorID)
		if !ok || info.GetState() != sluicepb.ExecutorState_EXECUTOR_STATE_LIVE {
			continue
		}
		out = append(out, &sluicepb.BlockLocation{ExecutorId: l.executorID, RpcAddress: info.GetRpcAddress(),
			Host: info.GetHost(), Tier: l.tier, DataAddress: info.GetDataAddress()})
	}
	return out
}
