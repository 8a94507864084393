// Package clienttest provides an in-memory fake Sluice cluster for testing the client and
// the CLI without a real master or executor: masters serving FileSystemMaster and
// MetaMaster from one shared namespace (mounts, metadata loading from an in-memory UFS,
// persistence, free, TTL and pin attributes, block locations), and executors serving
// BlockService from block files in temporary directories (streamed reads and writes,
// short-circuit access, THROUGH writes, loading from the UFS), and a JobMaster that records
// lineage jobs and their output placeholders but runs nothing: tests end a job's run with
// FinishJob or change it with UpdateJob.
//
// The fake follows the wire contracts of api/ — codes and ErrorDetail reasons from the
// api/errors.proto table, block IDs, stream shapes — but keeps everything in one process
// and does work synchronously (Persist persists at once; ASYNC_THROUGH files stay
// TO_BE_PERSISTED until Persist or PersistPending). Fault injection: SetLeader and
// StopMaster for leader changes and unreachable masters, Executor.Stop and LoseExecutor for
// executors that disappear, InjectError for any RPC, and Executor.SetReadHook to stall or
// break block reads at a chosen offset.
package clienttest
