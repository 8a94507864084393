package blocks

import (
	"context"
	"time"
)

// SpaceReserver keeps every directory of a Store below its high watermark: when a
// directory's used space goes above HighWatermark × quota, it evicts (demoting where a
// slower tier has room) until the used space is at or below LowWatermark × quota, so
// that writes rarely have to evict in their own path. Pinned, locked and (last)
// protected blocks are spared as during any eviction.
type SpaceReserver struct {
	s *Store
}

// SpaceReserver returns the Store's background reserver. Nothing runs until Run.
func (s *Store) SpaceReserver() *SpaceReserver { return &SpaceReserver{s: s} }

// Run checks the watermarks every Config.ReserveInterval and whenever an allocation
// crosses a high watermark, until ctx ends; it then returns nil. Run one at a time.
func (r *SpaceReserver) Run(ctx context.Context) error {
	t := time.NewTicker(r.s.cfg.ReserveInterval)
	defer t.Stop()
	for {
		r.ReserveOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.s.kick:
		}
	}
}

// ReserveOnce does one pass over the directories, evicting where a directory is above
// its high watermark.
func (r *SpaceReserver) ReserveOnce(ctx context.Context) {
	s := r.s
	for _, t := range s.tiers {
		for _, d := range t.dirs {
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				return
			}
			var victims []*block
			if float64(d.used) > s.cfg.HighWatermark*float64(d.quota) {
				need := d.used - int64(s.cfg.LowWatermark*float64(d.quota))
				victims = s.victimsLocked(d, need, true)
			}
			s.mu.Unlock()
			if len(victims) > 0 {
				s.log.Debug("evicting above high watermark", "dir", d.path, "blocks", len(victims))
				s.evictBlocks(ctx, victims)
			}
		}
	}
}
