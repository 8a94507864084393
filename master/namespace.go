package master

import (
	"context"
	"fmt"
	"path"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
)

// fsServer serves FileSystemMaster. Every handler validates its request, returns plain
// errors (the interceptor maps them with toStatus) and journals changes through
// Master.apply.
type fsServer struct {
	sluicepb.UnimplementedFileSystemMasterServer
	m *Master
}

func checkMode(mode uint32) error {
	if mode > 0o7777 {
		return invalidf("mode %o has bits beyond 07777", mode)
	}
	return nil
}

func (m *Master) owner(o string) string {
	if o == "" {
		return m.cfg.DefaultOwner
	}
	return o
}

func (m *Master) group(g string) string {
	if g == "" {
		return m.cfg.DefaultGroup
	}
	return g
}

// CreateFile creates an INCOMPLETE file after loading its parent's UFS metadata. An
// existing path fails with ALREADY_EXISTS unless overwrite replaces a COMPLETE file or a
// job claims its own INCOMPLETE placeholder. THROUGH answers with the UFS target.
func (s *fsServer) CreateFile(ctx context.Context, req *sluicepb.CreateFileRequest) (*sluicepb.CreateFileResponse, error) {
	m := s.m
	p, err := cleanPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	if p == "/" {
		return nil, withPath(fmt.Errorf("/ is a directory: %w", state.ErrIsDirectory), p)
	}
	wt := req.GetWriteType()
	if _, ok := sluicepb.WriteType_name[int32(wt)]; !ok {
		return nil, invalidf("write type %d", wt)
	}

	bs := req.GetBlockSize()
	if bs == 0 {
		bs = m.cfg.DefaultBlockSize
	}
	if bs < 0 || bs > MaxBlockSize {
		return nil, invalidf("block size %d out of (0, %d]", bs, int64(MaxBlockSize))
	}
	if req.GetTtlMs() < 0 {
		return nil, invalidf("TTL %d ms is negative", req.GetTtlMs())
	}
	action, err := ttlToJournal(req.GetTtlAction())
	if err != nil {
		return nil, err
	}
	if err := checkMode(req.GetMode()); err != nil {
		return nil, err
	}
	jobID, err := parseJobID(req.GetJobId())
	if err != nil {
		return nil, err
	}
	switch {
	case wt != sluicepb.WriteType_WRITE_TYPE_UNSPECIFIED:
	case jobID != 0:
		// Lineage job outputs are MUST_CACHE: lineage protects them and the checkpoint
		// planner, not the write, decides when they reach the UFS.
		wt = sluicepb.WriteType_WRITE_TYPE_MUST_CACHE
	default:
		wt = sluicepb.WriteType_WRITE_TYPE_ASYNC_THROUGH
	}
	if err := m.loader.ensure(ctx, path.Dir(p), sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ONCE, true); err != nil {
		return nil, withPath(err, p)
	}
	v := m.st.View()
	if old, err := v.Get(p); err == nil {
		switch {
		case jobID != 0 && old.IsFile() && !old.Complete && old.JobID == jobID:
			// The job claims the placeholder SubmitJob created for it.
			m.rememberWriteType(old.ID, wt)
			return m.createResponse(v, old, wt), nil
		case !req.GetOverwrite():
			return nil, withPath(fmt.Errorf("%s: %w", p, state.ErrExists), p)
		case old.Directory:
			return nil, withPath(fmt.Errorf("overwrite %s: %w", p, state.ErrIsDirectory), p)
		case !old.Complete:
			return nil, withPath(fmt.Errorf("overwrite %s while it is written: %w", p, state.ErrExists), p)
		}
		if _, err := m.deletePath(ctx, p, false, false); err != nil {
			return nil, withPath(err, p)
		}
	}
	mode := req.GetMode()
	if mode == 0 {
		mode = 0o644
	}
	// A pinned directory pins the files created in it.
	pinned := req.GetPinned()
	if parent, err := m.st.View().Get(path.Dir(p)); err == nil && parent.Pinned {
		pinned = true
	}
	ids, err := m.reserveFor(p)
	if err != nil {
		return nil, err
	}
	res, err := m.apply(ctx, state.EntryCreateFile, &sluicepb.CreateFileEntry{
		Path: p, Ids: ids, Recursive: req.GetRecursive(), BlockSize: bs,
		Owner: m.owner(req.GetOwner()), Group: m.group(req.GetGroup()), Mode: mode, DirMode: 0o755,
		TimeMs: nowMs(), Pinned: pinned, TtlMs: req.GetTtlMs(), TtlAction: action, JobId: jobID,
	})
	if err != nil {
		return nil, withPath(err, p)
	}
	m.rememberWriteType(res.Inode.ID, wt)
	return m.createResponse(m.st.View(), res.Inode, wt), nil
}

