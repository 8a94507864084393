//go:build unix

package blocks

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps the first size bytes of f, shared, readable and, if writable, writable.
// populate asks the kernel to build the page tables at once, which costs less than
// faulting the pages in one by one.
func mapFile(f *os.File, size int64, writable, populate bool) ([]byte, error) {
	prot := syscall.PROT_READ
	if writable {
		prot |= syscall.PROT_WRITE
	}
	flags := syscall.MAP_SHARED
	if populate {
		flags |= mapPopulate
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(size), prot, flags)
	if err != nil {
		return nil, fmt.Errorf("mmap %s (%d bytes): %w", f.Name(), size, err)
	}
	return m, nil
}

// unmap releases a mapping made by mapFile; nil is ignored.
func unmap(m []byte) {
	if m != nil {
		_ = syscall.Munmap(m)
	}
}

// lockDir takes an exclusive advisory lock on path (created if missing), so that two
// Stores never share a directory. The lock lasts until the returned file is closed.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, fmt.Errorf("%s is held by another store: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
