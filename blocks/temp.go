package blocks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// CreateOptions tune CreateTemp.
type CreateOptions struct {
	// Tier restricts the block to one tier. Empty lets the Store pick: the fastest tier
	// that has room, or can make room by eviction.
	Tier TierAlias
	// Pinned and Protected set the block's flags at commit (see Pin and SetProtected).
	Pinned, Protected bool
}

// TempBlock is a block being written: a file in the temporary folder of its directory,
// with space reserved for it. It becomes a block on Commit and vanishes on Abort. The
// data comes either through Write, or from a client on the same host that writes the
// file at Path itself (short-circuit) and never calls Write; the two must not be mixed.
// A TempBlock is not safe for concurrent use.
type TempBlock struct {
	s    *Store
	id   ID
	dir  *dir
	path string
	f    *os.File

	// Write state: bytes written, checksums of the whole chunks and of the partial one.
	wrote bool
	off   int64
	crcs  []uint32
	cur   uint32
	// mapping is set when Write copies into a recycled MEM file mapped in memory.
	mapping []byte
	mapSize int64 // bytes of the file, all mapped

	expect    uint32
	hasExpect bool
	finished  bool

	// Direct writes (direct.go): direct is set by PrepareDirect, prefilled is the size
	// of the recycled file it handed over, length the one SetLength gave.
	direct    bool
	prefilled int64
	length    int64
	hasLength bool

	// Guarded by Store.mu.
	reserved          int64
	pinned, protected bool
}

// growStep is the granularity in which Write grows a reservation it has outgrown.
const growStep = 1 << 20

// writeGroup is how much Write checksums before each pwrite, so the data is still in
// the CPU cache when the kernel copies it.
const writeGroup = 4 * chunkSize

// CreateTemp starts a block. sizeHint bytes (the expected size; the block may end up
// smaller or larger) are reserved at once in a directory the allocator picks, evicting
// if needed; ErrNoSpace (wrapped) if that fails. ErrExists if the ID is committed or
// being written.
func (s *Store) CreateTemp(ctx context.Context, id ID, sizeHint int64, opts CreateOptions) (*TempBlock, error) {
	tiers := s.tiers
	if opts.Tier != "" {
		t, err := s.tierByAlias(opts.Tier)
		if err != nil {
			return nil, fmt.Errorf("create block %v: %w", id, err)
		}
		tiers = []*tier{t}
	}
	sizeHint = max(sizeHint, 0)
	t := &TempBlock{s: s, id: id, pinned: opts.Pinned, protected: opts.Protected}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if _, ok := s.blocks[id]; ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("create block %v: %w", id, ErrExists)
	}
	if _, ok := s.temps[id]; ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("create block %v: being written: %w", id, ErrExists)
	}
	s.temps[id] = t // holds the ID while the space is found
	s.mu.Unlock()

	d, err := s.allocate(ctx, tiers, sizeHint)
	if err == nil {
		t.path = filepath.Join(d.tmp, id.String()+".blk")
		t.f, err = os.OpenFile(t.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			s.release(d, sizeHint)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		delete(s.temps, id)
		return nil, fmt.Errorf("create block %v: %w", id, err)
	}
	t.dir, t.reserved = d, sizeHint
	return t, nil
}

// ID returns the block's ID.
func (t *TempBlock) ID() ID { return t.id }

// Tier returns the tier the block is written to.
func (t *TempBlock) Tier() TierAlias { return t.dir.tier.alias }

// Path returns the host path of the temporary file, for a short-circuit writer.
func (t *TempBlock) Path() string { return t.path }

// Reserved returns the bytes reserved for the block.
func (t *TempBlock) Reserved() int64 {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	return t.reserved
}

