package executor

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
)

// flags returns the store's pin and protection of a block.
func flags(t *testing.T, e *Executor, id uint64) (pinned, protected bool) {
	t.Helper()
	m, err := e.store.Load().Stat(blocks.ID(id))
	if err != nil {
		t.Fatalf("stat block %d: %v", id, err)
	}
	return m.Pinned, m.Protected
}

// lastGuarded returns the guarded files of the master's latest heartbeat from e.
func lastGuarded(m *fakeMaster) (files []uint64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.heartbeats) == 0 {
		return nil, false
	}
	return m.heartbeats[len(m.heartbeats)-1].GetGuardedFileIds(), true
}

func TestExecutor_GuardAnswers(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	e, _ := startExecutor(t, testConfig(t, []string{m.addr}, 8<<20))
	c := blockClient(t, e.Addr())
	ctx := t.Context()
	registered(t, e)

	userPinned, persisted := sluicepb.NewBlockID(1, 0), sluicepb.NewBlockID(2, 0)
	m.with(func(m *fakeMaster) { m.pinned = map[uint64]bool{1: true} })
	lineage, gone, kept := sluicepb.NewBlockID(3, 0), sluicepb.NewBlockID(4, 0), sluicepb.NewBlockID(5, 0)
	hdrs := []*sluicepb.WriteBlockHeader{
		{BlockId: userPinned, Pinned: true},
		{BlockId: persisted, WriteType: sluicepb.WriteType_WRITE_TYPE_MUST_CACHE},
		{BlockId: lineage},
		{BlockId: gone},
		{BlockId: kept},
	}
	for _, h := range hdrs {
		if _, err := writeBlock(ctx, c, h, randBytes(h.GetBlockId(), 1000), 100); err != nil {
			t.Fatalf("WriteBlock %d: %v", h.GetBlockId(), err)
		}
		if p, _ := flags(t, e, h.GetBlockId()); !p {
			t.Fatalf("new block %d not pinned in the store", h.GetBlockId())
		}
	}
	waitFor(t, "every written file reported guarded", func() bool {
		files, ok := lastGuarded(m)
		return ok && cmp.Equal(files, []uint64{1, 2, 3, 4, 5})
	})

	m.with(func(m *fakeMaster) {
		m.persisted = map[uint64]bool{1: true, 2: true}
		m.lineage = map[uint64]bool{3: true}
		m.gone = map[uint64]bool{4: true}
	})
	waitFor(t, "answered files unguarded", func() bool {
		return !e.guards.isGuarded(blocks.ID(userPinned)) && !e.guards.isGuarded(blocks.ID(persisted)) &&
			!e.guards.isGuarded(blocks.ID(lineage)) && !e.guards.isGuarded(blocks.ID(gone))
	})
	type state struct{ Pinned, Protected bool }
	got := map[uint64]state{}
	for _, id := range []uint64{userPinned, persisted, lineage, gone, kept} {
		p, pr := flags(t, e, id)
		got[sluicepb.BlockFileID(id)] = state{p, pr}
	}
	want := map[uint64]state{
		1: {Pinned: true},    // the user's pin outlives the guard
		2: {},                // persisted: evictable, no longer protected
		3: {Protected: true}, // recomputable: evictable, last
		4: {},                // gone: left to REMOVE_BLOCKS
		5: {Pinned: true},    // no answer: still guarded
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("store flags by file (-want +got):\n%s", d)
	}
	waitFor(t, "only the unanswered file reported", func() bool {
		files, ok := lastGuarded(m)
		return ok && cmp.Equal(files, []uint64{5})
	})
}

func TestExecutor_RestartGuardsEverything(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	cfg := testConfig(t, []string{m.addr}, 8<<20)
	e, stop := startExecutor(t, cfg)
	c := blockClient(t, e.Addr())
	registered(t, e)
	a, b := sluicepb.NewBlockID(6, 0), sluicepb.NewBlockID(7, 0)
	for _, id := range []uint64{a, b} {
		if _, err := writeBlock(t.Context(), c, &sluicepb.WriteBlockHeader{BlockId: id}, randBytes(id, 1000), 100); err != nil {
			t.Fatal(err)
		}
	}
	m.setPersisted(6)
	waitFor(t, "a unguarded", func() bool { return !e.guards.isGuarded(blocks.ID(a)) })
	stop()

	// The master forgets (a new leader, say, whose answer is not in yet): the restarted
	// executor guards every block it holds and names them all at registration.
	m.with(func(m *fakeMaster) { m.persisted = nil })
	before := m.numRegistrations()
	e2, _ := startExecutor(t, cfg)
	registered(t, e2)
	waitFor(t, "registration", func() bool { return m.numRegistrations() > before })
	m.with(func(m *fakeMaster) {
		got := m.registrations[len(m.registrations)-1].GetGuardedFileIds()
		if !cmp.Equal(got, []uint64{6, 7}) {
			t.Errorf("registration names guarded files %v, want [6 7]", got)
		}
	})
	for _, id := range []uint64{a, b} {
		if p, _ := flags(t, e2, id); !p || !e2.guards.isGuarded(blocks.ID(id)) {
			t.Errorf("block %d not guarded after a restart", id)
		}
	}
	// Once the master answers, a goes back to evictable; b stays guarded.
	m.setPersisted(6)
	waitFor(t, "a unguarded after the restart", func() bool { return !e2.guards.isGuarded(blocks.ID(a)) })
	if p, _ := flags(t, e2, a); p {
		t.Error("persisted block still pinned")
	}
	if p, _ := flags(t, e2, b); !p {
		t.Error("un-persisted block unpinned")
	}
}

