package blocks

import (
	"context"
	"fmt"
)

// The block lock. Readers (BlockReader) share a block; a writer (Remove, Move, the
// evictor, the drop of a corrupt block) owns it alone. A waiting writer keeps new readers
// out, so a stream of readers cannot starve it. Waits end with the caller's ctx. All
// functions here are called with s.mu held; waiting releases it.

// waitLocked waits until b's lock changes or ctx ends, with s.mu released meanwhile.
func (s *Store) waitLocked(ctx context.Context, b *block) error {
	ch := b.waitCh()
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
	s.mu.Lock()
	return ctx.Err()
}

// lookupLocked returns the committed block id.
func (s *Store) lookupLocked(id ID) (*block, error) {
	if s.closed {
		return nil, ErrClosed
	}
	b, ok := s.blocks[id]
	if !ok {
		return nil, fmt.Errorf("block %v: %w", id, ErrNotFound)
	}
	return b, nil
}

// readLockLocked takes the read lock of block id, waiting behind writers.
func (s *Store) readLockLocked(ctx context.Context, id ID) (*block, error) {
	for {
		b, err := s.lookupLocked(id)
		if err != nil {
			return nil, err
		}
		if b.corrupt.Load() {
			return nil, fmt.Errorf("block %v: %w", id, ErrCorrupt)
		}
		if !b.writer && b.waiting == 0 {
			b.readers++
			return b, nil
		}
		if err := s.waitLocked(ctx, b); err != nil {
			return nil, fmt.Errorf("wait for block %v: %w", id, err)
		}
	}
}

// writeLockLocked takes the write lock of block id, waiting for its readers to leave.
func (s *Store) writeLockLocked(ctx context.Context, id ID) (*block, error) {
	for {
		b, err := s.lookupLocked(id)
		if err != nil {
			return nil, err
		}
		if !b.writer && b.readers == 0 {
			b.writer = true
			return b, nil
		}
		b.waiting++
		err = s.waitLocked(ctx, b)
		b.waiting--
		if b.waiting == 0 {
			b.broadcast() // readers queued behind this writer may go on
		}
		if err != nil {
			return nil, fmt.Errorf("wait for readers of block %v: %w", id, err)
		}
	}
}

// readUnlock releases a read lock. The last reader of a corrupt block drops it.
func (s *Store) readUnlock(b *block) {
	s.mu.Lock()
	b.readers--
	drop := false
	if b.readers == 0 {
		if b.corrupt.Load() && !b.writer && !b.gone {
			b.writer = true
			drop = true
		}
		b.broadcast()
	}
	s.mu.Unlock()
	if drop {
		s.dropCorrupt(b)
	}
}

// writeUnlock releases the write lock of a block that stays in the Store.
func (s *Store) writeUnlock(b *block) {
	s.mu.Lock()
	b.writer = false
	b.broadcast()
	s.mu.Unlock()
}

// detachLocked removes a write-locked block from the Store's index. Its files and space
// are the caller's to release (dispose).
func (s *Store) detachLocked(b *block) {
	if s.blocks[b.id] == b {
		delete(s.blocks, b.id)
	}
	s.evict.remove(b.id)
	b.gone = true
	b.dir.nblocks--
	b.broadcast()
}
