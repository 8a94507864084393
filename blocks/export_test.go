package blocks

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// CheckInvariants checks the Store's bookkeeping. The accounting invariants hold at
// every moment; with quiescent set (no operation in flight) it also checks that the
// counters match the blocks and the files on disk, and that no lock is held but those
// of the readers listed in readers.
func (s *Store) CheckInvariants(quiescent bool, readers map[ID]int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tiers {
		for _, d := range t.dirs {
			var pooled int64
			for _, r := range d.pool {
				pooled += r.size
			}
			if d.used < 0 || d.pooled != pooled || d.used+d.pooled > d.quota {
				return fmt.Errorf("dir %s: used %d + pooled %d (pool sums %d) against quota %d", d.path, d.used, d.pooled, pooled, d.quota)
			}
		}
	}
	if !quiescent {
		return nil
	}
	want := map[*dir]int64{}
	count := map[*dir]int{}
	for id, b := range s.blocks {
		if b.id != id || b.gone || b.writer || b.waiting != 0 || b.readers != readers[id] {
			return fmt.Errorf("block %v: id %v gone %v writer %v waiting %d readers %d (want %d)", id, b.id, b.gone, b.writer, b.waiting, b.readers, readers[id])
		}
		fi, err := os.Stat(b.dir.blockPath(id))
		if err != nil || fi.Size() != b.size {
			return fmt.Errorf("block %v: file %v, size %d", id, err, b.size)
		}
		want[b.dir] += b.size
		count[b.dir]++
	}
	for _, t := range s.temps {
		want[t.dir] += t.reserved
	}
	tracked := s.evict.order()
	if len(tracked) != len(s.blocks) {
		return fmt.Errorf("evictor tracks %d blocks, store has %d", len(tracked), len(s.blocks))
	}
	for _, t := range s.tiers {
		for _, d := range t.dirs {
			if d.used != want[d] || d.nblocks != count[d] {
				return fmt.Errorf("dir %s: used %d, blocks say %d; nblocks %d, want %d", d.path, d.used, want[d], d.nblocks, count[d])
			}
			// What is on disk never exceeds the quota either.
			var onDisk int64
			for _, pattern := range []string{"*.blk", ".tmp/*"} {
				names, _ := filepath.Glob(filepath.Join(d.path, pattern))
				sort.Strings(names)
				for _, n := range names {
					if fi, err := os.Stat(n); err == nil {
						onDisk += fi.Size()
					}
				}
			}
			if onDisk > d.quota {
				return fmt.Errorf("dir %s: %d bytes on disk, quota %d", d.path, onDisk, d.quota)
			}
		}
	}
	return nil
}
