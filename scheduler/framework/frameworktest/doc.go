// Package frameworktest runs a FrameworkScheduler server in tests: a Scheduler and a
// framework.Server over it on 127.0.0.1, stopped at the test's cleanup.
package frameworktest
