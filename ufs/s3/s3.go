package s3

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/sluicedata/sluice/ufs"
)

// Errors of this package; they are wrapped, so use errors.Is.
var (
	// ErrInvalidOption reports Options, or factory options, that cannot work.
	ErrInvalidOption = errors.New("s3: invalid option")
	// ErrInvalidURI reports an s3:// URI the factory cannot take.
	ErrInvalidURI = errors.New("s3: invalid URI")
)

// Part sizes S3 accepts for a multipart upload, and the default of this package.
const (
	MinPartSize     = 5 << 20
	MaxPartSize     = 5 << 30
	DefaultPartSize = 16 << 20
)

// DefaultConcurrency is the number of parts of one file uploaded at once by default:
// two keep the network busy while the next part is read and hashed.
const DefaultConcurrency = 2

// maxConcurrency bounds Options.Concurrency, and so the memory of one writer.
const maxConcurrency = 64

// maxKeyLen is the longest object key S3 accepts, in bytes.
const maxKeyLen = 1024

// Options configures the connection of an FS to its S3 service.
type Options struct {
	// Endpoint is the host[:port] of the service, e.g. "s3.amazonaws.com" or
	// "127.0.0.1:9000". Required: the package never guesses where to send data.
	Endpoint string
	// AccessKey and SecretKey are static credentials; both empty means anonymous
	// requests.
	AccessKey string
	SecretKey string
	// Region of the bucket. Empty makes the client ask the service once per bucket.
	Region string
	// Secure selects HTTPS.
	Secure bool
	// PartSize is the size of each part of a multipart upload and the size up to
	// which Create buffers a file to send it in one PUT; 0 means DefaultPartSize.
	PartSize uint64
	// Concurrency is how many parts of one file are uploaded at once; 0 means
	// DefaultConcurrency. A writer of a large file holds Concurrency+1 parts in
	// memory at most.
	Concurrency int
}

// Validate reports options that cannot work, wrapping ErrInvalidOption.
func (o Options) Validate() error {
	switch {
	case o.Endpoint == "":
		return fmt.Errorf("endpoint is required: %w", ErrInvalidOption)
	case strings.ContainsAny(o.Endpoint, "/?#@ "):
		return fmt.Errorf("endpoint %q must be host[:port]: %w", o.Endpoint, ErrInvalidOption)
	case (o.AccessKey == "") != (o.SecretKey == ""):
		return fmt.Errorf("access key and secret key go together: %w", ErrInvalidOption)
	case o.PartSize != 0 && (o.PartSize < MinPartSize || o.PartSize > MaxPartSize):
		return fmt.Errorf("part size %d outside [%d, %d]: %w", o.PartSize, MinPartSize, MaxPartSize, ErrInvalidOption)
	case o.Concurrency < 0 || o.Concurrency > maxConcurrency:
		return fmt.Errorf("concurrency %d outside [0, %d]: %w", o.Concurrency, maxConcurrency, ErrInvalidOption)
	}
	return nil
}

// copyLimit is the largest object a single server-side CopyObject may copy; larger
// files are copied part by part with ComposeObject.
const copyLimit = 5 << 30

// FS is a ufs.FS over the objects of one bucket under one key prefix. Its methods are
// safe for concurrent use.
type FS struct {
	client *minio.Client
	core   minio.Core
	bucket string
	// prefix is "" (the whole bucket) or a key prefix ending in "/".
	prefix   string
	partSize uint64
	// copyLimit and copyPartSize steer Rename between CopyObject and a multipart
	// ComposeObject; tests lower them to reach the multipart path with small files.
	copyLimit    int64
	copyPartSize uint64
	concurrency  int
}

var _ ufs.FS = (*FS)(nil)

