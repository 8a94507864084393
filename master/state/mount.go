package state

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// Mount is one entry of the mount table: the UFS at UFSURI appears at Path.
type Mount struct {
	// ID is the inode ID of the mount point directory (RootID for "/").
	ID       uint64
	Path     string
	UFSURI   string
	ReadOnly bool
	// Options are the backend settings given at mount time (endpoint, credentials …).
	Options map[string]string
}

// Resolution is where a namespace path lies in the under storage.
type Resolution struct {
	// MountPoint is the path of the mount that covers the path (the longest prefix).
	MountPoint string
	MountID    uint64
	// UFSURI names the FS to open (ufs.Registry.Open), UFSPath the path within it.
	UFSURI   string
	UFSPath  string
	ReadOnly bool
	Options  map[string]string // a copy
}

// resolveMount returns the mount with the longest path prefix of clean.
func resolveMount(mounts []Mount, clean string) (Mount, bool) {
	best, found := -1, false
	for i, m := range mounts {
		if isUnder(clean, m.Path) && (!found || len(m.Path) > len(mounts[best].Path)) {
			best, found = i, true
		}
	}
	if !found {
		return Mount{}, false
	}
	return mounts[best], true
}

// ufsRel returns where clean, under mount point mp, lies within the mount's FS.
func ufsRel(mp, clean string) string {
	if mp == "/" {
		return clean
	}
	if clean == mp {
		return "/"
	}
	return clean[len(mp):]
}

// Resolve returns the mount covering path p and where p lies within its UFS. It fails
// with ErrNotFound when no mount covers p (before the root mount is applied). The path
// need not exist in the namespace.
func (v *View) Resolve(p string) (Resolution, error) {
	clean, err := ValidatePath(p)
	if err != nil {
		return Resolution{}, err
	}
	m, ok := resolveMount(v.mounts, clean)
	if !ok {
		return Resolution{}, fmt.Errorf("%s: no mount: %w", clean, ErrNotFound)
	}
	return Resolution{
		MountPoint: m.Path,
		MountID:    m.ID,
		UFSURI:     m.UFSURI,
		UFSPath:    ufsRel(m.Path, clean),
		ReadOnly:   m.ReadOnly,
		Options:    maps.Clone(m.Options),
	}, nil
}

// Mounts returns the mount table sorted by path (deep copies).
func (v *View) Mounts() []Mount {
	out := make([]Mount, len(v.mounts))
	for i, m := range v.mounts {
		m.Options = maps.Clone(m.Options)
		out[i] = m
	}
	return out
}

// HasRootMount reports whether "/" is mounted: the master applies its configured root
// mount once, on the first leadership of a new cluster, when this is false.
func (v *View) HasRootMount() bool {
	return len(v.mounts) > 0 && v.mounts[0].Path == "/"
}

// normalizeURI checks a UFS URI (it needs a scheme) and drops trailing slashes, so that
// overlapping URIs compare by prefix.
func normalizeURI(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("UFS URI %q needs a scheme: %w", raw, ErrInvalidArgument)
	}
	return strings.TrimRight(raw, "/"), nil
}

