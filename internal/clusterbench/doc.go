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
//     1 GiB buffer, beside copy() of the same 1 GiB between two in-memory buffers
//     (metric sluice/memcpy).
//   - BenchmarkRemoteRead reads the same file with ShortCircuit off, so over the
//     ReadBlock gRPC stream, beside a raw loopback TCP stream of 1 GiB drained with
//     io.CopyBuffer (metric sluice/tcp).
//   - BenchmarkWrite writes 1 GiB with MUST_CACHE (short-circuit), THROUGH (to the local
//     UFS, fsynced), CACHE_THROUGH and ASYNC_THROUGH, taking turns, and reports each
//     throughput and MUST_CACHE/THROUGH.
//   - BenchmarkMetadata runs create+complete of empty files and GetStatus from 16
//     client.Client instances (one goroutine each, as 16 separate clients would) on one
//     master, beside the same RPCs against a stub FileSystemMaster that does no work
//     (metric master/stub): the ceiling that gRPC on this machine allows.
//
// Decisions:
//   - Each benchmark iteration does the whole measured work once (1 GiB, or a fixed batch
//     of metadata operations), so `-benchtime 1x` or `3x` gives meaningful figures;
//     throughputs are computed from the time of the measured part alone, not ns/op.
//   - Measured and reference parts take turns leading within an iteration, so neither
//     always runs right after the other's cache or allocator effects.
//   - Benchmarks skip under -short (the clusters and buffers are large); the package's
//     Test runs the same measuring code on small sizes so `go test` exercises it.
//
// docs/BENCHMARKS.md records the figures measured on the project's machines and what
// bounds each of them.
package clusterbench
