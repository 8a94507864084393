// Package testcluster starts in-process Sluice clusters (masters and executors on
// 127.0.0.1, temporary directories) for tests, and can kill, restart and partition them.
//
// The working-cluster issue builds it.
package testcluster