func TestGuards_ReportRotates(t *testing.T) {
	var g guards
	g.init()
	// Ten files of two blocks each; reports of four files cover them all in turn.
	for f := uint64(1); f <= 10; f++ {
		g.guard(blocks.ID(sluicepb.NewBlockID(f, 0)), false)
		g.guard(blocks.ID(sluicepb.NewBlockID(f, 1)), false)
	}
	want := [][]uint64{{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 1, 2}, {3, 4, 5, 6}}
	for i, w := range want {
		if got := g.report(4); !cmp.Equal(got, w) {
			t.Errorf("report %d = %v, want %v", i, got, w)
		}
	}
	if got := g.report(100); !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Errorf("report under the cap = %v, want every file once", got)
	}
	g.forget(blocks.ID(sluicepb.NewBlockID(3, 0)))
	g.forget(blocks.ID(sluicepb.NewBlockID(3, 1)))
	if got := g.report(100); slices.Contains(got, 3) {
		t.Errorf("report names a file whose blocks are gone: %v", got)
	}
}

func TestExecutor_PinAnswers(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	e, _ := startExecutor(t, testConfig(t, []string{m.addr}, 8<<20))
	c := blockClient(t, e.Addr())
	registered(t, e)

	// File 1 is persisted (unguarded, evictable), file 2 stays guarded.
	held, guarded := sluicepb.NewBlockID(1, 0), sluicepb.NewBlockID(2, 0)
	for _, id := range []uint64{held, guarded} {
		if _, err := writeBlock(t.Context(), c, &sluicepb.WriteBlockHeader{BlockId: id}, randBytes(id, 1000), 100); err != nil {
			t.Fatal(err)
		}
	}
	m.setPersisted(1)
	waitFor(t, "file 1 unguarded", func() bool { return !e.guards.isGuarded(blocks.ID(held)) })
	if p, _ := flags(t, e, held); p {
		t.Fatal("persisted block still pinned before any pin")
	}

	// `fs pin` of both files reaches the executor through the heartbeat answer.
	m.with(func(m *fakeMaster) { m.pinned = map[uint64]bool{1: true, 2: true} })
	waitFor(t, "held block user-pinned", func() bool {
		p, _ := flags(t, e, held)
		return p && e.guards.isUserPinned(blocks.ID(held)) && e.guards.isUserPinned(blocks.ID(guarded))
	})
	m.with(func(m *fakeMaster) {
		last := m.heartbeats[len(m.heartbeats)-1].GetHeldFileIds()
		if !cmp.Equal(last, []uint64{1, 2}) {
			t.Errorf("held files reported %v, want [1 2]", last)
		}
	})

	// Unpinned again: the held block goes back to evictable; the guarded one stays
	// pinned in the store.
	m.with(func(m *fakeMaster) { m.pinned = nil })
	waitFor(t, "user pins dropped", func() bool {
		return !e.guards.isUserPinned(blocks.ID(held)) && !e.guards.isUserPinned(blocks.ID(guarded))
	})
	if p, _ := flags(t, e, held); p {
		t.Error("unpinned held block still pinned in the store")
	}
	if p, _ := flags(t, e, guarded); !p || !e.guards.isGuarded(blocks.ID(guarded)) {
		t.Error("guarded block lost its pin with the user pin")
	}
}

func TestGuards_HeldSampleRotates(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	e, _ := startExecutor(t, testConfig(t, []string{m.addr}, 8<<20))
	c := blockClient(t, e.Addr())
	registered(t, e)
	for f := uint64(1); f <= 5; f++ {
		for i := uint32(0); i < 2; i++ {
			id := sluicepb.NewBlockID(f, i)
			if _, err := writeBlock(t.Context(), c, &sluicepb.WriteBlockHeader{BlockId: id}, randBytes(id, 100), 100); err != nil {
				t.Fatal(err)
			}
		}
	}
	var g guards
	g.init()
	store := e.store.Load()
	want := [][]uint64{{1, 2}, {3, 4}, {5, 1}, {2, 3}}
	for i, w := range want {
		if got := g.heldSample(store, 2); !cmp.Equal(got, w) {
			t.Errorf("sample %d = %v, want %v", i, got, w)
		}
	}
	if got := g.heldSample(store, 10); !cmp.Equal(got, []uint64{1, 2, 3, 4, 5}) {
		t.Errorf("whole sample = %v", got)
	}
}
