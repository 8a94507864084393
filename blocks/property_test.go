package blocks_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/blocks/blockstest"
)

// unit is the size step of the property tests: a chunk, so blocks span several chunks.
const unit = 64 << 10

// blockSize is the size of block id in the property and stress tests, so that any
// reader can check what it reads without knowing who wrote it.
func blockSize(id blocks.ID) int { return int(id%5)*unit + int(id*7919%unit) }

func blockData(id blocks.ID) []byte { return blockstest.Data(uint64(id), blockSize(id)) }

// opsModel drives a Store with operations decoded from bytes and checks, after each,
// that: the accounting and the files stay within every quota; pinned blocks and blocks
// held by a reader are never evicted; every block the Store has reads back exactly as
// written; blocks go away only by Remove or a reported eviction.
type opsModel struct {
	t       *testing.T
	cfg     blocks.Config
	s       *blocks.Store
	held    map[blocks.ID][]*blocks.BlockReader
	readers map[blocks.ID]int
	pinned  map[blocks.ID]bool
	has     map[blocks.ID]bool // blocks the Store should hold
	events  *eventLog
}

func newOpsModel(t *testing.T, allocator, evictor string) *opsModel {
	m := &opsModel{t: t, held: map[blocks.ID][]*blocks.BlockReader{}, readers: map[blocks.ID]int{},
		pinned: map[blocks.ID]bool{}, has: map[blocks.ID]bool{}, events: &eventLog{}}
	m.cfg = blockstest.Config(t, 6*unit, 8*unit)
	// Two MEM directories, so that the allocator has a choice.
	m.cfg.Tiers[0].Dirs = append(m.cfg.Tiers[0].Dirs, blocks.DirConfig{Path: filepath.Join(blockstest.MemDir(t), "mem2"), Quota: 5 * unit})
	m.cfg.Allocator, m.cfg.Evictor = allocator, evictor
	m.cfg.OnEvent = m.events.add
	m.cfg.Logger = slog.New(slog.DiscardHandler) // quiet: thousands of operations
	m.open()
	return m
}

func (m *opsModel) open() {
	s, err := blocks.Open(context.Background(), m.cfg)
	if err != nil {
		m.t.Fatalf("Open: %v", err)
	}
	m.s = s
}

func (m *opsModel) close() {
	for id, rs := range m.held {
		for _, r := range rs {
			r.Close()
		}
		delete(m.held, id)
		delete(m.readers, id)
	}
	m.s.Close()
}

func (m *opsModel) step(op, arg byte) {
	t, s, ctx := m.t, m.s, context.Background()
	id := blocks.ID(arg%12 + 1)
	tiers := []blocks.TierAlias{"", blocks.MEM, blocks.SSD}
	switch op % 10 {
	case 0, 1: // write
		data := blockData(id)
		tb, err := s.CreateTemp(ctx, id, int64(len(data))/2, blocks.CreateOptions{Tier: tiers[arg/12%3]})
		if errors.Is(err, blocks.ErrExists) {
			if !m.has[id] {
				t.Fatalf("CreateTemp(%v): ErrExists for a block not held", id)
			}
			return
		}
		if err == nil {
			_, err = tb.Write(data)
		}
		if err == nil {
			_, err = tb.Commit(ctx)
		}
		if err != nil {
			if !errors.Is(err, blocks.ErrNoSpace) {
				t.Fatalf("write %v: %v", id, err)
			}
			if _, err := s.Stat(id); !errors.Is(err, blocks.ErrNotFound) {
				t.Fatalf("failed write of %v left a block: %v", id, err)
			}
			return
		}
		m.has[id] = true
	case 2: // read and compare
		got, err := blockstest.ReadAll(s, id)
		if err == nil && !bytes.Equal(got, blockData(id)) {
			t.Fatalf("block %v reads back different", id)
		}
		if (err == nil) != m.has[id] {
			t.Fatalf("read %v: %v, model has it: %v", id, err, m.has[id])
		}
	case 3: // remove, unless held (Remove would wait for our own reader)
		if len(m.held[id]) > 0 {
			return
		}
		err := s.Remove(ctx, id)
		if (err == nil) != m.has[id] {
			t.Fatalf("remove %v: %v, model has it: %v", id, err, m.has[id])
		}
		delete(m.has, id)
		delete(m.pinned, id)
	case 4: // pin or unpin
		if m.pinned[id] {
			s.Unpin(id)
			delete(m.pinned, id)
		} else if s.Pin(id) == nil {
			m.pinned[id] = true
		}
	case 5:
		s.SetProtected(id, arg&1 == 0)
	case 6: // move
		if len(m.held[id]) > 0 {
			return
		}
		err := s.Move(ctx, id, tiers[1+arg/12%2])
		if err != nil && !errors.Is(err, blocks.ErrNoSpace) && !errors.Is(err, blocks.ErrNotFound) {
			t.Fatalf("move %v: %v", id, err)
		}
	case 7: // hold a reader, or release one
		if rs := m.held[id]; len(rs) > 0 && arg&1 == 0 {
			rs[len(rs)-1].Close()
			m.held[id] = rs[:len(rs)-1]
			m.readers[id]--
			return
		}
		if r, err := s.OpenBlock(ctx, id); err == nil {
			m.held[id] = append(m.held[id], r)
			m.readers[id]++
		}
	case 8:
		s.SpaceReserver().ReserveOnce(ctx)
	case 9: // restart
		m.close()
		m.pinned = map[blocks.ID]bool{} // pins are not kept across restarts
		m.open()
	}
	for _, e := range m.events.take() {
		if e.Kind != blocks.EventDemoted {
			if m.pinned[e.Block] || len(m.held[e.Block]) > 0 {
				t.Fatalf("block %v was %v while pinned or read", e.Block, e.Kind)
			}
			delete(m.has, e.Block)
		}
	}
	if err := m.s.CheckInvariants(true, m.readers); err != nil {
		t.Fatalf("after op %d on %v: %v", op%10, id, err)
	}
	for id := range m.has {
		if _, err := m.s.Stat(id); err != nil {
			t.Fatalf("block %v vanished without an event: %v", id, err)
		}
	}
	if len(m.has) != len(m.s.Blocks()) {
		t.Fatalf("store holds %d blocks, model %d", len(m.s.Blocks()), len(m.has))
	}
}

