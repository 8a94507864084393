package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sluicedata/sluice/client"
)

// Rows of the write group.
const (
	FigMustCacheWrite     = "MUST_CACHE write"
	FigAsyncWrite         = "ASYNC_THROUGH write (until Close)"
	FigAsyncDurable       = "ASYNC_THROUGH write (until persisted)"
	FigCacheThroughLocal  = "CACHE_THROUGH write, local UFS"
	FigThroughLocal       = "THROUGH write, local UFS"
	FigCacheThroughS3     = "CACHE_THROUGH write, S3 (MinIO)"
	FigThroughS3          = "THROUGH write, S3 (MinIO)"
	RefDiskFsync          = "os.File write + fsync, same disk"
	RefPutObject          = "minio-go PutObject"
	RefCacheThroughLocal  = "CACHE_THROUGH write, local UFS"
	mustCacheOverCTTarget = 10
)

// targetMustCache is the target: MUST_CACHE ≥ 10× CACHE_THROUGH to the local UFS.
var targetMustCache = &Target{OnRatio: true, Value: mustCacheOverCTTarget}

// writeStep is one timed write of a round.
type writeStep struct {
	name string
	run  func(ctx context.Context, run int) (time.Duration, error)
}

// writeGroup measures the writes: each round writes the bytes once per step, in an order
// rotated by the round, every Sluice write into executors holding no more than before
// the group (the file is deleted and the round waits, untimed, for its blocks to go).
func (r *runner) writeGroup(ctx context.Context) error {
	r.progress(GroupWrite, "setup", 0)
	mount, dir, err := r.localUFS(ctx)
	if err != nil {
		return err
	}
	data := Payload(int(r.cfg.Size), 2)
	dst := make([]byte, len(data))
	copy(dst, data) // faults the destination in
	base, err := r.usedBytes(ctx)
	if err != nil {
		return err
	}
	sluiceWrite := func(path string, wt client.WriteType, durable *time.Duration) func(context.Context, int) (time.Duration, error) {
		return func(ctx context.Context, run int) (time.Duration, error) {
			p := fmt.Sprintf("%s-%d", path, run)
			d, err := WriteFile(ctx, r.sc, p, wt, data)
			if err != nil {
				return 0, err
			}
			if durable != nil {
				t0 := time.Now()
				if _, err := r.sc.Persist(ctx, p, client.PersistOptions{Wait: true}); err != nil {
					return 0, fmt.Errorf("wait for the persist of %s: %w", p, err)
				}
				*durable = d + time.Since(t0)
			}
			if _, err := r.sc.Delete(ctx, p, client.DeleteOptions{}); err != nil {
				return 0, err
			}
			return d, r.waitUsedAtMost(ctx, base)
		}
	}
	var asyncDurable time.Duration
	steps := []writeStep{
		{FigMustCacheWrite, sluiceWrite(mount+"/must-cache", client.WriteMustCache, nil)},
		{FigAsyncWrite, sluiceWrite(mount+"/async", client.WriteAsyncThrough, &asyncDurable)},
		{FigCacheThroughLocal, sluiceWrite(mount+"/cache-through", client.WriteCacheThrough, nil)},
		{FigThroughLocal, sluiceWrite(mount+"/through", client.WriteThrough, nil)},
		{RefMemcpy, func(context.Context, int) (time.Duration, error) {
			t0 := time.Now()
			copy(dst, data)
			return time.Since(t0), nil
		}},
		{RefDiskFsync, func(context.Context, int) (time.Duration, error) {
			return PlainWrite(filepath.Join(dir, "plain"), data, true, false)
		}},
	}
	if r.cfg.S3 == nil {
		for _, f := range []string{FigCacheThroughS3, FigThroughS3} {
			r.skip(GroupWrite, f, UnitMBps, RefPutObject, nil, r.cfg.S3Skip)
		}
	} else {
		s3mount, mc, err := r.objectStore(ctx)
		if err != nil {
			return err
		}
		steps = append(steps,
			writeStep{FigCacheThroughS3, sluiceWrite(s3mount+"/cache-through", client.WriteCacheThrough, nil)},
			writeStep{FigThroughS3, sluiceWrite(s3mount+"/through", client.WriteThrough, nil)},
			writeStep{RefPutObject, func(ctx context.Context, run int) (time.Duration, error) {
				key := fmt.Sprintf("%s/direct-%d", s3Prefix, run)
				d, err := putObject(ctx, mc, r.cfg.S3.Bucket, key, data)
				if err != nil {
					return 0, err
				}
				return d, mc.RemoveObject(ctx, r.cfg.S3.Bucket, key, minioRemove)
			}},
		)
	}
	mb := func(d time.Duration) float64 { return MBps(int64(len(data)), 1, d) }
	for run := 1; run <= r.cfg.Runs; run++ {
		took := map[string]time.Duration{}
		for k := range steps {
			st := steps[(run+k)%len(steps)]
			r.progress(GroupWrite, st.name, run)
			d, err := st.run(ctx, run)
			if err != nil {
				return fmt.Errorf("%s: %w", st.name, err)
			}
			took[st.name] = d
		}
		r.add(GroupWrite, FigMustCacheWrite, UnitMBps, RefMemcpy, nil, mb(took[FigMustCacheWrite]), mb(took[RefMemcpy]))
		r.add(GroupWrite, FigMustCacheWrite, UnitMBps, RefCacheThroughLocal, targetMustCache, mb(took[FigMustCacheWrite]), mb(took[FigCacheThroughLocal]))
		r.add(GroupWrite, FigAsyncWrite, UnitMBps, RefMemcpy, nil, mb(took[FigAsyncWrite]), mb(took[RefMemcpy]))
		r.add(GroupWrite, FigAsyncDurable, UnitMBps, RefDiskFsync, nil, mb(asyncDurable), mb(took[RefDiskFsync]))
		r.add(GroupWrite, FigCacheThroughLocal, UnitMBps, RefDiskFsync, nil, mb(took[FigCacheThroughLocal]), mb(took[RefDiskFsync]))
		r.add(GroupWrite, FigThroughLocal, UnitMBps, RefDiskFsync, nil, mb(took[FigThroughLocal]), mb(took[RefDiskFsync]))
		if r.cfg.S3 != nil {
			r.add(GroupWrite, FigCacheThroughS3, UnitMBps, RefPutObject, nil, mb(took[FigCacheThroughS3]), mb(took[RefPutObject]))
			r.add(GroupWrite, FigThroughS3, UnitMBps, RefPutObject, nil, mb(took[FigThroughS3]), mb(took[RefPutObject]))
		}
	}
	return nil
}
