package blocks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Remove deletes a committed block. If readers hold it, Remove waits until they close
// it (new readers wait behind Remove and then find the block gone); if ctx ends first,
// the block stays and Remove returns the ctx error, wrapped. Remove does not emit an
// Event: the caller knows.
func (s *Store) Remove(ctx context.Context, id ID) error {
	s.mu.Lock()
	b, err := s.writeLockLocked(ctx, id)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("remove: %w", err)
	}
	s.detachLocked(b)
	mapping := b.mapping
	b.mapping = nil
	s.mu.Unlock()
	s.dispose(b.dir, id, b.size, mapping, true)
	return nil
}

// Move moves a committed block to another tier (promote or demote), evicting blocks of
// that tier if it needs room. Like Remove it waits for the block's readers, and readers
// that arrive meanwhile wait for the move. The data is verified against its checksums
// on the way; a corrupt block is dropped (ErrCorrupt, and an EventCorrupt). Moving a
// block to the tier it is in does nothing.
func (s *Store) Move(ctx context.Context, id ID, to TierAlias) error {
	t, err := s.tierByAlias(to)
	if err != nil {
		return fmt.Errorf("move block %v: %w", id, err)
	}
	s.mu.Lock()
	b, err := s.writeLockLocked(ctx, id)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("move: %w", err)
	}
	if b.dir.tier == t {
		s.writeUnlock(b)
		return nil
	}
	dst, err := s.allocate(ctx, []*tier{t}, b.size)
	if err != nil {
		s.writeUnlock(b)
		return fmt.Errorf("move block %v: %w", id, err)
	}
	if err := s.relocate(ctx, b, dst, true, false); err != nil {
		if b.corrupt.Load() {
			s.dropCorrupt(b)
		} else {
			s.writeUnlock(b)
		}
		return fmt.Errorf("move block %v to %s: %w", id, to, err)
	}
	s.writeUnlock(b)
	return nil
}

// errPinned stops the eviction of a block pinned while it was being evicted.
var errPinned = errors.New("blocks: pinned during eviction")

// relocate copies the write-locked block b to dst, where its space is already reserved,
// verifying every chunk read, then switches b to dst and disposes of the old files. On
// failure the reservation in dst is given back and b stays where it was; a checksum
// mismatch marks b corrupt (the caller drops it). With spare set (an eviction), a block
// pinned meanwhile stays where it is.
func (s *Store) relocate(ctx context.Context, b *block, dst *dir, recycle, spare bool) (err error) {
	src := b.dir
	tmpData := filepath.Join(dst.tmp, b.id.String()+".move")
	tmpSum := filepath.Join(dst.tmp, b.id.String()+".movecrc")
	defer func() {
		if err != nil {
			os.Remove(tmpData)
			os.Remove(tmpSum)
			s.release(dst, b.size)
		}
	}()
	if err := s.copyVerified(ctx, b, tmpData); err != nil {
		return err
	}
	sc := sidecar{id: b.id, size: b.size, checksum: b.checksum, crcs: b.crcs}
	if err := os.WriteFile(tmpSum, sc.encode(), 0o644); err != nil {
		return fmt.Errorf("write checksums: %w", err)
	}
	if err := os.Rename(tmpSum, dst.sidecarPath(b.id)); err != nil {
		return fmt.Errorf("install checksums: %w", err)
	}
	if err := os.Rename(tmpData, dst.blockPath(b.id)); err != nil {
		os.Remove(dst.sidecarPath(b.id))
		return fmt.Errorf("install block: %w", err)
	}
	s.mu.Lock()
	if spare && b.pinned {
		s.mu.Unlock()
		os.Remove(dst.blockPath(b.id))
		os.Remove(dst.sidecarPath(b.id))
		return errPinned
	}
	mapping := b.mapping
	b.mapping = nil
	b.dir = dst
	src.nblocks--
	dst.nblocks++
	s.mu.Unlock()
	s.dispose(src, b.id, b.size, mapping, recycle)
	s.kickIfHigh(dst)
	return nil
}

// copyVerified copies the data of block b (read- or write-locked) to a new file at path,
// checking each chunk against its checksum.
func (s *Store) copyVerified(ctx context.Context, b *block, path string) error {
	in, err := os.Open(b.dir.blockPath(b.id))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			b.corrupt.Store(true)
			return fmt.Errorf("block %v: data file missing: %w", b.id, ErrCorrupt)
		}
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	buf := make([]byte, 16*chunkSize)
	for off := int64(0); off < b.size; off += int64(len(buf)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := int(min(int64(len(buf)), b.size-off))
		if err := readChunks(in, b, buf[:n], off); err != nil {
			return err
		}
		if _, err := out.WriteAt(buf[:n], off); err != nil {
			return fmt.Errorf("copy block %v: %w", b.id, err)
		}
	}
	return nil
}

// readChunks fills p, which starts at a chunk boundary off and ends at a chunk boundary
// or the end of the block, from f, and verifies the chunks. A mismatch or a short file
// marks b corrupt.
func readChunks(f *os.File, b *block, p []byte, off int64) error {
	if _, err := f.ReadAt(p, off); err != nil {
		if errors.Is(err, io.EOF) {
			b.corrupt.Store(true)
			return fmt.Errorf("block %v: data file shorter than %d bytes: %w", b.id, off+int64(len(p)), ErrCorrupt)
		}
		return fmt.Errorf("read block %v: %w", b.id, err)
	}
	return verifyChunks(b, p, off)
}

// verifyChunks checks p, whole chunks of b starting at off, against their checksums.
func verifyChunks(b *block, p []byte, off int64) error {
	for i := 0; i < len(p); i += chunkSize {
		c := (off + int64(i)) / chunkSize
		end := min(i+chunkSize, len(p))
		if got := crc32Update(0, p[i:end]); got != b.crcs[c] {
			b.corrupt.Store(true)
			return fmt.Errorf("block %v chunk %d: checksum %08x, want %08x: %w", b.id, c, got, b.crcs[c], ErrCorrupt)
		}
	}
	return nil
}

// dropCorrupt removes a write-locked block that failed its checksum and reports it.
func (s *Store) dropCorrupt(b *block) {
	s.mu.Lock()
	s.detachLocked(b)
	mapping := b.mapping
	b.mapping = nil
	s.mu.Unlock()
	s.dispose(b.dir, b.id, b.size, mapping, false)
	s.log.Error("corrupt block dropped", "block_id", b.id, "tier", b.dir.tier.alias, "path", b.dir.blockPath(b.id))
	s.emit(Event{Kind: EventCorrupt, Block: b.id, From: b.dir.tier.alias})
}
