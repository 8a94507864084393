package clienttest

import (
	"context"
	"path"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// fsServer is the fake FileSystemMaster.
type fsServer struct {
	sluicepb.UnimplementedFileSystemMasterServer
	c *Cluster
}

func (s *fsServer) GetStatus(_ context.Context, req *sluicepb.GetStatusRequest) (*sluicepb.GetStatusResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	in, err := c.lookup(req.GetPath(), req.GetLoadMetadata() != sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_NEVER)
	if err != nil {
		return nil, err
	}
	return &sluicepb.GetStatusResponse{File: c.view(in)}, nil
}

func (s *fsServer) ListStatus(_ context.Context, req *sluicepb.ListStatusRequest) (*sluicepb.ListStatusResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	load := req.GetLoadMetadata() != sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_NEVER
	in, err := c.lookup(req.GetPath(), load)
	if err != nil {
		return nil, err
	}
	if !in.info.IsDir {
		return &sluicepb.ListStatusResponse{Files: []*sluicepb.FileInfo{c.view(in)}}, nil
	}
	var list []*inode
	if req.GetRecursive() {
		if load {
			for _, d := range c.subtree(in.info.Path) {
				if d.info.IsDir {
					c.loadChildren(d.info.Path)
				}
			}
			// Loading may have added directories whose children are unknown yet.
			for _, d := range c.subtree(in.info.Path) {
				if d.info.IsDir {
					c.loadChildren(d.info.Path)
				}
			}
		}
		list = c.subtree(in.info.Path)[1:]
	} else {
		if load {
			c.loadChildren(in.info.Path)
		}
		list = c.children(in.info.Path)
	}
	resp := &sluicepb.ListStatusResponse{}
	for _, x := range list {
		resp.Files = append(resp.Files, c.view(x))
	}
	return resp, nil
}

func (s *fsServer) CreateFile(_ context.Context, req *sluicepb.CreateFileRequest) (*sluicepb.CreateFileResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	p := req.GetPath()
	if err := checkPath(p); err != nil {
		return nil, err
	}
	if p == "/" {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS, p, "/ exists")
	}
	if err := c.checkWritable(p); err != nil {
		return nil, err
	}
	if req.GetBlockSize() < 0 || req.GetTtlMs() < 0 {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, p, "negative block size or TTL")
	}
	if old, err := c.lookup(p, true); err == nil {
		switch {
		case old.info.IsDir:
			return nil, fail(sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS, p, "%s is a directory", p)
		case req.GetJobId() != "" && old.info.JobId == req.GetJobId() && old.info.State == sluicepb.FileState_FILE_STATE_INCOMPLETE:
			return &sluicepb.CreateFileResponse{File: c.view(old)}, nil
		case req.GetOverwrite() && old.info.State == sluicepb.FileState_FILE_STATE_COMPLETE:
			c.dropBlocks(old)
			c.removeInode(old)
		default:
			return nil, fail(sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS, p, "%s exists", p)
		}
	}
	if req.GetRecursive() {
		if _, err := c.mkdirs(path.Dir(p), 0o755, req.GetOwner(), req.GetGroup()); err != nil {
			return nil, err
		}
	} else if _, err := c.parentDir(p); err != nil {
		return nil, err
	}
	mode := req.GetMode()
	if mode == 0 {
		mode = 0o644
	}
	in := c.addInode(p, false, mode, req.GetOwner(), req.GetGroup())
	in.writeType = req.GetWriteType()
	if in.writeType == sluicepb.WriteType_WRITE_TYPE_UNSPECIFIED {
		in.writeType = sluicepb.WriteType_WRITE_TYPE_ASYNC_THROUGH
	}
	in.info.State = sluicepb.FileState_FILE_STATE_INCOMPLETE
	in.info.BlockSize = req.GetBlockSize()
	if in.info.BlockSize == 0 {
		in.info.BlockSize = c.opts.BlockSize
	}
	in.info.Pinned = in.info.Pinned || req.GetPinned()
	in.info.TtlMs, in.info.TtlAction = req.GetTtlMs(), req.GetTtlAction()
	in.info.JobId = req.GetJobId()
	resp := &sluicepb.CreateFileResponse{File: c.view(in)}
	if in.writeType == sluicepb.WriteType_WRITE_TYPE_THROUGH {
		resp.Ufs = c.ufsFile(p)
	}
	return resp, nil
}

