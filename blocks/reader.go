package blocks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// BlockReader reads a committed block under its read lock: while it is open the block is
// neither evicted, moved nor removed, and its file stays at Path. ReadAt is safe for
// concurrent use; Close must not run concurrently with it.
type BlockReader struct {
	s      *Store
	b      *block
	path   string
	tier   TierAlias
	m      []byte   // MEM: the mapped file, [:size]
	f      *os.File // other tiers
	closed atomic.Bool
}

// OpenBlock takes the read lock of a committed block and opens it for reading, waiting
// (up to ctx) while a Remove or Move holds or awaits the block. The access counts for
// the evictor. A block already found corrupt is refused with ErrCorrupt.
func (s *Store) OpenBlock(ctx context.Context, id ID) (*BlockReader, error) {
	s.mu.Lock()
	b, err := s.readLockLocked(ctx, id)
	if err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("open: %w", err)
	}
	s.evict.access(id)
	r := &BlockReader{s: s, b: b, path: b.dir.blockPath(id), tier: b.dir.tier.alias, m: b.mapping}
	s.mu.Unlock()
	if err := r.open(); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			b.corrupt.Store(true)
			err = fmt.Errorf("data file missing: %w", ErrCorrupt)
		}
		s.readUnlock(b)
		return nil, fmt.Errorf("open block %v: %w", id, err)
	}
	return r, nil
}

// open maps a MEM block (once per block, shared by its readers) or opens the file.
func (r *BlockReader) open() error {
	if r.tier != MEM || r.b.size == 0 {
		f, err := os.Open(r.path)
		r.f = f
		return err
	}
	if r.m != nil {
		r.m = r.m[:r.b.size]
		return nil
	}
	// Mapped writable so that the file can be recycled with its mapping (recycle.go);
	// nothing writes through it while it holds a block.
	f, err := os.OpenFile(r.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return err
	} else if fi.Size() < r.b.size {
		return fmt.Errorf("data file has %d of %d bytes: %w", fi.Size(), r.b.size, os.ErrNotExist)
	}
	m, err := mapFile(f, r.b.size, true, true)
	if err != nil {
		return err
	}
	r.s.mu.Lock()
	if r.b.mapping == nil {
		r.b.mapping = m
	} else {
		unmap(m)
		m = r.b.mapping
	}
	r.s.mu.Unlock()
	r.m = m[:r.b.size]
	return nil
}

// ID returns the block's ID.
func (r *BlockReader) ID() ID { return r.b.id }

// Size returns the block's length in bytes.
func (r *BlockReader) Size() int64 { return r.b.size }

// Checksum returns the CRC32C of the whole block.
func (r *BlockReader) Checksum() uint32 { return r.b.checksum }

// Tier returns the tier the block is read from.
func (r *BlockReader) Tier() TierAlias { return r.tier }

// Path returns the host path of the block's data file, valid until Close, for clients
// on the same host that read it themselves (pread or mmap). Such reads bypass the
// checksum checks of ReadAt; the client can check Checksum over the whole block.
func (r *BlockReader) Path() string { return r.path }

