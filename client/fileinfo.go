package client

import (
	"io/fs"
	"strings"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// FileInfo is the metadata of one path (file or directory) as the master reports it,
// converted to Go types. It is a plain value: the client never changes it after returning
// it. FS adapts it to io/fs.FileInfo.
type FileInfo struct {
	// FileID is the inode ID; block i of a file has ID sluicepb.NewBlockID(FileID, i).
	FileID uint64
	// ParentID is the parent directory's inode ID (0 for the root).
	ParentID uint64
	// Path is the absolute Sluice path.
	Path string
	// Name is the last path element ("" for the root).
	Name string
	// IsDir tells a directory from a file.
	IsDir bool
	// Length is the file's size in bytes (0 for directories and INCOMPLETE files).
	Length int64
	// BlockSize is the size of every block but the last.
	BlockSize int64
	// BlockIDs are the file's blocks in file order.
	BlockIDs []uint64
	// Complete tells a COMPLETE file (or any directory) from an INCOMPLETE one.
	Complete bool
	// Persistence says whether the UFS holds the bytes.
	Persistence sluicepb.PersistenceState
	// UFSPath is the UFS URI the path resolves to.
	UFSPath string
	// Owner and Group own the path.
	Owner, Group string
	// Mode holds the permission bits (no type bits; see FS for a full fs.FileMode).
	Mode fs.FileMode
	// Pinned keeps the file's blocks from eviction.
	Pinned bool
	// TTL is the time to live counted from Created; 0 means none.
	TTL time.Duration
	// TTLAction is applied when the TTL expires.
	TTLAction sluicepb.TtlAction
	// Created, Modified and LastAccess are the creation, modification and last access
	// times (zero when the master did not set them).
	Created, Modified, LastAccess time.Time
	// JobID names the lineage job that produces the file; empty if none.
	JobID string
	// InMemoryPercent is the share (0..100) of the bytes cached in some executor.
	InMemoryPercent int
	// MountPoint tells that a UFS is mounted at this directory.
	MountPoint bool
	// MountID identifies the mount the path resolves through.
	MountID uint64
	// ContentCRC32C is the CRC32C of the whole file when HasContentCRC32C is set.
	ContentCRC32C    uint32
	HasContentCRC32C bool
}

// PersistenceName returns the persistence state without its prefix ("PERSISTED", …).
func (fi FileInfo) PersistenceName() string {
	return strings.TrimPrefix(fi.Persistence.String(), "PERSISTENCE_STATE_")
}

// FS returns fi as an io/fs.FileInfo; Sys returns the FileInfo itself.
func (fi FileInfo) FS() fs.FileInfo { return fsInfo{fi} }

type fsInfo struct{ fi FileInfo }

func (f fsInfo) Name() string       { return f.fi.Name }
func (f fsInfo) Size() int64        { return f.fi.Length }
func (f fsInfo) ModTime() time.Time { return f.fi.Modified }
func (f fsInfo) IsDir() bool        { return f.fi.IsDir }
func (f fsInfo) Sys() any           { return f.fi }
func (f fsInfo) Mode() fs.FileMode {
	if f.fi.IsDir {
		return f.fi.Mode | fs.ModeDir
	}
	return f.fi.Mode
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// fileInfoFromProto converts the wire message; a nil message gives the zero FileInfo.
func fileInfoFromProto(p *sluicepb.FileInfo) FileInfo {
	if p == nil {
		return FileInfo{}
	}
	fi := FileInfo{
		FileID:          p.GetFileId(),
		ParentID:        p.GetParentId(),
		Path:            p.GetPath(),
		Name:            p.GetName(),
		IsDir:           p.GetIsDir(),
		Length:          p.GetLength(),
		BlockSize:       p.GetBlockSize(),
		BlockIDs:        p.GetBlockIds(),
		Complete:        p.GetIsDir() || p.GetState() == sluicepb.FileState_FILE_STATE_COMPLETE,
		Persistence:     p.GetPersistenceState(),
		UFSPath:         p.GetUfsPath(),
		Owner:           p.GetOwner(),
		Group:           p.GetGroup(),
		Mode:            fs.FileMode(p.GetMode()) & fs.ModePerm,
		Pinned:          p.GetPinned(),
		TTL:             time.Duration(p.GetTtlMs()) * time.Millisecond,
		TTLAction:       p.GetTtlAction(),
		Created:         msTime(p.GetCreationTimeMs()),
		Modified:        msTime(p.GetModificationTimeMs()),
		LastAccess:      msTime(p.GetLastAccessTimeMs()),
		JobID:           p.GetJobId(),
		InMemoryPercent: int(p.GetInMemoryPercent()),
		MountPoint:      p.GetMountPoint(),
		MountID:         p.GetMountId(),
	}
	if p.ContentCrc32C != nil {
		fi.ContentCRC32C, fi.HasContentCRC32C = p.GetContentCrc32C(), true
	}
	return fi
}

func fileInfosFromProto(ps []*sluicepb.FileInfo) []FileInfo {
	out := make([]FileInfo, len(ps))
	for i, p := range ps {
		out[i] = fileInfoFromProto(p)
	}
	return out
}
