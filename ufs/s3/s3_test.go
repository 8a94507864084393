package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/minio/minio-go/v7"

	"github.com/sluicedata/sluice/internal/miniotest"
	"github.com/sluicedata/sluice/ufs"
)

// newTestFS opens a fresh bucket of srv under prefix with opts, whose endpoint and
// credentials it fills in.
func newTestFS(t testing.TB, srv *miniotest.Server, prefix string, opts Options) *FS {
	t.Helper()
	opts.Endpoint, opts.AccessKey, opts.SecretKey = srv.Endpoint, srv.AccessKey, srv.SecretKey
	opts.Region = miniotest.Region
	f, err := New(t.Context(), srv.NewBucket(t), prefix, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

// randomBytes returns n bytes of a seeded pseudo-random stream.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeChunks creates name and writes data in Writes of chunk bytes, without closing.
func writeChunks(t *testing.T, f *FS, ctx context.Context, name string, data []byte, chunk int) ufs.Writer {
	t.Helper()
	w, err := f.Create(ctx, name)
	if err != nil {
		t.Fatalf("Create(%s): %v", name, err)
	}
	for off := 0; off < len(data); off += chunk {
		if _, err := w.Write(data[off:min(off+chunk, len(data))]); err != nil {
			t.Fatalf("Write at %d: %v", off, err)
		}
	}
	return w
}

func readAll(t *testing.T, f *FS, name string) []byte {
	t.Helper()
	r, err := f.Open(t.Context(), name, 0, -1)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return data
}

// pendingUploads lists the keys of the multipart uploads in progress in the bucket.
func pendingUploads(t *testing.T, srv *miniotest.Server, bucket string) []string {
	t.Helper()
	var keys []string
	for u := range srv.Client(t).ListIncompleteUploads(t.Context(), bucket, "", true) {
		if u.Err != nil {
			t.Fatalf("ListIncompleteUploads: %v", u.Err)
		}
		keys = append(keys, u.Key)
	}
	return keys
}

// bucketKeys lists every object key in the bucket.
func bucketKeys(t *testing.T, srv *miniotest.Server, bucket string) []string {
	t.Helper()
	var keys []string
	for oi := range srv.Client(t).ListObjectsIter(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if oi.Err != nil {
			t.Fatalf("ListObjects: %v", oi.Err)
		}
		keys = append(keys, oi.Key)
	}
	return keys
}

func TestWriter_Multipart(t *testing.T) {
	srv := miniotest.Start(t)
	f := newTestFS(t, srv, "mp", Options{PartSize: MinPartSize})
	ctx := t.Context()
	data := randomBytes(1, 4*MinPartSize+123)

	w := writeChunks(t, f, ctx, "/big", data[:MinPartSize+1<<20], 1<<20)
	// Past the first part the upload has started, yet nothing is visible.
	if got := pendingUploads(t, srv, f.bucket); !slices.Equal(got, []string{"mp/big"}) {
		t.Errorf("pending uploads after %d bytes = %q, want [mp/big]", MinPartSize+1<<20, got)
	}
	if fi, err := f.Stat(ctx, "/big"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat during the upload = %+v, %v; want fs.ErrNotExist", fi, err)
	}
	for off := MinPartSize + 1<<20; off < len(data); off += 1 << 20 {
		if _, err := w.Write(data[off:min(off+1<<20, len(data))]); err != nil {
			t.Fatalf("Write at %d: %v", off, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := readAll(t, f, "/big"); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes differing from the %d written", len(got), len(data))
	}
	// S3 gives a multipart object the ETag "<md5 of part md5s>-<parts>".
	oi, err := srv.Client(t).StatObject(ctx, f.bucket, "mp/big", minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("StatObject: %v", err)
	}
	if !strings.HasSuffix(oi.ETag, "-5") {
		t.Errorf("ETag %q: want a multipart upload of 5 parts", oi.ETag)
	}
	if got := pendingUploads(t, srv, f.bucket); len(got) != 0 {
		t.Errorf("pending uploads after Close = %q, want none", got)
	}
}

func TestWriter_AbortLeavesNothing(t *testing.T) {
	srv := miniotest.Start(t)
	tests := []struct {
		name   string
		size   int
		finish func(t *testing.T, w ufs.Writer, cancel context.CancelFunc)
	}{
		{"abort buffered", MinPartSize / 2, func(t *testing.T, w ufs.Writer, _ context.CancelFunc) {
			if err := w.Abort(); err != nil {
				t.Errorf("Abort: %v", err)
			}
		}},
		{"abort multipart", 2*MinPartSize + 17, func(t *testing.T, w ufs.Writer, _ context.CancelFunc) {
			if err := w.Abort(); err != nil {
				t.Errorf("Abort: %v", err)
			}
			if err := w.Close(); !errors.Is(err, ufs.ErrAborted) {
				t.Errorf("Close after Abort: %v, want ufs.ErrAborted", err)
			}
		}},
		{"cancel multipart", 2*MinPartSize + 17, func(t *testing.T, w ufs.Writer, cancel context.CancelFunc) {
			cancel()
			if err := w.Close(); !errors.Is(err, context.Canceled) {
				t.Errorf("Close after cancel: %v, want context.Canceled", err)
			}
		}},
		{"cancel multipart then write", 2*MinPartSize + 17, func(t *testing.T, w ufs.Writer, cancel context.CancelFunc) {
			cancel()
			if _, err := w.Write(make([]byte, MinPartSize)); !errors.Is(err, context.Canceled) {
				t.Errorf("Write after cancel: %v, want context.Canceled", err)
			}
			if err := w.Abort(); err != nil {
				t.Errorf("Abort: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		for _, conc := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s concurrency %d", tt.name, conc), func(t *testing.T) {
				testAbortLeavesNothing(t, srv, conc, tt.size, tt.finish)
			})
		}
	}
}

func testAbortLeavesNothing(t *testing.T, srv *miniotest.Server, conc, size int, finish func(*testing.T, ufs.Writer, context.CancelFunc)) {
	f := newTestFS(t, srv, "", Options{PartSize: MinPartSize, Concurrency: conc})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := writeChunks(t, f, ctx, "/dir/f", randomBytes(2, size), 1<<20)
	finish(t, w, cancel)
	if got := pendingUploads(t, srv, f.bucket); len(got) != 0 {
		t.Errorf("pending uploads = %q, want none", got)
	}
	if got := bucketKeys(t, srv, f.bucket); len(got) != 0 {
		t.Errorf("objects in the bucket = %q, want none", got)
	}
}

func TestFS_RenameComposed(t *testing.T) {
	srv := miniotest.Start(t)
	f := newTestFS(t, srv, "", Options{})
	// Lower the single-copy limit so that a small file takes the ComposeObject path.
	// Parts of 6 MiB split 10 MiB into two ranges above the 5 MiB minimum.
	f.copyLimit, f.copyPartSize = MinPartSize, 6<<20
	ctx := t.Context()
	data := randomBytes(3, 2*MinPartSize+99)
	w := writeChunks(t, f, ctx, "/a/src", data, 1<<20)
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.Rename(ctx, "/a/src", "/b/dst"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	if got := readAll(t, f, "/b/dst"); !bytes.Equal(got, data) {
		t.Fatalf("renamed file differs: %d bytes, want %d", len(got), len(data))
	}
	oi, err := srv.Client(t).StatObject(ctx, f.bucket, "b/dst", minio.StatObjectOptions{})
	if err != nil || !strings.HasSuffix(oi.ETag, "-2") {
		t.Errorf("StatObject(b/dst) = ETag %q, %v; want a copy in 2 parts", oi.ETag, err)
	}
	if _, err := f.Stat(ctx, "/a/src"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of the source after Rename: %v, want fs.ErrNotExist", err)
	}
	if fi, err := f.Stat(ctx, "/a"); err != nil || !fi.IsDir {
		t.Errorf("Stat(/a) after its only file moved = %+v, %v; want a directory", fi, err)
	}
}

// TestFS_ForeignKeys reads a bucket written by another tool: no markers, a key that is
// both a file and a prefix. (MinIO refuses keys such as "a//b" that make no path.)
func TestFS_ForeignKeys(t *testing.T) {
	srv := miniotest.Start(t)
	f := newTestFS(t, srv, "", Options{})
	ctx := t.Context()
	c := srv.Client(t)
	for _, key := range []string{"ext/x", "ext/x/y", "ext/imp/deep/f"} {
		if _, err := c.PutObject(ctx, f.bucket, key, strings.NewReader(key), int64(len(key)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("PutObject(%s): %v", key, err)
		}
	}
	got, err := f.List(ctx, "/ext")
	want := []ufs.FileInfo{
		{Path: "/ext/imp", IsDir: true},
		{Path: "/ext/x", Size: int64(len("ext/x"))},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(ufs.FileInfo{}, "ModTime")); err != nil || diff != "" {
		t.Errorf("List(/ext) = %v (-want +got):\n%s", err, diff)
	}
	for _, dir := range []string{"/ext/imp", "/ext/imp/deep"} {
		if fi, err := f.Stat(ctx, dir); err != nil || !fi.IsDir {
			t.Errorf("Stat(%s) = %+v, %v; want an implicit directory", dir, fi, err)
		}
	}
	if fi, err := f.Stat(ctx, "/ext/x"); err != nil || fi.IsDir {
		t.Errorf("Stat(/ext/x) = %+v, %v; want the file", fi, err)
	}
	// Deleting the only file of an implicit directory keeps the directory.
	if err := f.Delete(ctx, "/ext/imp/deep/f"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if fi, err := f.Stat(ctx, "/ext/imp/deep"); err != nil || !fi.IsDir {
		t.Errorf("Stat(/ext/imp/deep) after deleting its file = %+v, %v; want a directory", fi, err)
	}
}

func TestFS_PrefixIsolation(t *testing.T) {
	srv := miniotest.Start(t)
	f := newTestFS(t, srv, "/p/q/", Options{})
	ctx := t.Context()
	w := writeChunks(t, f, ctx, "/d/f", []byte("data"), 1)
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.Mkdir(ctx, "/e/g"); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	if err := f.Rename(ctx, "/d", "/h"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	for _, key := range bucketKeys(t, srv, f.bucket) {
		if !strings.HasPrefix(key, "p/q/") {
			t.Errorf("key %q outside the prefix p/q/", key)
		}
	}
	whole, err := New(ctx, f.bucket, "", Options{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatalf("New without prefix: %v", err)
	}
	got, err := whole.List(ctx, "/p/q")
	var names []string
	for _, fi := range got {
		names = append(names, fi.Path)
	}
	if want := []string{"/p/q/e", "/p/q/h"}; err != nil || !slices.Equal(names, want) {
		t.Errorf("List(/p/q) of the whole bucket = %q, %v; want %q", names, err, want)
	}
	if err := f.Delete(ctx, "/"); !errors.Is(err, ufs.ErrInvalidPath) {
		t.Errorf("Delete(/) = %v, want ufs.ErrInvalidPath", err)
	}
}

func TestNew_Errors(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	tests := []struct {
		name   string
		bucket string
		opts   Options
		want   error
	}{
		{"wrong secret", bucket, Options{AccessKey: srv.AccessKey, SecretKey: srv.SecretKey + "x"}, fs.ErrPermission},
		{"unknown access key", bucket, Options{AccessKey: "nobody", SecretKey: "nobody-secret"}, fs.ErrPermission},
		{"anonymous", bucket, Options{}, fs.ErrPermission},
		{"missing bucket", "no-such-bucket", Options{AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}, fs.ErrNotExist},
		{"invalid bucket", "Not_A_Bucket!", Options{AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}, ErrInvalidOption},
		{"bad part size", bucket, Options{AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PartSize: 1 << 20}, ErrInvalidOption},
	}
	for _, tt := range tests {
		for _, region := range []string{"", miniotest.Region} {
			t.Run(fmt.Sprintf("%s region=%q", tt.name, region), func(t *testing.T) {
				opts := tt.opts
				opts.Endpoint, opts.Region = srv.Endpoint, region
				f, err := New(t.Context(), tt.bucket, "", opts)
				if !errors.Is(err, tt.want) {
					t.Errorf("New = %v, %v; want an error wrapping %v", f, err, tt.want)
				}
			})
		}
	}
}

func TestFactory_Open(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	reg := ufs.Registry{"s3": Factory}
	tests := []struct {
		name string
		opts map[string]string
	}{
		{"http scheme", map[string]string{OptEndpoint: "http://" + srv.Endpoint}},
		{"secure false", map[string]string{OptEndpoint: srv.Endpoint, OptSecure: "false", OptRegion: miniotest.Region, OptPartSize: "5MiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts[OptAccessKey], tt.opts[OptSecretKey] = srv.AccessKey, srv.SecretKey
			fsys, err := reg.Open(t.Context(), "s3://"+bucket+"/"+tt.name, tt.opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if err := fsys.Mkdir(t.Context(), "/made"); err != nil {
				t.Fatalf("Mkdir: %v", err)
			}
			if _, err := srv.Client(t).StatObject(t.Context(), bucket, tt.name+"/made/", minio.StatObjectOptions{}); err != nil {
				t.Errorf("marker of /made under prefix %q: %v", tt.name, err)
			}
		})
	}
	_, err := reg.Open(t.Context(), "s3://"+bucket, map[string]string{OptEndpoint: srv.Endpoint, OptSecure: "false"})
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Open without credentials: %v, want fs.ErrPermission", err)
	}
}

func TestMapErr(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"no such key", minio.ErrorResponse{Code: minio.NoSuchKey, StatusCode: 404}, fs.ErrNotExist},
		{"no such bucket", minio.ErrorResponse{Code: minio.NoSuchBucket}, fs.ErrNotExist},
		{"bare 404", minio.ErrorResponse{StatusCode: 404}, fs.ErrNotExist},
		{"access denied", minio.ErrorResponse{Code: "AccessDenied"}, fs.ErrPermission},
		{"bad signature", minio.ErrorResponse{Code: "SignatureDoesNotMatch"}, fs.ErrPermission},
		{"bare 403", minio.ErrorResponse{Code: "Whatever", StatusCode: 403}, fs.ErrPermission},
		{"invalid name", minio.ErrorResponse{Code: "XMinioInvalidObjectName"}, ufs.ErrInvalidPath},
		{"wrapped", fmt.Errorf("op: %w", minio.ErrorResponse{Code: minio.NoSuchKey}), fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapErr(tt.err)
			if !errors.Is(got, tt.want) {
				t.Errorf("mapErr(%v) = %v, want an error wrapping %v", tt.err, got, tt.want)
			}
			var resp minio.ErrorResponse
			if !errors.As(got, &resp) {
				t.Errorf("mapErr(%v) = %v lost the minio.ErrorResponse", tt.err, got)
			}
		})
	}
	for _, err := range []error{context.Canceled, io.ErrUnexpectedEOF, minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}} {
		if got := mapErr(err); got != err {
			t.Errorf("mapErr(%v) = %v, want it unchanged", err, got)
		}
	}
}

func TestChildName(t *testing.T) {
	tests := []struct {
		dir, key string
		name     string
		isDir    bool
		ok       bool
	}{
		{"p/", "p/f", "f", false, true},
		{"p/", "p/d/", "d", true, true},
		{"", "f", "f", false, true},
		{"", "d/", "d", true, true},
		{"p/", "p//", "", false, false},
		{"p/", "p/./", "", false, false},
		{"p/", "p/../", "", false, false},
		{"p/", "p/", "", false, false},
		{"p/", "q/f", "", false, false},
		{"p/", "p/a/b", "", false, false},
	}
	for _, tt := range tests {
		name, isDir, ok := childName(tt.dir, tt.key)
		if name != tt.name || isDir != tt.isDir || ok != tt.ok {
			t.Errorf("childName(%q, %q) = %q, %v, %v; want %q, %v, %v", tt.dir, tt.key, name, isDir, ok, tt.name, tt.isDir, tt.ok)
		}
	}
}

func TestReader_CancelDuringRead(t *testing.T) {
	srv := miniotest.Start(t)
	f := newTestFS(t, srv, "", Options{})
	w := writeChunks(t, f, t.Context(), "/f", randomBytes(5, 4<<20), 1<<20)
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r, err := f.Open(ctx, "/f", 0, -1)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 1<<20)); err != nil {
		t.Fatalf("first read: %v", err)
	}
	cancel()
	if _, err := io.ReadAll(r); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v, want context.Canceled", err)
	}
}