func (m *Master) createResponse(v *state.View, in state.Inode, wt sluicepb.WriteType) *sluicepb.CreateFileResponse {
	resp := &sluicepb.CreateFileResponse{File: m.fileInfo(v, in)}
	if wt == sluicepb.WriteType_WRITE_TYPE_THROUGH {
		if r, err := v.Resolve(in.Path); err == nil {
			resp.Ufs = ufsFile(r)
		}
	}
	return resp
}

// reserveFor reserves the inode IDs of a recursive create of p.
func (m *Master) reserveFor(p string) (*sluicepb.JournalIdRange, error) {
	alloc, err := m.allocator()
	if err != nil {
		return nil, err
	}
	return alloc.ReserveForPath(p)
}

func (m *Master) rememberWriteType(id uint64, wt sluicepb.WriteType) {
	m.writeTypesMu.Lock()
	defer m.writeTypesMu.Unlock()
	m.writeTypes[id] = wt
}

// takeWriteType returns and forgets the write type of a file being completed. A file
// whose create this leader did not see (a restart or failover in between) counts as
// ASYNC_THROUGH, the default, unless a lineage job produces it (job outputs are
// MUST_CACHE): persisting too much is safer than too little.
func (m *Master) takeWriteType(in state.Inode) sluicepb.WriteType {
	m.writeTypesMu.Lock()
	defer m.writeTypesMu.Unlock()
	wt, ok := m.writeTypes[in.ID]
	delete(m.writeTypes, in.ID)
	switch {
	case ok:
		return wt
	case in.JobID != 0:
		return sluicepb.WriteType_WRITE_TYPE_MUST_CACHE
	}
	return sluicepb.WriteType_WRITE_TYPE_ASYNC_THROUGH
}

// CompleteFile seals a file after checking its blocks against the executors' commits;
// ASYNC_THROUGH files are then scheduled for a checkpoint (TO_BE_PERSISTED).
func (s *fsServer) CompleteFile(ctx context.Context, req *sluicepb.CompleteFileRequest) (*sluicepb.CompleteFileResponse, error) {
	m := s.m
	p, err := cleanPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	if req.GetLength() < 0 {
		return nil, invalidf("length %d is negative", req.GetLength())
	}
	v := m.st.View()
	in, err := v.Get(p)
	if err != nil {
		return nil, withPath(err, p)
	}
	switch {
	case in.Directory:
		return nil, withPath(fmt.Errorf("%s: %w", p, state.ErrIsDirectory), p)
	case req.GetFileId() != 0 && req.GetFileId() != in.ID:
		return nil, withPath(fmt.Errorf("%s is file %d, not %d: %w", p, in.ID, req.GetFileId(), state.ErrNotFound), p)
	case in.Complete:
		return nil, withPath(fmt.Errorf("%s: %w", p, state.ErrFileComplete), p)
	case req.GetLength() > in.BlockSize*state.MaxBlocksPerFile:
		return nil, invalidf("length %d needs more than %d blocks of %d bytes", req.GetLength(), state.MaxBlocksPerFile, in.BlockSize)
	}
	if err := m.checkCompleteBlocks(in, req); err != nil {
		return nil, withPath(err, p)
	}
	e := &sluicepb.CompleteFileEntry{Id: in.ID, Length: req.GetLength(), TimeMs: nowMs(),
		Checksum: checksum(req.ContentCrc32C)}
	if req.GetUfsWritten() {
		r, err := v.Resolve(p)
		if err != nil {
			return nil, withPath(err, p)
		}
		// The UFS copy must be there, whole, before the file counts as PERSISTED.
		f, err := m.fsOf(ctx, r)
		if err != nil {
			return nil, withPath(err, p)
		}
		fi, err := f.Stat(ctx, r.UFSPath)
		if err != nil {
			return nil, withPath(ufsErr("stat", r.UFSPath, err), p)
		}
		if fi.IsDir || fi.Size != req.GetLength() {
			return nil, withPath(fmt.Errorf("UFS copy %s has %d bytes, completed as %d: %w", r.UFSPath, fi.Size, req.GetLength(), ErrLengthMismatch), p)
		}
		e.Persisted, e.UfsPath = true, r.UFSPath
		e.UfsFingerprint = fmt.Sprintf("size:%d,mtime:%d", fi.Size, fi.ModTime.UnixMilli())
	}
	res, err := m.apply(ctx, state.EntryCompleteFile, e)
	if err != nil {
		return nil, withPath(err, p)
	}
	wt := m.takeWriteType(res.Inode)
	if !req.GetUfsWritten() && wt == sluicepb.WriteType_WRITE_TYPE_ASYNC_THROUGH {
		if err := m.schedulePersist(ctx, res.Inode); err != nil {
			m.log.Warn("cannot schedule checkpoint", "path", p, "err", err)
		}
	}
	v = m.st.View()
	if cur, err := v.GetByID(res.Inode.ID); err == nil {
		res.Inode = cur
	}
	return &sluicepb.CompleteFileResponse{File: m.fileInfo(v, res.Inode)}, nil
}