// Reserve makes sure n bytes are reserved for the block, evicting in its directory if
// needed. A short-circuit writer asks for more space this way before writing past its
// reservation. ErrNoSpace (wrapped) leaves the block as it was.
func (t *TempBlock) Reserve(ctx context.Context, n int64) error {
	if t.finished {
		return fmt.Errorf("reserve for block %v: %w", t.id, ErrClosed)
	}
	t.s.mu.Lock()
	delta := n - t.reserved
	t.s.mu.Unlock()
	if delta <= 0 {
		return nil
	}
	if !t.s.claim(ctx, t.dir, delta) {
		return fmt.Errorf("reserve %d more bytes for block %v in %s: %w", delta, t.id, t.dir.path, ErrNoSpace)
	}
	t.s.mu.Lock()
	t.reserved += delta
	t.s.mu.Unlock()
	t.s.kickIfHigh(t.dir)
	return nil
}

// ExpectChecksum makes Commit fail with ErrCorrupt unless the block's CRC32C is crc.
func (t *TempBlock) ExpectChecksum(crc uint32) { t.expect, t.hasExpect = crc, true }

// Write appends p to the block, checksumming it on the way. If the block outgrows its
// reservation and no more space can be had, Write aborts the block and returns
// ErrNoSpace (wrapped): nothing of it remains.
func (t *TempBlock) Write(p []byte) (int, error) {
	if t.finished {
		return 0, fmt.Errorf("write block %v: %w", t.id, ErrClosed)
	}
	if len(p) == 0 {
		return 0, nil
	}
	need := t.off + int64(len(p))
	if need > t.reservedNow() {
		// Grow in steps of 1 MiB, so a stream of small writes reserves rarely; the
		// last step is cut to the exact need if the rounding does not fit.
		want := (need + growStep - 1) / growStep * growStep
		if err := t.Reserve(context.Background(), want); err != nil {
			if err = t.Reserve(context.Background(), need); err != nil {
				t.Abort()
				return 0, fmt.Errorf("write block %v: %w", t.id, err)
			}
		}
	}
	if !t.wrote {
		t.wrote = true
		if !t.direct {
			t.adoptRecycled()
		}
	}
	if t.mapping != nil {
		if err := t.growMapping(need); err != nil {
			t.Abort()
			return 0, fmt.Errorf("write block %v: %w", t.id, err)
		}
		t.absorb(p, true)
		return len(p), nil
	}
	for done := 0; done < len(p); {
		g := p[done:min(done+writeGroup, len(p))]
		at := t.off
		t.absorb(g, false)
		if _, err := t.f.WriteAt(g, at); err != nil {
			t.Abort()
			return done, fmt.Errorf("write block %v: %w", t.id, err)
		}
		done += len(g)
	}
	return len(p), nil
}

func (t *TempBlock) reservedNow() int64 {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	return t.reserved
}

// absorb checksums p at t.off, copying it into the mapping in the same pass when
// toMapping is set, and advances t.off.
func (t *TempBlock) absorb(p []byte, toMapping bool) {
	for len(p) > 0 {
		if toMapping && t.off%chunkSize == 0 && len(p) >= 3*chunkSize {
			k := len(p) / chunkSize * chunkSize
			at := len(t.crcs)
			t.crcs = append(t.crcs, make([]uint32, k/chunkSize)...)
			copyCRCChunks(t.mapping[t.off:], p[:k], t.crcs[at:], true)
			t.off += int64(k)
			p = p[k:]
			continue
		}
		k := min(chunkSize-int(t.off%chunkSize), len(p))
		if toMapping {
			t.cur = copyCRC(t.mapping[t.off:], p[:k], t.cur)
		} else {
			t.cur = crc32Update(t.cur, p[:k])
		}
		t.off += int64(k)
		p = p[k:]
		if t.off%chunkSize == 0 {
			t.crcs = append(t.crcs, t.cur)
			t.cur = 0
		}
	}
}

