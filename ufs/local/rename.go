package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	"github.com/sluicedata/sluice/ufs"
)

// Rename moves the file or directory src to dst, creating the parents of dst. An
// existing dst fails with fs.ErrExist and a missing src with fs.ErrNotExist, both
// without changing anything. Moving a directory into itself and renaming the root fail
// with ufs.ErrInvalidPath. The move itself is one rename(2), atomic for files and
// directories alike.
func (f *FS) Rename(ctx context.Context, src, dst string) error {
	const op = "rename"
	srcClean, srcRel, err := f.resolve(op, src)
	if err != nil {
		return err
	}
	dstClean, dstRel, err := f.resolve(op, dst)
	if err != nil {
		return err
	}
	if err := ctxErr(ctx, op, srcClean); err != nil {
		return err
	}
	if srcClean == "/" {
		return &fs.PathError{Op: op, Path: srcClean, Err: fmt.Errorf("the root cannot be renamed: %w", ufs.ErrInvalidPath)}
	}
	fi, err := f.root.Lstat(srcRel)
	if err != nil {
		return f.pathErr(op, srcClean, err)
	}
	if dstClean == "/" {
		return f.pathErr(op, dstClean, syscall.EEXIST)
	}
	if fi.IsDir() && strings.HasPrefix(dstClean, srcClean+"/") {
		return &fs.PathError{Op: op, Path: dstClean, Err: fmt.Errorf("%s is inside %s: %w", dstClean, srcClean, ufs.ErrInvalidPath)}
	}
	if err := f.mkdirAll(op, dstClean, parent(dstRel)); err != nil {
		return err
	}
	if err := f.renameNoReplace(srcRel, dstRel); err != nil {
		if errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
			return f.pathErr(op, dstClean, syscall.EEXIST)
		}
		return f.pathErr(op, srcClean, err)
	}
	if f.opts.Sync {
		if err := f.syncDir(parent(dstRel)); err != nil {
			return f.pathErr(op, dstClean, err)
		}
		if parent(srcRel) != parent(dstRel) {
			if err := f.syncDir(parent(srcRel)); err != nil {
				return f.pathErr(op, srcClean, err)
			}
		}
	}
	return nil
}

// renameChecked renames srcRel to dstRel after checking that dstRel does not exist.
// Between the check and the rename another writer may create dstRel, which is then
// replaced; it serves where the kernel cannot refuse an existing target itself.
func (f *FS) renameChecked(srcRel, dstRel string) error {
	if _, err := f.root.Lstat(dstRel); err == nil {
		return syscall.EEXIST
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return f.root.Rename(srcRel, dstRel)
}

// base returns the last element of a root-relative path.
func base(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[i+1:]
	}
	return rel
}
