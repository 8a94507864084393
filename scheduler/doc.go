// Package scheduler is the framework scheduler core of Sluice: the Backend interface that
// every cluster manager driver implements (local, nomad, mesos, yarn), the types it
// speaks (Task, TaskID, TaskEvent, Node), and the Scheduler, which keeps the desired
// cluster of masters and executors running on a Backend and launches jobs on it.
//
// The package knows nothing of the master: cmd/sluice wires it to the master through
// Config.OnLoss and the FrameworkScheduler gRPC service.
//
// # Desired state, level-based
//
// The Scheduler's reconcile is level-based, not edge-based: it compares the desired
// cluster (Config.Masters masters and Config.Executors executors, each a numbered slot)
// with what it observes, after every backend event and every backoff timer, and launches
// whatever is missing. After Run starts, exactly Config.Executors executors run: kill one
// (through the backend, with kill -9, or by losing its node) and one new one comes, by
// the same code path on every backend. Any end of a service task that Run did not ask
// for — finished with exit 0, failed, lost, or killed by someone else — is a loss.
//
// Decisions:
//   - Slots are named "master-<i>" and "executor-<i>", i from 0. A slot keeps its name
//     across relaunches (Task.Name, and the label LabelSlot); each launch gets a new
//     TaskID from the backend (the local backend: "executor-0-1", then "executor-0-4")
//     and the label LabelAttempt counts launches from 1. Config.ExecutorTask(i) is called
//     at every launch, so a relaunched executor gets the same task (ports, data dir) as
//     the one it replaces; a lost executor's replacement starts with empty storage.
//   - Losses are reported at once: Config.OnLoss is called (on its own goroutine) as
//     soon as the end event is seen, before any backoff, so the master need not wait for
//     heartbeats to time out.
//   - Backoff (Config.RelaunchBackoff, see Backoff): a task that ran at least 10 s is
//     relaunched at once; a shorter run, or a failed launch, is a crash, and after n
//     crashes in a row the slot waits 500 ms·2^(n-1), at most 30 s. A crash loop thus
//     costs at most one launch every 30 s.
//   - Jobs (Kind KindJob, launched by LaunchJob) run once and are never relaunched:
//     recomputing is the master's decision. JobStatus keeps the last 1000 ended jobs.
//     Subscribe streams every event after the Scheduler has applied it.
//   - Shutdown: when Run's ctx ends, Run kills the service tasks it launched and waits
//     for their end (30 s at most). Jobs are left to the backend, whose Close ends them
//     (the local backend kills its children), so `sluice local` stops cleanly on Ctrl-C.
//
// # Backends
//
// Backend is deliberately small (five methods); optional capabilities are separate
// interfaces found by type assertion (StatusReporter: PIDs and log files). Backends use
// Fanout to give every watcher its own unbounded queue. cmd/sluice picks backends from
// an explicit map of BackendFactory values; nothing registers itself. The conformance
// suite in package schedulertest states the contract as tests, and its FakeBackend
// drives the Scheduler in tests without processes.
package scheduler