func (s *fsServer) CompleteFile(_ context.Context, req *sluicepb.CompleteFileRequest) (*sluicepb.CompleteFileResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	p := req.GetPath()
	in, err := c.lookup(p, false)
	if err != nil {
		return nil, err
	}
	switch {
	case in.info.IsDir:
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_IS_A_DIRECTORY, p, "%s is a directory", p)
	case req.GetFileId() != 0 && req.GetFileId() != in.info.FileId:
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, p, "file %d is not at %s", req.GetFileId(), p)
	case in.info.State == sluicepb.FileState_FILE_STATE_COMPLETE:
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_FILE_COMPLETE, p, "%s is complete", p)
	case req.GetLength() < 0:
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, p, "negative length")
	}
	bs := in.info.BlockSize
	if req.GetUfsWritten() {
		data, ok := c.ufs[in.info.UfsPath]
		if !ok || int64(len(data)) != req.GetLength() {
			return nil, fail(sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH, p, "UFS file %s does not hold %d bytes", in.info.UfsPath, req.GetLength())
		}
		in.blocks = c.deriveBlocks(in.info.FileId, req.GetLength(), bs)
		in.info.PersistenceState = sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED
	} else {
		var total int64
		for i, b := range req.GetBlocks() {
			if b.GetBlockId() != sluicepb.NewBlockID(in.info.FileId, uint32(i)) {
				return nil, fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, p, "block %d out of order", b.GetBlockId())
			}
			w := c.written[b.GetBlockId()]
			if w == nil || w.GetLength() != b.GetLength() {
				return nil, fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, p, "block %d was not committed with %d bytes", b.GetBlockId(), b.GetLength())
			}
			if i < len(req.GetBlocks())-1 && b.GetLength() != bs || b.GetLength() > bs || b.GetLength() == 0 {
				return nil, fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, p, "block %d has %d bytes with block size %d", b.GetBlockId(), b.GetLength(), bs)
			}
			total += b.GetLength()
		}
		if total != req.GetLength() {
			return nil, fail(sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH, p, "blocks hold %d bytes, length is %d", total, req.GetLength())
		}
		in.blocks = nil
		for _, b := range req.GetBlocks() {
			in.blocks = append(in.blocks, c.written[b.GetBlockId()])
			delete(c.written, b.GetBlockId())
		}
		// Committed blocks that the file does not list are dropped.
		for id := range c.written {
			if sluicepb.BlockFileID(id) == in.info.FileId {
				c.dropBlock(id)
				delete(c.written, id)
			}
		}
		if in.writeType == sluicepb.WriteType_WRITE_TYPE_ASYNC_THROUGH {
			in.info.PersistenceState = sluicepb.PersistenceState_PERSISTENCE_STATE_TO_BE_PERSISTED
		}
	}
	in.info.State = sluicepb.FileState_FILE_STATE_COMPLETE
	in.info.Length = req.GetLength()
	in.info.BlockIds = blockIDs(in.blocks)
	in.info.ContentCrc32C = req.ContentCrc32C
	in.info.ModificationTimeMs = nowMs()
	return &sluicepb.CompleteFileResponse{File: c.view(in)}, nil
}

