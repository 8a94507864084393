package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/sluicedata/sluice/ufs"
)

// Open returns a reader of length bytes of the file at name from offset off (length < 0
// reads to the end). An offset past the end gives a reader that returns io.EOF at
// once; a negative offset is an error wrapping fs.ErrInvalid. The reader checks ctx
// before every Read and is not safe for concurrent use.
func (f *FS) Open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	const op = "open"
	clean, rel, err := f.resolve(op, name)
	if err != nil {
		return nil, err
	}
	if err := ctxErr(ctx, op, clean); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, &fs.PathError{Op: op, Path: clean, Err: fmt.Errorf("negative offset %d: %w", off, fs.ErrInvalid)}
	}
	file, err := f.root.Open(rel)
	if err != nil {
		return nil, f.pathErr(op, clean, err)
	}
	fi, err := file.Stat()
	if err == nil && fi.IsDir() {
		err = syscall.EISDIR
	}
	if err == nil && off > 0 {
		_, err = file.Seek(off, io.SeekStart)
	}
	if err != nil {
		file.Close()
		return nil, f.pathErr(op, clean, err)
	}
	return &reader{ctx: ctx, fs: f, name: clean, file: file, left: length}, nil
}

// reader reads a window of one file.
type reader struct {
	// ctx is the context of the Open call: it bounds the whole read, as the ufs.FS
	// contract asks, so it is kept here.
	ctx  context.Context
	fs   *FS
	name string
	file *os.File
	// left is the number of bytes still to read, or negative for "to the end".
	left int64
}

// Read reads up to len(p) bytes of the window.
func (r *reader) Read(p []byte) (int, error) {
	if err := ctxErr(r.ctx, "read", r.name); err != nil {
		return 0, err
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	if r.left > 0 && int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.file.Read(p)
	if r.left > 0 {
		r.left -= int64(n)
	}
	if err != nil && err != io.EOF {
		err = r.fs.pathErr("read", r.name, err)
	}
	return n, err
}

// Close closes the file.
func (r *reader) Close() error {
	if err := r.file.Close(); err != nil {
		return r.fs.pathErr("close", r.name, err)
	}
	return nil
}

// Stat describes the file or directory at name, following symbolic links inside the
// root.
func (f *FS) Stat(ctx context.Context, name string) (ufs.FileInfo, error) {
	const op = "stat"
	clean, rel, err := f.resolve(op, name)
	if err != nil {
		return ufs.FileInfo{}, err
	}
	if err := ctxErr(ctx, op, clean); err != nil {
		return ufs.FileInfo{}, err
	}
	fi, err := f.root.Stat(rel)
	if err != nil {
		return ufs.FileInfo{}, f.pathErr(op, clean, err)
	}
	return fileInfo(clean, fi), nil
}

// fileInfo converts a host description of the entry at the ufs path clean.
func fileInfo(clean string, fi fs.FileInfo) ufs.FileInfo {
	info := ufs.FileInfo{Path: clean, ModTime: fi.ModTime(), IsDir: fi.IsDir()}
	if !info.IsDir {
		info.Size = fi.Size()
	}
	return info
}

// List describes the regular files and directories directly under name, sorted by
// path; temporary files of writes in progress are never listed.
func (f *FS) List(ctx context.Context, name string) ([]ufs.FileInfo, error) {
	const op = "list"
	clean, rel, err := f.resolve(op, name)
	if err != nil {
		return nil, err
	}
	if err := ctxErr(ctx, op, clean); err != nil {
		return nil, err
	}
	dir, err := f.root.Open(rel)
	if err != nil {
		return nil, f.pathErr(op, clean, err)
	}
	entries, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return nil, f.pathErr(op, clean, err)
	}
	infos := make([]ufs.FileInfo, 0, len(entries))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		childRel := e.Name()
		if rel != "." {
			childRel = rel + "/" + e.Name()
		}
		var fi fs.FileInfo
		if e.Type()&fs.ModeSymlink != 0 {
			// A link that leaves the root or dangles cannot be opened through
			// this FS, so it is not listed.
			if fi, err = f.root.Stat(childRel); err != nil {
				continue
			}
		} else if fi, err = e.Info(); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since ReadDir
			}
			return nil, f.pathErr(op, clean, err)
		}
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			continue
		}
		infos = append(infos, fileInfo(ufs.Join(clean, e.Name()), fi))
	}
	slices.SortFunc(infos, func(a, b ufs.FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return infos, nil
}

// Delete removes the file or empty directory at name. A directory with children fails
// with ufs.ErrNotEmpty; the root cannot be deleted (ufs.ErrInvalidPath).
func (f *FS) Delete(ctx context.Context, name string) error {
	const op = "delete"
	clean, rel, err := f.resolve(op, name)
	if err != nil {
		return err
	}
	if err := ctxErr(ctx, op, clean); err != nil {
		return err
	}
	if clean == "/" {
		return &fs.PathError{Op: op, Path: clean, Err: fmt.Errorf("the root cannot be deleted: %w", ufs.ErrInvalidPath)}
	}
	if err := f.root.Remove(rel); err != nil {
		// Some systems report a non-empty directory as EEXIST.
		if errors.Is(err, syscall.EEXIST) {
			err = syscall.ENOTEMPTY
		}
		return f.pathErr(op, clean, err)
	}
	if f.opts.Sync {
		if err := f.syncDir(parent(rel)); err != nil {
			return f.pathErr(op, clean, err)
		}
	}
	return nil
}

// Mkdir creates the directory at name and its missing parents. An existing directory
// is not an error; an existing file at name or at a parent fails with ufs.ErrNotDir.
func (f *FS) Mkdir(ctx context.Context, name string) error {
	const op = "mkdir"
	clean, rel, err := f.resolve(op, name)
	if err != nil {
		return err
	}
	if err := ctxErr(ctx, op, clean); err != nil {
		return err
	}
	return f.mkdirAll(op, clean, rel)
}

// mkdirAll creates the directory rel and its missing parents for op on the ufs path
// clean. With Options.Sync it fsyncs the parent of every directory it made, so the new
// directories survive a crash. Concurrent calls on overlapping paths are safe.
func (f *FS) mkdirAll(op, clean, rel string) error {
	if fi, err := f.root.Stat(rel); err == nil {
		if !fi.IsDir() {
			return f.pathErr(op, clean, syscall.ENOTDIR)
		}
		return nil
	}
	var created []string
	elems := strings.Split(rel, "/")
	for i := range elems {
		p := strings.Join(elems[:i+1], "/")
		err := f.root.Mkdir(p, dirMode)
		switch {
		case err == nil:
			created = append(created, p)
		case errors.Is(err, fs.ErrExist):
			// Made by someone else, or not a directory at all.
			fi, err := f.root.Stat(p)
			if err != nil {
				return f.pathErr(op, clean, err)
			}
			if !fi.IsDir() {
				return f.pathErr(op, clean, syscall.ENOTDIR)
			}
		default:
			return f.pathErr(op, clean, err)
		}
	}
	if f.opts.Sync {
		for _, p := range created {
			if err := f.syncDir(parent(p)); err != nil {
				return f.pathErr(op, clean, err)
			}
		}
	}
	return nil
}

// syncDir fsyncs the directory rel so that entries added or removed in it are durable.
func (f *FS) syncDir(rel string) error {
	d, err := f.root.Open(rel)
	if err != nil {
		return err
	}
	err = f.syncFile(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