// ReadAt reads len(p) bytes at off, in the manner of io.ReaderAt (io.EOF at the end of
// the block). The chunks the read touches are verified against their checksums first; on
// a mismatch ReadAt returns ErrCorrupt (wrapped) and the count of bytes verified before
// the bad chunk, the block is refused to new readers and dropped once its readers close.
func (r *BlockReader) ReadAt(p []byte, off int64) (int, error) {
	if r.closed.Load() || r.s.done.Load() {
		return 0, fmt.Errorf("read block %v: %w", r.b.id, ErrClosed)
	}
	if r.b.corrupt.Load() {
		return 0, fmt.Errorf("read block %v: %w", r.b.id, ErrCorrupt)
	}
	size := r.b.size
	if off < 0 {
		return 0, fmt.Errorf("read block %v at negative offset %d", r.b.id, off)
	}
	if off >= size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), size-off))
	var done int
	var err error
	if r.m != nil {
		done, err = r.readMapped(p[:n], off)
	} else {
		done, err = r.readFile(p[:n], off)
	}
	if err != nil {
		return done, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// scratch holds one chunk, for reads that cover part of a chunk.
var scratch = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// readSpan reads p at off: whole chunks go straight into p (fill, then verify the
// copy), partial chunks through a scratch chunk, so no unverified byte reaches p. fill
// copies the bytes at off into its argument, which starts at a chunk boundary, and
// verifies them itself if fillVerifies is set. It returns the bytes verified.
func (r *BlockReader) readSpan(p []byte, off int64, group int, fillVerifies bool, fill func(dst []byte, off int64) error) (int, error) {
	b := r.b
	end := off + int64(len(p))
	pos := off
	for pos < end {
		cs := pos / chunkSize * chunkSize
		ce := min(cs+chunkSize, b.size)
		if pos == cs && ce <= end {
			// A run of whole chunks, up to group bytes, read in one go.
			re := ce
			for re < end && re-cs < int64(group) && min(re+chunkSize, b.size) <= end {
				re = min(re+chunkSize, b.size)
			}
			dst := p[pos-off : re-off]
			if err := fill(dst, pos); err != nil {
				return int(pos - off), err
			}
			if !fillVerifies {
				if err := verifyChunks(b, dst, pos); err != nil {
					return int(pos - off), err
				}
			}
			pos = re
			continue
		}
		bufp := scratch.Get().(*[]byte)
		buf := (*bufp)[:ce-cs]
		err := fill(buf, cs)
		if err == nil && !fillVerifies {
			err = verifyChunks(b, buf, cs)
		}
		if err == nil {
			copy(p[pos-off:], buf[pos-cs:min(ce, end)-cs])
		}
		scratch.Put(bufp)
		if err != nil {
			return int(pos - off), err
		}
		pos = min(ce, end)
	}
	return len(p), nil
}

// readMapped reads from the mapping of a MEM block. A fault on the mapping (the file
// was truncated under it) is reported as corruption rather than crashing the process.
func (r *BlockReader) readMapped(p []byte, off int64) (n int, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if e := recover(); e != nil {
			if _, ok := e.(interface{ Addr() uintptr }); !ok {
				panic(e)
			}
			r.b.corrupt.Store(true)
			err = fmt.Errorf("block %v: fault reading %s: %v: %w", r.b.id, r.path, e, ErrCorrupt)
		}
	}()
	m, b := r.m, r.b
	return r.readSpan(p, off, mappedGroup*chunkSize, true, func(dst []byte, at int64) error {
		// Copy and checksum in one pass; the checksum is of the bytes copied, so a
		// concurrent change of the file cannot slip unverified bytes into dst.
		var sums [mappedGroup]uint32
		n := numChunks(int64(len(dst)))
		copyCRCChunks(dst, m[at:at+int64(len(dst))], sums[:n], false)
		for i, got := range sums[:n] {
			c := at/chunkSize + int64(i)
			if got != b.crcs[c] {
				b.corrupt.Store(true)
				return fmt.Errorf("block %v chunk %d: checksum %08x, want %08x: %w", b.id, c, got, b.crcs[c], ErrCorrupt)
			}
		}
		return nil
	})
}

// mappedGroup is the number of chunks a mapped read copies and checks in one call.
const mappedGroup = 48

// readFile reads a block of a disk tier with pread, up to 1 MiB per call.
func (r *BlockReader) readFile(p []byte, off int64) (int, error) {
	return r.readSpan(p, off, 16*chunkSize, false, func(dst []byte, at int64) error {
		if _, err := r.f.ReadAt(dst, at); err != nil {
			if errors.Is(err, io.EOF) {
				r.b.corrupt.Store(true)
				return fmt.Errorf("block %v: data file shorter than %d bytes: %w", r.b.id, at+int64(len(dst)), ErrCorrupt)
			}
			return fmt.Errorf("read block %v: %w", r.b.id, err)
		}
		return nil
	})
}

// Close releases the read lock. It is idempotent.
func (r *BlockReader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	var err error
	if r.f != nil {
		err = r.f.Close()
	}
	r.s.readUnlock(r.b)
	return err
}
