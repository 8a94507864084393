// Package master is the Sluice metadata service: the namespace (inode tree), the mount
// table, the block master, the executor registry, lineage and checkpoint planning, all kept
// in a Raft-replicated journal and served over gRPC and HTTP.
//
// The master talks to executors and to the framework scheduler only through api (gRPC).
//
// Its metadata is the deterministic state machine of master/state (inode tree, mount
// table, ID counter), changed only by journal entries that master/journal carries through
// Raft: an operation is acknowledged once its entry is committed and applied.
// The working-cluster issue builds it.
package master
