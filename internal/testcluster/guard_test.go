package testcluster

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
)

// putSized writes data to path with a size hint, as `sluice fs put` does; it returns the
// writer's error (the file is aborted on failure).
func putSized(t *testing.T, cl *client.Client, path string, wt client.WriteType, data []byte) error {
	t.Helper()
	w, err := cl.Create(t.Context(), path, client.CreateOptions{WriteType: wt, Recursive: true, Overwrite: true, SizeHint: int64(len(data))})
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Close()
}

// TestCluster_GuardsUnpersistedData is the data-loss repro found by the e2e tests: with a
// MEM tier one block large, writing a CACHE_THROUGH file used to evict the committed
// blocks of an un-persisted MUST_CACHE file, which the master then marked LOST. Blocks of
// data not yet persisted must never be evicted; a write that cannot get room without
// that fails with ErrNoSpace and loses nothing.
func TestCluster_GuardsUnpersistedData(t *testing.T) {
	const tier = 4 << 20
	for _, tc := range []struct {
		name string
		host func(int) string
	}{
		{"short-circuit", nil},
		{"remote", func(int) string { return "elsewhere.invalid" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(t, Config{Executors: 1, MemSize: tier, BlockSize: tier, ExecutorHost: tc.host,
				HeartbeatInterval: 20 * time.Millisecond})
			cl := c.Client(t)
			notPersisted := sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED
			persisted := sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED

			cached := payload(200<<10, 1)
			if err := putSized(t, cl, "/keep/cached.bin", client.WriteMustCache, cached); err != nil {
				t.Fatal(err)
			}
			p := payload(100<<10, 2)
			if err := putSized(t, cl, "/keep/deep/p.bin", client.WriteCacheThrough, p); err != nil {
				t.Fatal(err)
			}
			checkState := func(path string, want sluicepb.PersistenceState, data []byte) {
				t.Helper()
				fi, err := cl.Stat(t.Context(), path)
				if err != nil || fi.Persistence != want {
					t.Fatalf("%s: %s, %v; want %s", path, fi.PersistenceName(), err, want)
				}
				mustGet(t, cl, path, client.ReadNoCache, data)
			}
			checkState("/keep/cached.bin", notPersisted, cached)
			checkState("/keep/deep/p.bin", persisted, p)

			// Room for it only if the un-persisted file went: the write fails instead.
			tooBig := payload(tier-150<<10, 3)
			err := putSized(t, cl, "/keep/too-big.bin", client.WriteMustCache, tooBig)
			if !errors.Is(err, client.ErrNoSpace) || !strings.Contains(err.Error(), "not yet persisted") {
				t.Fatalf("write needing the un-persisted file's room: %v, want ErrNoSpace saying the tier is full of data not yet persisted", err)
			}
			if _, err := cl.Stat(t.Context(), "/keep/too-big.bin"); !errors.Is(err, client.ErrNotFound) {
				t.Errorf("failed write left its file: %v", err)
			}
			checkState("/keep/cached.bin", notPersisted, cached)

			// Room for it once the persisted file's copy goes: its blocks are unguarded on
			// the heartbeat after the persist, then the write may evict them.
			fits := payload(tier-250<<10, 4)
			var last error
			if !poll(30*time.Second, func() bool {
				last = putSized(t, cl, "/keep/fits.bin", client.WriteMustCache, fits)
				return last == nil
			}) {
				t.Fatalf("write that fits by evicting a persisted copy: %v", last)
			}
			checkState("/keep/fits.bin", notPersisted, fits)
			checkState("/keep/cached.bin", notPersisted, cached)
			checkState("/keep/deep/p.bin", persisted, p)
		})
	}
}

// TestCluster_PinReachesExecutor: `fs pin` of a persisted file whose block an executor
// already caches pins that block there (the heartbeat's pin answer), so filling the tier
// with other persisted files evicts them, never it.
func TestCluster_PinReachesExecutor(t *testing.T) {
	const tier, block = 4 << 20, 1 << 20
	c := New(t, Config{Executors: 1, MemSize: tier, BlockSize: block, HeartbeatInterval: 20 * time.Millisecond})
	cl := c.Client(t)
	pinnedData := payload(block, 10)
	if err := putSized(t, cl, "/pin/kept.bin", client.WriteCacheThrough, pinnedData); err != nil {
		t.Fatal(err)
	}
	fi, err := cl.Stat(t.Context(), "/pin/kept.bin")
	if err != nil {
		t.Fatal(err)
	}
	blk := sluicepb.NewBlockID(fi.FileID, 0)
	ex := c.Executor(holder(t, c, cl, "/pin/kept.bin"))
	// Persisted, hence unguarded: evictable until the pin arrives.
	c.waitFor(30*time.Second, "persisted block unguarded", func() bool {
		held, pinned := ex.BlockPinned(blk)
		return held && !pinned
	})

	if _, err := cl.Pin(t.Context(), "/pin/kept.bin", false); err != nil {
		t.Fatal(err)
	}
	c.waitFor(30*time.Second, "pin reaches the executor", func() bool {
		_, pinned := ex.BlockPinned(blk)
		return pinned
	})

	// Twice the tier of other persisted files: every evictable block goes at least once.
	for i := range 2 * tier / block {
		path := fmt.Sprintf("/fill/%d.bin", i)
		data := payload(block, uint64(100+i))
		var last error
		if !poll(30*time.Second, func() bool {
			last = putSized(t, cl, path, client.WriteCacheThrough, data)
			return last == nil
		}) {
			t.Fatalf("write %s: %v", path, last)
		}
	}
	if held, pinned := ex.BlockPinned(blk); !held || !pinned {
		t.Fatalf("pinned file's block: held %v, pinned %v; want held and pinned", held, pinned)
	}
	if got := holder(t, c, cl, "/pin/kept.bin"); c.Executor(got) != ex {
		t.Errorf("pinned file located on executor %d", got)
	}
	stats := cl.Stats()
	mustGet(t, cl, "/pin/kept.bin", client.ReadNoCache, pinnedData)
	if d := cl.Stats().BytesReadUFS - stats.BytesReadUFS; d != 0 {
		t.Errorf("reading the pinned file read %d bytes from the UFS, want 0", d)
	}
}