// New opens the objects of bucket under prefix (a slash-separated path, "" for the
// whole bucket) as an FS. It checks that the bucket exists, so a wrong name fails here
// with fs.ErrNotExist and bad credentials with fs.ErrPermission.
func New(ctx context.Context, bucket, prefix string, opts Options) (*FS, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := s3utils.CheckValidBucketName(bucket); err != nil {
		return nil, fmt.Errorf("bucket %q: %v: %w", bucket, err, ErrInvalidOption)
	}
	p, err := cleanPrefix(prefix)
	if err != nil {
		return nil, err
	}
	client, err := minio.New(opts.Endpoint, &minio.Options{
		// Empty static credentials make anonymous, unsigned requests.
		Creds:  credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, ""),
		Secure: opts.Secure,
		Region: opts.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: client for %s: %v: %w", opts.Endpoint, err, ErrInvalidOption)
	}
	f := &FS{
		client:      client,
		core:        minio.Core{Client: client},
		bucket:      bucket,
		prefix:      p,
		partSize:    cmp.Or(opts.PartSize, DefaultPartSize),
		concurrency: cmp.Or(opts.Concurrency, DefaultConcurrency),
		copyLimit:   copyLimit,
	}
	ok, err := client.BucketExists(ctx, bucket)
	if err == nil && !ok {
		err = fs.ErrNotExist
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: "s3://" + bucket, Err: mapErr(err)}
	}
	return f, nil
}

// cleanPrefix turns a user's prefix into "" or a clean key prefix ending in "/".
func cleanPrefix(prefix string) (string, error) {
	if strings.Trim(prefix, "/") == "" {
		return "", nil
	}
	clean, err := ufs.CleanPath(prefix)
	if err != nil {
		return "", fmt.Errorf("prefix %q: %w", prefix, err)
	}
	if !utf8.ValidString(clean) {
		return "", fmt.Errorf("prefix %q is not UTF-8: %w", prefix, ErrInvalidOption)
	}
	return clean[1:] + "/", nil
}

// String names the FS as a URI.
func (f *FS) String() string {
	return "s3://" + f.bucket + "/" + f.prefix
}

// resolve cleans a ufs path for op and checks that its key is one S3 accepts and
// that ctx is not done yet, so that no call starts on a done context.
func (f *FS) resolve(ctx context.Context, op, name string) (string, error) {
	clean, err := ufs.CleanPath(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Op = op
		}
		return "", err
	}
	if !utf8.ValidString(clean) {
		return "", &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("object keys are UTF-8: %w", ufs.ErrInvalidPath)}
	}
	if len(f.dirKey(clean)) > maxKeyLen {
		return "", &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("key longer than %d bytes: %w", maxKeyLen, ufs.ErrInvalidPath)}
	}
	if err := ctx.Err(); err != nil {
		return "", &fs.PathError{Op: op, Path: clean, Err: err}
	}
	return clean, nil
}

// key is the object key of the file at the cleaned path clean (not the root).
func (f *FS) key(clean string) string {
	return f.prefix + clean[1:]
}

// dirKey is the key prefix of the directory at clean, which is also the key of its
// marker object: "" or "prefix/" for the root, "prefix/a/b/" for "/a/b".
func (f *FS) dirKey(clean string) string {
	if clean == "/" {
		return f.prefix
	}
	return f.prefix + clean[1:] + "/"
}

// ancestors returns the directories above clean, top first, without the root:
// "/a/b/c" gives "/a", "/a/b".
func ancestors(clean string) []string {
	var dirs []string
	for d := path.Dir(clean); d != "/"; d = path.Dir(d) {
		dirs = append(dirs, d)
	}
	for i, j := 0, len(dirs)-1; i < j; i, j = i+1, j-1 {
		dirs[i], dirs[j] = dirs[j], dirs[i]
	}
	return dirs
}

// pathErr reports err of op on the ufs path name with the error contract of ufs.
func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: mapErr(err)}
}

// mapErr translates an S3 error response into the sentinels of the ufs contract,
// keeping the response in the chain. It reads the error code and HTTP status of
// minio.ErrorResponse, never the message. Other errors, context errors included, pass
// through unchanged.
func mapErr(err error) error {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return err
	}
	switch resp.Code {
	case minio.NoSuchKey, minio.NoSuchBucket, minio.NoSuchUpload, "NotFound":
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
		"AccountProblem", "InvalidToken", "ExpiredToken", "InvalidSecurity":
		return fmt.Errorf("%w: %w", fs.ErrPermission, err)
	case "XMinioInvalidObjectName", "KeyTooLongError", "InvalidObjectName":
		return fmt.Errorf("%w: %w", ufs.ErrInvalidPath, err)
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	case http.StatusForbidden, http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", fs.ErrPermission, err)
	}
	return err
}

// isNotExist reports whether err is an S3 "no such key" (or bucket) error.
func isNotExist(err error) bool {
	return errors.Is(mapErr(err), fs.ErrNotExist)
}

// errorCode returns the S3 error code in err, or "".
func errorCode(err error) string {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.Code
	}
	return ""
}
