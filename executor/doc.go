// Package executor is the storage daemon that runs on each node (Alluxio calls it a
// worker): it keeps blocks in the tiered store of package blocks, serves them over the
// BlockService gRPC API (api/block.proto), registers and heartbeats with the master
// (api/executor_master.proto) and persists files to the under-storage when the master
// asks. It never imports the master, the client or the scheduler: it talks to the master
// over gRPC only, and the caller passes the UFS backends in a ufs.Registry.
//
// # Life cycle
//
// New checks a Config and starts nothing. Run opens the block store, listens on
// Config.RPCAddr (BlockService) and Config.HTTPAddr (/healthz, /metrics), registers with
// the master — with its address, host name, tiers and every block it already holds — and
// deletes the blocks the master answers it does not know. It then heartbeats every
// Config.HeartbeatInterval (or the interval the master returns), reporting tier usage,
// the blocks committed, moved, evicted or removed since the last acknowledged heartbeat
// (evictions and corrupt drops come from the store's events) and the files it is
// persisting, and carries out the commands of each answer in order: REGISTER (register
// again, e.g. after a master restart), REMOVE_BLOCKS and FREE (delete blocks; a block
// locked by a reader goes when it is released) and PERSIST_FILES. When ctx ends Run stops
// serving, waits for its tasks and closes the store; blocks stay on disk for the next
// run.
//
// # Masters
//
// The executor calls the master it last reached. An answer Unavailable with a NOT_LEADER
// detail and a leader address sends it to that leader; a master that does not answer
// sends it to the next configured one. While none answers it retries with exponential
// backoff up to Config.MaxBackoff and keeps serving reads. A master that does not know
// the executor (EXECUTOR_NOT_REGISTERED, or a REGISTER command) gets a new registration
// that offers the previous ID. Block commits (CommitBlock) wait for the executor to be
// registered, up to the caller's deadline and Config.RPCTimeout.
//
// # Data path
//
// ReadBlock streams ranges in chunks of Config.ChunkSize (or the request's chunk size,
// up to MaxChunkSize), verified against the store's CRC32C chunk checksums. A block that
// is not here is read from its UFS copy when the request names one: for CACHE reads the
// whole block is first loaded into the store (one load for all concurrent readers and
// CacheBlock calls, via singleflight) and committed to the master in the background, then
// served from the store; NO_CACHE reads, and reads of blocks that cannot be cached (no
// space), stream the range straight from the UFS. WriteBlock and the short-circuit
// CreateLocalBlock/CommitLocalBlock commit a block to the store and then to the master
// before answering; if the master refuses it the block is removed again, so a failed
// write leaves nothing.
//
// Decisions the contracts leave open, recorded here:
//
//   - Short-circuit leases: OpenLocalBlock read-locks the block (the evictor, Move and
//     Remove leave it alone) until CloseLocalBlock. Every lock and every temporary block of
//     CreateLocalBlock belongs to the client_id of its request; a client that makes no call
//     with that client_id for Config.LocalLockTimeout (default 10 minutes) loses them:
//     locks are released, temporary blocks aborted. A client reading one block for longer
//     than that must make another call (e.g. open its next block) to keep its session;
//     a lock taken without a client_id expires Config.LocalLockTimeout after it was taken.
//     Locks are released and temporary blocks aborted when Run ends.
//   - UFS access: requests carry the file's full URI and its mount options. The executor
//     splits a URI into the FS of its scheme and authority (file:///, s3://bucket/) and the
//     path within it, opens that FS once per authority and options through the Registry,
//     and keeps it until Run ends.
//   - Persist: blocks are read from the local store or, failing that, from the executors
//     in the task's locations (a location that fails before any byte was written gives way
//     to the next); each block's length and CRC32C are checked against the task, the bytes
//     are written through ufs.FS.Create to temp_ufs_uri (atomic on Close), the total length
//     is checked, and the temporary file is renamed to the final name — replacing a file
//     left there by an earlier attempt whose report was lost. On failure the temporary
//     file is deleted. An empty temp_ufs_uri writes the final name directly (Create is
//     atomic). At most Config.PersistConcurrency tasks run at once, outside the heartbeat
//     loop; ReportPersisted is retried while no master answers.
//   - Guards (guard.go): every block written here is pinned in the store ("guarded")
//     until the master's heartbeat answer says its file is PERSISTED, a recomputable
//     lineage output (then protected: evicted last) or gone; un-persisted data has no
//     other copy, so it is never evicted, and a write that cannot get room otherwise
//     fails with NO_SPACE, saying the tier is full of data not yet persisted. Heartbeats
//     and registrations name the guarded files (at most 8192 at a time, in rotation);
//     after a restart every held block is guarded until the registration's answer. User
//     pins (the pinned flag of a write or CacheBlock) are kept apart: a block is pinned
//     in the store while user-pinned or guarded. A WriteBlock whose size hint cannot be
//     reserved (but fits the tier) starts with no reservation and reserves as it writes.
//   - WriteUfsFile writes through ufs.FS.Create, whose Close is atomic; mode, owner and
//     group are not applied because the ufs.FS contract has no way to set them.
//   - Errors cross gRPC through one table (rpcerr.go): blocks and ufs sentinels and the
//     executor's own map to a code and an ErrorReason carried in a sluicepb.ErrorDetail
//     with the block ID; a master's status passes through unchanged; context errors
//     become Canceled or DeadlineExceeded.
//
// # Metrics
//
// Metrics go to Config.Registry (served at /metrics), all named sluice_executor_*: bytes
// read and written by path kind (short_circuit, remote, ufs) and tier, cache hits and
// misses, store events (evictions, corrupt drops), tier capacity, use and block counts,
// persist bytes, durations and outcomes, and the host's memory.
package executor
