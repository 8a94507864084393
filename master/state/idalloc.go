package state

import (
	"fmt"
	"sync"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// IDAllocator hands out inode IDs on the leader, which puts them in the entries it
// journals. It is monotonic, so an ID is never handed out twice, even when the entry
// that carried it failed or an entry with a later ID was applied first. On gaining
// leadership the master waits for its state to catch up (a Raft barrier) and then
// creates an allocator from View.NextID: every ID a former leader reserved in a
// committed entry is below it. Safe for concurrent use.
type IDAllocator struct {
	// mu guards next.
	mu   sync.Mutex
	next uint64
}

// NewIDAllocator returns an allocator whose first ID is next (View.NextID).
func NewIDAllocator(next uint64) *IDAllocator {
	return &IDAllocator{next: max(next, FirstID)}
}

// Reserve returns a range of n IDs for one entry. It fails with ErrInvalidArgument if
// n < 1, n > 2^20 (more than one entry can use) or the 40-bit ID space is exhausted.
func (a *IDAllocator) Reserve(n int) (*sluicepb.JournalIdRange, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n < 1 || n > 1<<20 || a.next > MaxID || uint64(n) > MaxID-a.next+1 {
		return nil, fmt.Errorf("reserve %d IDs from %d: %w", n, a.next, ErrInvalidArgument)
	}
	r := &sluicepb.JournalIdRange{First: a.next, Count: uint32(n)}
	a.next += uint64(n)
	return r, nil
}

// ReserveForPath returns enough IDs for a recursive create of clean path p: one per
// path element (at least one).
func (a *IDAllocator) ReserveForPath(p string) (*sluicepb.JournalIdRange, error) {
	return a.Reserve(max(PathDepth(p), 1))
}
