// Package recompute plans and executes the recovery of lost, un-checkpointed files by
// running their producing jobs again, inputs first, in topological order.
//
// It imports only lineage and the standard library, and declares the one interface it
// consumes, Launcher, which the master implements over the framework scheduler.
//
// # Planning
//
// NewPlan takes the lineage graph, the lost files and a predicate saying which paths can
// be read now. It walks from each lost file to its producer and, recursively, to the
// producers of that job's unavailable inputs, and returns each job once, in topological
// order, with the priority of the most urgent job needing its data. Files that nothing
// can rebuild — no producer, or a producer that needs such a file — come back in
// Plan.Unrecoverable with the chain that explains them, and Plan.Err turns them into a
// *LostDataError wrapping ErrNoLineage; the rest is still planned.
//
// Planning is a pure function of the graph and the file states, which is how a recovery
// survives a master restart: the new leader plans again from the files still LOST. Jobs
// that finished before the restart made their outputs available and drop out; jobs that
// were running are simply run again. No plan state is journaled.
//
// # Execution
//
// A Runner executes plans: a step starts when the steps it reads from completed, the
// ready step with the highest priority first, with at most Config.MaxConcurrent jobs
// running over all the Executes of the Runner. A job is never run twice at once: an
// Execute that reaches a job another Execute is running waits for that run. A failed job
// (after Config.MaxAttempts attempts) fails every step depending on it with a *JobError
// naming both jobs and the root cause, and those steps never run. Cancelling the context
// stops new launches, cancels running ones through the Launcher, and Execute returns
// once every goroutine it started has ended; it never hangs, even on a malformed plan.
//
// # Determinism
//
// Jobs must be deterministic. CheckOutput compares a rebuilt output's length and, when
// both are known, checksum with the original's, and reports a mismatch as a
// *NonDeterministicError wrapping ErrNonDeterministic.
package recompute
