// Package recompute plans and executes the recovery of lost, un-checkpointed files by
// resubmitting their producing jobs, inputs first, in topological order.
//
// It declares the small interfaces it consumes (a job launcher, a lineage view) rather than
// importing the scheduler or the master. The lineage issue builds it.
package recompute
