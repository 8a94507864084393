// Package client is the Go SDK for Sluice used by the CLI, jobs and integrations: the file
// API (create, open, read, list, rename, mount, persist, load, …) with write and read
// types, streams to and from executors, and short-circuit access to executors on the same
// host.
//
// # Connecting
//
// New(ctx, cfg) validates a Config (start from DefaultConfig), asks the configured masters
// for the leader and returns a Client, safe for concurrent use; Close releases its
// connections. Metadata calls go to the leader: a "not leader" answer (codes.Unavailable
// with ErrorDetail.leader_address) is followed to the named leader, and an unreachable
// master or one without a leader makes the client try the next configured master, in at
// most Config.MaxRetries rounds with a doubling pause between rounds.
//
// # Values returned
//
// Namespace metadata comes back as FileInfo, a client-side Go struct (times as time.Time,
// the mode as fs.FileMode, FS() adapts it to io/fs.FileInfo). Cluster facts (Report,
// Executors, MasterInfo, MountTable, BlockLocations, Free and Persist results) are the
// sluicepb messages themselves: they are read-only reports that the CLI prints field by
// field, and copying them would only lag the contract.
//
// # Writing
//
// Create returns a FileWriter (io.WriteCloser plus Abort/Cancel). MUST_CACHE,
// CACHE_THROUGH and ASYNC_THROUGH split the bytes into blocks of the file's block size;
// block i (ID sluicepb.NewBlockID(fileID, i)) goes to an executor on this host when there
// is one — written straight into the file CreateLocalBlock names and sealed with
// CommitLocalBlock (short-circuit) — otherwise to a remote executor over the WriteBlock
// stream in Config.ChunkSize chunks. Close completes the file with the blocks' lengths and
// CRC32Cs and the whole file's CRC32C (combined from the blocks'); CACHE_THROUGH then
// persists it and waits. THROUGH streams the whole file through
// one executor's WriteUfsFile and completes it with ufs_written. Any failure aborts: the
// current block is discarded and the INCOMPLETE file deleted, so a COMPLETE file never
// misses data.
//
// # Reading
//
// Open returns a FileReader (io.Reader, io.ReaderAt, io.Seeker, io.WriterTo, io.Closer).
// For each block it reads, in order of preference: a copy on an executor of this host
// through its file (OpenLocalBlock, then pread straight into the caller's buffer; the lock
// is held until the reader is closed or the block leaves a small cache), a copy on
// another executor (ReadBlock stream), or — for persisted files — the UFS through an
// executor (this host's first) with ReadBlock's UFS source. When a source fails mid-read
// (an executor disappears, or its stream makes no progress for Config.StreamIdleTimeout),
// the read resumes at the same offset on the next source; when every source failed the
// locations are fetched again once. A reader that read a whole block from the UFS through
// this host's executor reads that block by short-circuit afterwards. Read types: CACHE lets the
// executor that reads a block from the UFS cache it; NO_CACHE sets no_cache; CACHE_PROMOTE
// also asks executors to promote the blocks it reads to the top tier. A copy read from a
// remote executor is not re-cached locally: the BlockService contract only accepts new
// blocks of INCOMPLETE files, so caching is the executors' business (CacheBlock, Load).
// Opening a LOST file waits up to Config.RecomputeWait for the master to recompute it.
//
// Short-circuit locks are held per reader (at most a few blocks at a time) until Close.
// An executor releases the locks of a client that has not called it for its session
// timeout (10 minutes by default); block files are immutable, so a reader that keeps its
// file open still reads correct bytes even if the block is evicted meanwhile.
//
// Remote chunks are decoded by a codec that leaves their bytes in gRPC's receive buffers
// (chunkCodec), so a streamed byte is copied once, into the caller's buffer, or not at all
// by WriteTo.
//
// # Short-circuit
//
// An executor is on this host when its reported host name equals Config.Hostname
// (os.Hostname() by default), or, when it reported none, its address is a loopback one.
// Short-circuit is used for such executors when Config.ShortCircuit is set; if the block
// file an executor names cannot be opened here, the client falls back to gRPC for that
// executor from then on.
//
// # Transport
//
// Block bytes between the client and executors go through the unexported blockTransport
// interface (read, write, writeUFS), which owns the chunk size; the gRPC BlockService
// streams are the default implementation, and a faster data plane can replace them without
// touching readers and writers.
//
// # Lineage jobs
//
// SubmitJob, GetJob, ListJobs, KillJob, DeleteLineage, GetLineage (GetJobLineage) and
// GetCheckpointStatus are the JobMaster calls, through the same leader-following path as
// the metadata calls. A program run as a job learns its cluster, ID, inputs and outputs
// from its environment, set by the master: SLUICE_MASTER (comma-separated addresses),
// SLUICE_JOB_ID, and SLUICE_INPUTS and SLUICE_OUTPUTS (paths in submission order, one per
// line: JobPathSeparator is "\n", since paths may hold commas). JobEnv reads them (the
// package's one reader of the environment, for job programs), NewJob connects, and
// Job.CreateOutput writes an output MUST_CACHE bound to the job, taking over the
// INCOMPLETE placeholder SubmitJob made:
//
//	env, _ := client.JobEnv()
//	job, err := client.NewJob(ctx, client.DefaultConfig(), env)
//	…
//	w, err := job.CreateOutput(ctx, env.Outputs[0])
//
// # io/fs
//
// FS returns a read-only io/fs view (fs.StatFS, fs.ReadDirFS, fs.ReadFileFS) of the
// namespace, checked with testing/fstest; WriteFile and ReadFile are one-call helpers.
//
// # Errors
//
// Server failures are *Error values (code, reason, message, leader, path, job) that unwrap
// to one sentinel of this package through one table (reason first, code when the status
// has no detail): errors.Is(err, client.ErrNotFound) works, and ErrNotFound also matches
// fs.ErrNotExist, ErrAlreadyExists fs.ErrExist, ErrPermission fs.ErrPermission. Context
// cancellation and deadlines come back as the context errors.
//
// # Contexts
//
// Every call takes a context. The context given to Create and Open also governs the later
// Writes, Reads and Close of the returned writer or reader (an io.Writer cannot take one),
// as in cloud storage SDKs; this is the package's one deliberate exception to "never store
// a context".
//
// # Statistics
//
// Stats returns cheap counters of the bytes read and written by path kind (short-circuit,
// remote, UFS), read fallbacks and leader redirects; the package has no Prometheus
// dependency.
//
// The package imports only package api of this module.
package client
