package blocks

import (
	"os"
)

// Recycling of MEM files. Writing a block into fresh tmpfs pages is dominated by the
// kernel allocating and zeroing them (about 1 µs per 4 KiB page on the machines measured,
// several times the cost of copying the data in). So when a MEM block is removed or
// moved away, its file is kept in the directory's .tmp folder, pages and mapping intact,
// and the next block written through TempBlock.Write takes it over and copies into the
// mapping, or the next one prepared for a short-circuit writer (TempBlock.PrepareDirect)
// is handed it, and the writer overwrites it. Recycled files count against the quota together with the blocks
// (used+pooled <= quota) and are given up first whenever space is reserved, so they
// only ever hold memory nothing else asked for. Config.DisableRecycle turns this off.

// adoptRecycled swaps the (still empty) temporary file of a MEM block for a recycled
// file, when one is available and the reservation is worth it.
func (t *TempBlock) adoptRecycled() {
	s, d := t.s, t.dir
	if d.tier.alias != MEM || s.cfg.DisableRecycle {
		return
	}
	s.mu.Lock()
	want := t.reserved
	if want < minRecycle || len(d.pool) == 0 {
		s.mu.Unlock()
		return
	}
	// The smallest file that covers the reservation, else the largest.
	pick := -1
	for i, r := range d.pool {
		if r.size >= want && (pick < 0 || r.size < d.pool[pick].size) {
			pick = i
		}
	}
	if pick < 0 {
		for i, r := range d.pool {
			if pick < 0 || r.size > d.pool[pick].size {
				pick = i
			}
		}
	}
	r := d.pool[pick]
	d.pool = append(d.pool[:pick], d.pool[pick+1:]...)
	d.pooled -= r.size
	s.mu.Unlock()
	if err := t.useRecycled(r, want); err != nil {
		s.log.Debug("recycled file not reused", "path", r.path, "err", err)
		s.discard([]*recycled{r})
	}
}

// useRecycled sizes the recycled file r to size bytes, maps it and renames it over the
// temporary file. On error nothing of t has changed and r is the caller's to discard.
func (t *TempBlock) useRecycled(r *recycled, size int64) error {
	f, err := os.OpenFile(r.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	m := r.mapping
	remap := int64(len(m)) < size
	if remap {
		if m, err = mapFile(f, size, true, true); err != nil {
			f.Close()
			return err
		}
	}
	if err := os.Rename(r.path, t.path); err != nil {
		if remap {
			unmap(m)
		}
		f.Close()
		return err
	}
	if remap {
		unmap(r.mapping)
	}
	t.f.Close()
	t.f = f
	t.mapping = m
	t.mapSize = size
	return nil
}

// growMapping makes the file and its mapping cover need bytes, up to the reservation.
func (t *TempBlock) growMapping(need int64) error {
	if need <= t.mapSize {
		return nil
	}
	size := t.reservedNow()
	if err := t.f.Truncate(size); err != nil {
		return err
	}
	if size > int64(len(t.mapping)) {
		m, err := mapFile(t.f, size, true, false)
		if err != nil {
			return err
		}
		unmap(t.mapping)
		t.mapping = m
	}
	t.mapSize = size
	return nil
}