// checkCompleteBlocks checks a CompleteFile request's blocks against the file's block
// size and what executors committed: block i must be NewBlockID(file, i), have the
// expected length, and have been committed with that length (and checksum).
func (m *Master) checkCompleteBlocks(in state.Inode, req *sluicepb.CompleteFileRequest) error {
	n := (req.GetLength() + in.BlockSize - 1) / in.BlockSize
	blocks := req.GetBlocks()
	if len(blocks) == 0 && (req.GetUfsWritten() || n == 0) {
		return nil
	}
	if int64(len(blocks)) != n {
		return invalidf("length %d with block size %d needs %d blocks, got %d", req.GetLength(), in.BlockSize, n, len(blocks))
	}
	for i, b := range blocks {
		want, err := sluicepb.MakeBlockID(in.ID, uint32(i))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
		}
		if b.GetBlockId() != want {
			return invalidf("block %d is %d, want %d", i, b.GetBlockId(), want)
		}
		wantLen := min(in.BlockSize, req.GetLength()-int64(i)*in.BlockSize)
		if b.GetLength() != wantLen {
			return &detailError{blockID: want, err: fmt.Errorf("block %d: length %d, want %d: %w", want, b.GetLength(), wantLen, ErrLengthMismatch)}
		}
		length, crc, ok := m.blocks.committed(want)
		if !ok {
			return &detailError{blockID: want, err: fmt.Errorf("block %d: %w", want, ErrBlockNotCommitted)}
		}
		if length != wantLen || (b.Crc32C != nil && b.GetCrc32C() != crc) {
			return &detailError{blockID: want, err: fmt.Errorf("block %d: committed length %d crc %08x, completed as %d: %w",
				want, length, crc, b.GetLength(), ErrLengthMismatch)}
		}
	}
	return nil
}

// CreateDirectory creates a directory; THROUGH and CACHE_THROUGH also create it in the
// UFS before journaling.
func (s *fsServer) CreateDirectory(ctx context.Context, req *sluicepb.CreateDirectoryRequest) (*sluicepb.CreateDirectoryResponse, error) {
	m := s.m
	p, err := cleanPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	if err := checkMode(req.GetMode()); err != nil {
		return nil, err
	}
	if _, ok := sluicepb.WriteType_name[int32(req.GetWriteType())]; !ok {
		return nil, invalidf("write type %d", req.GetWriteType())
	}
	if err := m.loader.ensure(ctx, p, sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ONCE, false); err != nil {
		return nil, withPath(err, p)
	}
	v := m.st.View()
	if in, err := v.Get(p); err == nil {
		if in.Directory && req.GetAllowExists() {
			return &sluicepb.CreateDirectoryResponse{File: m.fileInfo(v, in)}, nil
		}
		return nil, withPath(fmt.Errorf("%s: %w", p, state.ErrExists), p)
	}
	through := req.GetWriteType() == sluicepb.WriteType_WRITE_TYPE_THROUGH || req.GetWriteType() == sluicepb.WriteType_WRITE_TYPE_CACHE_THROUGH
	if through {
		r, err := v.Resolve(p)
		if err != nil {
			return nil, withPath(err, p)
		}
		if r.ReadOnly {
			return nil, withPath(fmt.Errorf("%s: %w", p, state.ErrReadOnly), p)
		}
		f, err := m.fsOf(ctx, r)
		if err != nil {
			return nil, withPath(err, p)
		}
		if err := f.Mkdir(ctx, r.UFSPath); err != nil {
			return nil, withPath(ufsErr("mkdir", r.UFSPath, err), p)
		}
	}
	mode := req.GetMode()
	if mode == 0 {
		mode = 0o755
	}
	ids, err := m.reserveFor(p)
	if err != nil {
		return nil, err
	}
	res, err := m.apply(ctx, state.EntryCreateDirectory, &sluicepb.CreateDirectoryEntry{
		Path: p, Ids: ids, Recursive: req.GetRecursive(), AllowExists: req.GetAllowExists(),
		Owner: m.owner(req.GetOwner()), Group: m.group(req.GetGroup()), Mode: mode, TimeMs: nowMs(), Persisted: through,
	})
	if err != nil {
		return nil, withPath(err, p)
	}
	return &sluicepb.CreateDirectoryResponse{File: m.fileInfo(m.st.View(), res.Inode)}, nil
}