func TestStore_PropertyRandomOps(t *testing.T) {
	policies := []struct{ allocator, evictor string }{
		{blocks.AllocatorMaxFree, blocks.EvictorLRU},
		{blocks.AllocatorRoundRobin, blocks.EvictorLRFU},
		{blocks.AllocatorGreedy, blocks.EvictorLRU},
	}
	for i, p := range policies {
		t.Run(p.allocator+"+"+p.evictor, func(t *testing.T) {
			m := newOpsModel(t, p.allocator, p.evictor)
			defer m.close()
			r := rand.New(rand.NewPCG(uint64(i), 1))
			for range 300 {
				m.step(byte(r.UintN(256)), byte(r.UintN(256)))
			}
		})
	}
}

func FuzzStoreOps(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 7, 1, 0, 3, 0, 4, 2, 1, 3, 1})
	f.Add([]byte{0, 1, 4, 1, 0, 13, 0, 25, 0, 37, 0, 49, 8, 0, 9, 0, 2, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 400 {
			ops = ops[:400]
		}
		policy := []string{blocks.EvictorLRU, blocks.EvictorLRFU}
		m := newOpsModel(t, blocks.AllocatorRoundRobin, policy[len(ops)%2])
		defer m.close()
		for i := 0; i+1 < len(ops); i += 2 {
			m.step(ops[i], ops[i+1])
		}
	})
}

// TestStore_ConcurrentStress runs writers, readers, removers, movers, pinners and the
// space reserver at once on a small store; under -race it checks the locking. Every read
// is checked against the data the block must hold, and blocks 1 to 6, which nobody
// removes, must survive as long as they are pinned (each by one worker).
func TestStore_ConcurrentStress(t *testing.T) {
	cfg := blockstest.Config(t, 12*unit, 12*unit)
	cfg.Logger = slog.New(slog.DiscardHandler)
	s := blockstest.Open(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	var reserver sync.WaitGroup
	reserver.Go(func() { s.SpaceReserver().Run(ctx) })
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			buf := make([]byte, 5*unit)
			for range 150 {
				id := blocks.ID(r.UintN(16) + 1)
				switch r.UintN(8) {
				case 0, 1:
					data := blockData(id)
					tb, err := s.CreateTemp(ctx, id, int64(len(data)), blocks.CreateOptions{})
					if err != nil {
						continue
					}
					if _, err := tb.Write(data); err == nil {
						tb.Commit(ctx)
					}
				case 2, 3, 4:
					rd, err := s.OpenBlock(ctx, id)
					if err != nil {
						continue
					}
					n, err := rd.ReadAt(buf[:rd.Size()], 0)
					if err != nil || !bytes.Equal(buf[:n], blockData(id)) {
						t.Errorf("block %v: read %d bytes, %v, or wrong data", id, n, err)
					}
					rd.Close()
				case 5:
					if id > 6 {
						s.Remove(ctx, id)
					}
				case 6:
					s.Move(ctx, id, []blocks.TierAlias{blocks.MEM, blocks.SSD}[r.UintN(2)])
				case 7:
					// Pin one of the blocks nobody removes, work a little, check it stayed.
					id = blocks.ID(w + 1)
					if s.Pin(id) != nil {
						continue
					}
					// Pin may have caught a block still being written; count only a
					// committed one.
					if m, err := s.Stat(id); err != nil || !m.Pinned {
						s.Unpin(id)
						continue
					}
					data := blockData(id + 4)
					if tb, err := s.CreateTemp(ctx, id+100, int64(len(data)), blocks.CreateOptions{}); err == nil {
						tb.Write(data)
						tb.Abort()
					}
					if _, err := s.Stat(id); err != nil {
						t.Errorf("pinned block %v: %v", id, err)
					}
					s.Unpin(id)
				}
				if err := s.CheckInvariants(false, nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	cancel()
	reserver.Wait()
	if err := s.CheckInvariants(true, nil); err != nil {
		t.Error(err)
	}
}
