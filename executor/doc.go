// Package executor is the storage daemon that runs on each node (Alluxio calls it a worker):
// it serves blocks from the tiered store in package blocks, heartbeats to the master, and
// persists files to the under-storage when the master asks.
//
// It never imports the master; the working-cluster issue builds it.
package executor
