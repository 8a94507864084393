package master

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"strings"
	"sync"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
	"github.com/sluicedata/sluice/ufs"
)

// sharedOption is the mount option key under which the master records MountRequest.shared.
// It is stripped before the options reach a UFS factory (which refuses unknown keys)
// and from the options reported by GetMountTable.
const sharedOption = "sluice.mount.shared"

// ufsOptions returns a mount's options as a UFS factory wants them.
func ufsOptions(opts map[string]string) map[string]string {
	if _, ok := opts[sharedOption]; !ok {
		return opts
	}
	out := maps.Clone(opts)
	delete(out, sharedOption)
	return out
}

// ufsCache keeps the opened FS of every mount, keyed by mount ID and URI. Safe for
// concurrent use.
type ufsCache struct {
	reg ufs.Registry
	// mu guards fss.
	mu  sync.Mutex
	fss map[string]ufs.FS
}

func newUFSCache(reg ufs.Registry) *ufsCache {
	return &ufsCache{reg: reg, fss: make(map[string]ufs.FS)}
}

// open returns the FS of a mount, opening it on first use. mountID 0 opens without
// caching (verifying a URI before it is mounted).
func (c *ufsCache) open(ctx context.Context, mountID uint64, uri string, opts map[string]string) (ufs.FS, error) {
	key := fmt.Sprintf("%d %s", mountID, uri)
	if mountID != 0 {
		c.mu.Lock()
		f, ok := c.fss[key]
		c.mu.Unlock()
		if ok {
			return f, nil
		}
	}
	f, err := c.reg.Open(ctx, uri, ufsOptions(opts))
	if err != nil {
		if errors.Is(err, ufs.ErrUnknownScheme) {
			return nil, err
		}
		return nil, fmt.Errorf("open %s: %w: %w", uri, ErrUFS, err)
	}
	if mountID != 0 {
		c.mu.Lock()
		c.fss[key] = f
		c.mu.Unlock()
	}
	return f, nil
}

// forget drops (and closes, if it can be closed) the cached FS of a mount (unmounted).
func (c *ufsCache) forget(mountID uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := fmt.Sprintf("%d ", mountID)
	for k, f := range c.fss {
		if strings.HasPrefix(k, prefix) {
			closeFS(f)
			delete(c.fss, k)
		}
	}
}

// close drops and closes every cached FS (the master stops).
func (c *ufsCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, f := range c.fss {
		closeFS(f)
		delete(c.fss, k)
	}
}

// closeFS closes an FS that holds resources (an io.Closer).
func closeFS(f ufs.FS) {
	if c, ok := f.(io.Closer); ok {
		c.Close()
	}
}

// fsOf opens the FS a resolution points into.
func (m *Master) fsOf(ctx context.Context, r state.Resolution) (ufs.FS, error) {
	return m.ufs.open(ctx, r.MountID, r.UFSURI, r.Options)
}

// ufsURI joins a mount URI and a path within it into a full UFS URI.
func ufsURI(mountURI, p string) string {
	if p == "/" || p == "" {
		return mountURI
	}
	return strings.TrimRight(mountURI, "/") + p
}

// ufsFile describes the UFS file of a resolution for executors.
func ufsFile(r state.Resolution) *sluicepb.UfsFile {
	return &sluicepb.UfsFile{Uri: ufsURI(r.UFSURI, r.UFSPath), MountId: r.MountID,
		MountOptions: ufsOptions(r.Options), ReadOnly: r.ReadOnly}
}

// tempMarker is part of every temporary persist name, so listings skip them.
const tempMarker = ".sluice-persist-"

// tempUFSPath returns the temporary UFS path of one persist attempt of the file at p: a
// hidden name in the same directory.
func tempUFSPath(p string, fileID, attempt uint64) string {
	dir, name := path.Split(p)
	return fmt.Sprintf("%s.%s%s%d-%d.tmp", dir, name, tempMarker, fileID, attempt)
}

// ufsErr marks a UFS failure that is not one of the ufs contract errors as ErrUFS.
func ufsErr(op, p string, err error) error {
	if err == nil {
		return nil
	}
	for _, known := range []error{fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, ufs.ErrNotEmpty,
		ufs.ErrIsDir, ufs.ErrNotDir, ufs.ErrInvalidPath, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, known) {
			return fmt.Errorf("ufs %s %s: %w", op, p, err)
		}
	}
	return fmt.Errorf("ufs %s %s: %w: %w", op, p, ErrUFS, err)
}

// removeAllRounds bounds how many times removeAll empties a directory that something
// keeps writing into.
const removeAllRounds = 5

// removeAll deletes p and everything below it from a UFS. A file that appears in a
// directory while it is being emptied (an executor's in-flight persist writing its
// temporary file there) makes the directory's delete fail with ufs.ErrNotEmpty: the
// directory is then listed and emptied again, up to removeAllRounds times, before the
// error is returned.
func removeAll(ctx context.Context, f ufs.FS, p string) error {
	fi, err := f.Stat(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return ufsErr("stat", p, err)
	}
	for round := 1; ; round++ {
		if fi.IsDir {
			children, err := f.List(ctx, p)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return ufsErr("list", p, err)
			}
			for _, c := range children {
				if err := removeAll(ctx, f, c.Path); err != nil {
					return err
				}
			}
		}
		if p == "/" {
			return nil
		}
		err := f.Delete(ctx, p)
		switch {
		case err == nil || errors.Is(err, fs.ErrNotExist):
			return nil
		case fi.IsDir && errors.Is(err, ufs.ErrNotEmpty) && round < removeAllRounds:
			continue
		}
		return ufsErr("delete", p, err)
	}
}