func (s *fsServer) CreateDirectory(_ context.Context, req *sluicepb.CreateDirectoryRequest) (*sluicepb.CreateDirectoryResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	p := req.GetPath()
	if err := checkPath(p); err != nil {
		return nil, err
	}
	if old, err := c.lookup(p, true); err == nil {
		if old.info.IsDir && req.GetAllowExists() {
			return &sluicepb.CreateDirectoryResponse{File: c.view(old)}, nil
		}
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS, p, "%s exists", p)
	}
	if err := c.checkWritable(p); err != nil {
		return nil, err
	}
	mode := req.GetMode()
	if mode == 0 {
		mode = 0o755
	}
	var in *inode
	var err error
	if req.GetRecursive() {
		in, err = c.mkdirs(p, mode, req.GetOwner(), req.GetGroup())
	} else if _, err = c.parentDir(p); err == nil {
		in = c.addInode(p, true, mode, req.GetOwner(), req.GetGroup())
	}
	if err != nil {
		return nil, err
	}
	return &sluicepb.CreateDirectoryResponse{File: c.view(in)}, nil
}

func (s *fsServer) Delete(_ context.Context, req *sluicepb.DeleteRequest) (*sluicepb.DeleteResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	p := req.GetPath()
	in, err := c.lookup(p, true)
	if err != nil {
		return nil, err
	}
	if in.info.MountPoint {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_IS_MOUNT_POINT, p, "%s is a mount point", p)
	}
	if err := c.checkWritable(p); err != nil && !req.GetSluiceOnly() {
		return nil, err
	}
	if in.info.IsDir && len(c.children(p)) > 0 && !req.GetRecursive() {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_DIRECTORY_NOT_EMPTY, p, "%s is not empty", p)
	}
	sub := c.subtree(p)
	for _, x := range sub {
		if x.info.MountPoint {
			return nil, fail(sluicepb.ErrorReason_ERROR_REASON_IS_MOUNT_POINT, x.info.Path, "%s holds the mount point %s", p, x.info.Path)
		}
	}
	for _, x := range sub {
		c.dropBlocks(x)
		c.removeInode(x)
		if !req.GetSluiceOnly() {
			delete(c.ufs, x.info.UfsPath)
		}
	}
	return &sluicepb.DeleteResponse{DeletedCount: int64(len(sub))}, nil
}

func (s *fsServer) Rename(_ context.Context, req *sluicepb.RenameRequest) (*sluicepb.RenameResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	src, dst := req.GetSrc(), req.GetDst()
	if err := checkPath(dst); err != nil {
		return nil, err
	}
	in, err := c.lookup(src, true)
	if err != nil {
		return nil, err
	}
	switch {
	case in.info.MountPoint:
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_IS_MOUNT_POINT, src, "%s is a mount point", src)
	case strings.HasPrefix(dst, src+"/"):
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, dst, "cannot move %s below itself", src)
	case c.mountFor(src) != c.mountFor(path.Dir(dst)):
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, dst, "cannot rename across mounts")
	}
	if _, err := c.lookup(dst, true); err == nil {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS, dst, "%s exists", dst)
	}
	if err := c.checkWritable(src); err != nil {
		return nil, err
	}
	parent, err := c.parentDir(dst)
	if err != nil {
		return nil, err
	}
	for _, x := range c.subtree(src) {
		old := x.info.Path
		delete(c.inodes, old)
		x.info.Path = dst + strings.TrimPrefix(old, src)
		x.info.Name = path.Base(x.info.Path)
		newURI := c.ufsURI(x.info.Path)
		if data, ok := c.ufs[x.info.UfsPath]; ok {
			delete(c.ufs, x.info.UfsPath)
			c.ufs[newURI] = data
		}
		x.info.UfsPath = newURI
		c.inodes[x.info.Path] = x
	}
	in.info.ParentId = parent.info.FileId
	in.info.ModificationTimeMs = nowMs()
	return &sluicepb.RenameResponse{File: c.view(in)}, nil
}

