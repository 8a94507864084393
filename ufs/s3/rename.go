package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/sluicedata/sluice/ufs"
)

// Rename moves the file or directory src to dst, which must not exist (fs.ErrExist).
// S3 has no rename: a file is copied on the server (CopyObject, or a multipart
// ComposeObject above 5 GiB) and then deleted, so dst appears whole in one step but
// src and dst both exist for a moment. A directory is renamed by copying every object
// below it and then deleting the originals: this is NOT atomic, and a failure part way
// leaves some objects copied (both names readable) while every original is kept until
// all copies have succeeded. The absence check of dst is not atomic with the copy
// either; the master serializes renames of a namespace.
func (f *FS) Rename(ctx context.Context, src, dst string) error {
	const op = "rename"
	from, err := f.resolve(ctx, op, src)
	if err != nil {
		return err
	}
	to, err := f.resolve(ctx, op, dst)
	if err != nil {
		return err
	}
	if from == "/" {
		return &fs.PathError{Op: op, Path: from, Err: fmt.Errorf("the root cannot be renamed: %w", ufs.ErrInvalidPath)}
	}
	info, err := f.Stat(ctx, from)
	if err != nil {
		return renameErr(err)
	}
	if _, err := f.Stat(ctx, to); err == nil {
		return &fs.PathError{Op: op, Path: to, Err: fs.ErrExist}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return renameErr(err)
	}
	if strings.HasPrefix(to, from+"/") {
		return &fs.PathError{Op: op, Path: to, Err: fmt.Errorf("cannot move %s below itself: %w", from, fs.ErrInvalid)}
	}
	if err := f.checkDirs(ctx, op, to, ancestors(to)); err != nil {
		return err
	}
	// The source's parent must outlive the move, as for Delete.
	if err := f.keepDir(ctx, path.Dir(from)); err != nil {
		return pathErr(op, from, err)
	}
	if !info.IsDir {
		if err := f.copyObject(ctx, f.key(from), f.key(to), info.Size); err != nil {
			return pathErr(op, from, err)
		}
		if err := f.client.RemoveObject(ctx, f.bucket, f.key(from), minio.RemoveObjectOptions{}); err != nil {
			return pathErr(op, from, err)
		}
		return nil
	}
	return f.renameDir(ctx, from, to)
}

// renameDir copies every object below the directory from to the same place below to,
// then removes the originals in bulk.
func (f *FS) renameDir(ctx context.Context, from, to string) error {
	const op = "rename"
	srcDir, dstDir := f.dirKey(from), f.dirKey(to)
	var moved []minio.ObjectInfo
	for oi := range f.client.ListObjectsIter(ctx, f.bucket, minio.ListObjectsOptions{Prefix: srcDir, Recursive: true}) {
		if oi.Err != nil {
			return pathErr(op, from, oi.Err)
		}
		moved = append(moved, oi)
	}
	if len(moved) == 0 {
		// The directory vanished since Stat.
		return &fs.PathError{Op: op, Path: from, Err: fs.ErrNotExist}
	}
	for _, oi := range moved {
		dstKey := dstDir + oi.Key[len(srcDir):]
		var err error
		if strings.HasSuffix(oi.Key, "/") {
			// A marker has no content worth copying.
			_, err = f.client.PutObject(ctx, f.bucket, dstKey, bytes.NewReader(nil), 0,
				minio.PutObjectOptions{ContentType: "application/x-directory"})
		} else {
			err = f.copyObject(ctx, oi.Key, dstKey, oi.Size)
		}
		if err != nil {
			return pathErr(op, from, err)
		}
	}
	// The destination keeps existing through the copied keys; give it a marker too so
	// that it survives its children as a directory made by Mkdir does.
	if err := f.keepDir(ctx, to); err != nil {
		return pathErr(op, to, err)
	}
	results, err := f.client.RemoveObjectsWithIter(ctx, f.bucket, func(yield func(minio.ObjectInfo) bool) {
		for _, oi := range moved {
			if !yield(minio.ObjectInfo{Key: oi.Key}) {
				return
			}
		}
	}, minio.RemoveObjectsOptions{})
	if err != nil {
		return pathErr(op, from, err)
	}
	for r := range results {
		if r.Err != nil {
			return pathErr(op, from, fmt.Errorf("remove %s: %w", r.ObjectName, r.Err))
		}
	}
	return nil
}

// copyObject copies the object srcKey of the given size to dstKey on the server.
func (f *FS) copyObject(ctx context.Context, srcKey, dstKey string, size int64) error {
	src := minio.CopySrcOptions{Bucket: f.bucket, Object: srcKey}
	dst := minio.CopyDestOptions{Bucket: f.bucket, Object: dstKey}
	var err error
	if size <= f.copyLimit {
		_, err = f.client.CopyObject(ctx, dst, src)
	} else {
		// One CopyObject is limited to 5 GiB; ComposeObject copies ranges of the
		// source as parts of a multipart upload.
		dst.PartSize = f.copyPartSize
		_, err = f.client.ComposeObject(ctx, dst, src)
	}
	return err
}

// renameErr re-labels a PathError of a Stat done for Rename.
func renameErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		pe.Op = "rename"
	}
	return err
}
