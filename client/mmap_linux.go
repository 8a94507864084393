//go:build linux

package client

import (
	"fmt"
	"os"
	"runtime/debug"
	"syscall"
)

// mapBlock maps a short-circuit block file read-only, with its page tables built at once
// (MAP_POPULATE). Copying out of a built mapping runs at memcpy speed, while pread pays
// the kernel's per-page lookup on every call; building the mapping of a file on 4 KiB
// pages costs about one pread of it, on huge pages little (see localBlock.mm).
// It returns nil, without error, for an empty file.
func mapBlock(f *os.File, length int64) ([]byte, error) {
	if length <= 0 || int64(int(length)) != length {
		return nil, nil
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(length), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap block file: %w", err)
	}
	return m, nil
}

// hugePageSize is the st_blksize a tmpfs reports for files it backs with huge pages.
const hugePageSize = 2 << 20

// onHugePages reports whether f lives on a tmpfs that backs it with huge pages: such a
// tmpfs reports the huge page size as the file's block size.
func onHugePages(f *os.File) bool {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return st.Blksize >= hugePageSize
}

// unmapBlock releases a mapping made by mapBlock.
func unmapBlock(m []byte) error {
	if m == nil {
		return nil
	}
	return syscall.Munmap(m)
}

// copyMapped copies src, a part of a block mapping, into dst. A fault while copying (the
// executor shrank the file after our lock had expired) becomes an error instead of
// crashing the process.
func copyMapped(dst, src []byte) (n int, err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("block file changed under a short-circuit read (%v): %w", r, ErrShortBlock)
		}
	}()
	return copy(dst, src), nil
}
