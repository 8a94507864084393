// Package clusterbench holds the benchmarks of the working cluster: an in-process
// cluster (internal/testcluster: one master on a single-node Raft journal, executors
// whose MEM tier lives on tmpfs, a ufs/local root UFS on disk) driven through the client
// SDK, each figure measured beside its reference in the same run and reported as a ratio,
// because the machines it runs on are small and shared.
//
// The package has no exported API: everything lives in its _test.go files.
//
//   - BenchmarkShortCircuitRead reads a 1 GiB MUST_CACHE file sequentially through a
//     client on the executor's host (short-circuit, checked through client.Stats) into a
//     1 GiB buffer, interleaved block by block with copy() of the same bytes between two
//     in-memory buffers and with pread of a plain file on the same tmpfs (metrics
//     sluice/memcpy and sluice/pread).
//   - BenchmarkRemoteRead reads the same file with ShortCircuit off, so over the
//     ReadBlock gRPC stream, beside a raw loopback TCP stream of 1 GiB drained with
//     io.CopyBuffer (metric sluice/tcp).
//   - BenchmarkWrite writes 1 GiB with MUST_CACHE (short-circuit), THROUGH (to the local
//     UFS, fsynced), CACHE_THROUGH and ASYNC_THROUGH, and with plain os.File writes to
//     tmpfs and to the disk (fsynced), taking turns, and reports each throughput,
//     mustcache/through, mustcache/plain-tmpfs and through/plain-disk.
//   - BenchmarkMetadata runs create+complete of empty files and GetStatus from 16
//     client.Client instances (one goroutine and one connection each, as 16 separate
//     clients would) on one master, beside the same calls against a stub
//     FileSystemMaster that replays the master's real answers at once (metric
//     master/stub): the ceiling that the client and gRPC allow on this machine. It also
//     reports the journal entries and the process CPU time per operation.
//
// Decisions:
//   - Each benchmark iteration does the whole measured work (1 GiB per row, three paired
//     rounds of it for the reads, or a fixed batch of metadata operations), so
//     `-benchtime 1x` or `3x` gives meaningful figures; throughputs are computed from the
//     time of the measured part alone, not ns/op.
//   - Measured and reference parts take turns leading within an iteration, so neither
//     always runs right after the other's cache or allocator effects. Ratios are medians
//     over the rounds of reference time / measured time, so one round disturbed by
//     another process does not decide the figure.
//   - Benchmarks skip under -short (the clusters and buffers are large); the package's
//     Test runs the same measuring code on small sizes so `go test` exercises it.
//
// docs/BENCHMARKS.md records the figures measured on the project's machines and what
// bounds each of them.
package clusterbench
