package blocks_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/blocks/blockstest"
)

func tmpFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, ".tmp", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

func TestStore_RecyclesMemFiles(t *testing.T) {
	cfg := blockstest.Config(t, 8*mib)
	s, err := blocks.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := blockstest.Write(t, s, 1, blockstest.Data(1, 2*mib), blocks.CreateOptions{})
	if _, err := blockstest.ReadAll(s, 1); err != nil { // maps the file
		t.Fatal(err)
	}
	if err := s.Remove(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if got := tmpFiles(t, m.Dir); len(got) != 1 {
		t.Fatalf("temporary folder after Remove: %v, want one recycled file", got)
	}
	if got := usedBytes(s); got != 0 {
		t.Errorf("used %d after Remove, want 0: recycled files are not used space", got)
	}
	if got := s.Usage()[0].Dirs[0].Recycled; got != 2*mib {
		t.Errorf("recycled %d, want %d", got, 2*mib)
	}
	// The next block written through Write takes the file over.
	data := blockstest.Data(2, 2*mib-100)
	blockstest.Write(t, s, 2, data, blocks.CreateOptions{})
	if got := tmpFiles(t, m.Dir); len(got) != 0 {
		t.Errorf("temporary folder after reuse: %v, want empty", got)
	}
	if got, err := blockstest.ReadAll(s, 2); err != nil || !bytes.Equal(got, data) {
		t.Errorf("reused block reads back: %v, equal %v", err, bytes.Equal(got, data))
	}
	if err := s.CheckInvariants(true, nil); err != nil {
		t.Error(err)
	}
	// A recycled file gives way when its space is needed.
	s.Remove(t.Context(), 2)
	blockstest.Write(t, s, 3, blockstest.Data(3, 7*mib), blocks.CreateOptions{})
	if err := s.CheckInvariants(true, nil); err != nil {
		t.Error(err)
	}
	// Close drops recycled files.
	s.Remove(t.Context(), 3)
	s.Close()
	if got := tmpFiles(t, m.Dir); len(got) != 0 {
		t.Errorf("temporary folder after Close: %v, want empty", got)
	}
}

func TestStore_DisableRecycle(t *testing.T) {
	cfg := blockstest.Config(t, 8*mib)
	cfg.DisableRecycle = true
	s := blockstest.Open(t, cfg)
	m := blockstest.Write(t, s, 1, blockstest.Data(1, 2*mib), blocks.CreateOptions{})
	s.Remove(t.Context(), 1)
	if got := tmpFiles(t, m.Dir); len(got) != 0 {
		t.Errorf("temporary folder after Remove: %v, want empty", got)
	}
}

func TestTempBlock_GrowsPastSizeHint(t *testing.T) {
	s := blockstest.Open(t, blockstest.Config(t, 8*mib))
	blockstest.Write(t, s, 1, blockstest.Data(1, 4*mib), blocks.CreateOptions{})
	// The hint is small; Write grows the reservation, evicting block 1 on the way.
	data := blockstest.Data(2, 6*mib)
	tb, err := s.CreateTemp(t.Context(), 2, 1000, blocks.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 700000 {
		if _, err := tb.Write(data[off:min(off+700000, len(data))]); err != nil {
			t.Fatalf("Write at %d: %v", off, err)
		}
	}
	if tb.Reserved() < int64(len(data)) {
		t.Errorf("reserved %d for %d bytes", tb.Reserved(), len(data))
	}
	if _, err := tb.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := usedBytes(s); got != int64(len(data)) {
		t.Errorf("used %d after commit, want exactly %d", got, len(data))
	}
	if diff := cmp.Diff([]blocks.ID{2}, ids(s.Blocks())); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
}

func TestTempBlock_ShortCircuitPastReservation(t *testing.T) {
	s := blockstest.Open(t, blockstest.Config(t, 4*mib))
	tb, err := s.CreateTemp(t.Context(), 1, mib, blocks.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A client asks for room first, then writes; past the quota, Commit fails clean.
	if err := tb.Reserve(t.Context(), 3*mib); err != nil {
		t.Fatal(err)
	}
	if err := tb.Reserve(t.Context(), 5*mib); !errors.Is(err, blocks.ErrNoSpace) {
		t.Errorf("Reserve past the quota: %v, want ErrNoSpace", err)
	}
	os.WriteFile(tb.Path(), blockstest.Data(1, 5*mib), 0o644)
	if _, err := tb.Commit(t.Context()); !errors.Is(err, blocks.ErrNoSpace) {
		t.Errorf("Commit of a file past the quota: %v, want ErrNoSpace", err)
	}
	if _, err := os.Stat(tb.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file left after the failed commit: %v", err)
	}
	if got := usedBytes(s); got != 0 {
		t.Errorf("used %d, want 0", got)
	}
}

func TestStore_MoveWaitsForReaders(t *testing.T) {
	s := blockstest.Open(t, blockstest.Config(t, 4*mib, 4*mib))
	blockstest.Write(t, s, 1, blockstest.Data(1, 1000), blocks.CreateOptions{})
	r, err := s.OpenBlock(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := s.Move(ctx, 1, blocks.SSD); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Move of a read block: %v, want DeadlineExceeded", err)
	}
	r.Close()
	if err := s.Move(t.Context(), 1, blocks.SSD); err != nil {
		t.Errorf("Move after the reader closed: %v", err)
	}
}

func TestStore_Closed(t *testing.T) {
	s := blockstest.Open(t, blockstest.Config(t, 4*mib))
	blockstest.Write(t, s, 1, []byte("abc"), blocks.CreateOptions{})
	r, err := s.OpenBlock(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := r.ReadAt(make([]byte, 1), 0); !errors.Is(err, blocks.ErrClosed) {
		t.Errorf("ReadAt after Close: %v, want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s.Close()
	if _, err := s.OpenBlock(t.Context(), 1); !errors.Is(err, blocks.ErrClosed) {
		t.Errorf("OpenBlock on a closed store: %v", err)
	}
	if _, err := s.CreateTemp(t.Context(), 2, 1, blocks.CreateOptions{}); !errors.Is(err, blocks.ErrClosed) {
		t.Errorf("CreateTemp on a closed store: %v", err)
	}
	if err := s.Remove(t.Context(), 1); !errors.Is(err, blocks.ErrClosed) {
		t.Errorf("Remove on a closed store: %v", err)
	}
	if _, err := s.Stat(1); !errors.Is(err, blocks.ErrClosed) {
		t.Errorf("Stat on a closed store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStore_RestartOverQuotaEvicts(t *testing.T) {
	cfg := blockstest.Config(t, 8*mib)
	s, err := blocks.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for id := blocks.ID(1); id <= 6; id++ {
		blockstest.Write(t, s, id, blockstest.Data(uint64(id), mib), blocks.CreateOptions{})
		// Distinct modification times order the blocks for the evictor after restart.
		os.Chtimes(s.Blocks()[id-1].Path, time.Time{}, time.Unix(int64(id)*1000, 0))
	}
	s.Close()
	cfg.Tiers[0].Dirs[0].Quota = 4 * mib
	s2 := blockstest.Open(t, cfg)
	if diff := cmp.Diff([]blocks.ID{3, 4, 5, 6}, ids(s2.Blocks())); diff != "" {
		t.Errorf("blocks kept (-want +got), the oldest should go:\n%s", diff)
	}
	if err := s2.CheckInvariants(true, nil); err != nil {
		t.Error(err)
	}
}

func TestStore_RestartAfterInterruptedMove(t *testing.T) {
	cfg := blockstest.Config(t, 8*mib, 8*mib)
	s, err := blocks.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	data := blockstest.Data(1, 100000)
	m := blockstest.Write(t, s, 1, data, blocks.CreateOptions{Tier: blocks.SSD})
	s.Close()
	// A copy in MEM as a move would leave it just before deleting the source.
	memDir := cfg.Tiers[0].Dirs[0].Path
	for _, ext := range []string{".blk", ".crc"} {
		b, _ := os.ReadFile(filepath.Join(m.Dir, m.ID.String()+ext))
		os.WriteFile(filepath.Join(memDir, m.ID.String()+ext), b, 0o644)
	}
	s2 := blockstest.Open(t, cfg)
	got, err := s2.Stat(1)
	if err != nil || got.Tier != blocks.MEM {
		t.Fatalf("Stat: %+v, %v; want the MEM copy", got, err)
	}
	if _, err := os.Stat(m.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SSD copy kept: %v", err)
	}
	if err := s2.CheckInvariants(true, nil); err != nil {
		t.Error(err)
	}
}

func TestTempBlock_ShortCircuitWriteAndRename(t *testing.T) {
	s := blockstest.Open(t, blockstest.Config(t, 4*mib))
	tb, err := s.CreateTemp(t.Context(), 1, mib, blocks.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A client that writes a file beside the path and renames it over the path.
	data := blockstest.Data(1, 300000)
	tmp := tb.Path() + ".part"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, tb.Path()); err != nil {
		t.Fatal(err)
	}
	m, err := tb.Commit(t.Context())
	if err != nil || m.Size != int64(len(data)) || m.Checksum != blockstest.Checksum(data) {
		t.Fatalf("Commit: %+v, %v", m, err)
	}
	if got, err := blockstest.ReadAll(s, 1); err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back: %v", err)
	}
}
