package master

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"golang.org/x/sync/singleflight"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
	"github.com/sluicedata/sluice/ufs"
)

// loadChunk bounds the inodes of one LoadMetadata entry.
const loadChunk = 4096

// metaLoader brings UFS metadata into the namespace (LoadMetadataType semantics):
// directories are listed one level at a time and what they hold is journaled as
// PERSISTED inodes with no cached blocks. Concurrent loads of one directory collapse
// into one.
type metaLoader struct {
	m  *Master
	sf singleflight.Group
}

// ensure loads what the UFS holds along p: every directory from "/" down to p's parent
// whose children are not yet loaded (or, with ALWAYS, p's parent again) and, with
// listTarget, p itself when it is a directory. A missing path is not an error here: the
// caller's lookup reports it.
func (l *metaLoader) ensure(ctx context.Context, p string, mode sluicepb.LoadMetadataType, listTarget bool) error {
	if mode == sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_NEVER {
		return nil
	}
	always := mode == sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ALWAYS
	if !always && l.m.st.View().Loaded(p, listTarget) {
		// Everything along p is known: the common case, checked in one walk.
		return nil
	}
	comps := strings.Split(strings.Trim(p, "/"), "/")
	if p == "/" {
		comps = nil
	}
	cur := "/"
	for i := 0; ; i++ {
		in, err := l.m.st.View().Get(cur)
		if err != nil || !in.Directory {
			return nil
		}
		isTarget := i == len(comps)
		isParent := i == len(comps)-1
		if (!isTarget || listTarget) && (!in.ChildrenLoaded || (always && (isTarget || isParent))) {
			if err := l.loadDir(ctx, cur); err != nil {
				return err
			}
		}
		if isTarget {
			return nil
		}
		cur = path.Join(cur, comps[i])
		if _, err := l.m.st.View().Get(cur); err != nil {
			// Not known although its parent was listed once: the UFS may have it now.
			if err := l.loadOne(ctx, cur); err != nil {
				return err
			}
		}
	}
}

// loadOne looks up one path in the UFS and journals it if it exists there.
func (l *metaLoader) loadOne(ctx context.Context, p string) error {
	_, err, _ := l.sf.Do("one:"+p, func() (any, error) {
		m := l.m
		v := m.st.View()
		res, err := v.Resolve(p)
		if err != nil {
			return nil, err
		}
		f, err := m.fsOf(ctx, res)
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat(ctx, res.UFSPath)
		switch {
		case errorsIsAny(err, fs.ErrNotExist, ufs.ErrNotDir):
			return nil, nil
		case err != nil:
			return nil, ufsErr("stat", res.UFSPath, err)
		case strings.Contains(path.Base(p), tempMarker):
			return nil, nil
		}
		li := m.loadedInode(p, fi)
		alloc, err := m.allocator()
		if err != nil {
			return nil, err
		}
		ids, err := alloc.Reserve(1)
		if err != nil {
			return nil, err
		}
		li.Id = ids.GetFirst()
		_, err = m.apply(ctx, state.EntryLoadMetadata, &sluicepb.LoadMetadataEntry{Inodes: []*sluicepb.LoadedInode{li}, TimeMs: nowMs()})
		return nil, err
	})
	return err
}

// loadedInode describes a UFS entry found at namespace path p.
func (m *Master) loadedInode(p string, c ufs.FileInfo) *sluicepb.LoadedInode {
	li := &sluicepb.LoadedInode{Path: p, Directory: c.IsDir, Owner: m.cfg.DefaultOwner,
		Group: m.cfg.DefaultGroup, Mode: 0o644}
	if c.IsDir {
		li.Mode = 0o755
	} else {
		li.Length = c.Size
		li.BlockSize = m.cfg.DefaultBlockSize
		for li.Length > li.BlockSize*state.MaxBlocksPerFile {
			li.BlockSize *= 2
		}
	}
	if !c.ModTime.IsZero() {
		li.UfsMtimeMs = c.ModTime.UnixMilli()
	}
	li.UfsFingerprint = fmt.Sprintf("size:%d,mtime:%d", c.Size, li.UfsMtimeMs)
	return li
}

// errorsIsAny reports whether err matches any of targets.
func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// ensureTree loads every directory of the subtree at p whose children are not loaded
// (recursive listings), parents first.
func (l *metaLoader) ensureTree(ctx context.Context, p string, mode sluicepb.LoadMetadataType) error {
	if mode == sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_NEVER {
		return nil
	}
	always := mode == sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ALWAYS
	queue := []string{p}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		in, err := l.m.st.View().Get(dir)
		if err != nil || !in.Directory {
			continue
		}
		if !in.ChildrenLoaded || always {
			if err := l.loadDir(ctx, dir); err != nil {
				return err
			}
		}
		children, err := l.m.st.View().List(dir)
		if err != nil {
			continue
		}
		for _, c := range children {
			if c.Directory {
				queue = append(queue, c.Path)
			}
		}
	}
	return nil
}

// loadDir lists the UFS directory behind dir and journals what the namespace lacks.
func (l *metaLoader) loadDir(ctx context.Context, dir string) error {
	_, err, _ := l.sf.Do(dir, func() (any, error) { return nil, l.loadDirOnce(ctx, dir) })
	return err
}

func (l *metaLoader) loadDirOnce(ctx context.Context, dir string) error {
	m := l.m
	v := m.st.View()
	in, err := v.Get(dir)
	if err != nil || !in.Directory {
		return nil
	}
	res, err := v.Resolve(dir)
	if err != nil {
		return err
	}
	f, err := m.fsOf(ctx, res)
	if err != nil {
		return err
	}
	list, err := f.List(ctx, res.UFSPath)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, ufs.ErrNotDir):
		// A directory that exists only in Sluice (not persisted yet) has nothing to
		// load; it is still marked loaded so it is not listed again.
		list = nil
	case err != nil:
		return ufsErr("list", res.UFSPath, err)
	}
	var found []*sluicepb.LoadedInode
	for _, c := range list {
		name := c.Name()
		if strings.Contains(name, tempMarker) {
			continue
		}
		p, err := state.ValidatePath(path.Join(dir, name))
		if err != nil || path.Dir(p) != dir {
			m.log.Warn("ufs entry with an unusable name skipped", "dir", dir, "name", name)
			continue
		}
		if _, err := v.Get(p); err == nil {
			continue
		}
		li := m.loadedInode(p, c)
		found = append(found, li)
	}
	if len(found) == 0 && in.ChildrenLoaded {
		return nil // ALWAYS found nothing new: no entry to journal
	}
	// Large directories go in several entries so none exceeds Raft's comfortable entry
	// size; the directory counts as loaded only with the last one, so an interrupted
	// load is redone.
	alloc, err := m.allocator()
	if err != nil {
		return err
	}
	for start := 0; start < len(found) || start == 0; start += loadChunk {
		chunk := found[start:min(start+loadChunk, len(found))]
		e := &sluicepb.LoadMetadataEntry{Inodes: chunk, TimeMs: nowMs()}
		if len(chunk) > 0 {
			ids, err := alloc.Reserve(len(chunk))
			if err != nil {
				return err
			}
			for i, li := range chunk {
				li.Id = ids.GetFirst() + uint64(i)
			}
		}
		if start+loadChunk >= len(found) {
			e.LoadedDirs = []string{dir}
		}
		if _, err := m.apply(ctx, state.EntryLoadMetadata, e); err != nil {
			return fmt.Errorf("load metadata of %s: %w", dir, err)
		}
		if len(found) == 0 {
			break
		}
	}
	return nil
}
