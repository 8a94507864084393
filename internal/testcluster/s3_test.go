package testcluster

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/internal/miniotest"
	"github.com/sluicedata/sluice/ufs"
	"github.com/sluicedata/sluice/ufs/local"
	"github.com/sluicedata/sluice/ufs/s3"
)

// TestCluster_S3Root runs a cluster whose root UFS is a bucket of a real MinIO: files
// are persisted as objects, and freed files are read back from them.
func TestCluster_S3Root(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	c := New(t, Config{
		Executors: 1,
		RootUFS:   "s3://" + bucket + "/root",
		RootUFSOptions: map[string]string{
			s3.OptEndpoint: srv.Endpoint, s3.OptAccessKey: srv.AccessKey, s3.OptSecretKey: srv.SecretKey,
			s3.OptSecure: "false", s3.OptRegion: miniotest.Region,
		},
		UFS: ufs.Registry{"file": local.Factory, "s3": s3.Factory},
	})
	cl := c.Client(t)
	data := payload(5<<19, 11)
	put(t, cl, "/dir/through", client.WriteCacheThrough, data)
	put(t, cl, "/dir/async", client.WriteAsyncThrough, data)
	waitPersistence(t, cl, "/dir/async", sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED)

	for _, key := range []string{"root/dir/through", "root/dir/async"} {
		obj, err := srv.Client(t).GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("object %s: %d bytes, %v; want the %d bytes written", key, len(got), err, len(data))
		}
	}

	if _, err := cl.Free(t.Context(), "/dir", client.FreeOptions{Recursive: true}); err != nil {
		t.Fatalf("free: %v", err)
	}
	// Free only tells the executors to drop the blocks: wait until they did.
	if !poll(30*time.Second, func() bool {
		fi, err := cl.Stat(t.Context(), "/dir/through")
		live := c.LiveExecutors()
		return err == nil && fi.InMemoryPercent == 0 && len(live) == 1 && blockCount(live[0]) == 0
	}) {
		t.Fatal("blocks still cached 30 s after free")
	}
	before := cl.Stats().BytesReadUFS
	mustGet(t, cl, "/dir/through", client.ReadCache, data)
	if got := cl.Stats().BytesReadUFS - before; got != int64(len(data)) {
		t.Fatalf("%d bytes read from the UFS after free, want %d", got, len(data))
	}
}

// blockCount is the number of blocks an executor reported, over its tiers.
func blockCount(info *sluicepb.ExecutorInfo) int64 {
	var n int64
	for _, t := range info.GetTiers() {
		n += t.GetBlockCount()
	}
	return n
}
