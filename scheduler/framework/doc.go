// Package framework serves the FrameworkScheduler gRPC service (api/framework.proto) over
// a *scheduler.Scheduler, so that masters in other processes launch and kill lineage jobs
// on the cluster manager and hear at once of lost executors and ended jobs.
//
// A framework scheduler process (`sluice framework mesos run`, the Nomad sidecar
// `sluice framework nomad serve`) builds a Scheduler on its Backend, a Server over it
// with NewServer, and runs both; masters dial it with `sluice master --framework
// HOST:PORT` (master.FrameworkLauncher is the client side).
//
// Wiring, in a framework scheduler process:
//
//	sched, err := scheduler.New(scfg) // the backend, Masters, Executors …
//	srv, err := framework.NewServer(framework.ServerConfig{Scheduler: sched,
//		Executors: src /* nil: the Scheduler's slots */, Backend: "mesos", Logger: log})
//	lis, err := net.Listen("tcp", addr)
//	go sched.Run(ctx)          // wait for it before closing the backend
//	err = srv.Serve(ctx, lis)  // gRPC server + Run, until ctx ends
//
// and the masters run with `--framework <addr>`. Serve is Register on a new grpc.Server
// plus Run; a process with a gRPC server of its own calls those two instead.
//
// # Executors
//
// Executor events and the executor list come from an ExecutorSource: by default the
// Scheduler's own executor slots (SchedulerExecutors); a backend whose cluster manager
// keeps the executors itself (Nomad keeps the executor job's allocations) implements
// ExecutorSource instead. Every terminal ExecutorEvent is an EXECUTOR_LOST event: the
// executor's storage is gone. A source does not report ends it caused on purpose (the
// Scheduler killing its executors at shutdown).
//
// # Decisions
//
//   - LaunchJob is idempotent on (job_id, attempt): a repeated call, even concurrent with
//     the first, returns the first call's task; a call whose launch failed is forgotten,
//     so a retry launches again. The Server remembers the last ServerConfig.LaunchHistory
//     launches whose tasks have ended (running ones always).
//   - Jobs are launched as scheduler.KindJob tasks labelled with LabelJobID and
//     LabelJobAttempt (Nomad meta, Mesos labels), preferring the nodes whose Host or ID
//     is among preferred_hosts (PreferNodes), best first.
//   - JobStatus and KillJob take a task_id, or a job_id for the job's latest attempt.
//   - Events are numbered from 1 in an epoch (a random name of this Server); the last
//     ServerConfig.EventHistory events are remembered. A WatchEvents stream starts with
//     an EVENT_TYPE_STREAM_STARTED message giving its position, then replays the
//     remembered events after since_seq and follows new ones. A since_seq of another
//     epoch, or older than what is remembered, fails with OUT_OF_RANGE, as does a stream
//     whose reader falls behind by more than the history: the client may have missed
//     events and must re-read the state, or watch again with from_oldest, which replays
//     every remembered event (a restarted server's first events included). Pending job
//     states are not events.
//   - Errors cross the wire through one table (errors.go): scheduler.ErrInvalidTask is
//     InvalidArgument, scheduler.ErrUnknownTask NotFound, scheduler.ErrNotRunning and
//     ErrClosed Unavailable; context errors pass through.
//   - Job end events carry the task's log file path and the tail of the log when the
//     backend is a scheduler.StatusReporter that writes a log file readable here (the
//     local backend).
package framework
