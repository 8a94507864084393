// Package s3 is the under file system of Sluice on an S3 bucket (scheme
// s3://bucket/prefix), built on github.com/minio/minio-go/v7. It is tested against a
// real MinIO server (internal/miniotest).
//
// An FS holds the objects of one bucket whose keys begin with one prefix; the ufs path
// "/a/b" is the key "prefix/a/b". New takes Options; Factory takes an s3:// URI and
// string options (s3.endpoint, s3.access-key, s3.secret-key, s3.region, s3.secure,
// s3.part-size, s3.concurrency), refuses unknown keys, and never reads the
// environment: cmd/sluice maps its own settings to options.
//
// Decisions recorded here (DESIGN.md leaves them to the backend):
//
//   - Directories are "dir/" marker objects (empty, Content-Type
//     application/x-directory) plus the common prefixes of other keys. A directory
//     exists when it has a marker or any object below it, so a bucket filled by other
//     tools (no markers) reads as expected. Mkdir writes markers for the directory and
//     every directory above it. Create writes none: the new key keeps its parents in
//     existence. Delete and Rename write a marker for the parent they leave, so a
//     directory does not vanish with its last child.
//   - Create buffers up to the part size (Options.PartSize, 16 MiB by default) and
//     sends a smaller file in one PUT on Close. A larger file streams through an
//     io.Pipe into a multipart PutObject of unknown length, Options.Concurrency parts
//     (2 by default) in flight, which S3 completes on Close, so the object appears
//     whole or not at all. Abort, a failed Write or the
//     end of the Create context aborts the multipart upload, leaving no object and no
//     pending upload. A file may hold at most 10000 parts.
//   - Open sends one ranged GET; an offset at or past the end reads as empty.
//   - Rename of a file is a server-side CopyObject (ComposeObject, part by part, above
//     5 GiB) followed by a delete: the destination appears atomically. Rename of a
//     directory copies every object below it, then deletes the originals: it is NOT
//     atomic, and a failure part way leaves both copies of some objects. Neither kind
//     checks the destination atomically; the master serializes namespace changes.
//   - An object key that is both a file and a prefix of other keys ("x" and "x/y",
//     which only other tools can make) is shown as the file by Stat and List. Keys
//     that make no valid path ("a//b", "a/./b") are not listed.
//   - Paths must give UTF-8 keys of at most 1024 bytes; others fail with
//     ufs.ErrInvalidPath.
//   - The root cannot be deleted or renamed (ufs.ErrInvalidPath).
//
// Errors are *fs.PathError values holding the ufs path. S3 error responses are mapped
// by their code and HTTP status (never their text): NoSuchKey, NoSuchBucket and 404 to
// fs.ErrNotExist; AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch and 403 to
// fs.ErrPermission; the minio.ErrorResponse stays in the chain. Context errors are
// wrapped unchanged.
package s3
