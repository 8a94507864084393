// Package arch keeps the import directions of DESIGN.md true: its test lists the
// dependencies of every package in the module with `go list -deps` and fails on an import
// that points up the layer list. It has no code of its own.
package arch
