package blocks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Space accounting. Each dir counts in used the bytes of its committed blocks and the
// reservations of blocks being written or moved in; used never exceeds quota. A
// reservation is taken under s.mu before any byte is written, so the quota holds at
// every moment, not only eventually.

// recycled is a MEM data file kept after its block went away, with its pages still
// allocated (and possibly still mapped), to be reused by the next block written through
// TempBlock.Write: allocating and zeroing fresh tmpfs pages costs several times more than
// copying the data into them.
type recycled struct {
	path    string
	mapping []byte // nil if the block was never mapped
	size    int64
}

// minRecycle is the smallest file worth keeping for reuse.
const minRecycle = 1 << 20

// takeLocked adds n bytes to d.used if they fit, giving up recycled files as needed so
// that used+pooled stays within the quota. It returns the recycled files to discard
// (after s.mu is released).
func (s *Store) takeLocked(d *dir, n int64) (bool, []*recycled) {
	if d.quota-d.used < n {
		return false, nil
	}
	d.used += n
	var out []*recycled
	for d.used+d.pooled > d.quota && len(d.pool) > 0 {
		r := d.pool[len(d.pool)-1]
		d.pool = d.pool[:len(d.pool)-1]
		d.pooled -= r.size
		out = append(out, r)
	}
	return true, out
}

// discard deletes recycled files. Call it without s.mu held.
func (s *Store) discard(rs []*recycled) {
	for _, r := range rs {
		unmap(r.mapping)
		if err := os.Remove(r.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("remove recycled file", "path", r.path, "err", err)
		}
	}
}

// release gives n reserved bytes of d back.
func (s *Store) release(d *dir, n int64) {
	s.mu.Lock()
	d.used -= n
	s.mu.Unlock()
}

// allocate reserves n bytes in a directory of the first of tiers that can hold them,
// evicting blocks of that tier if needed. Within a tier the allocator picks the
// directory: first among those with free space, else among those where eviction can
// make enough room.
func (s *Store) allocate(ctx context.Context, tiers []*tier, n int64) (*dir, error) {
	for _, t := range tiers {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		avail := make([]int64, len(t.dirs))
		for i, d := range t.dirs {
			avail[i] = d.quota - d.used
		}
		if i := s.alloc.pick(t.index, avail, n); i >= 0 {
			_, rs := s.takeLocked(t.dirs[i], n)
			s.mu.Unlock()
			s.discard(rs)
			s.kickIfHigh(t.dirs[i])
			return t.dirs[i], nil
		}
		evictable := s.evictableLocked()
		for i, d := range t.dirs {
			avail[i] += evictable[d]
		}
		i := s.alloc.pick(t.index, avail, n)
		s.mu.Unlock()
		if i >= 0 && s.claim(ctx, t.dirs[i], n) {
			s.kickIfHigh(t.dirs[i])
			return t.dirs[i], nil
		}
	}
	names := make([]string, len(tiers))
	for i, t := range tiers {
		names[i] = string(t.alias)
	}
	return nil, fmt.Errorf("reserve %d bytes in tier %v: %w", n, names, ErrNoSpace)
}

// claim reserves n bytes in d, evicting blocks of d to make room. It fails when the
// evictable blocks of d are not enough, evicting nothing then.
func (s *Store) claim(ctx context.Context, d *dir, n int64) bool {
	for range 3 { // a concurrent allocation may take the room just made
		s.mu.Lock()
		if ok, rs := s.takeLocked(d, n); ok {
			s.mu.Unlock()
			s.discard(rs)
			return true
		}
		victims := s.victimsLocked(d, n-(d.quota-d.used), false)
		s.mu.Unlock()
		if victims == nil || ctx.Err() != nil {
			for _, v := range victims {
				s.writeUnlock(v)
			}
			return false
		}
		s.evictBlocks(ctx, victims)
	}
	return false
}

// evictableLocked sums, per directory, the bytes the evictor could take now.
func (s *Store) evictableLocked() map[*dir]int64 {
	m := map[*dir]int64{}
	for _, b := range s.blocks {
		if b.evictable() {
			m[b.dir] += b.size
		}
	}
	return m
}

