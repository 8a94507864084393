package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"

	"github.com/sluicedata/sluice/ufs"
)

// Create starts writing the file at name, creating its missing parent directories now.
// The bytes go to a hidden temporary file beside the target, which Writer.Close renames
// into place (replacing a file already there) and Abort removes. ctx bounds the whole
// write: once it is done, Write and Close fail and nothing is committed.
func (f *FS) Create(ctx context.Context, name string) (ufs.Writer, error) {
	const op = "create"
	clean, rel, err := f.resolve(op, name)
	if err != nil {
		return nil, err
	}
	if err := ctxErr(ctx, op, clean); err != nil {
		return nil, err
	}
	if clean == "/" {
		return nil, f.pathErr(op, clean, syscall.EISDIR)
	}
	dir := parent(rel)
	if err := f.mkdirAll(op, clean, dir); err != nil {
		return nil, err
	}
	if fi, err := f.root.Lstat(rel); err == nil && fi.IsDir() {
		return nil, f.pathErr(op, clean, syscall.EISDIR)
	}
	tmpRel, file, err := f.createTemp(dir)
	if err != nil {
		return nil, f.pathErr(op, clean, err)
	}
	return &writer{ctx: ctx, fs: f, name: clean, rel: rel, tmpRel: tmpRel, file: file}, nil
}

// createTemp creates a new temporary file in the directory dir and returns its
// root-relative path.
func (f *FS) createTemp(dir string) (string, *os.File, error) {
	for range 16 {
		rel := tempPrefix + strconv.FormatUint(rand.Uint64(), 36)
		if dir != "." {
			rel = dir + "/" + rel
		}
		file, err := f.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
		if err == nil {
			return rel, file, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", nil, err
		}
	}
	return "", nil, fmt.Errorf("no free temporary name in %q: %w", dir, fs.ErrExist)
}

// writerState is where a writer is in its life.
type writerState int

const (
	writerOpen writerState = iota
	writerClosed
	writerAborted
)

// writer is the ufs.Writer of Create. It is not safe for concurrent use.
type writer struct {
	// ctx is the context of Create: it bounds the whole write, as the ufs.FS
	// contract asks, so it is kept here.
	ctx    context.Context
	fs     *FS
	name   string // ufs path of the target
	rel    string // root-relative path of the target
	tmpRel string // root-relative path of the temporary file
	file   *os.File
	state  writerState
}

// check reports why op cannot go on: an earlier Close or Abort, or a done ctx.
func (w *writer) check(op string) error {
	switch w.state {
	case writerAborted:
		return &fs.PathError{Op: op, Path: w.name, Err: ufs.ErrAborted}
	case writerClosed:
		return &fs.PathError{Op: op, Path: w.name, Err: fs.ErrClosed}
	}
	return ctxErr(w.ctx, op, w.name)
}

// Write appends p to the temporary file.
func (w *writer) Write(p []byte) (int, error) {
	if err := w.check("write"); err != nil {
		return 0, err
	}
	n, err := w.file.Write(p)
	if err != nil {
		return n, w.fs.pathErr("write", w.name, err)
	}
	return n, nil
}

// ReadFrom appends everything r yields, letting the kernel copy between files
// (copy_file_range, splice) where it can, as when a block file is persisted. ctx is
// checked once, before the copy.
func (w *writer) ReadFrom(r io.Reader) (int64, error) {
	if err := w.check("write"); err != nil {
		return 0, err
	}
	n, err := w.file.ReadFrom(r)
	if err != nil {
		return n, w.fs.pathErr("write", w.name, err)
	}
	return n, nil
}

// Close commits the file: fsync (with Options.Sync), rename over the target, fsync of
// the directory. On failure the temporary file is removed and the target is left as
// it was, except when only the final directory fsync fails: the file is then in place
// but its rename may not survive a crash.
func (w *writer) Close() error {
	const op = "close"
	if err := w.check(op); err != nil {
		if w.state == writerOpen {
			w.discard()
			w.state = writerClosed
		}
		return err
	}
	w.state = writerClosed
	var err error
	if w.fs.opts.Sync {
		err = w.fs.syncFile(w.file)
	}
	if cerr := w.file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.fs.root.Rename(w.tmpRel, w.rel)
	}
	if err != nil {
		w.fs.root.Remove(w.tmpRel)
		return w.fs.pathErr(op, w.name, err)
	}
	if w.fs.opts.Sync {
		if err := w.fs.syncDir(parent(w.rel)); err != nil {
			return w.fs.pathErr(op, w.name, err)
		}
	}
	return nil
}

// Abort discards the temporary file. It does nothing after Close or a first Abort.
func (w *writer) Abort() error {
	if w.state != writerOpen {
		return nil
	}
	w.state = writerAborted
	if err := w.discard(); err != nil {
		return w.fs.pathErr("abort", w.name, err)
	}
	return nil
}

// discard closes and removes the temporary file.
func (w *writer) discard() error {
	w.file.Close()
	if err := w.fs.root.Remove(w.tmpRel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
