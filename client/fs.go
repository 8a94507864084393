package client

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// Metadata operations. Each one is a single call to the leader master (see callMaster for
// leader following and retries). Errors wrap the sentinels of errors.go; an operation's
// error names the operation and path, followed by the server's message.

// LoadMetadata says when the master consults the UFS for paths it does not know.
type LoadMetadata int32

// LoadMetadata values; their values are those of sluicepb.LoadMetadataType.
const (
	// LoadMetadataDefault lets the master decide (ONCE).
	LoadMetadataDefault LoadMetadata = 0
	// LoadMetadataNever answers from the namespace only.
	LoadMetadataNever LoadMetadata = LoadMetadata(sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_NEVER)
	// LoadMetadataOnce loads an unknown path or listing from the UFS the first time.
	LoadMetadataOnce LoadMetadata = LoadMetadata(sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ONCE)
	// LoadMetadataAlways lists the UFS on every call.
	LoadMetadataAlways LoadMetadata = LoadMetadata(sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ALWAYS)
)

// Stat returns the metadata of path; a missing path fails with ErrNotFound (which also
// matches fs.ErrNotExist).
func (c *Client) Stat(ctx context.Context, path string) (FileInfo, error) {
	var resp *sluicepb.GetStatusResponse
	err := c.fsMaster(ctx, callOpts{}, func(ctx context.Context, m sluicepb.FileSystemMasterClient) (err error) {
		resp, err = m.GetStatus(ctx, &sluicepb.GetStatusRequest{Path: path})
		return err
	})
	if err != nil {
		return FileInfo{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return fileInfoFromProto(resp.GetFile()), nil
}

// ListOptions tune List.
type ListOptions struct {
	// Recursive lists the whole subtree, parents before children.
	Recursive bool
	// LoadMetadata says whether unknown children are loaded from the UFS.
	LoadMetadata LoadMetadata
}

// List returns a directory's children sorted by path (the subtree when recursive; the file
// itself for a file path).
func (c *Client) List(ctx context.Context, path string, opts ListOptions) ([]FileInfo, error) {
	var resp *sluicepb.ListStatusResponse
	err := c.fsMaster(ctx, callOpts{}, func(ctx context.Context, m sluicepb.FileSystemMasterClient) (err error) {
		resp, err = m.ListStatus(ctx, &sluicepb.ListStatusRequest{
			Path:         path,
			Recursive:    opts.Recursive,
			LoadMetadata: sluicepb.LoadMetadataType(opts.LoadMetadata),
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", path, err)
	}
	return fileInfosFromProto(resp.GetFiles()), nil
}

// MkdirOptions tune Mkdir.
type MkdirOptions struct {
	// Recursive creates missing parents.
	Recursive bool
	// AllowExists makes an existing directory a success.
	AllowExists bool
	// Mode holds the permission bits; 0 means the master's default (0755).
	Mode fs.FileMode
	// WriteType THROUGH or CACHE_THROUGH also creates the directory in the UFS at once.
	WriteType WriteType
}

// Mkdir creates a directory owned by Config.User and returns it.
func (c *Client) Mkdir(ctx context.Context, path string, opts MkdirOptions) (FileInfo, error) {
	var resp *sluicepb.CreateDirectoryResponse
	err := c.fsMaster(ctx, callOpts{}, func(ctx context.Context, m sluicepb.FileSystemMasterClient) (err error) {
		resp, err = m.CreateDirectory(ctx, &sluicepb.CreateDirectoryRequest{
			Path:        path,
			Recursive:   opts.Recursive,
			AllowExists: opts.AllowExists,
			Mode:        uint32(opts.Mode.Perm()),
			Owner:       c.cfg.User,
			Group:       c.cfg.Group,
			WriteType:   opts.WriteType.proto(),
		})
		return err
	})
	if err != nil {
		return FileInfo{}, fmt.Errorf("mkdir %s: %w", path, err)
	}
	return fileInfoFromProto(resp.GetFile()), nil
}

// DeleteOptions tune Delete.
type DeleteOptions struct {
	// Recursive deletes a non-empty directory with its subtree.
	Recursive bool
	// SluiceOnly keeps the UFS copy.
	SluiceOnly bool
	// Unchecked deletes from the UFS without checking it matches the namespace.
	Unchecked bool
}

// Delete removes path and returns the number of inodes removed. A non-empty directory
// without Recursive fails with ErrDirectoryNotEmpty.
func (c *Client) Delete(ctx context.Context, path string, opts DeleteOptions) (int64, error) {
	var resp *sluicepb.DeleteResponse
	err := c.fsMaster(ctx, callOpts{}, func(ctx context.Context, m sluicepb.FileSystemMasterClient) (err error) {
		resp, err = m.Delete(ctx, &sluicepb.DeleteRequest{
			Path: path, Recursive: opts.Recursive, SluiceOnly: opts.SluiceOnly, Unchecked: opts.Unchecked,
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete %s: %w", path, err)
	}
	return resp.GetDeletedCount(), nil
}

// Rename moves src to dst (dst's parent must exist, dst must not) and returns dst's
// metadata.
func (c *Client) Rename(ctx context.Context, src, dst string) (FileInfo, error) {
	var resp *sluicepb.RenameResponse
	err := c.fsMaster(ctx, callOpts{}, func(ctx context.Context, m sluicepb.FileSystemMasterClient) (err error) {
		resp, err = m.Rename(ctx, &sluicepb.RenameRequest{Src: src, Dst: dst})
		return err
	})
	if err != nil {
		return FileInfo{}, fmt.Errorf("rename %s to %s: %w", src, dst, err)
	}
	return fileInfoFromProto(resp.GetFile()), nil
}

// MountOptions tune Mount.
type MountOptions struct {
	// ReadOnly refuses every change under the mount.
	ReadOnly bool
	// Shared marks a UFS that other systems also write.
	Shared bool
	// Options configure the UFS client (credentials, endpoint, region …).
	Options map[string]string
}

// Mount mounts the UFS at uri on the new directory path and returns the mount.
func (c *Client) Mount(ctx context.Context, path, uri string, opts MountOptions) (*sluicepb.MountPointInfo, error) {
	var resp *sluicepb.MountResponse
	err := c.fsMaster(ctx, callOpts{}, func(ctx context.Context, m sluicepb.FileSystemMasterClient) (err error) {
		resp, err = m.Mount(ctx, &sluicepb.MountRequest{
			Path: path, UfsUri: uri, ReadOnly: opts.ReadOnly, Shared: opts.Shared, Options: opts.Options,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mount %s on %s: %w", uri, path, err)
	}
	return resp.GetMount(), nil
}

// Unmount removes the mount at path (the UFS is untouched).
func (c *Client) Unmount(ctx context.Context, path string) error {
	err := c.fsMaster(ctx, callOpts{}, func(ctx context.Context, m sluicepb.FileSystemMasterClient) error {
		_, err := m.Unmount(ctx, &sluicepb.UnmountRequest{Path: path})
		return err
	})
	if err != nil {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	return nil
}

// MountTable lists the mounts, "/" first; includeOptions returns their options (which may
// hold credentials).
func (c *Client) MountTable(ctx context.Context, includeOptions bool) ([]*sluicepb.MountPointInfo, error) {
	var resp *sluicepb.GetMountTableResponse
	err := c.fsMaster(ctx, callOpts{}, func(ctx context.Context, m sluicepb.FileSystemMasterClient) (err error) {
		resp, err = m.GetMountTable(ctx, &sluicepb.GetMountTableRequest{IncludeOptions: includeOptions})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mount table: %w", err)
	}
	return resp.GetMounts(), nil
}

// Attributes are the changes of SetAttribute; nil fields stay as they are.
type Attributes struct {
	Pinned    *bool
	TTL       *time.Duration
	TTLAction *sluicepb.TtlAction
	Mode      *fs.FileMode
	Owner     *string
	Group     *string
	// Recursive applies the change to a directory's whole subtree.
	Recursive bool
}

// SetAttribute changes the attributes set in a and returns the path's metadata after.
func (c *Client) SetAttribute(ctx context.Context, path string, a Attributes) (FileInfo, error) {
	req := &sluicepb.SetAttributeRequest{Path: path, Recursive: a.Recursive}
	if a.Pinned != nil {
		req.Pinned = proto.Bool(*a.Pinned)
	}
	if a.TTL != nil {
		req.TtlMs = proto.Int64(a.TTL.Milliseconds())
	}
	if a.TTLAction != nil {
		req.TtlAction = a.TTLAction.Enum()
	}
	if a.Mode != nil {
		req.Mode = proto.Uint32(uint32(a.Mode.Perm()))
	}
	req.Owner, req.Group = a.Owner, a.Group
	var resp *sluicepb.SetAttributeResponse
	err := c.fsMaster(ctx, callOpts{}, func(ctx context.Context, m sluicepb.FileSystemMasterClient) (err error) {
		resp, err = m.SetAttribute(ctx, req)
		return err
	})
	if err != nil {
		return FileInfo{}, fmt.Errorf("set attributes of %s: %w", path, err)
	}
	return fileInfoFromProto(resp.GetFile()), nil
}

// Pin keeps the blocks of path (a directory: its files, recursively when asked) from eviction.
func (c *Client) Pin(ctx context.Context, path string, recursive bool) (FileInfo, error) {
	return c.SetAttribute(ctx, path, Attributes{Pinned: proto.Bool(true), Recursive: recursive})
}

// Unpin undoes Pin.
func (c *Client) Unpin(ctx context.Context, path string, recursive bool) (FileInfo, error) {
	return c.SetAttribute(ctx, path, Attributes{Pinned: proto.Bool(false), Recursive: recursive})
}

// SetTTL sets the time to live of path, counted from its creation, and the action at expiry
// (TTL_ACTION_UNSPECIFIED means DELETE). A ttl of 0 removes the TTL.
func (c *Client) SetTTL(ctx context.Context, path string, ttl time.Duration, action sluicepb.TtlAction, recursive bool) (FileInfo, error) {
	if ttl < 0 {
		return FileInfo{}, fmt.Errorf("set ttl of %s: negative ttl %v: %w", path, ttl, ErrInvalidArgument)
	}
	a := Attributes{TTL: &ttl, Recursive: recursive}
	if action != sluicepb.TtlAction_TTL_ACTION_UNSPECIFIED {
		a.TTLAction = &action
	}
	return c.SetAttribute(ctx, path, a)
}

// UnsetTTL removes the TTL of path.
func (c *Client) UnsetTTL(ctx context.Context, path string, recursive bool) (FileInfo, error) {
	var zero time.Duration
	return c.SetAttribute(ctx, path, Attributes{TTL: &zero, Recursive: recursive})
}

// Chmod sets the permission bits of path.
func (c *Client) Chmod(ctx context.Context, path string, mode fs.FileMode, recursive bool) (FileInfo, error) {
	return c.SetAttribute(ctx, path, Attributes{Mode: &mode, Recursive: recursive})
}

// Chown sets the owner and, when group is not empty, the group of path; an empty owner
// leaves the owner as it is.
func (c *Client) Chown(ctx context.Context, path, owner, group string, recursive bool) (FileInfo, error) {
	a := Attributes{Recursive: recursive}
	if owner != "" {
		a.Owner = &owner
	}
	if group != "" {
		a.Group = &group
	}
	if a.Owner == nil && a.Group == nil {
		return FileInfo{}, fmt.Errorf("chown %s: neither owner nor group given: %w", path, ErrInvalidArgument)
	}
	return c.SetAttribute(ctx, path, a)
}

// FreeOptions tune Free.
type FreeOptions struct {
	// Recursive frees a directory's subtree.
	Recursive bool
	// Forced also frees pinned files (and unpins them).
	Forced bool
}

// Free drops the cached blocks of persisted files under path; the metadata stays.
// Un-persisted files fail with ErrNotPersisted.
func (c *Client) Free(ctx context.Context, path string, opts FreeOptions) (*sluicepb.FreeResponse, error) {
	var resp *sluicepb.FreeResponse
	err := c.fsMaster(ctx, callOpts{}, func(ctx context.Context, m sluicepb.FileSystemMasterClient) (err error) {
		resp, err = m.Free(ctx, &sluicepb.FreeRequest{Path: path, Recursive: opts.Recursive, Forced: opts.Forced})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("free %s: %w", path, err)
	}
	return resp, nil
}

// PersistOptions tune Persist.
type PersistOptions struct {
	// Recursive persists every file of a directory's subtree.
	Recursive bool
	// Wait returns only when every file is PERSISTED; the context's deadline bounds the
	// wait (not Config.RPCTimeout), and running out fails with ErrTimeout or the context
	// error while the persists go on.
	Wait bool
}

// Persist schedules the checkpoint of path to the UFS and, with Wait, waits for it.
func (c *Client) Persist(ctx context.Context, path string, opts PersistOptions) (*sluicepb.PersistResponse, error) {
	var resp *sluicepb.PersistResponse
	err := c.fsMaster(ctx, callOpts{noTimeout: opts.Wait}, func(ctx context.Context, m sluicepb.FileSystemMasterClient) (err error) {
		resp, err = m.Persist(ctx, &sluicepb.PersistRequest{Path: path, Recursive: opts.Recursive, Wait: opts.Wait})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("persist %s: %w", path, err)
	}
	return resp, nil
}

// BlockLocations returns the file's metadata and blocks with their cached copies and UFS
// source (for `sluice fs location`).
func (c *Client) BlockLocations(ctx context.Context, path string) (*sluicepb.GetBlockLocationsResponse, error) {
	resp, err := c.blockLocations(ctx, path, false)
	if err != nil {
		return nil, fmt.Errorf("block locations of %s: %w", path, err)
	}
	return resp, nil
}

// blockLocations asks the master for all of a file's blocks; waitRecompute makes a read of
// a LOST file wait up to RecomputeWait.
func (c *Client) blockLocations(ctx context.Context, path string, waitRecompute bool) (*sluicepb.GetBlockLocationsResponse, error) {
	o := callOpts{}
	if waitRecompute {
		o.noTimeout = true
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RecomputeWait)
		defer cancel()
	}
	var resp *sluicepb.GetBlockLocationsResponse
	err := c.fsMaster(ctx, o, func(ctx context.Context, m sluicepb.FileSystemMasterClient) (err error) {
		resp, err = m.GetBlockLocations(ctx, &sluicepb.GetBlockLocationsRequest{Path: path, WaitForRecompute: waitRecompute})
		return err
	})
	return resp, err
}

// ReportOptions tune Report.
type ReportOptions struct {
	// IncludeLostExecutors lists LOST executors too.
	IncludeLostExecutors bool
	// MaxLostFiles bounds the lost files listed; 0 means the master's default (1000).
	MaxLostFiles int
}

// Report returns the cluster report (`sluice report`).
func (c *Client) Report(ctx context.Context, opts ReportOptions) (*sluicepb.GetReportResponse, error) {
	var resp *sluicepb.GetReportResponse
	err := c.metaMaster(ctx, func(ctx context.Context, m sluicepb.MetaMasterClient) (err error) {
		resp, err = m.GetReport(ctx, &sluicepb.GetReportRequest{
			IncludeLostExecutors: opts.IncludeLostExecutors, MaxLostFiles: int32(opts.MaxLostFiles),
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return resp, nil
}

// Executors lists the executors by ID (LOST ones too with includeLost).
func (c *Client) Executors(ctx context.Context, includeLost bool) ([]*sluicepb.ExecutorInfo, error) {
	var resp *sluicepb.ListExecutorsResponse
	err := c.metaMaster(ctx, func(ctx context.Context, m sluicepb.MetaMasterClient) (err error) {
		resp, err = m.ListExecutors(ctx, &sluicepb.ListExecutorsRequest{IncludeLost: includeLost})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list executors: %w", err)
	}
	return resp.GetExecutors(), nil
}

// MasterInfo describes the leader master and the Raft cluster.
func (c *Client) MasterInfo(ctx context.Context) (*sluicepb.GetMasterInfoResponse, error) {
	var resp *sluicepb.GetMasterInfoResponse
	err := c.metaMaster(ctx, func(ctx context.Context, m sluicepb.MetaMasterClient) (err error) {
		resp, err = m.GetMasterInfo(ctx, &sluicepb.GetMasterInfoRequest{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("master info: %w", err)
	}
	return resp, nil
}
