package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/ufs/s3"
)

// localUFS mounts a fresh directory under cfg.Scratch at Dir/ufs as a file:// UFS, once,
// and returns the Sluice mount point and the directory. Cleanup unmounts it and removes
// the directory.
func (r *runner) localUFS(ctx context.Context) (mount, dir string, err error) {
	mount, dir = r.path("ufs"), filepath.Join(r.cfg.Scratch, "ufs")
	if r.ufsMounted {
		return mount, dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("local UFS directory: %w", err)
	}
	r.defer_(func() error { return os.RemoveAll(dir) })
	u := url.URL{Scheme: "file", Path: dir}
	if _, err := r.sc.Mount(ctx, mount, u.String(), client.MountOptions{}); err != nil {
		return "", "", fmt.Errorf("mount %s at %s: %w", u.String(), mount, err)
	}
	r.defer_(r.unmount(mount))
	r.ufsMounted = true
	return mount, dir, nil
}

// unmount returns a cleanup step that unmounts path (a mount already gone is fine).
func (r *runner) unmount(path string) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := r.sc.Unmount(ctx, path); err != nil && !errors.Is(err, client.ErrNotFound) && !errors.Is(err, client.ErrInvalidArgument) {
			return fmt.Errorf("unmount %s: %w", path, err)
		}
		return nil
	}
}

// s3Prefix is the key prefix of everything the run puts in the bucket.
const s3Prefix = "sluice-bench"

// objectStore mounts cfg.S3's bucket (prefix s3Prefix/ufs) at Dir/s3, once, and returns
// the mount point and a minio-go client of the same endpoint. Cleanup unmounts it and
// removes every object under s3Prefix.
func (r *runner) objectStore(ctx context.Context) (mount string, mc *minio.Client, err error) {
	t := r.cfg.S3
	mount = r.path("s3")
	if r.minio != nil {
		return mount, r.minio, nil
	}
	mc, err = minio.New(t.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(t.AccessKey, t.SecretKey, ""),
		Region: t.Region,
	})
	if err != nil {
		return "", nil, fmt.Errorf("minio client: %w", err)
	}
	r.defer_(func() error { return removePrefix(mc, t.Bucket, s3Prefix) })
	_, err = r.sc.Mount(ctx, mount, "s3://"+t.Bucket+"/"+s3Prefix+"/ufs", client.MountOptions{Options: map[string]string{
		s3.OptEndpoint: t.Endpoint, s3.OptAccessKey: t.AccessKey, s3.OptSecretKey: t.SecretKey,
		s3.OptSecure: "false", s3.OptRegion: t.Region,
	}})
	if err != nil {
		return "", nil, fmt.Errorf("mount the bucket %s at %s: %w", t.Bucket, mount, err)
	}
	r.defer_(r.unmount(mount))
	r.minio = mc
	return mount, mc, nil
}

// removePrefix deletes every object of bucket under prefix.
func removePrefix(mc *minio.Client, bucket, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objs := mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix + "/", Recursive: true})
	var errs []error
	for e := range mc.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
		errs = append(errs, e.Err)
	}
	return errors.Join(errs...)
}

// putObject uploads data as key with minio-go and returns how long it took.
func putObject(ctx context.Context, mc *minio.Client, bucket, key string, data []byte) (time.Duration, error) {
	start := time.Now()
	_, err := mc.PutObject(ctx, bucket, key, bytesReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		return 0, fmt.Errorf("minio-go put %s: %w", key, err)
	}
	return time.Since(start), nil
}

// getObject reads key to its end with minio-go through buf and returns the byte count
// and how long it took.
func getObject(ctx context.Context, mc *minio.Client, bucket, key string, buf []byte) (int64, time.Duration, error) {
	start := time.Now()
	o, err := mc.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return 0, 0, fmt.Errorf("minio-go get %s: %w", key, err)
	}
	defer o.Close()
	n, err := io.CopyBuffer(Discard{}, ReaderOnly{o}, buf)
	if err != nil {
		return n, 0, fmt.Errorf("minio-go get %s: %w", key, err)
	}
	return n, time.Since(start), nil
}

// minioRemove are the options of the reference's object removals.
var minioRemove = minio.RemoveObjectOptions{}
