package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sluicedata/sluice/ufs"
)

// tempPrefix begins the name of every temporary file of a Create in progress. Paths
// with an element that begins with it are reserved (see the package doc).
const tempPrefix = ".sluice-tmp-"

// Host permissions of what the FS creates, before the process umask.
const (
	fileMode fs.FileMode = 0o644
	dirMode  fs.FileMode = 0o755
)

// Options tunes an FS. The zero value turns fsync off; start from DefaultOptions.
type Options struct {
	// Sync makes Writer.Close fsync the file before renaming it into place and the
	// directory after, and makes directory creation durable, so a file survives a
	// crash once Close returns. Turning it off trades durability for speed.
	Sync bool
	// CreateRoot makes New create the root directory (and its parents) when missing;
	// otherwise a missing root is an error wrapping fs.ErrNotExist.
	CreateRoot bool
}

// DefaultOptions returns the options used when none are given: Sync on, CreateRoot off.
func DefaultOptions() Options {
	return Options{Sync: true}
}

// FS is a ufs.FS over a directory of this host. Its methods are safe for concurrent
// use. Close releases the handle on the root directory.
type FS struct {
	opts Options
	// rootPath is the absolute host path of the root, symbolic links resolved.
	rootPath string
	root     *os.Root
	// escapeErr is the error os.Root returns for a path that leaves the root. The os
	// package does not export it, so New learns it from a probe and mapErr reports it
	// as fs.ErrPermission.
	escapeErr error
	// syncFile makes a file or directory durable ((*os.File).Sync); tests replace it
	// to count or fail the calls.
	syncFile func(*os.File) error
}

var (
	_ ufs.FS          = (*FS)(nil)
	_ ufs.LocalPather = (*FS)(nil)
)

// New opens the directory root as an FS. root must be a directory (created first if
// opts.CreateRoot); a relative root is taken from the working directory.
func New(root string, opts Options) (*FS, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("local: root %q: %w", root, err)
	}
	if opts.CreateRoot {
		if err := os.MkdirAll(abs, dirMode); err != nil {
			return nil, fmt.Errorf("local: create root: %w", err)
		}
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("local: root: %w", err)
	}
	// os.OpenRoot refuses a file with an error of its own; report ufs.ErrNotDir.
	if fi, err := os.Stat(resolved); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("local: root %s: %w", resolved, ufs.ErrNotDir)
	}
	r, err := os.OpenRoot(resolved)
	if err != nil {
		return nil, fmt.Errorf("local: root %s: %w", resolved, mapHostErr(err, nil))
	}
	f := &FS{opts: opts, rootPath: resolved, root: r, syncFile: (*os.File).Sync}
	// A ".." element is refused by os.Root before any system call, with the same
	// error it returns for a symbolic link that leaves the root.
	if _, err := r.Lstat(".."); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			f.escapeErr = pe.Err
		}
	}
	return f, nil
}

// Close releases the root directory handle; the FS must not be used afterwards.
func (f *FS) Close() error {
	return f.root.Close()
}

// Root returns the absolute host path of the root directory, symbolic links resolved.
func (f *FS) Root() string {
	return f.rootPath
}

// LocalPath returns the host path of name. It refuses, with fs.ErrPermission, a path
// that exists and resolves outside the root through a symbolic link; a caller that
// opens the returned path bypasses the FS and should not hold it across renames.
func (f *FS) LocalPath(name string) (string, error) {
	clean, rel, err := f.resolve("localpath", name)
	if err != nil {
		return "", err
	}
	host := filepath.Join(f.rootPath, filepath.FromSlash(rel))
	resolved, err := filepath.EvalSymlinks(host)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return host, nil
		}
		return "", f.pathErr("localpath", clean, err)
	}
	if resolved != f.rootPath && !strings.HasPrefix(resolved, f.rootPath+string(filepath.Separator)) {
		return "", &fs.PathError{Op: "localpath", Path: clean, Err: fmt.Errorf("symbolic link leaves the root: %w", fs.ErrPermission)}
	}
	return host, nil
}

// resolve cleans a ufs path and returns it with its os.Root-relative form ("." for the
// root). Reserved temporary names are refused as invalid.
func (f *FS) resolve(op, name string) (clean, rel string, err error) {
	clean, err = ufs.CleanPath(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Op = op
		}
		return "", "", err
	}
	for _, elem := range strings.Split(clean, "/") {
		if strings.HasPrefix(elem, tempPrefix) {
			return "", "", &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%q is a reserved name: %w", elem, ufs.ErrInvalidPath)}
		}
	}
	if clean == "/" {
		return clean, ".", nil
	}
	return clean, clean[1:], nil
}

// parent returns the os.Root-relative parent directory of a relative path.
func parent(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return "."
}

// pathErr reports err of op on the ufs path name as a *fs.PathError with the error
// contract of package ufs.
func (f *FS) pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: f.mapErr(err)}
}

// mapErr translates a host error into the sentinels of the ufs contract. The host path
// inside a *fs.PathError or *os.LinkError is dropped, since callers know ufs paths.
func (f *FS) mapErr(err error) error {
	return mapHostErr(err, f.escapeErr)
}

// mapHostErr is mapErr with the error that os.Root returns for a path leaving the root
// (nil when unknown).
func mapHostErr(err, escapeErr error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOENT:
			return fs.ErrNotExist
		case syscall.EEXIST:
			return fs.ErrExist
		case syscall.ENOTEMPTY:
			return ufs.ErrNotEmpty
		case syscall.EISDIR:
			return ufs.ErrIsDir
		case syscall.ENOTDIR:
			return ufs.ErrNotDir
		case syscall.EACCES, syscall.EPERM:
			return fs.ErrPermission
		}
		return errno
	}
	if escapeErr != nil && errors.Is(err, escapeErr) {
		return fmt.Errorf("symbolic link leaves the root: %w", fs.ErrPermission)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// ctxErr returns the error of a done ctx as a PathError of op on name, or nil.
func ctxErr(ctx context.Context, op, name string) error {
	if err := ctx.Err(); err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}
