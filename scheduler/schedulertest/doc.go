// Package schedulertest holds the test doubles and the conformance suite of package
// scheduler.
//
// Run checks that a scheduler.Backend keeps the contract: launch and the Running event,
// exit codes, Kill reaching every process of a task, a task killed from outside
// reported as failed or lost, environment and working directory, nodes, watchers. Every
// backend runs it: local with ShellCommands (real /bin/sh processes), nomad against a
// dev agent. The suite never sleeps; it waits for events with a deadline (WaitTimeout)
// that only turns a hang into a failure.
//
// FakeBackend records launches and kills and lets a test emit any event, to test the
// Scheduler's reconcile logic (relaunch, backoff, OnLoss, jobs) without processes, in
// the manner of nomad's scheduler Harness. It works inside testing/synctest bubbles.
//
// StartScheduler runs a Scheduler in the background of a test and records its loss
// reports; with ReadyExecutor as its executor task, a test on a real backend can wait
// for each executor's ready file, kill it from outside and watch the relaunch.
package schedulertest