// Delete removes a path (from the UFS too unless sluice_only) and has the executors
// drop the blocks of the removed files.
func (s *fsServer) Delete(ctx context.Context, req *sluicepb.DeleteRequest) (*sluicepb.DeleteResponse, error) {
	p, err := cleanPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	if err := s.m.loader.ensure(ctx, p, sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ONCE, false); err != nil {
		return nil, withPath(err, p)
	}
	n, err := s.m.deletePath(ctx, p, req.GetRecursive(), req.GetSluiceOnly())
	if err != nil {
		return nil, withPath(err, p)
	}
	return &sluicepb.DeleteResponse{DeletedCount: n}, nil
}

// isMountPoint reports whether p is a mount point of view v.
func isMountPoint(v *state.View, p string) bool {
	for _, mt := range v.Mounts() {
		if mt.Path == p {
			return true
		}
	}
	return false
}

// deletePath deletes p (its subtree with recursive) from the UFS unless sluiceOnly, then
// from the namespace, and drops the blocks of the removed files.
func (m *Master) deletePath(ctx context.Context, p string, recursive, sluiceOnly bool) (int64, error) {
	if p == "/" {
		return 0, invalidf("cannot delete /")
	}
	v := m.st.View()
	if isMountPoint(v, p) {
		return 0, fmt.Errorf("%s: unmount it instead: %w", p, ErrIsMountPoint)
	}
	in, err := v.Get(p)
	if err != nil {
		return 0, err
	}
	if in.Directory && !recursive {
		if children, err := v.List(p); err == nil && len(children) > 0 {
			return 0, fmt.Errorf("%s: %w", p, state.ErrDirectoryNotEmpty)
		}
	}
	// The UFS goes first: if its delete fails the namespace still shows the data, which
	// is still there; the reverse order could leave UFS data no path refers to, which
	// would reappear at the next metadata load.
	if !sluiceOnly {
		r, err := v.Resolve(p)
		if err != nil {
			return 0, err
		}
		if r.ReadOnly {
			return 0, fmt.Errorf("%s: %w", p, state.ErrReadOnly)
		}
		// A mount point below p makes the state refuse the delete: check before the
		// UFS is touched.
		for _, mt := range v.Mounts() {
			if mt.Path != p && isUnder(mt.Path, p) {
				return 0, fmt.Errorf("%s holds mount point %s: %w", p, mt.Path, state.ErrMountConflict)
			}
		}
		f, err := m.fsOf(ctx, r)
		if err != nil {
			return 0, err
		}
		if err := removeAll(ctx, f, r.UFSPath); err != nil {
			return 0, err
		}
	}
	res, err := m.apply(ctx, state.EntryDelete, &sluicepb.DeleteEntry{Path: p, Recursive: recursive, TimeMs: nowMs()})
	if err != nil {
		return 0, err
	}
	m.dropRemoved(res.Removed)
	return int64(len(res.Removed)), nil
}

// isUnder reports whether p is dir or lies below it.
func isUnder(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || (len(p) > len(dir) && p[:len(dir)] == dir && p[len(dir)] == '/')
}

// dropRemoved forgets the blocks and persist tasks of removed inodes and tells the
// executors to delete their copies.
func (m *Master) dropRemoved(removed []state.Inode) {
	for _, in := range removed {
		if in.Directory {
			continue
		}
		ids := in.BlockIDs()
		if !in.Complete {
			ids = m.blocks.blocksOfFile(in.ID)
		}
		m.blocks.removeBlocks(ids)
		m.persist.remove(in.ID)
		m.writeTypesMu.Lock()
		delete(m.writeTypes, in.ID)
		m.writeTypesMu.Unlock()
	}
}

