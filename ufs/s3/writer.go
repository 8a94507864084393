package s3

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/minio/minio-go/v7"

	"github.com/sluicedata/sluice/ufs"
)

// maxParts is the number of parts S3 allows in one multipart upload; a file may hold
// at most maxParts*PartSize-1 bytes (the last byte would let the upload complete
// before Close).
const maxParts = 10000

// Create starts writing a new file at name. Nothing is sent until PartSize bytes are
// written: a smaller file goes in one PUT on Close. A larger one streams, through a
// pipe, into a multipart upload (Options.Concurrency parts in flight) that S3
// completes on Close, so the object appears whole or not at all; Abort, a failed write or the end of ctx aborts the upload and
// its parts. Parent directories need no marker: the new key keeps them in existence.
// The Writer must be closed or aborted, which releases its upload goroutine.
func (f *FS) Create(ctx context.Context, name string) (ufs.Writer, error) {
	const op = "create"
	clean, err := f.resolve(ctx, op, name)
	if err != nil {
		return nil, err
	}
	if clean == "/" {
		return nil, &fs.PathError{Op: op, Path: clean, Err: ufs.ErrIsDir}
	}
	if err := f.checkCreate(ctx, op, clean); err != nil {
		return nil, err
	}
	return &writer{fs: f, ctx: ctx, name: clean, key: f.key(clean)}, nil
}

type writerState int

const (
	writing writerState = iota
	closed
	aborted
)

// writer buffers the first part of a file and then streams into PutObject.
type writer struct {
	fs *FS
	// ctx is the context of Create: the ufs contract makes it bound the whole write,
	// so it is kept for the PUT that Close or the upload goroutine sends.
	ctx  context.Context
	name string
	key  string

	state   writerState
	written int64
	// buf holds the bytes written before streaming starts.
	buf []byte

	// Set once streaming starts: pw feeds the PutObject that the upload goroutine
	// runs; done is closed when that goroutine has ended, after setting upErr.
	pw       *io.PipeWriter
	stopFunc func() bool
	done     chan struct{}
	upErr    error
}

// Write appends p to the file. While the file is smaller than PartSize it only
// buffers; afterwards it blocks while a part is being uploaded.
func (w *writer) Write(p []byte) (int, error) {
	const op = "write"
	switch w.state {
	case aborted:
		return 0, &fs.PathError{Op: op, Path: w.name, Err: ufs.ErrAborted}
	case closed:
		return 0, &fs.PathError{Op: op, Path: w.name, Err: fs.ErrClosed}
	}
	if err := w.ctx.Err(); err != nil {
		return 0, &fs.PathError{Op: op, Path: w.name, Err: err}
	}
	if limit := int64(w.fs.partSize) * maxParts; w.written+int64(len(p)) >= limit {
		return 0, &fs.PathError{Op: op, Path: w.name, Err: fmt.Errorf("file would reach %d bytes (%d parts of %d): %w", limit, maxParts, w.fs.partSize, fs.ErrInvalid)}
	}
	if w.pw == nil {
		if uint64(len(w.buf)+len(p)) <= w.fs.partSize {
			w.buf = append(w.buf, p...)
			w.written += int64(len(p))
			return len(p), nil
		}
		w.startUpload()
	}
	n, err := w.pw.Write(p)
	w.written += int64(n)
	if err != nil {
		// The upload goroutine ended and closed the pipe: report why.
		<-w.done
		return n, pathErr(op, w.name, cmp.Or(w.upErr, errUploadEnded))
	}
	return n, nil
}

// startUpload starts the multipart upload of the buffered bytes followed by whatever
// is written to the pipe until Close.
func (w *writer) startUpload() {
	pr, pw := io.Pipe()
	first := w.buf
	w.buf = nil
	w.pw = pw
	w.done = make(chan struct{})
	// The goroutine may be blocked reading the pipe when ctx ends; closing the pipe
	// with the context's error lets it fail, which aborts the upload.
	w.stopFunc = context.AfterFunc(w.ctx, func() { pw.CloseWithError(w.ctx.Err()) })
	go func() {
		defer close(w.done)
		// Size -1 makes minio-go read part after part until EOF; on any error it
		// aborts the multipart upload before returning, even if ctx has ended.
		_, err := w.fs.client.PutObject(w.ctx, w.fs.bucket, w.key,
			io.MultiReader(bytes.NewReader(first), pr), -1,
			minio.PutObjectOptions{
				PartSize:              w.fs.partSize,
				ConcurrentStreamParts: w.fs.concurrency > 1,
				NumThreads:            uint(w.fs.concurrency),
			})
		w.upErr = err
		// Unblock a Write waiting on the pipe.
		pr.CloseWithError(cmp.Or(err, errUploadEnded))
	}()
}

// errUploadEnded is the pipe error a Write sees if the upload completed before Close,
// which the size limit in Write prevents.
var errUploadEnded = fmt.Errorf("s3: upload completed before Close: %w", fs.ErrClosed)

// Close commits the file: one PUT for a small file, the completion of the multipart
// upload otherwise. After a failed Close nothing is left at the path.
func (w *writer) Close() error {
	const op = "close"
	switch w.state {
	case aborted:
		return &fs.PathError{Op: op, Path: w.name, Err: ufs.ErrAborted}
	case closed:
		return &fs.PathError{Op: op, Path: w.name, Err: fs.ErrClosed}
	}
	w.state = closed
	if err := w.ctx.Err(); err != nil {
		w.discard()
		return &fs.PathError{Op: op, Path: w.name, Err: err}
	}
	if w.pw == nil {
		buf := w.buf
		w.buf = nil
		_, err := w.fs.client.PutObject(w.ctx, w.fs.bucket, w.key, bytes.NewReader(buf), int64(len(buf)),
			minio.PutObjectOptions{PartSize: w.fs.partSize})
		if err != nil {
			return pathErr(op, w.name, err)
		}
		return nil
	}
	w.pw.Close()
	<-w.done
	w.stopFunc()
	if w.upErr != nil {
		return pathErr(op, w.name, w.upErr)
	}
	return nil
}

// Abort discards the file. When streaming has started it fails the upload and waits
// until minio-go has aborted it, so no parts are left behind; a part being sent at
// that moment is finished first. Abort after Close does nothing.
func (w *writer) Abort() error {
	if w.state != writing {
		return nil
	}
	w.state = aborted
	w.discard()
	return nil
}

// discard drops the buffer and fails the upload, if one was started, waiting until
// it has been aborted.
func (w *writer) discard() {
	w.buf = nil
	if w.pw != nil {
		w.pw.CloseWithError(ufs.ErrAborted)
		<-w.done
		w.stopFunc()
	}
}