func (s *fsServer) Mount(_ context.Context, req *sluicepb.MountRequest) (*sluicepb.MountResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	p, uri := req.GetPath(), req.GetUfsUri()
	if err := checkPath(p); err != nil {
		return nil, err
	}
	if _, err := c.lookup(p, false); err == nil {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS, p, "%s exists", p)
	}
	if !knownSchemes[scheme(uri)] {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_UNKNOWN_SCHEME, p, "no UFS for %q", uri)
	}
	norm := strings.TrimSuffix(uri, "/")
	for _, m := range c.mounts {
		o := strings.TrimSuffix(m.info.UfsUri, "/")
		if norm == o || strings.HasPrefix(norm, o+"/") || strings.HasPrefix(o, norm+"/") {
			return nil, fail(sluicepb.ErrorReason_ERROR_REASON_MOUNT_CONFLICT, p, "%s overlaps the mount of %s at %s", uri, m.info.UfsUri, m.info.Path)
		}
	}
	if _, err := c.parentDir(p); err != nil {
		return nil, err
	}
	c.nextMount++
	m := &mount{info: &sluicepb.MountPointInfo{
		MountId: c.nextMount, Path: p, UfsUri: uri, UfsType: scheme(uri),
		ReadOnly: req.GetReadOnly(), Shared: req.GetShared(), Options: req.GetOptions(),
	}}
	c.mounts = append(c.mounts, m)
	in := c.addInode(p, true, 0o755, "", "")
	in.info.MountPoint = true
	in.info.PersistenceState = sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED
	return &sluicepb.MountResponse{Mount: proto.Clone(m.info).(*sluicepb.MountPointInfo)}, nil
}

func (s *fsServer) Unmount(_ context.Context, req *sluicepb.UnmountRequest) (*sluicepb.UnmountResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	p := req.GetPath()
	idx := -1
	for i, m := range c.mounts {
		if m.info.Path == p && p != "/" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_A_MOUNT_POINT, p, "%s is not a mount point", p)
	}
	for _, x := range c.subtree(p) {
		c.dropBlocks(x)
		c.removeInode(x)
	}
	c.mounts = append(c.mounts[:idx], c.mounts[idx+1:]...)
	return &sluicepb.UnmountResponse{}, nil
}

func (s *fsServer) GetMountTable(_ context.Context, req *sluicepb.GetMountTableRequest) (*sluicepb.GetMountTableResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := &sluicepb.GetMountTableResponse{}
	for _, m := range c.mounts {
		mi := proto.Clone(m.info).(*sluicepb.MountPointInfo)
		if !req.GetIncludeOptions() {
			mi.Options = nil
		}
		resp.Mounts = append(resp.Mounts, mi)
	}
	sort.Slice(resp.Mounts, func(i, j int) bool { return resp.Mounts[i].GetPath() < resp.Mounts[j].GetPath() })
	return resp, nil
}

func (s *fsServer) SetAttribute(_ context.Context, req *sluicepb.SetAttributeRequest) (*sluicepb.SetAttributeResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	in, err := c.lookup(req.GetPath(), true)
	if err != nil {
		return nil, err
	}
	if req.Mode != nil && req.GetMode() > 0o7777 {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, req.GetPath(), "mode %o", req.GetMode())
	}
	if req.TtlMs != nil && req.GetTtlMs() < 0 {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, req.GetPath(), "negative TTL")
	}
	targets := []*inode{in}
	if req.GetRecursive() {
		targets = c.subtree(in.info.Path)
	}
	for _, x := range targets {
		fi := x.info
		if req.Pinned != nil {
			fi.Pinned = req.GetPinned()
		}
		if req.TtlMs != nil {
			fi.TtlMs = req.GetTtlMs()
		}
		if req.TtlAction != nil {
			fi.TtlAction = req.GetTtlAction()
		}
		if req.Mode != nil {
			fi.Mode = req.GetMode()
		}
		if req.Owner != nil {
			fi.Owner = req.GetOwner()
		}
		if req.Group != nil {
			fi.Group = req.GetGroup()
		}
	}
	return &sluicepb.SetAttributeResponse{File: c.view(in)}, nil
}