// Rename moves a path within one mount, moving its UFS copy first when it has one.
func (s *fsServer) Rename(ctx context.Context, req *sluicepb.RenameRequest) (*sluicepb.RenameResponse, error) {
	m := s.m
	src, err := cleanPath(req.GetSrc())
	if err != nil {
		return nil, err
	}
	dst, err := cleanPath(req.GetDst())
	if err != nil {
		return nil, err
	}
	if src == "/" || dst == "/" {
		return nil, withPath(invalidf("cannot rename / or onto /"), src)
	}
	for _, p := range []string{src, path.Dir(dst)} {
		if err := m.loader.ensure(ctx, p, sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ONCE, true); err != nil {
			return nil, withPath(err, p)
		}
	}
	v := m.st.View()
	if isMountPoint(v, src) {
		return nil, withPath(fmt.Errorf("%s: %w", src, ErrIsMountPoint), src)
	}
	in, err := v.Get(src)
	if err != nil {
		return nil, withPath(err, src)
	}
	if _, err := v.Get(dst); err == nil {
		return nil, withPath(fmt.Errorf("%s: %w", dst, state.ErrExists), dst)
	}
	rs, err := v.Resolve(src)
	if err != nil {
		return nil, withPath(err, src)
	}
	rd, err := v.Resolve(dst)
	if err != nil {
		return nil, withPath(err, dst)
	}
	if rs.MountPoint != rd.MountPoint {
		return nil, withPath(fmt.Errorf("rename %s to %s crosses mounts: %w", src, dst, state.ErrMountConflict), src)
	}
	if rs.ReadOnly {
		return nil, withPath(fmt.Errorf("%s: %w", src, state.ErrReadOnly), src)
	}
	// Move the UFS copy first when there is one, so the namespace never points at a
	// UFS path that does not exist; undo it if the journal refuses the rename.
	movedUFS := false
	f, err := m.fsOf(ctx, rs)
	if err != nil {
		return nil, withPath(err, src)
	}
	if in.PersistenceState == state.Persisted || in.Directory {
		if _, err := f.Stat(ctx, rs.UFSPath); err == nil {
			if err := f.Rename(ctx, rs.UFSPath, rd.UFSPath); err != nil {
				return nil, withPath(ufsErr("rename", rs.UFSPath, err), src)
			}
			movedUFS = true
		}
	}
	res, err := m.apply(ctx, state.EntryRename, &sluicepb.RenameEntry{Src: src, Dst: dst, TimeMs: nowMs()})
	if err != nil {
		if movedUFS {
			if uerr := f.Rename(context.WithoutCancel(ctx), rd.UFSPath, rs.UFSPath); uerr != nil {
				m.log.Error("cannot undo UFS rename", "src", rd.UFSPath, "dst", rs.UFSPath, "err", uerr)
			}
		}
		return nil, withPath(err, src)
	}
	return &sluicepb.RenameResponse{File: m.fileInfo(m.st.View(), res.Inode)}, nil
}

// SetAttribute changes the attributes that are set in the request (optional fields),
// on the path or, with recursive, its whole subtree.
func (s *fsServer) SetAttribute(ctx context.Context, req *sluicepb.SetAttributeRequest) (*sluicepb.SetAttributeResponse, error) {
	m := s.m
	p, err := cleanPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	e := &sluicepb.SetAttributeEntry{Path: p, Pinned: req.Pinned, TtlMs: req.TtlMs, Mode: req.Mode,
		Owner: req.Owner, Group: req.Group, Recursive: req.GetRecursive(), TimeMs: nowMs()}
	if req.TtlMs != nil && req.GetTtlMs() < 0 {
		return nil, invalidf("TTL %d ms is negative", req.GetTtlMs())
	}
	if req.TtlAction != nil {
		a, err := ttlToJournal(req.GetTtlAction())
		if err != nil {
			return nil, err
		}
		e.TtlAction = &a
	}
	if req.Mode != nil {
		if err := checkMode(req.GetMode()); err != nil {
			return nil, err
		}
	}
	if req.Pinned == nil && req.TtlMs == nil && req.TtlAction == nil && req.Mode == nil && req.Owner == nil && req.Group == nil {
		return nil, invalidf("no attribute to set")
	}
	if err := m.loader.ensure(ctx, p, sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ONCE, false); err != nil {
		return nil, withPath(err, p)
	}
	res, err := m.apply(ctx, state.EntrySetAttribute, e)
	if err != nil {
		return nil, withPath(err, p)
	}
	return &sluicepb.SetAttributeResponse{File: m.fileInfo(m.st.View(), res.Inode)}, nil
}
