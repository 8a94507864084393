// Package bench measures Sluice beside the physical limits and the alternatives, every
// figure beside its reference in the same run, and reports them: the measurements of
// `sluice bench` (cmd/sluice sets up the cluster and calls Run) and the measuring code
// the Go benchmarks of internal/clusterbench share.
//
// Run drives a cluster through the client SDK in five groups, each figure Config.Runs
// times, measured part and reference taking turns (the reference leads on odd runs):
//
//   - read: a short-circuit read of a MUST_CACHE file interleaved block by block with
//     copy() of the same bytes and with pread of a plain file on the MEM tier's tmpfs
//     (ShortCircuitRound); a remote read over gRPC beside a raw loopback TCP stream
//     (TCPStream); a file cached from a file:// UFS beside os.File reading it; a cold
//     read from S3 (the cached copy freed before each run) beside minio-go GetObject.
//   - write: MUST_CACHE, ASYNC_THROUGH (until Close, and until persisted), CACHE_THROUGH
//     and THROUGH to the local UFS and to S3, beside copy(), os.File write+fsync on the
//     same disk and minio-go PutObject; every Sluice write into executors holding no more
//     than before the group.
//   - parallel: Config.Clients clients reading distinct files and one hot file beside as
//     many goroutines reading plain tmpfs files.
//   - metadata: create+complete, getStatus and listing with 1 and Config.Clients clients
//     beside the same clients calling a stub master that replays the real master's
//     answers (StartStub).
//   - lineage: a job writing its output (RunWriteJob) beside CACHE_THROUGH, and the
//     recovery of an output whose executor is killed beside the job's original run.
//
// A Row holds one value per run of the figure and of its reference; the ratio of a run
// is measured ÷ reference, and a Report shows medians, ranges and the targets
// as a table, JSON or Markdown.
//
// Decisions:
//   - Every byte Sluice reads in the read rows is copied into the caller's buffer (Read,
//     not WriteTo) where the reference copies too, so that the figures compare the same
//     work; the remote read drains through the reader's WriteTo, as io.Copy callers get.
//   - Everything a run writes lives under Config.Dir (deleted at the end, also after an
//     interrupt, with a context of its own), Config.Scratch, Config.MemScratch and the
//     bucket prefix "sluice-bench/": cleanup unmounts first, then deletes.
//   - The package has no flags or environment: cmd/sluice reads them.
package bench
