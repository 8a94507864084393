package clienttest

import (
	"hash/crc32"
	"path"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// The namespace of the fake master. Every function here expects c.mu held.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// inode is one path of the namespace.
type inode struct {
	info      *sluicepb.FileInfo
	writeType sluicepb.WriteType
	// blocks are the file's blocks once complete.
	blocks []*sluicepb.BlockInfo
}

// mount is one entry of the mount table.
type mount struct {
	info *sluicepb.MountPointInfo
}

// knownSchemes are the UFS schemes the fake accepts; all of them live in the in-memory UFS.
var knownSchemes = map[string]bool{"mem": true, "file": true, "s3": true, "hdfs": true}

func (c *Cluster) initNamespace() {
	c.nextMount = 1
	c.mounts = []*mount{{info: &sluicepb.MountPointInfo{
		MountId: 1, Path: "/", UfsUri: c.opts.RootUFS, UfsType: scheme(c.opts.RootUFS),
	}}}
	root := c.addInode("/", true, 0o755, "root", "root")
	root.info.MountPoint = true
}

func scheme(uri string) string {
	if i := strings.Index(uri, "://"); i > 0 {
		return uri[:i]
	}
	return ""
}

func nowMs() int64 { return time.Now().UnixMilli() }

// checkPath validates a Sluice path: absolute and clean.
func checkPath(p string) error {
	if p == "" || !strings.HasPrefix(p, "/") || path.Clean(p) != p {
		return fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH, p, "invalid path %q", p)
	}
	return nil
}

// mountFor returns the mount a path resolves through (longest prefix).
func (c *Cluster) mountFor(p string) *mount {
	var best *mount
	for _, m := range c.mounts {
		mp := m.info.Path
		if p == mp || mp == "/" || strings.HasPrefix(p, mp+"/") {
			if best == nil || len(mp) > len(best.info.Path) {
				best = m
			}
		}
	}
	return best
}

// ufsURI returns the UFS URI of a Sluice path.
func (c *Cluster) ufsURI(p string) string {
	m := c.mountFor(p)
	rel := strings.TrimPrefix(strings.TrimPrefix(p, m.info.Path), "/")
	if rel == "" {
		return m.info.UfsUri
	}
	return strings.TrimSuffix(m.info.UfsUri, "/") + "/" + rel
}

// ufsFile returns the UfsFile of a Sluice path.
func (c *Cluster) ufsFile(p string) *sluicepb.UfsFile {
	m := c.mountFor(p)
	return &sluicepb.UfsFile{Uri: c.ufsURI(p), MountId: m.info.MountId, MountOptions: m.info.Options, ReadOnly: m.info.ReadOnly}
}

// addInode creates an inode at p (its parent must exist, except for the root).
func (c *Cluster) addInode(p string, dir bool, mode uint32, owner, group string) *inode {
	c.nextFileID++
	now := nowMs()
	in := &inode{info: &sluicepb.FileInfo{
		FileId:             c.nextFileID,
		Path:               p,
		Name:               path.Base(p),
		IsDir:              dir,
		State:              sluicepb.FileState_FILE_STATE_COMPLETE,
		PersistenceState:   sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED,
		UfsPath:            c.ufsURI(p),
		Owner:              owner,
		Group:              group,
		Mode:               mode,
		CreationTimeMs:     now,
		ModificationTimeMs: now,
		MountId:            c.mountFor(p).info.MountId,
	}}
	if p == "/" {
		in.info.Name = ""
	} else if parent := c.inodes[path.Dir(p)]; parent != nil {
		in.info.ParentId = parent.info.FileId
		in.info.Pinned = parent.info.Pinned && !dir
		parent.info.ModificationTimeMs = now
	}
	c.inodes[p] = in
	c.byID[in.info.FileId] = in
	return in
}

// removeInode drops one inode (not its subtree).
func (c *Cluster) removeInode(in *inode) {
	delete(c.inodes, in.info.Path)
	delete(c.byID, in.info.FileId)
}

// subtree returns the inodes under p, p first, sorted by path.
func (c *Cluster) subtree(p string) []*inode {
	var out []*inode
	prefix := p + "/"
	if p == "/" {
		prefix = "/"
	}
	for k, in := range c.inodes {
		if k == p || strings.HasPrefix(k, prefix) {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].info.Path < out[j].info.Path })
	return out
}

// children returns the direct children of directory p, sorted by path.
func (c *Cluster) children(p string) []*inode {
	var out []*inode
	for _, in := range c.subtree(p) {
		if in.info.Path != p && path.Dir(in.info.Path) == p {
			out = append(out, in)
		}
	}
	return out
}

// lookup returns the inode at p, loading it from the UFS when load is set and the UFS has
// it (a PERSISTED file, or a directory when some UFS file lies below it).
func (c *Cluster) lookup(p string, load bool) (*inode, error) {
	if err := checkPath(p); err != nil {
		return nil, err
	}
	if in := c.inodes[p]; in != nil {
		return in, nil
	}
	if load && p != "/" {
		if parent, err := c.lookup(path.Dir(p), true); err == nil && parent.info.IsDir {
			uri := c.ufsURI(p)
			if data, ok := c.ufs[uri]; ok {
				return c.loadFile(p, int64(len(data))), nil
			}
			if c.ufsHasDir(uri) {
				in := c.addInode(p, true, 0o755, "", "")
				in.info.PersistenceState = sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED
				return in, nil
			}
		}
	}
	return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, p, "%s does not exist", p)
}

