package blocks

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// Direct (short-circuit) writes. A writer on the same host writes the file at
// TempBlock.Path itself; the Store then settles the block's chunk checksums from the file
// at Commit. PrepareDirect hands such a writer a recycled MEM file (recycle.go), pages
// already allocated, so that it overwrites memory instead of having the kernel allocate
// and zero fresh tmpfs pages, which costs several times more than the copy itself.
//
// The chunk checksums are always computed by the Store, from the bytes in the file: they
// are what every later read and move verifies against, and a writer reports at most one
// CRC32C for the whole block (checked through ExpectChecksum). When the file is a
// recycled one, still mapped in this process, the pass runs over the mapping: no read
// system calls and no copy, only the CRC32C, which runs several times faster than the
// writer's write(2).

// PrepareDirect readies the temporary file for a writer that writes the file at Path
// itself, and returns how many bytes the file already holds (0: it is empty). On a MEM
// tier, unless Config.DisableRecycle is set, it takes over a recycled file when one is
// at hand and the reservation is at least 1 MiB; the file is cut to the reservation.
// Such a writer must open the file without O_TRUNC and write from offset 0; the old
// bytes past what it writes are garbage, so the length it wrote must be given to
// SetLength before Commit, which cuts the file to it. Call PrepareDirect once, before
// any byte is written; it does nothing after Write, Commit or Abort.
func (t *TempBlock) PrepareDirect() int64 {
	if t.finished || t.wrote || t.direct {
		return t.prefilled
	}
	t.direct = true
	t.adoptRecycled()
	if t.mapping != nil {
		t.prefilled = t.mapSize
	}
	return t.prefilled
}

// SetLength records the number of bytes a direct writer wrote. Commit then cuts a
// longer file (a recycled one) to n, and fails with ErrCorrupt if the file is shorter.
// Without SetLength the block is as long as its file.
func (t *TempBlock) SetLength(n int64) { t.length, t.hasLength = n, true }

// directChecksums settles the size and the chunk checksums of a block a direct writer
// filled: from the mapping of the recycled file when the file at the path is still that
// file, else by reading the file at the path.
func (t *TempBlock) directChecksums() (int64, error) {
	fi, err := os.Stat(t.path)
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if t.hasLength {
		if size < t.length {
			return 0, fmt.Errorf("file has %d bytes, the writer wrote %d: %w", size, t.length, ErrCorrupt)
		}
		if size > t.length {
			if err := os.Truncate(t.path, t.length); err != nil {
				return 0, err
			}
			size = t.length
		}
	}
	if t.mapping != nil {
		cur, err := t.f.Stat()
		if err == nil && os.SameFile(fi, cur) {
			return size, t.mappedChecksums(size)
		}
		// The writer replaced the file (write and rename): the mapping is of the old one.
		unmap(t.mapping)
		t.mapping, t.mapSize = nil, 0
	}
	return t.fileChecksums()
}

// mappedChecksums computes the chunk checksums of the first size bytes of the file
// through its mapping, growing the mapping if the writer wrote past it. A fault (the
// file cut short under the mapping by a misbehaving writer) is reported as ErrCorrupt.
func (t *TempBlock) mappedChecksums(size int64) (err error) {
	if size > int64(len(t.mapping)) {
		m, err := mapFile(t.f, size, true, true)
		if err != nil {
			return err
		}
		unmap(t.mapping)
		t.mapping = m
	}
	t.mapSize = size
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if e := recover(); e != nil {
			if _, ok := e.(interface{ Addr() uintptr }); !ok {
				panic(e)
			}
			err = fmt.Errorf("fault reading %s: %v: %w", t.path, e, ErrCorrupt)
		}
	}()
	m := t.mapping[:size]
	t.crcs = make([]uint32, 0, numChunks(size))
	for off := 0; off < len(m); off += chunkSize {
		t.crcs = append(t.crcs, crc32Update(0, m[off:min(off+chunkSize, len(m))]))
	}
	return nil
}

// fileChecksums computes the chunk checksums of the file at the path by reading it, and
// returns its size.
func (t *TempBlock) fileChecksums() (int64, error) {
	// Read the file by its path: the writer may have replaced it (write and rename).
	f, err := os.Open(t.path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	buf := make([]byte, 16*chunkSize)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := int(min(int64(len(buf)), size-off))
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("file shrank while committing: %w", ErrCorrupt)
			}
			return 0, err
		}
		for i := 0; i < n; i += chunkSize {
			t.crcs = append(t.crcs, crc32Update(0, buf[i:min(i+chunkSize, n)]))
		}
	}
	return size, nil
}
