package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/sluicedata/sluice/ufs"
)

// Open returns a reader of length bytes of the file at name from offset off (length < 0
// reads to the end) with one ranged GET. An offset at or past the end gives a reader
// that returns io.EOF at once; a negative offset is an error wrapping fs.ErrInvalid.
// ctx bounds the whole read. The reader is not safe for concurrent use.
func (f *FS) Open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	const op = "open"
	clean, err := f.resolve(ctx, op, name)
	if err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, &fs.PathError{Op: op, Path: clean, Err: fmt.Errorf("negative offset %d: %w", off, fs.ErrInvalid)}
	}
	if clean == "/" {
		return nil, &fs.PathError{Op: op, Path: clean, Err: ufs.ErrIsDir}
	}
	if length == 0 {
		// Nothing to read, but the file must exist.
		if _, err := f.fileInfo(ctx, op, clean); err != nil {
			return nil, f.notFileErr(ctx, op, clean, err)
		}
		return http.NoBody, nil
	}
	var opts minio.GetObjectOptions
	switch {
	case length > 0:
		err = opts.SetRange(off, off+length-1)
	case off > 0:
		err = opts.SetRange(off, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: clean, Err: fmt.Errorf("range [%d, +%d): %w", off, length, fs.ErrInvalid)}
	}
	body, _, _, err := f.core.GetObject(ctx, f.bucket, f.key(clean), opts)
	if err == nil {
		return &reader{ctx: ctx, name: clean, body: body}, nil
	}
	if errorCode(err) == "InvalidRange" {
		// The range starts at or past the end of an existing file.
		return http.NoBody, nil
	}
	return nil, f.notFileErr(ctx, op, clean, pathErr(op, clean, err))
}

// notFileErr turns err, a failure to find the file at clean, into ufs.ErrIsDir when a
// directory is there instead.
func (f *FS) notFileErr(ctx context.Context, op, clean string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		if dir, derr := f.isDir(ctx, clean); derr == nil && dir {
			return &fs.PathError{Op: op, Path: clean, Err: ufs.ErrIsDir}
		}
	}
	return err
}

// reader is the body of one ranged GET.
type reader struct {
	// ctx is the context of Open, which bounds the whole read; the request already
	// ends with it, and Read checks it so that a done ctx is reported as itself.
	ctx  context.Context
	name string
	body io.ReadCloser
}

// Read reads from the response body; errors become *fs.PathError.
func (r *reader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, &fs.PathError{Op: "read", Path: r.name, Err: err}
	}
	n, err := r.body.Read(p)
	if err != nil && err != io.EOF {
		err = pathErr("read", r.name, err)
	}
	return n, err
}

// Close ends the response.
func (r *reader) Close() error {
	return r.body.Close()
}

// Stat describes the file or directory at name. A directory exists when it has a
// marker object or any object below it; its ModTime is the marker's, if any.
func (f *FS) Stat(ctx context.Context, name string) (ufs.FileInfo, error) {
	const op = "stat"
	clean, err := f.resolve(ctx, op, name)
	if err != nil {
		return ufs.FileInfo{}, err
	}
	if clean == "/" {
		return ufs.FileInfo{Path: "/", IsDir: true}, nil
	}
	info, err := f.fileInfo(ctx, op, clean)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return info, err
	}
	first, ok, lerr := f.firstBelow(ctx, clean)
	if lerr != nil {
		return ufs.FileInfo{}, pathErr(op, clean, lerr)
	}
	if !ok {
		return ufs.FileInfo{}, err
	}
	dir := ufs.FileInfo{Path: clean, IsDir: true}
	if first.Key == f.dirKey(clean) {
		dir.ModTime = first.LastModified
	}
	return dir, nil
}