// loadFile adds a PERSISTED file found in the UFS.
func (c *Cluster) loadFile(p string, length int64) *inode {
	in := c.addInode(p, false, 0o644, "", "")
	in.info.Length = length
	in.info.BlockSize = c.opts.BlockSize
	in.info.PersistenceState = sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED
	in.blocks = c.deriveBlocks(in.info.FileId, length, c.opts.BlockSize)
	in.info.BlockIds = blockIDs(in.blocks)
	return in
}

// ufsHasDir reports whether some UFS file lies below uri.
func (c *Cluster) ufsHasDir(uri string) bool {
	prefix := strings.TrimSuffix(uri, "/") + "/"
	for k := range c.ufs {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// loadChildren adds the children of directory p that exist only in the UFS.
func (c *Cluster) loadChildren(p string) {
	prefix := strings.TrimSuffix(c.ufsURI(p), "/") + "/"
	for k := range c.ufs {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(k, prefix), "/")
		if name == "" {
			continue
		}
		child := path.Join(p, name)
		if c.inodes[child] == nil {
			_, _ = c.lookup(child, true)
		}
	}
}

// deriveBlocks returns the blocks of a file of length bytes.
func (c *Cluster) deriveBlocks(fileID uint64, length, blockSize int64) []*sluicepb.BlockInfo {
	var out []*sluicepb.BlockInfo
	for i := int64(0); i*blockSize < length; i++ {
		out = append(out, &sluicepb.BlockInfo{
			BlockId: sluicepb.NewBlockID(fileID, uint32(i)),
			Length:  min(blockSize, length-i*blockSize),
		})
	}
	return out
}

func blockIDs(bs []*sluicepb.BlockInfo) []uint64 {
	out := make([]uint64, len(bs))
	for i, b := range bs {
		out[i] = b.GetBlockId()
	}
	return out
}

// mkdirs creates p and its missing parents as directories.
func (c *Cluster) mkdirs(p string, mode uint32, owner, group string) (*inode, error) {
	if in, err := c.lookup(p, true); err == nil {
		if !in.info.IsDir {
			return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_A_DIRECTORY, p, "%s is a file", p)
		}
		return in, nil
	}
	if _, err := c.mkdirs(path.Dir(p), mode, owner, group); err != nil {
		return nil, err
	}
	return c.addInode(p, true, mode, owner, group), nil
}

// parentDir returns the existing parent directory of p.
func (c *Cluster) parentDir(p string) (*inode, error) {
	parent, err := c.lookup(path.Dir(p), true)
	if err != nil {
		return nil, err
	}
	if !parent.info.IsDir {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_A_DIRECTORY, p, "%s is a file", parent.info.Path)
	}
	return parent, nil
}

// checkWritable fails with READ_ONLY_MOUNT under a read-only mount.
func (c *Cluster) checkWritable(p string) error {
	if m := c.mountFor(p); m.info.ReadOnly {
		return fail(sluicepb.ErrorReason_ERROR_REASON_READ_ONLY_MOUNT, p, "%s is under the read-only mount %s", p, m.info.Path)
	}
	return nil
}

// fileLength returns the cached share of a file in percent.
func (c *Cluster) inMemoryPercent(in *inode) int32 {
	if in.info.IsDir || in.info.Length == 0 {
		return 0
	}
	var cached int64
	for _, b := range in.blocks {
		if len(c.liveLocations(b.GetBlockId())) > 0 {
			cached += b.GetLength()
		}
	}
	return int32(cached * 100 / in.info.Length)
}

// view returns a copy of the inode's info for a response.
func (c *Cluster) view(in *inode) *sluicepb.FileInfo {
	fi := proto.Clone(in.info).(*sluicepb.FileInfo)
	fi.InMemoryPercent = c.inMemoryPercent(in)
	return fi
}

// dropBlocks removes every cached copy of the file's blocks from the executors.
func (c *Cluster) dropBlocks(in *inode) int64 {
	var n int64
	ids := blockIDs(in.blocks)
	for id := range c.written {
		if sluicepb.BlockFileID(id) == in.info.FileId {
			ids = append(ids, id)
			delete(c.written, id)
		}
	}
	for _, id := range ids {
		for execID := range c.blockLocs[id] {
			if e := c.executorByID(execID); e != nil {
				e.dropBlock(id)
				n++
			}
		}
		delete(c.blockLocs, id)
	}
	return n
}

// persist writes a complete file's bytes to the UFS from its cached blocks.
func (c *Cluster) persist(in *inode) error {
	var data []byte
	for _, b := range in.blocks {
		var got []byte
		for execID := range c.liveLocations(b.GetBlockId()) {
			if e := c.executorByID(execID); e != nil {
				if d, ok := e.blockData(b.GetBlockId()); ok {
					got = d
					break
				}
			}
		}
		if got == nil {
			return fail(sluicepb.ErrorReason_ERROR_REASON_FILE_LOST, in.info.Path, "block %d of %s has no copy", b.GetBlockId(), in.info.Path)
		}
		data = append(data, got...)
	}
	c.ufs[in.info.UfsPath] = data
	in.info.PersistenceState = sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED
	return nil
}