// checksums finishes the chunk checksums of what Write wrote, or computes them from the
// file when a short-circuit writer filled it (direct.go). It returns the block's size.
func (t *TempBlock) checksums() (int64, error) {
	if t.wrote {
		if t.mapping == nil {
			fi, err := t.f.Stat()
			if err != nil {
				return 0, err
			}
			if fi.Size() != t.off {
				return 0, fmt.Errorf("file has %d bytes, Write wrote %d (do not mix Write with direct writes): %w", fi.Size(), t.off, ErrCorrupt)
			}
		} else if err := t.f.Truncate(t.off); err != nil {
			return 0, err
		}
		if t.off%chunkSize != 0 {
			t.crcs = append(t.crcs, t.cur)
		}
		return t.off, nil
	}
	return t.directChecksums()
}

// Commit makes the block permanent: it settles the checksums (checking the one given to
// ExpectChecksum), fits the reservation to the size (growing it, with eviction, if a
// short-circuit writer went past it), writes the checksum file and renames the data into
// place. On any error the block is aborted.
func (t *TempBlock) Commit(ctx context.Context) (BlockMeta, error) {
	if t.finished {
		return BlockMeta{}, fmt.Errorf("commit block %v: %w", t.id, ErrClosed)
	}
	meta, err := t.commit(ctx)
	if err != nil {
		t.Abort()
		return BlockMeta{}, fmt.Errorf("commit block %v: %w", t.id, err)
	}
	return meta, nil
}

func (t *TempBlock) commit(ctx context.Context) (BlockMeta, error) {
	s, d := t.s, t.dir
	if s.done.Load() {
		return BlockMeta{}, ErrClosed
	}
	size, err := t.checksums()
	if err != nil {
		return BlockMeta{}, err
	}
	sum := blockChecksum(t.crcs, size)
	if t.hasExpect && sum != t.expect {
		return BlockMeta{}, fmt.Errorf("checksum %08x, want %08x: %w", sum, t.expect, ErrCorrupt)
	}
	if err := t.Reserve(ctx, size); err != nil {
		return BlockMeta{}, err
	}
	sc := sidecar{id: t.id, size: size, checksum: sum, crcs: t.crcs}
	tmpSum := filepath.Join(d.tmp, t.id.String()+".crc")
	if err := os.WriteFile(tmpSum, sc.encode(), 0o644); err != nil {
		return BlockMeta{}, err
	}
	if err := os.Rename(tmpSum, d.sidecarPath(t.id)); err != nil {
		os.Remove(tmpSum)
		return BlockMeta{}, err
	}
	// The rename of the data file is the commit point: a restart before it finds a
	// checksum file without data and removes it.
	if err := os.Rename(t.path, d.blockPath(t.id)); err != nil {
		os.Remove(d.sidecarPath(t.id))
		return BlockMeta{}, err
	}
	if err := t.f.Close(); err != nil {
		s.log.Warn("close block file", "block_id", t.id, "err", err)
	}
	b := &block{id: t.id, dir: d, size: size, checksum: sum, crcs: t.crcs, mapping: t.mapping}
	s.mu.Lock()
	b.pinned, b.protected = t.pinned, t.protected
	d.used -= t.reserved - size
	t.reserved = 0
	delete(s.temps, t.id)
	s.blocks[t.id] = b
	d.nblocks++
	s.evict.add(t.id)
	s.mu.Unlock()
	t.finished = true
	t.mapping = nil
	s.kickIfHigh(d)
	return b.meta(), nil
}

// Abort discards the block and its reservation. It is safe to call after Commit or
// Abort (it does nothing then).
func (t *TempBlock) Abort() error {
	if t.finished {
		return nil
	}
	t.finished = true
	t.f.Close()
	unmap(t.mapping)
	t.mapping = nil
	err := os.Remove(t.path)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	t.s.mu.Lock()
	t.dir.used -= t.reserved
	t.reserved = 0
	delete(t.s.temps, t.id)
	t.s.mu.Unlock()
	return err
}
