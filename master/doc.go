// Package master is the Sluice metadata service: the namespace (inode tree), the mount
// table, the block master, the executor registry and the checkpoint (persist) queue, all
// served over gRPC (FileSystemMaster, ExecutorMaster, MetaMaster) and HTTP (web UI,
// /metrics, /healthz), with every metadata change journaled through Raft
// (master/journal applying master/state entries).
//
// The master talks to executors and to the framework scheduler only through api (gRPC);
// the caller builds the ufs.Registry and passes it in Config.
//
// # Life cycle
//
// New checks the Config and binds the listeners (Addr and HTTPAddr work at once, also
// with port 0); it starts no goroutine. Run opens the journal, serves, and runs the
// leader-only work while this master leads; it stops everything and closes the journal
// when its ctx ends. On gaining leadership the master waits for the journal to catch up
// (Barrier), mounts Config.RootUFS at "/" if the cluster is new, starts the inode ID
// allocator, re-queues TO_BE_PERSISTED files and starts the loops (lost executors, TTLs,
// persists, access times) with a ctx cancelled when leadership is lost.
//
// # Leadership and redirection
//
// Only the leader answers, except MetaMaster.GetMasterInfo. Followers answer
// Unavailable with ErrorDetail{NOT_LEADER, leader_address}. The journal knows the
// leader's Raft address; Config.PeerRPCAddrs maps Raft addresses to gRPC addresses (the
// operator or cmd/sluice lists every master's pair, as it lists the Raft peers). An
// unmapped leader is reported with an empty address and clients try the next master. A
// leader that has not caught up yet answers Unavailable with reason UNAVAILABLE.
//
// Reads (GetStatus, ListStatus, GetBlockLocations …) are answered from the current
// immutable state View without any lock, after a leadership check that reads Raft's
// state (an atomic load): no Raft round trip per read. A leader cut off from its quorum
// steps down within Raft's LeaderLeaseTimeout (the leader lease, as in Alluxio), which
// bounds how long it may answer reads another leader has made stale.
//
// # Serving speed
//
// The gRPC server runs handlers on stream workers (goroutines reused with their grown
// stacks) and uses fixed flow-control windows, which turn off gRPC's bandwidth-delay
// PINGs on every small call. Journaled calls share log writes: see master/journal
// (group commit). Each create of a file is two journal entries (CreateFile,
// CompleteFile), each acknowledged only once durable.
//
// # Errors
//
// Handlers return Go errors; one interceptor turns them into statuses through the table
// in rpcerr.go (state, journal, ufs and master sentinels → code + ErrorReason, with the
// path, job or block in the ErrorDetail). Context errors pass through; unknown errors
// are codes.Internal. Every request is validated before use (paths with
// state.ValidatePath, block IDs with sluicepb.CheckBlockID, sizes, modes, enums); the
// interceptor's panic recovery is a last resort, not validation.
//
// # Namespace decisions
//
//   - Files are write-once. CompleteFile checks every block against what executors
//     committed (ID NewBlockID(file, i), exact length, CRC32C when given) before
//     journaling; THROUGH files complete with ufs_written and no blocks.
//   - The write type is not journaled: the leader remembers it from CreateFile to
//     CompleteFile. UNSPECIFIED means ASYNC_THROUGH, or MUST_CACHE for a file bound to
//     a lineage job (job_id). After a failover an unknown write type counts the same
//     way: persisting too much is safer than too little.
//   - Server-side waits (Persist with wait, GetBlockLocations with wait_for_recompute)
//     answer a little before the call's deadline (a tenth of the time left, at most
//     250 ms), so the caller receives TIMEOUT or FILE_LOST rather than its own
//     DEADLINE_EXCEEDED.
//   - Delete removes from the UFS first (unless sluice_only), then journals; Rename moves
//     the UFS copy first and moves it back if the journal refuses. A persist that ends
//     after its file was renamed moves its UFS copy to the new name before PERSISTED is
//     journaled.
//   - Free follows Alluxio: un-persisted files are refused (NOT_PERSISTED) unless forced,
//     pinned files are skipped unless forced (which unpins them). A forced free of an
//     un-persisted file drops its only copy, so the file becomes LOST. TTL FREE frees what
//     is persisted and then clears the TTL, so it acts once.
//   - Metadata loading (LoadMetadataType): ONCE lists a directory the first time it is
//     needed and looks up a path that is not known in the UFS; ALWAYS lists again; NEVER
//     never asks the UFS. Loaded inodes are PERSISTED files with blocks but no cached copy
//     (block size DefaultBlockSize, doubled until the file fits in 2^24 blocks). Temporary
//     persist names (".<name>.sluice-persist-<file>-<attempt>.tmp") are never loaded.
//   - Mount needs a new (or empty) directory whose parent exists, a scheme the registry
//     knows (else UNKNOWN_SCHEME) and a UFS that opens with its root directory present.
//     MountRequest.shared is kept as the reserved mount option "sluice.mount.shared",
//     which never reaches UFS factories.
//   - A file created in a pinned directory is pinned.
//   - Access times are batched: reads mark files, the leader journals ignorable
//     UpdateAccessTime entries every few seconds.
//   - The cluster ID is a hash of the journaled root UFS URI.
//
// # Block master and executors (soft state)
//
// Executor liveness, block locations, committed block lengths and pending commands live
// in the leader's memory only and are rebuilt from registrations; an executor unknown to
// the leader gets REGISTER at its next heartbeat. RegisterExecutor trusts no block: a
// held block is kept only if its file exists and is being written, or is complete with
// a block of that index and exactly that length; the others are returned for deletion.
// Executor IDs are reused when an executor re-registers with its previous ID and it is
// free; new IDs are seeded from the clock at each leadership so IDs of an earlier term
// are not handed out again.
//
// An executor silent for HeartbeatTimeout, or reported by ReportExecutorLost, is LOST:
// its copies are dropped, its persist tasks are handed out again, and every complete
// un-persisted file left with a block without a copy is journaled LOST (a Warn names
// each one that has no lineage). Persisted files only lose their cached copies. One
// HeartbeatTimeout after gaining leadership, the leader also marks LOST the un-persisted
// files whose blocks no executor re-registered. A LOST file whose blocks all have a copy
// again (its executor came back, or a recompute committed them anew: CommitBlock accepts
// blocks of complete files with the recorded lengths) returns to NOT_PERSISTED, and
// reads waiting for its recompute are answered.
//
// # Persist loop (checkpoints)
//
// Each round the leader gathers the files that may be checkpointed — TO_BE_PERSISTED
// files (ASYNC_THROUGH writes, `fs persist`) and the complete, un-persisted outputs of
// recorded lineage jobs (plain MUST_CACHE files are not) — and asks the Edge planner
// (lineage.Graph.PlanCheckpoints: unprotected files, then leaves, deep, hot, cold
// outputs) what to start within PersistConcurrency files and
// CheckpointConfig.MaxBytesInFlight bytes; a token bucket of CheckpointConfig.Bandwidth
// bytes per second lets a file start only while it holds tokens. Each file goes as a
// PERSIST_FILES command in the heartbeat answer of the live executor holding most of its
// blocks, with a temporary UFS name unique per attempt in the file's directory.
// ReportPersisted with the current attempt journals PERSISTED (and counts the bytes for
// the throughput window of GetCheckpointStatus and /metrics); a failure, a lost executor
// or a task not listed in the executor's heartbeats for PersistTimeout is retried after
// PersistRetryBase, doubling up to PersistRetryMax. Persist with wait blocks until every
// file is PERSISTED, one is LOST or deleted, or the call's deadline passes (TIMEOUT; the
// persists go on).
//
// # Lineage jobs
//
// JobMaster (jobs.go) records jobs in the journal: SubmitJob checks the spec (a command,
// at least one output, clean paths listed once), loads the UFS metadata along its paths
// and journals one SubmitJob entry that records the job PENDING and creates its outputs
// as INCOMPLETE placeholders bound to it (with missing parents), all or nothing; inputs
// must exist or be outputs of recorded jobs, outputs must not exist, cycles are refused
// (lineage.Graph). The job is then launched through Config.Jobs (a JobLauncher: the
// master never imports the scheduler; nil refuses SubmitJob with FAILED_PRECONDITION)
// with SLUICE_MASTER (every master's gRPC address, this one first), SLUICE_JOB_ID,
// SLUICE_INPUTS and SLUICE_OUTPUTS (newline-separated) added to its environment; a job
// reading outputs of other jobs stays PENDING until they completed, and fails if one of
// them fails. One leader goroutine owns every run (jobs_run.go): it launches, journals
// RUNNING with the task ID, and journals the end from the launcher's events: exit 0
// with every output complete and not LOST is COMPLETED (with the run time and, the first
// time, the outputs' lengths and checksums); anything else is FAILED with the reason and
// the last 4 KiB of the log. KILLED is final. On gaining leadership it reconciles
// RUNNING jobs with the launcher: jobs it does not know (a restarted `sluice local`) are
// FAILED with "master restarted"; PENDING ones wait for their inputs again.
// DeleteLineage refuses running jobs (kill them first); forgetting a job clears the
// producing job of its outputs, so a file's job ID always names a live record. Every LineageGCInterval the leader forgets the completed
// jobs whose outputs and descendants' outputs are all PERSISTED (or gone).
//
// # Recompute
//
// The leader rebuilds LOST files that have lineage by rerunning their jobs through
// Config.Jobs, inputs first, with bounded concurrency (RecomputeConfig); see
// recompute.go. Reads with wait_for_recompute wait for it up to RecomputeConfig.ReadWait
// and fail with FILE_LOST naming the job and why when it fails; a restarted leader plans
// again from the files still LOST.
//
// # HTTP
//
// /healthz answers 200 ("ok leader" or "ok follower" and the leader's gRPC address)
// while the servers run, 503 otherwise. /metrics serves Config.Registry (or the master's
// own registry) with sluice_master_* metrics: namespace counts, cached blocks, live and
// lost executors, lost files, persist queue length and lag, checkpoint files and bytes
// waiting, lag and throughput, recompute runs, failures, running jobs and
// non-deterministic outputs, Raft state and applied index, RPC counts and latencies by
// method and code. The web UI (html/template, no
// JavaScript) shows an overview, the executors with tiers, PIDs and task IDs, a file
// browser with persistence states (it reads the namespace only, never the UFS) and the
// lost files.
package master
