//go:build !linux

package client

import "os"

// mapBlock does not map block files on this platform: short-circuit reads use pread.
func mapBlock(*os.File, int64) ([]byte, error) { return nil, nil }

// onHugePages is false: nothing is mapped on this platform.
func onHugePages(*os.File) bool { return false }

func unmapBlock([]byte) error { return nil }

func copyMapped(dst, src []byte) (int, error) { return copy(dst, src), nil }