func (s *fsServer) Free(_ context.Context, req *sluicepb.FreeRequest) (*sluicepb.FreeResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	in, err := c.lookup(req.GetPath(), true)
	if err != nil {
		return nil, err
	}
	targets := c.targets(in, req.GetRecursive())
	var files []*inode
	for _, x := range targets {
		if x.info.IsDir {
			continue
		}
		if x.info.PersistenceState != sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED {
			return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_PERSISTED, x.info.Path, "%s is not persisted", x.info.Path)
		}
		if x.info.Pinned && !req.GetForced() {
			continue
		}
		files = append(files, x)
	}
	resp := &sluicepb.FreeResponse{}
	for _, x := range files {
		x.info.Pinned = false
		resp.FreedBlocks += c.dropBlocks(x)
		resp.FreedFiles++
	}
	return resp, nil
}

func (s *fsServer) Persist(_ context.Context, req *sluicepb.PersistRequest) (*sluicepb.PersistResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	in, err := c.lookup(req.GetPath(), true)
	if err != nil {
		return nil, err
	}
	targets := c.targets(in, req.GetRecursive())
	resp := &sluicepb.PersistResponse{}
	for _, x := range targets {
		if x.info.IsDir {
			continue
		}
		if x.info.State != sluicepb.FileState_FILE_STATE_COMPLETE {
			return nil, fail(sluicepb.ErrorReason_ERROR_REASON_FILE_INCOMPLETE, x.info.Path, "%s is incomplete", x.info.Path)
		}
		if x.info.PersistenceState == sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED {
			resp.AlreadyPersisted++
			continue
		}
		if err := c.checkWritable(x.info.Path); err != nil {
			return nil, err
		}
		// The fake persists at once, which satisfies both wait and no wait.
		if err := c.persist(x); err != nil {
			return nil, err
		}
		resp.ScheduledPaths = append(resp.ScheduledPaths, x.info.Path)
	}
	return resp, nil
}

func (s *fsServer) GetBlockLocations(_ context.Context, req *sluicepb.GetBlockLocationsRequest) (*sluicepb.GetBlockLocationsResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	p := req.GetPath()
	in, err := c.lookup(p, true)
	if err != nil {
		return nil, err
	}
	if in.info.IsDir {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_IS_A_DIRECTORY, p, "%s is a directory", p)
	}
	if in.info.PersistenceState == sluicepb.PersistenceState_PERSISTENCE_STATE_LOST && req.GetWaitForRecompute() {
		return nil, withDetailLost(in)
	}
	in.info.LastAccessTimeMs = nowMs()
	resp := &sluicepb.GetBlockLocationsResponse{File: c.view(in)}
	var off int64
	for _, b := range in.blocks {
		end := off + b.GetLength()
		if end > req.GetOffset() && (req.GetLength() == 0 || off < req.GetOffset()+req.GetLength()) {
			fb := &sluicepb.FileBlockInfo{Block: proto.Clone(b).(*sluicepb.BlockInfo), Offset: off}
			for _, execID := range sortedIDs(c.liveLocations(b.GetBlockId())) {
				e := c.executorByID(execID)
				fb.Locations = append(fb.Locations, &sluicepb.BlockLocation{
					ExecutorId: execID, RpcAddress: e.addr, Host: e.host, Tier: "MEM",
				})
			}
			if in.info.PersistenceState == sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED {
				fb.Ufs = &sluicepb.UfsBlockSource{
					File: c.ufsFile(in.info.Path), OffsetInFile: off, Length: b.GetLength(), FileLength: in.info.Length,
				}
			}
			resp.Blocks = append(resp.Blocks, fb)
		}
		off = end
	}
	return resp, nil
}

func sortedIDs(m map[uint64]bool) []uint64 {
	out := make([]uint64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// targets returns what a Free or Persist of in covers: the file itself, a directory's
// children, or with recursive its whole subtree.
func (c *Cluster) targets(in *inode, recursive bool) []*inode {
	switch {
	case !in.info.IsDir:
		return []*inode{in}
	case recursive:
		return c.subtree(in.info.Path)
	default:
		return c.children(in.info.Path)
	}
}
