// Package journal is the master's Raft-replicated journal: it carries every metadata
// change (a master/state entry) through github.com/hashicorp/raft to the state machine of
// every master, and keeps it on disk so that a restart replays it.
//
// # Wiring
//
// Open starts Raft with raft-boltdb/v2 (bbolt, Dir/raft.db, without freelist sync) as
// log and stable store behind a 512-entry log cache, a file snapshot store (Dir/snapshots) and, unless
// Config.Transport replaces it, a TCP transport on Config.BindAddr (127.0.0.1:19200).
// Each master's Raft ID is its advertised address. A new cluster bootstraps itself:
// alone when Config.Peers is empty (one master is a single-node cluster), otherwise
// with every peer, all masters starting with the same list. Snapshots are taken by Raft
// when SnapshotThreshold entries accumulated (checked every SnapshotInterval), keeping
// TrailingLogs entries; Journal.Snapshot forces one.
//
// The raft.FSM adapter (fsm.go) decodes each committed entry and applies it to the
// state.State; Snapshot takes the state's current immutable View (O(1)) and Persist
// streams it to the sink, so applies never wait for snapshot I/O. Restore replaces the
// state. Raft's hclog output goes to the configured slog.Logger with its levels shifted
// down (Info to Debug, Warn to Info), so raft is quiet at the master's usual Info level.
//
// # Acknowledgement
//
// Journal.Apply returns success only after Raft committed the entry (it is fsynced on a
// quorum of masters) and this master's state machine applied it; so an acknowledged
// operation survives kill -9 of any minority of masters at any moment, and a state error
// (state.ErrExists …) is returned only for entries that changed nothing. An Apply whose
// ctx ends, or that fails with ErrLeadershipLost, may still commit later: callers report
// neither success nor a definite failure then. ctx's deadline also bounds how long an
// entry may wait for room in Raft's apply queue, the only timeout Raft's Apply takes.
//
// # Group commit
//
// Raft's apply queue is buffered (raft.Config.BatchApplyCh): Apply hands its entry over
// without waiting for Raft's leader loop, which writes everything queued while it
// wrote the previous batch in one bbolt transaction, so concurrent Applies share one
// log write and its fsyncs. The FSM hands each result straight to the waiting Apply
// (delivery.go: entries carry a tag in raft.Log.Extensions, a nonce of this Journal and
// a sequence number), one goroutine hand-off less than Raft's future; the future still
// reports what Raft answers without applying (not the leader, leadership lost,
// shutdown). Raft drops entries still queued when it shuts down without answering them,
// so Close first refuses new entries and waits (Barrier) for the queued ones.
//
// # Leadership
//
// Only the leader applies; followers fail with a *NotLeaderError (errors.Is
// ErrNotLeader) naming the leader, which the gRPC layer returns as Unavailable with
// that address. Leader-only loops consume LeaderCh: on true they call Barrier (so the
// state holds every committed entry), start a state.IDAllocator from View.NextID and run
// with a ctx cancelled on false.
package journal