// fileInfo describes the file (object) at clean, or fails with fs.ErrNotExist.
func (f *FS) fileInfo(ctx context.Context, op, clean string) (ufs.FileInfo, error) {
	oi, err := f.client.StatObject(ctx, f.bucket, f.key(clean), minio.StatObjectOptions{})
	if err != nil {
		return ufs.FileInfo{}, pathErr(op, clean, err)
	}
	return ufs.FileInfo{Path: clean, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// isFile reports whether a file (object) exists at clean.
func (f *FS) isFile(ctx context.Context, clean string) (bool, error) {
	_, err := f.client.StatObject(ctx, f.bucket, f.key(clean), minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	if isNotExist(err) {
		return false, nil
	}
	return false, err
}

// firstBelow returns the first object whose key begins with the directory key of
// clean: the marker of the directory if it has one. ok is false when there is none,
// that is when no directory exists at clean.
func (f *FS) firstBelow(ctx context.Context, clean string) (oi minio.ObjectInfo, ok bool, err error) {
	for oi := range f.client.ListObjectsIter(ctx, f.bucket, minio.ListObjectsOptions{
		Prefix: f.dirKey(clean), Recursive: true, MaxKeys: 1,
	}) {
		if oi.Err != nil {
			return minio.ObjectInfo{}, false, oi.Err
		}
		return oi, true, nil
	}
	return minio.ObjectInfo{}, false, nil
}

// isDir reports whether a directory exists at clean.
func (f *FS) isDir(ctx context.Context, clean string) (bool, error) {
	if clean == "/" {
		return true, nil
	}
	_, ok, err := f.firstBelow(ctx, clean)
	return ok, err
}

// List describes the direct children of the directory at name, sorted by path: the
// objects directly under its key prefix as files, and the common prefixes below it
// (directories with a marker or with objects deeper down) as directories. Keys that
// make no valid ufs name ("a//b", "./x") are left out. A name that is both an object
// and a prefix is listed once, as the file, as Stat shows it.
func (f *FS) List(ctx context.Context, name string) ([]ufs.FileInfo, error) {
	const op = "list"
	clean, err := f.resolve(ctx, op, name)
	if err != nil {
		return nil, err
	}
	dir := f.dirKey(clean)
	byName := make(map[string]ufs.FileInfo)
	// exists records a marker or any key below dir, listed or not.
	exists := false
	for oi := range f.client.ListObjectsIter(ctx, f.bucket, minio.ListObjectsOptions{Prefix: dir}) {
		if oi.Err != nil {
			return nil, pathErr(op, clean, oi.Err)
		}
		exists = true
		if oi.Key == dir {
			continue
		}
		child, isDir, ok := childName(dir, oi.Key)
		if !ok {
			continue
		}
		info := ufs.FileInfo{Path: ufs.Join(clean, child), IsDir: isDir}
		if !isDir {
			info.Size, info.ModTime = oi.Size, oi.LastModified
		}
		if prev, ok := byName[child]; ok && !prev.IsDir {
			continue // the file wins over a prefix of the same name
		}
		byName[child] = info
	}
	if !exists && clean != "/" {
		// An empty result is an empty directory only if the directory exists.
		file, err := f.isFile(ctx, clean)
		switch {
		case err != nil:
			return nil, pathErr(op, clean, err)
		case file:
			return nil, &fs.PathError{Op: op, Path: clean, Err: ufs.ErrNotDir}
		default:
			return nil, &fs.PathError{Op: op, Path: clean, Err: fs.ErrNotExist}
		}
	}
	infos := make([]ufs.FileInfo, 0, len(byName))
	for _, info := range byName {
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b ufs.FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return infos, nil
}

// Delete removes the file or empty directory at name. A directory with children fails
// with ufs.ErrNotEmpty; the root cannot be deleted (ufs.ErrInvalidPath). The parent
// directory keeps existing: a marker is written for it, since it may have existed only
// through the deleted object's key.
func (f *FS) Delete(ctx context.Context, name string) error {
	const op = "delete"
	clean, err := f.resolve(ctx, op, name)
	if err != nil {
		return err
	}
	if clean == "/" {
		return &fs.PathError{Op: op, Path: clean, Err: fmt.Errorf("the root cannot be deleted: %w", ufs.ErrInvalidPath)}
	}
	file, err := f.isFile(ctx, clean)
	if err != nil {
		return pathErr(op, clean, err)
	}
	key := f.key(clean)
	if !file {
		// A directory: only its marker may be below it.
		key = f.dirKey(clean)
		found, marker := 0, false
		for oi := range f.client.ListObjectsIter(ctx, f.bucket, minio.ListObjectsOptions{
			Prefix: key, Recursive: true, MaxKeys: 2,
		}) {
			if oi.Err != nil {
				return pathErr(op, clean, oi.Err)
			}
			if oi.Key == key {
				marker = true
			} else {
				return &fs.PathError{Op: op, Path: clean, Err: ufs.ErrNotEmpty}
			}
			if found++; found == 2 {
				break
			}
		}
		if !marker {
			return &fs.PathError{Op: op, Path: clean, Err: fs.ErrNotExist}
		}
	}
	if err := f.keepDir(ctx, path.Dir(clean)); err != nil {
		return pathErr(op, clean, err)
	}
	if err := f.client.RemoveObject(ctx, f.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return pathErr(op, clean, err)
	}
	return nil
}

// keepDir writes the marker of the directory at clean (nothing for the root), so that
// it outlives the objects below it.
func (f *FS) keepDir(ctx context.Context, clean string) error {
	if clean == "/" {
		return nil
	}
	_, err := f.client.PutObject(ctx, f.bucket, f.dirKey(clean), bytes.NewReader(nil), 0,
		minio.PutObjectOptions{ContentType: "application/x-directory"})
	return err
}

// checkDirs fails with ufs.ErrNotDir when a file (object) sits where one of dirs, the
// directories an operation on clean needs, should be.
func (f *FS) checkDirs(ctx context.Context, op, clean string, dirs []string) error {
	for _, dir := range dirs {
		file, err := f.isFile(ctx, dir)
		if err != nil {
			return pathErr(op, clean, err)
		}
		if file {
			return &fs.PathError{Op: op, Path: clean, Err: fmt.Errorf("%s is a file: %w", dir, ufs.ErrNotDir)}
		}
	}
	return nil
}

// checkCreate checks that a file can be created at clean: no file above it
// (ufs.ErrNotDir) and no directory at it (ufs.ErrIsDir).
func (f *FS) checkCreate(ctx context.Context, op, clean string) error {
	if err := f.checkDirs(ctx, op, clean, ancestors(clean)); err != nil {
		return err
	}
	dir, err := f.isDir(ctx, clean)
	if err != nil {
		return pathErr(op, clean, err)
	}
	if dir {
		return &fs.PathError{Op: op, Path: clean, Err: ufs.ErrIsDir}
	}
	return nil
}

// Mkdir creates the directory at name by writing marker objects for it and for every
// directory above it. An existing directory is not an error; an existing file at name
// or above it fails with ufs.ErrNotDir.
func (f *FS) Mkdir(ctx context.Context, name string) error {
	const op = "mkdir"
	clean, err := f.resolve(ctx, op, name)
	if err != nil {
		return err
	}
	if clean == "/" {
		return nil
	}
	dirs := append(ancestors(clean), clean)
	if err := f.checkDirs(ctx, op, clean, dirs); err != nil {
		return err
	}
	for _, dir := range dirs {
		if err := f.keepDir(ctx, dir); err != nil {
			return pathErr(op, clean, err)
		}
	}
	return nil
}

// childName returns the name of the direct child of the directory key dir that a
// listed key (an object, or a common prefix ending in "/") stands for. ok is false for
// keys that make no valid ufs name, such as "dir//x" or "dir/./x", which S3 allows
// but paths cannot reach.
func childName(dir, key string) (name string, isDir, ok bool) {
	rest, found := strings.CutPrefix(key, dir)
	if !found {
		return "", false, false
	}
	name, isDir = strings.CutSuffix(rest, "/")
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return "", false, false
	}
	return name, isDir, true
}
