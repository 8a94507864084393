package s3

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sluicedata/sluice/internal/miniotest"
	"github.com/sluicedata/sluice/ufs"
	"github.com/sluicedata/sluice/ufs/ufstest"
)

// benchSize is the file size of the S3 benchmarks.
const benchSize = 256 << 20

// BenchmarkS3 measures the FS with the shared ufstest benchmark, then sets it beside
// minio-go itself moving the same bytes to and from the same MinIO in the same run:
// "vs-minio-go" reports both throughputs and their ratios (1.0 means the FS adds no
// cost over a direct PutObject or GetObject).
func BenchmarkS3(b *testing.B) {
	srv := miniotest.Start(b)
	newFS := func(t testing.TB) ufs.FS { return newTestFS(t, srv, "", Options{}) }
	ufstest.Bench(b, newFS, benchSize)

	b.Run("vs-minio-go", func(b *testing.B) {
		f := newTestFS(b, srv, "", Options{})
		client := srv.Client(b)
		ctx := b.Context()
		chunk := randomBytes(4, ufstest.BenchChunk)
		buf := make([]byte, ufstest.BenchChunk)
		var fsW, refW, fsR, refR time.Duration
		b.SetBytes(benchSize)
		b.ResetTimer()
		for i := range b.N {
			name := fmt.Sprintf("/vs/%d", i)
			refKey := fmt.Sprintf("ref/%d", i)
			fsW += timed(b, func() error { return ufstest.StreamWrite(ctx, f, name, benchSize, chunk) })
			refW += timed(b, func() error {
				_, err := client.PutObject(ctx, f.bucket, refKey, &repeatReader{chunk: chunk, left: benchSize}, benchSize,
					minio.PutObjectOptions{PartSize: DefaultPartSize})
				return err
			})
			fsR += timed(b, func() error {
				n, err := ufstest.StreamRead(ctx, f, name, buf)
				return wantLen(n, err)
			})
			refR += timed(b, func() error { return getObject(ctx, client, f.bucket, refKey, buf) })
			b.StopTimer()
			if err := f.Delete(ctx, name); err != nil {
				b.Fatal(err)
			}
			if err := client.RemoveObject(ctx, f.bucket, refKey, minio.RemoveObjectOptions{}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		mbps := func(d time.Duration) float64 { return float64(benchSize) * float64(b.N) / d.Seconds() / 1e6 }
		b.ReportMetric(mbps(fsW), "fs-write-MB/s")
		b.ReportMetric(mbps(refW), "put-MB/s")
		b.ReportMetric(mbps(fsR), "fs-read-MB/s")
		b.ReportMetric(mbps(refR), "get-MB/s")
		b.ReportMetric(refW.Seconds()/fsW.Seconds(), "write/put")
		b.ReportMetric(refR.Seconds()/fsR.Seconds(), "read/get")
	})
}

// timed runs fn and returns how long it took, failing b on error.
func timed(b *testing.B, fn func() error) time.Duration {
	start := time.Now()
	if err := fn(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func wantLen(n int64, err error) error {
	if err == nil && n != benchSize {
		err = fmt.Errorf("read %d bytes, want %d", n, benchSize)
	}
	return err
}

// getObject reads a whole object with minio-go, as a program without Sluice would.
func getObject(ctx context.Context, c *minio.Client, bucket, key string, buf []byte) error {
	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{obj}, buf)
	return wantLen(n, err)
}

// repeatReader yields chunk over and over until left bytes have been read. It is a
// plain io.Reader (no ReaderAt), so minio-go streams it as it streams the FS's pipe.
type repeatReader struct {
	chunk []byte
	off   int
	left  int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(int64(len(p)), r.left)], r.chunk[r.off:])
	r.off = (r.off + n) % len(r.chunk)
	r.left -= int64(n)
	return n, nil
}
