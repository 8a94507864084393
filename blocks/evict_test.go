package blocks_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/blocks/blockstest"
)

// eventLog collects the events of a Store.
type eventLog struct {
	mu     sync.Mutex
	events []blocks.Event
}

func (l *eventLog) add(e blocks.Event) { l.mu.Lock(); l.events = append(l.events, e); l.mu.Unlock() }

func (l *eventLog) take() []blocks.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.events
	l.events = nil
	return e
}

func ids(ms []blocks.BlockMeta) []blocks.ID {
	var out []blocks.ID
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func TestStore_EvictsLRUSparingPinnedAndLocked(t *testing.T) {
	var log eventLog
	cfg := blockstest.Config(t, 4*mib)
	cfg.OnEvent = log.add
	s := blockstest.Open(t, cfg)
	for id := blocks.ID(1); id <= 4; id++ {
		blockstest.Write(t, s, id, blockstest.Data(uint64(id), mib), blocks.CreateOptions{})
	}
	// LRU order now 1,2,3,4. Read 1 (now most recent), pin 2, hold 3 open.
	if _, err := blockstest.ReadAll(s, 1); err != nil {
		t.Fatal(err)
	}
	s.Pin(2)
	r3, err := s.OpenBlock(t.Context(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close()
	// Two new blocks need two victims: 4 (least recent evictable), then 1.
	blockstest.Write(t, s, 5, blockstest.Data(5, mib), blocks.CreateOptions{})
	blockstest.Write(t, s, 6, blockstest.Data(6, mib), blocks.CreateOptions{})
	if diff := cmp.Diff([]blocks.ID{2, 3, 5, 6}, ids(s.Blocks())); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	want := []blocks.Event{{Kind: blocks.EventEvicted, Block: 4, From: blocks.MEM}, {Kind: blocks.EventEvicted, Block: 1, From: blocks.MEM}}
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// 2 is pinned and 3 is read: with 5 and 6 pinned too, nothing can go.
	s.Pin(5)
	s.Pin(6)
	if _, err := s.CreateTemp(t.Context(), 7, mib, blocks.CreateOptions{}); !errors.Is(err, blocks.ErrNoSpace) {
		t.Errorf("CreateTemp with nothing evictable: %v, want ErrNoSpace", err)
	}
	if diff := cmp.Diff([]blocks.ID{2, 3, 5, 6}, ids(s.Blocks())); diff != "" {
		t.Errorf("a failed allocation evicted blocks (-want +got):\n%s", diff)
	}
	// Unpinning lets the evictor take 2 (the least recent of the unpinned).
	s.Unpin(2)
	blockstest.Write(t, s, 7, blockstest.Data(7, mib), blocks.CreateOptions{})
	if diff := cmp.Diff([]blocks.ID{3, 5, 6, 7}, ids(s.Blocks())); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
}

func TestStore_ProtectedBlocksEvictedLast(t *testing.T) {
	s := blockstest.Open(t, blockstest.Config(t, 4*mib))
	for id := blocks.ID(1); id <= 4; id++ {
		blockstest.Write(t, s, id, blockstest.Data(uint64(id), mib), blocks.CreateOptions{Protected: id <= 2})
	}
	// 1 and 2 are the least recent but protected: 3 and 4 go first.
	blockstest.Write(t, s, 5, blockstest.Data(5, mib), blocks.CreateOptions{})
	blockstest.Write(t, s, 6, blockstest.Data(6, mib), blocks.CreateOptions{})
	if diff := cmp.Diff([]blocks.ID{1, 2, 5, 6}, ids(s.Blocks())); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	// Once no unprotected block is evictable, protected ones go, in LRU order.
	s.Pin(5)
	s.Pin(6)
	blockstest.Write(t, s, 7, blockstest.Data(7, mib), blocks.CreateOptions{})
	if diff := cmp.Diff([]blocks.ID{2, 5, 6, 7}, ids(s.Blocks())); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	// SetProtected changes the order: unprotect 2, protect 7.
	s.Unpin(5)
	s.SetProtected(5, true)
	s.SetProtected(7, true)
	blockstest.Write(t, s, 8, blockstest.Data(8, mib), blocks.CreateOptions{})
	if diff := cmp.Diff([]blocks.ID{2, 6, 7, 8}, ids(s.Blocks())); diff == "" {
		t.Errorf("the protected block 5 was evicted before unprotected ones")
	}
	if diff := cmp.Diff([]blocks.ID{5, 6, 7, 8}, ids(s.Blocks())); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
}

func TestStore_EvictionDemotes(t *testing.T) {
	var log eventLog
	cfg := blockstest.Config(t, 2*mib, 2*mib)
	cfg.OnEvent = log.add
	s := blockstest.Open(t, cfg)
	data := map[blocks.ID][]byte{}
	for id := blocks.ID(1); id <= 4; id++ {
		data[id] = blockstest.Data(uint64(id), mib)
		blockstest.Write(t, s, id, data[id], blocks.CreateOptions{})
	}
	// MEM holds two blocks: 1 and 2 were demoted to SSD to make room for 3 and 4.
	tiers := map[blocks.ID]blocks.TierAlias{}
	for _, m := range s.Blocks() {
		tiers[m.ID] = m.Tier
	}
	if diff := cmp.Diff(map[blocks.ID]blocks.TierAlias{1: blocks.SSD, 2: blocks.SSD, 3: blocks.MEM, 4: blocks.MEM}, tiers); diff != "" {
		t.Errorf("tiers (-want +got):\n%s", diff)
	}
	want := []blocks.Event{
		{Kind: blocks.EventDemoted, Block: 1, From: blocks.MEM, To: blocks.SSD},
		{Kind: blocks.EventDemoted, Block: 2, From: blocks.MEM, To: blocks.SSD},
	}
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// SSD is full too: the next MEM eviction removes 3 (no room below) ...
	blockstest.Write(t, s, 5, blockstest.Data(5, mib), blocks.CreateOptions{})
	if diff := cmp.Diff([]blocks.Event{{Kind: blocks.EventEvicted, Block: 3, From: blocks.MEM}}, log.take()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// ... and every surviving block reads back.
	for _, m := range s.Blocks() {
		got, err := blockstest.ReadAll(s, m.ID)
		if err != nil || string(got) != string(data[m.ID]) && m.ID != 5 {
			t.Errorf("block %v in %s: %v", m.ID, m.Tier, err)
		}
	}
}

func TestStore_MovePromoteDemote(t *testing.T) {
	s := blockstest.Open(t, blockstest.Config(t, 4*mib, 4*mib, 4*mib))
	data := blockstest.Data(1, 3*64<<10+5)
	m := blockstest.Write(t, s, 1, data, blocks.CreateOptions{Tier: blocks.HDD})
	for _, to := range []blocks.TierAlias{blocks.MEM, blocks.SSD, blocks.HDD, blocks.MEM, blocks.MEM} {
		if err := s.Move(t.Context(), 1, to); err != nil {
			t.Fatalf("Move to %s: %v", to, err)
		}
		got, err := s.Stat(1)
		if err != nil || got.Tier != to || got.Checksum != m.Checksum || got.Size != m.Size {
			t.Fatalf("after Move to %s: %+v, %v", to, got, err)
		}
		b, err := blockstest.ReadAll(s, 1)
		if err != nil || string(b) != string(data) {
			t.Fatalf("read after Move to %s: %v", to, err)
		}
	}
	if _, err := os.Stat(m.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old file left behind: %v", err)
	}
	var used int64
	for _, u := range s.Usage() {
		if u.Alias != blocks.MEM && u.Used != 0 {
			t.Errorf("tier %s uses %d bytes after the block left it", u.Alias, u.Used)
		}
		used += u.Used
	}
	if used != m.Size {
		t.Errorf("used %d, want %d", used, m.Size)
	}
	if err := s.Move(t.Context(), 9, blocks.SSD); !errors.Is(err, blocks.ErrNotFound) {
		t.Errorf("Move of an unknown block: %v, want ErrNotFound", err)
	}
	if err := s.Move(t.Context(), 1, "TAPE"); !errors.Is(err, blocks.ErrInvalidConfig) {
		t.Errorf("Move to an unknown tier: %v, want ErrInvalidConfig", err)
	}
}

func TestStore_MoveOfCorruptBlockDrops(t *testing.T) {
	var log eventLog
	cfg := blockstest.Config(t, 4*mib, 4*mib)
	cfg.OnEvent = log.add
	s := blockstest.Open(t, cfg)
	m := blockstest.Write(t, s, 1, blockstest.Data(1, 100000), blocks.CreateOptions{Tier: blocks.SSD})
	f, _ := os.OpenFile(m.Path, os.O_RDWR, 0)
	f.WriteAt([]byte("garbage"), 5)
	f.Close()
	if err := s.Move(t.Context(), 1, blocks.MEM); !errors.Is(err, blocks.ErrCorrupt) {
		t.Fatalf("Move of a corrupt block: %v, want ErrCorrupt", err)
	}
	if _, err := s.Stat(1); !errors.Is(err, blocks.ErrNotFound) {
		t.Errorf("Stat: %v, want ErrNotFound", err)
	}
	if diff := cmp.Diff([]blocks.Event{{Kind: blocks.EventCorrupt, Block: 1, From: blocks.SSD}}, log.take()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if got := usedBytes(s); got != 0 {
		t.Errorf("used %d, want 0", got)
	}
}

func TestSpaceReserver_Watermarks(t *testing.T) {
	cfg := blockstest.Config(t, 10*mib)
	cfg.HighWatermark, cfg.LowWatermark = 0.8, 0.5
	s := blockstest.Open(t, cfg)
	r := s.SpaceReserver()
	for id := blocks.ID(1); id <= 8; id++ {
		blockstest.Write(t, s, id, blockstest.Data(uint64(id), mib), blocks.CreateOptions{})
	}
	r.ReserveOnce(t.Context())
	if got := usedBytes(s); got != 8*mib {
		t.Errorf("at the high watermark: used %d, want %d (nothing evicted)", got, 8*mib)
	}
	blockstest.Write(t, s, 9, blockstest.Data(9, mib), blocks.CreateOptions{})
	s.Pin(1)
	r.ReserveOnce(t.Context())
	if got := usedBytes(s); got != 5*mib {
		t.Errorf("after a pass above the high watermark: used %d, want %d", got, 5*mib)
	}
	if diff := cmp.Diff([]blocks.ID{1, 6, 7, 8, 9}, ids(s.Blocks())); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
}

func TestSpaceReserver_RunWakesOnAllocation(t *testing.T) {
	cfg := blockstest.Config(t, 10*mib)
	cfg.HighWatermark, cfg.LowWatermark = 0.5, 0.2
	cfg.ReserveInterval = 1 << 40 // only allocations wake it
	s := blockstest.Open(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- s.SpaceReserver().Run(ctx) }()
	for id := blocks.ID(1); id <= 6; id++ {
		blockstest.Write(t, s, id, blockstest.Data(uint64(id), mib), blocks.CreateOptions{})
	}
	waitFor(t, func() bool { return usedBytes(s) <= 2*mib })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestStore_AllocatorsSpreadOverDirs(t *testing.T) {
	for _, alloc := range []string{blocks.AllocatorMaxFree, blocks.AllocatorRoundRobin, blocks.AllocatorGreedy} {
		t.Run(alloc, func(t *testing.T) {
			cfg := blockstest.Config(t, 4*mib)
			cfg.Allocator = alloc
			mem := blockstest.MemDir(t)
			cfg.Tiers[0].Dirs = []blocks.DirConfig{{Path: filepath.Join(mem, "a"), Quota: 4 * mib}, {Path: filepath.Join(mem, "b"), Quota: 3 * mib}}
			s := blockstest.Open(t, cfg)
			for id := blocks.ID(1); id <= 4; id++ {
				blockstest.Write(t, s, id, blockstest.Data(uint64(id), mib), blocks.CreateOptions{})
			}
			var got []int
			for _, d := range s.Usage()[0].Dirs {
				got = append(got, d.Blocks)
			}
			want := map[string][]int{
				blocks.AllocatorMaxFree:    {3, 1}, // a (4 free of 4), a (3 = 3, ties go first), b (3 > 2), a (2 = 2)
				blocks.AllocatorRoundRobin: {2, 2},
				blocks.AllocatorGreedy:     {4, 0},
			}[alloc]
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("blocks per dir (-want +got):\n%s", diff)
			}
		})
	}
}
