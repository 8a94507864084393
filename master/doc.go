// Package master is the Sluice metadata service: the namespace (inode tree), the mount
// table, the block master, the executor registry, lineage and checkpoint planning, all kept
// in a Raft-replicated journal and served over gRPC and HTTP.
//
// The master talks to executors and to the framework scheduler only through api (gRPC).
// The working-cluster issue builds it.
package master
