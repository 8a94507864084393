// Package ufs defines the under-storage interface of Sluice and its error contract.
//
// An under file system (UFS) is the durable store under Sluice: a local directory
// (file://), an S3 bucket (s3://), later HDFS. Each backend lives in its own package
// (ufs/local, ufs/s3) and is picked by the caller: a Registry maps URI schemes to
// factories and is built by cmd/sluice or a test, never by init side effects.
//
// Paths handed to an FS are slash-separated and absolute within that FS ("/a/b.txt");
// "/" is its root. CleanPath states what is accepted: no empty paths, no NUL bytes and
// no ".." elements, so no path can escape the root whatever the backend does with it.
//
// Errors: backends return *fs.PathError values wrapping fs.ErrNotExist, fs.ErrExist,
// fs.ErrPermission, ErrNotEmpty, ErrIsDir or ErrNotDir, so callers use errors.Is.
// ErrInvalidPath is returned, unwrapped into a PathError as well, for rejected paths.
//
// Optional capabilities (for example LocalPather) are separate interfaces detected with
// a type assertion, in the manner of io/fs.ReadDirFS.
package ufs
