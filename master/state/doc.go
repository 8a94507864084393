// Package state is the master's metadata state machine: the namespace (inode tree), the
// mount table, the lineage job records and the ID counters, changed only by applying
// journal entries, so that every replica that applies the same journal holds the same
// state.
//
// # Entries
//
// A journal entry is one EntryType byte followed by a protobuf payload from
// api/journal.proto (Encode, Decode). Entry types are dispatched through one table.
// Types with the Ignorable bit (0x80) carry hints that an older master may skip; any
// other unknown type, or a payload that does not parse, makes State.Apply panic: the
// replica would otherwise diverge. A state error (the path exists, the file is complete
// …) is not a panic: it is returned in Result.Err and the entry changes nothing. Every
// entry is applied in one transaction, so an entry is applied whole or not at all.
//
// Everything an apply needs is in the entry: times (time_ms, never time.Now), inode IDs
// (reserved by the leader's IDAllocator; the state checks that an ID is in range and
// unused and advances its counter past every reserved range, so replay is
// deterministic), and what a UFS listing found (LoadMetadata).
//
// # Decisions
//
//   - Files are write-once: CreateFile makes an INCOMPLETE file, CompleteFile fixes its
//     length, and a second completion fails with ErrFileComplete. Block IDs are
//     fileID<<24 | index (sluicepb.NewBlockID), derived from the length and block size, so not
//     journaled; a file has at most 2^24 blocks and IDs have 40 bits (MaxID).
//   - A file's TTL counts from its creation time, as in Alluxio; View.Expired lists what
//     has expired at a given time. Freeing blocks (TTL action FREE, `fs free`) changes
//     no namespace metadata, so there is no Free entry: the block master does it.
//   - Directories Sluice creates are marked ChildrenLoaded; the master loads a path's UFS
//     metadata (LoadMetadata, idempotent: existing paths are skipped) before creating
//     under it. Loaded files are PERSISTED and COMPLETE, with blocks but no cached copy.
//   - Rename: dst must not exist (also not when dst == src), its parent must exist, a
//     directory cannot move below itself, mount points and trees holding them do not
//     move, and src and dst lie in one mount. UFS paths in the moved tree follow; the
//     caller renames in the UFS before journaling.
//   - Mounts: "/" first (from configuration, applied once by the first leader when
//     View.HasRootMount is false) and never unmounted. A mount point is a new directory
//     or an existing empty one; nested mounts are allowed except under read-only ones;
//     a UFS URI overlapping another mount's is refused. Unmount drops the metadata below
//     the mount point (and the mount point) but no UFS data, and needs no mounts below.
//     Paths resolve by the longest mount prefix (View.Resolve).
//   - Read-only mounts refuse every change of their namespace except pinning, TTLs that
//     free, persistence and access-time records, and LoadMetadata.
//   - Persistence states move NOT_PERSISTED → TO_BE_PERSISTED → PERSISTED, to LOST when
//     unpersisted data loses its last copy and back to NOT_PERSISTED when recomputed;
//     PERSISTED never becomes LOST (see applySetPersistenceState).
//   - Before a recompute, ResetJobOutputs turns a job's outputs back into INCOMPLETE
//     placeholders that stay LOST (a new leader plans their recompute again) until the
//     rerun completes them, which makes them NOT_PERSISTED (recompute.go).
//   - Errors are the sentinels of errors.go, "state: …", wrapped with the path or ID.
//
// # Concurrency and snapshots
//
// The state is a chain of immutable Views built on persistent radix trees
// (github.com/hashicorp/go-immutable-radix): an apply copies only the tree nodes it
// changes. Writers are serialized by a mutex; readers load the current View with one
// atomic operation and query it without locks, consistently, for as long as they like.
// Taking a snapshot is therefore O(1) (keep the View); writing it out
// (View.WriteSnapshot) streams length-delimited SnapshotRecord messages: header, inodes
// parents first, mounts, jobs (field 16), footer. State.Restore replaces the state
// after checking the whole stream.
//
// # Lineage
//
// Job records (Job: the lineage.Job with its environment and latest run) are in the
// View like inodes. The lineage.Graph they form is not immutable, so the State keeps one,
// changed in place by the three lineage entries (SubmitJob, JobStateChanged,
// DeleteLineage) under a lock of its own, and rebuilt by Restore; State.Lineage lends it
// with the View it mirrors. SubmitJob records a PENDING job and creates its outputs as
// INCOMPLETE placeholders bound to it in one entry, so a job never exists without its
// placeholders. A run's start and end are JobStateChanged entries naming the run
// (attempt), so a late event of a replaced run is refused (ErrStaleRun) and a run ends
// once (ErrJobEnded). The first completion records the outputs' lengths and checksums
// (Job.OutputFacts), against which a recompute is checked. DeleteLineage clears the
// producing job of the outputs still bound to the forgotten jobs.
package state
