package master

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
)

// filesUnder returns the inode at p and, for a directory, the files below it (all of
// them with recursive, the direct children otherwise).
func filesUnder(v *state.View, p string, recursive bool) (state.Inode, []state.Inode, error) {
	in, err := v.Get(p)
	if err != nil {
		return in, nil, err
	}
	if in.IsFile() {
		return in, []state.Inode{in}, nil
	}
	var files []state.Inode
	err = v.Walk(p, func(c state.Inode) error {
		if c.IsFile() {
			files = append(files, c)
		}
		if c.Directory && c.ID != in.ID && !recursive {
			return fs.SkipDir
		}
		return nil
	})
	return in, files, err
}

// Free drops cached copies (see Master.free for the rules).
func (s *fsServer) Free(ctx context.Context, req *sluicepb.FreeRequest) (*sluicepb.FreeResponse, error) {
	p, err := cleanPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	files, blocks, err := s.m.free(ctx, p, req.GetRecursive(), req.GetForced())
	if err != nil {
		return nil, withPath(err, p)
	}
	return &sluicepb.FreeResponse{FreedFiles: files, FreedBlocks: blocks}, nil
}

// free drops the cached copies of the files at p (executors are told with FREE commands
// at their next heartbeat). A directory with children needs recursive. Like Alluxio,
// un-persisted files are refused (NOT_PERSISTED) unless forced, and pinned files are
// skipped unless forced (which unpins them). A forced free of an un-persisted file
// destroys its only data: the file becomes LOST. Incomplete files are skipped.
func (m *Master) free(ctx context.Context, p string, recursive, forced bool) (files, copies int64, err error) {
	v := m.st.View()
	in, list, err := filesUnder(v, p, true)
	if err != nil {
		return 0, 0, err
	}
	if in.Directory && !recursive {
		if children, _ := v.List(p); len(children) > 0 {
			return 0, 0, fmt.Errorf("%s: %w", p, state.ErrDirectoryNotEmpty)
		}
	}
	if in.IsFile() && !in.Complete {
		return 0, 0, fmt.Errorf("%s: %w", p, state.ErrFileIncomplete)
	}
	if !forced {
		for _, f := range list {
			if f.Complete && f.PersistenceState != state.Persisted && !f.Pinned {
				return 0, 0, withPath(fmt.Errorf("%s is %v: %w", f.Path, f.PersistenceState, ErrNotPersisted), f.Path)
			}
		}
	}
	for _, f := range list {
		if !f.Complete || (f.Pinned && !forced) {
			continue
		}
		n := m.blocks.free(f.BlockIDs())
		if n == 0 {
			continue
		}
		files++
		copies += n
		if f.Pinned {
			unpin := false
			if _, err := m.apply(ctx, state.EntrySetAttribute, &sluicepb.SetAttributeEntry{Path: f.Path, Pinned: &unpin, TimeMs: nowMs()}); err != nil {
				return files, copies, err
			}
		}
		if f.PersistenceState != state.Persisted {
			if err := m.markLost(ctx, f); err != nil {
				return files, copies, err
			}
		}
	}
	return files, copies, nil
}

// Persist schedules the checkpoint of a file or of a directory's files and, with wait,
// waits for them (see waitPersisted). LOST files fail with FILE_LOST, files under a
// read-only mount with READ_ONLY_MOUNT, an INCOMPLETE file named directly with
// FILE_INCOMPLETE; incomplete files inside a directory are skipped.
func (s *fsServer) Persist(ctx context.Context, req *sluicepb.PersistRequest) (*sluicepb.PersistResponse, error) {
	m := s.m
	p, err := cleanPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	if err := m.loader.ensure(ctx, p, sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_ONCE, false); err != nil {
		return nil, withPath(err, p)
	}
	v := m.st.View()
	in, list, err := filesUnder(v, p, req.GetRecursive())
	if err != nil {
		return nil, withPath(err, p)
	}
	resp := &sluicepb.PersistResponse{}
	var wait []uint64
	for _, f := range list {
		switch {
		case !f.Complete && in.IsFile():
			return nil, withPath(fmt.Errorf("%s: %w", f.Path, state.ErrFileIncomplete), f.Path)
		case !f.Complete:
			continue
		case f.PersistenceState == state.Persisted:
			resp.AlreadyPersisted++
			continue
		case f.PersistenceState == state.Lost:
			return nil, &detailError{path: f.Path, err: fmt.Errorf("%s: %w", f.Path, ErrFileLost)}
		}
		if r, err := v.Resolve(f.Path); err == nil && r.ReadOnly {
			return nil, withPath(fmt.Errorf("%s: %w", f.Path, state.ErrReadOnly), f.Path)
		}
		if f.PersistenceState == state.NotPersisted {
			resp.ScheduledPaths = append(resp.ScheduledPaths, f.Path)
		}
		if err := m.schedulePersist(ctx, f); err != nil {
			return nil, withPath(err, f.Path)
		}
		wait = append(wait, f.ID)
	}
	if req.GetWait() {
		if err := m.waitPersisted(ctx, wait); err != nil {
			return nil, withPath(err, p)
		}
	}
	return resp, nil
}

// waitPersisted waits until every file of ids is PERSISTED. A deleted file fails with
// NOT_FOUND, a LOST one with FILE_LOST, and the end of ctx's deadline with TIMEOUT
// (answered shortly before the deadline, so the caller sees it).
func (m *Master) waitPersisted(ctx context.Context, ids []uint64) error {
	ctx, cancel := answerBefore(ctx)
	defer cancel()
	for {
		ch := m.changed()
		v := m.st.View()
		pending := 0
		for _, id := range ids {
			in, err := v.GetByID(id)
			switch {
			case err != nil:
				return fmt.Errorf("file %d deleted while persisting: %w", id, state.ErrNotFound)
			case in.PersistenceState == state.Lost:
				return &detailError{path: in.Path, err: fmt.Errorf("%s: %w", in.Path, ErrFileLost)}
			case in.PersistenceState != state.Persisted:
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		if err := m.waitChange(ctx, ch); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("%d files not yet persisted (the persists go on): %w: %w", pending, ErrTimeout, err)
			}
			return err
		}
	}
}