// victimsLocked chooses evictable blocks of d totalling at least need bytes, in
// eviction order, every unprotected block before any protected one, and write-locks
// them. If the evictable blocks fall short it returns nil, unless partial is set, when
// it returns all of them.
func (s *Store) victimsLocked(d *dir, need int64, partial bool) []*block {
	if need <= 0 {
		return nil
	}
	order := s.evict.order()
	var victims []*block
	var sum int64
	for _, protected := range []bool{false, true} {
		for _, id := range order {
			b := s.blocks[id]
			if b == nil || b.dir != d || b.protected != protected || !b.evictable() {
				continue
			}
			victims = append(victims, b)
			sum += b.size
			if sum >= need {
				break
			}
		}
		if sum >= need {
			break
		}
	}
	if sum < need && !partial {
		return nil
	}
	for _, b := range victims {
		b.writer = true
	}
	return victims
}

// evictBlocks moves each write-locked victim to a slower tier that has free space, or
// removes it when none has, and reports the change. A victim found corrupt on the way is
// dropped.
func (s *Store) evictBlocks(ctx context.Context, victims []*block) {
	for _, b := range victims {
		from := b.dir
		s.mu.Lock()
		pinned := b.pinned // pinned since it was chosen: spare it
		s.mu.Unlock()
		if pinned {
			s.writeUnlock(b)
			continue
		}
		if ctx.Err() == nil && s.demote(ctx, b) {
			to := b.dir // read before unlocking: a Move may change it after
			s.writeUnlock(b)
			s.emit(Event{Kind: EventDemoted, Block: b.id, From: from.tier.alias, To: to.tier.alias})
			continue
		}
		if b.corrupt.Load() {
			s.dropCorrupt(b)
			continue
		}
		s.mu.Lock()
		if b.pinned {
			b.writer = false
			b.broadcast()
			s.mu.Unlock()
			continue
		}
		s.detachLocked(b)
		mapping := b.mapping
		b.mapping = nil
		s.mu.Unlock()
		s.dispose(from, b.id, b.size, mapping, false)
		s.log.Debug("block evicted", "block_id", b.id, "tier", from.tier.alias, "size", b.size)
		s.emit(Event{Kind: EventEvicted, Block: b.id, From: from.tier.alias})
	}
}

// demote moves a write-locked block to the first slower tier with free space, without
// evicting there. It reports whether the block moved.
func (s *Store) demote(ctx context.Context, b *block) bool {
	for _, t := range s.tiers[b.dir.tier.index+1:] {
		s.mu.Lock()
		avail := make([]int64, len(t.dirs))
		for i, d := range t.dirs {
			avail[i] = d.quota - d.used
		}
		i := s.alloc.pick(t.index, avail, b.size)
		var rs []*recycled
		if i >= 0 {
			_, rs = s.takeLocked(t.dirs[i], b.size)
		}
		s.mu.Unlock()
		s.discard(rs)
		if i < 0 {
			continue
		}
		if err := s.relocate(ctx, b, t.dirs[i], false, true); err != nil {
			if errors.Is(err, errPinned) {
				return false
			}
			s.log.Warn("demote block", "block_id", b.id, "to", t.alias, "err", err)
			return false
		}
		return true
	}
	return false
}

// freeDir evicts up to need bytes of d (what the evictor can take).
func (s *Store) freeDir(ctx context.Context, d *dir, need int64) {
	s.mu.Lock()
	victims := s.victimsLocked(d, need, true)
	s.mu.Unlock()
	s.evictBlocks(ctx, victims)
}

// dispose deletes the files of a detached block of d and gives its space back. With
// recycle set, a MEM data file is kept for reuse instead (see recycled).
func (s *Store) dispose(d *dir, id ID, size int64, mapping []byte, recycle bool) {
	if recycle && d.tier.alias == MEM && !s.cfg.DisableRecycle && size >= minRecycle {
		p := filepath.Join(d.tmp, "free-"+strconv.FormatUint(s.seq.Add(1), 10))
		os.Remove(d.sidecarPath(id))
		if err := os.Rename(d.blockPath(id), p); err == nil {
			r := &recycled{path: p, mapping: mapping, size: size}
			s.mu.Lock()
			d.used -= size
			keep := !s.closed
			if keep {
				d.pool = append(d.pool, r)
				d.pooled += size
			}
			s.mu.Unlock()
			if !keep {
				s.discard([]*recycled{r})
			}
			return
		}
	}
	unmap(mapping)
	s.removeFiles(d, id)
	s.release(d, size)
}

// kickIfHigh wakes the SpaceReserver when d is above the high watermark.
func (s *Store) kickIfHigh(d *dir) {
	s.mu.Lock()
	high := float64(d.used) > s.cfg.HighWatermark*float64(d.quota)
	s.mu.Unlock()
	if high {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}