func urisOverlap(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

// applyMount mounts a UFS. Rules (Alluxio's, with one relaxation):
//   - "/" is mounted once, first (the root mount from the master's configuration); every
//     other mount needs it.
//   - The mount point must not be a mount point already, nor a file (ErrExists); an
//     existing directory must be empty (ErrDirectoryNotEmpty) and then becomes the mount
//     point; a missing one is created (its parent must exist).
//   - Nested mounts (under another mount's directory) are allowed, except under a
//     read-only mount (ErrReadOnly).
//   - A UFS URI that equals, contains or lies within another mount's URI is refused
//     (ErrMountConflict): the same data would appear at two paths.
func (t *txn) applyMount(e *sluicepb.MountEntry) (*Inode, error) {
	t.timeMs = e.GetTimeMs()
	clean, err := ValidatePath(e.GetPath())
	if err != nil {
		return nil, err
	}
	uri, err := normalizeURI(e.GetUfsUri())
	if err != nil {
		return nil, err
	}
	if e.GetMode() > 0o7777 {
		return nil, fmt.Errorf("mode %o: %w", e.GetMode(), ErrInvalidArgument)
	}
	for _, m := range t.mounts {
		if m.Path == clean {
			return nil, fmt.Errorf("%s is already a mount point: %w", clean, ErrMountConflict)
		}
		if urisOverlap(strings.TrimRight(m.UFSURI, "/"), uri) {
			return nil, fmt.Errorf("%s overlaps %s mounted at %s: %w", e.GetUfsUri(), m.UFSURI, m.Path, ErrMountConflict)
		}
	}
	if clean != "/" && len(t.mounts) == 0 {
		return nil, fmt.Errorf("%s: mount / first: %w", clean, ErrMountConflict)
	}
	if err := t.checkWritable(clean); err != nil {
		return nil, err
	}
	var target *Inode
	if clean == "/" {
		target = t.inode(RootID)
	} else {
		parent, name, err := t.lookupParent(clean)
		if err != nil {
			return nil, err
		}
		if target = t.child(parent.ID, name); target == nil {
			ids, err := t.reserve(e.GetIds())
			if err != nil {
				return nil, err
			}
			id, err := t.take(ids)
			if err != nil {
				return nil, err
			}
			target = &Inode{ID: id, ParentID: parent.ID, Name: name, Directory: true, Mode: 0o755,
				CreationTimeMs: e.GetTimeMs(), ModificationTimeMs: e.GetTimeMs()}
			t.put(nil, target)
			t.touch(parent.ID)
		} else if !target.Directory {
			return nil, fmt.Errorf("%s is a file: %w", clean, ErrExists)
		} else if t.hasChildren(target.ID) {
			return nil, fmt.Errorf("%s: %w", clean, ErrDirectoryNotEmpty)
		}
	}
	target = t.update(target.ID, func(in *Inode) {
		in.MountPoint = true
		in.ChildrenLoaded = false
		in.PersistenceState = Persisted
		in.UFSPath = "/"
		if e.GetOwner() != "" {
			in.Owner, in.Group = e.GetOwner(), e.GetGroup()
		}
		if e.GetMode() != 0 {
			in.Mode = e.GetMode()
		}
	})
	m := Mount{ID: target.ID, Path: clean, UFSURI: e.GetUfsUri(), ReadOnly: e.GetReadOnly(),
		Options: maps.Clone(e.GetOptions())}
	mounts := append(slices.Clone(t.mounts), m)
	slices.SortFunc(mounts, func(a, b Mount) int { return strings.Compare(a.Path, b.Path) })
	t.mounts = mounts
	return target, nil
}

// applyUnmount removes a mount and every inode below its mount point, the mount point
// included; UFS data is untouched. "/" cannot be unmounted, nor a mount with mounts
// below it (unmount those first).
func (t *txn) applyUnmount(e *sluicepb.UnmountEntry) ([]Inode, error) {
	t.timeMs = e.GetTimeMs()
	clean, err := ValidatePath(e.GetPath())
	if err != nil {
		return nil, err
	}
	if clean == "/" {
		return nil, fmt.Errorf("cannot unmount /: %w", ErrInvalidArgument)
	}
	idx := slices.IndexFunc(t.mounts, func(m Mount) bool { return m.Path == clean })
	if idx < 0 {
		if _, err := lookup(t, clean); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s is not a mount point: %w", clean, ErrInvalidArgument)
	}
	for _, m := range t.mounts {
		if m.Path != clean && isUnder(m.Path, clean) {
			return nil, fmt.Errorf("%s has a mount below it at %s: %w", clean, m.Path, ErrMountConflict)
		}
	}
	in, err := lookup(t, clean)
	if err != nil {
		return nil, err
	}
	removed := t.removeTree(in, clean)
	t.mounts = slices.Delete(slices.Clone(t.mounts), idx, idx+1)
	return removed, nil
}
