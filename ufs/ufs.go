package ufs

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors of the ufs contract besides fs.ErrNotExist, fs.ErrExist and fs.ErrPermission.
var (
	// ErrInvalidPath reports a path that CleanPath rejects.
	ErrInvalidPath = errors.New("ufs: invalid path")
	// ErrNotEmpty reports a Delete of a directory that still has children.
	ErrNotEmpty = errors.New("ufs: directory not empty")
	// ErrIsDir reports a file operation on a directory.
	ErrIsDir = errors.New("ufs: is a directory")
	// ErrNotDir reports a directory operation on a file, or a file used as a parent.
	ErrNotDir = errors.New("ufs: not a directory")
	// ErrAborted is returned by Write and Close after Abort.
	ErrAborted = errors.New("ufs: write aborted")
	// ErrUnknownScheme reports a URI whose scheme has no factory in the Registry.
	ErrUnknownScheme = errors.New("ufs: unknown scheme")
)

// FileInfo describes a file or directory of an FS.
type FileInfo struct {
	// Path is the cleaned path of the entry within its FS, e.g. "/a/b.txt".
	Path string
	// Size is the length of a file in bytes; 0 for directories.
	Size int64
	// ModTime is the last modification time the backend reports (zero if unknown).
	ModTime time.Time
	// IsDir is true for directories (and, on object stores, for common prefixes).
	IsDir bool
}

// Name returns the last element of Path ("/" for the root).
func (fi FileInfo) Name() string {
	if fi.Path == "/" {
		return "/"
	}
	for i := len(fi.Path) - 1; i >= 0; i-- {
		if fi.Path[i] == '/' {
			return fi.Path[i+1:]
		}
	}
	return fi.Path
}

// Writer receives the bytes of a file being created. Nothing is visible at the path
// until Close returns nil: a reader sees either no file or the whole file, never part of
// it. Abort discards what was written; after Abort or a failed Close the path is left as
// it was before Create. A Writer is not safe for concurrent use.
type Writer interface {
	io.Writer
	// Close commits the file. It fails with fs.ErrExist (wrapped) if another writer
	// committed the same path first, when the backend can tell.
	Close() error
	// Abort discards the file. It is safe to call after Close (then it does nothing).
	Abort() error
}

// FS is one under file system. All methods are safe for concurrent use, take a cleaned
// or cleanable path (see CleanPath) and report errors as described in the package doc.
type FS interface {
	// Open returns a reader of length bytes of the file at name starting at offset off;
	// length < 0 reads to the end. Reading past the end returns io.EOF early, not an error.
	Open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error)
	// Create starts writing a new file at name, creating missing parent directories.
	// The file becomes visible atomically on Writer.Close; an existing file at name is
	// replaced then (the master guards write-once semantics, not the UFS). ctx bounds
	// the whole write, not only this call.
	Create(ctx context.Context, name string) (Writer, error)
	// Stat describes the file or directory at name.
	Stat(ctx context.Context, name string) (FileInfo, error)
	// List describes the direct children of the directory at name, sorted by path.
	List(ctx context.Context, name string) ([]FileInfo, error)
	// Delete removes the file or empty directory at name.
	Delete(ctx context.Context, name string) error
	// Rename moves the file or directory src to dst, which must not exist; its parent
	// directories are created. It is atomic for files on every backend; directory
	// renames are atomic only where the backend says so.
	Rename(ctx context.Context, src, dst string) error
	// Mkdir creates the directory at name and any missing parents; an existing
	// directory is not an error.
	Mkdir(ctx context.Context, name string) error
}

// LocalPather is implemented by an FS whose files are plain files on this host, so that
// a caller can read them directly (a benchmark beside os.File, a short-circuit load).
type LocalPather interface {
	// LocalPath returns the host path of name.
	LocalPath(name string) (string, error)
}
