// Package ufstest is the conformance suite that every ufs.FS backend passes.
//
// A backend's tests call Run with a function that returns a fresh, empty FS for each
// subtest (a new temporary directory, a new bucket prefix):
//
//	func TestFS(t *testing.T) {
//		ufstest.Run(t, func(t testing.TB) ufs.FS { return newEmptyFS(t) })
//	}
//
// Run checks the contract of package ufs as written in its doc comments: create,
// whole and ranged reads, Stat, List, Mkdir, Rename, Delete and their error values,
// files of at least 100 MiB streamed and checked by SHA-256 (8 MiB under -short),
// concurrent writers, atomic visibility of created files, Abort, cancellation and
// rejection of invalid paths with ufs.ErrInvalidPath by every method.
//
// Bench reports the sequential write and read throughput of a backend in 4 MiB
// operations, so every backend's figures come from the same code.
package ufstest
