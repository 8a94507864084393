// Package mastertest holds test doubles for tests of the master and of what runs against
// it: an in-memory under file system (MemFS) and a Registry that opens it.
package mastertest
