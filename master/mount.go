package master

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"path"
	"strings"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
	"github.com/sluicedata/sluice/ufs"
)

// Mount mounts a UFS at a new (or empty) directory after opening it through the
// registry and checking that its root is a directory.
func (s *fsServer) Mount(ctx context.Context, req *sluicepb.MountRequest) (*sluicepb.MountResponse, error) {
	m := s.m
	p, err := cleanPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	if p == "/" {
		return nil, withPath(fmt.Errorf("/ is mounted at bootstrap: %w", state.ErrMountConflict), p)
	}
	u, err := url.Parse(req.GetUfsUri())
	if err != nil || u.Scheme == "" {
		return nil, invalidf("UFS URI %q is not a URI with a scheme", req.GetUfsUri())
	}
	for k := range req.GetOptions() {
		if k == "" || strings.HasPrefix(k, "sluice.") {
			return nil, invalidf("mount option %q is reserved", k)
		}
	}
	if err := m.loader.ensure(ctx, path.Dir(p), sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ONCE, true); err != nil {
		return nil, withPath(err, p)
	}
	v := m.st.View()
	if isMountPoint(v, p) {
		return nil, withPath(fmt.Errorf("%s is already a mount point: %w", p, state.ErrMountConflict), p)
	}
	if _, err := v.Get(path.Dir(p)); err != nil {
		return nil, withPath(err, p)
	}
	// The UFS must open and hold a directory at its root before anything is journaled.
	f, err := m.ufs.open(ctx, 0, req.GetUfsUri(), req.GetOptions())
	if err != nil {
		return nil, withPath(err, p)
	}
	fi, err := f.Stat(ctx, "/")
	if err != nil {
		return nil, withPath(ufsErr("stat", req.GetUfsUri(), err), p)
	}
	if !fi.IsDir {
		return nil, withPath(fmt.Errorf("%s: %w", req.GetUfsUri(), ufs.ErrNotDir), p)
	}
	opts := maps.Clone(req.GetOptions())
	if req.GetShared() {
		if opts == nil {
			opts = make(map[string]string)
		}
		opts[sharedOption] = "true"
	}
	alloc, err := m.allocator()
	if err != nil {
		return nil, err
	}
	ids, err := alloc.Reserve(1)
	if err != nil {
		return nil, err
	}
	res, err := m.apply(ctx, state.EntryMount, &sluicepb.MountEntry{Path: p, UfsUri: req.GetUfsUri(),
		ReadOnly: req.GetReadOnly(), Options: opts, Ids: ids, Owner: m.cfg.DefaultOwner,
		Group: m.cfg.DefaultGroup, Mode: 0o755, TimeMs: nowMs()})
	if err != nil {
		return nil, withPath(err, p)
	}
	m.log.Info("mounted", "path", p, "ufs_uri", req.GetUfsUri(), "read_only", req.GetReadOnly())
	for _, mt := range m.st.View().Mounts() {
		if mt.ID == res.Inode.ID {
			return &sluicepb.MountResponse{Mount: mountInfo(mt, false)}, nil
		}
	}
	return &sluicepb.MountResponse{Mount: &sluicepb.MountPointInfo{MountId: res.Inode.ID, Path: p,
		UfsUri: req.GetUfsUri(), UfsType: u.Scheme, ReadOnly: req.GetReadOnly(), Shared: req.GetShared()}}, nil
}

// mountInfo converts a mount to its wire form.
func mountInfo(mt state.Mount, withOptions bool) *sluicepb.MountPointInfo {
	mi := &sluicepb.MountPointInfo{MountId: mt.ID, Path: mt.Path, UfsUri: mt.UFSURI,
		ReadOnly: mt.ReadOnly, Shared: mt.Options[sharedOption] == "true"}
	if u, err := url.Parse(mt.UFSURI); err == nil {
		mi.UfsType = u.Scheme
	}
	if withOptions {
		mi.Options = ufsOptions(mt.Options)
	}
	return mi
}

// Unmount removes a mount point and the metadata below it; the UFS is untouched.
func (s *fsServer) Unmount(ctx context.Context, req *sluicepb.UnmountRequest) (*sluicepb.UnmountResponse, error) {
	m := s.m
	p, err := cleanPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	v := m.st.View()
	if p == "/" {
		return nil, withPath(fmt.Errorf("/ cannot be unmounted: %w", ErrNotAMountPoint), p)
	}
	if !isMountPoint(v, p) {
		if _, err := v.Get(p); err != nil {
			return nil, withPath(err, p)
		}
		return nil, withPath(fmt.Errorf("%s: %w", p, ErrNotAMountPoint), p)
	}
	in, err := v.Get(p)
	if err != nil {
		return nil, withPath(err, p)
	}
	res, err := m.apply(ctx, state.EntryUnmount, &sluicepb.UnmountEntry{Path: p, TimeMs: nowMs()})
	if err != nil {
		return nil, withPath(err, p)
	}
	m.dropRemoved(res.Removed)
	m.ufs.forget(in.ID)
	m.log.Info("unmounted", "path", p)
	return &sluicepb.UnmountResponse{}, nil
}

// GetMountTable lists the mounts, "/" first; options only on request.
func (s *fsServer) GetMountTable(_ context.Context, req *sluicepb.GetMountTableRequest) (*sluicepb.GetMountTableResponse, error) {
	var out []*sluicepb.MountPointInfo
	for _, mt := range s.m.st.View().Mounts() {
		out = append(out, mountInfo(mt, req.GetIncludeOptions()))
	}
	return &sluicepb.GetMountTableResponse{Mounts: out}, nil
}
