package blocks_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/blocks/blockstest"
)

const mib = 1 << 20

func TestStore_WriteCommitRead(t *testing.T) {
	for _, tier := range []blocks.TierAlias{blocks.MEM, blocks.SSD} {
		t.Run(string(tier), func(t *testing.T) {
			s := blockstest.Open(t, blockstest.Config(t, 64*mib, 64*mib))
			for i, size := range []int{0, 1, 100, 64 << 10, 64<<10 + 1, 3*mib + 12345} {
				id := blocks.ID(i + 1)
				data := blockstest.Data(uint64(i), size)
				m := blockstest.Write(t, s, id, data, blocks.CreateOptions{Tier: tier})
				if m.Size != int64(size) || m.Checksum != blockstest.Checksum(data) || m.Tier != tier {
					t.Errorf("meta %+v: want size %d checksum %08x tier %s", m, size, blockstest.Checksum(data), tier)
				}
				got, err := blockstest.ReadAll(s, id)
				if err != nil {
					t.Fatalf("read %v: %v", id, err)
				}
				if !bytes.Equal(got, data) {
					t.Errorf("block %v of %d bytes reads back different", id, size)
				}
				onDisk, err := os.ReadFile(m.Path)
				if err != nil || !bytes.Equal(onDisk, data) {
					t.Errorf("file %s: err %v, equal %v", m.Path, err, bytes.Equal(onDisk, data))
				}
			}
		})
	}
}

func TestBlockReader_ReadAtRanges(t *testing.T) {
	for _, tier := range []blocks.TierAlias{blocks.MEM, blocks.SSD} {
		t.Run(string(tier), func(t *testing.T) {
			s := blockstest.Open(t, blockstest.Config(t, 16*mib, 16*mib))
			data := blockstest.Data(9, 5*64<<10+777)
			blockstest.Write(t, s, 1, data, blocks.CreateOptions{Tier: tier})
			r, err := s.OpenBlock(t.Context(), 1)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			size := int64(len(data))
			tests := []struct {
				name    string
				off, n  int64
				wantN   int64
				wantEOF bool
			}{
				{"head", 0, 10, 10, false},
				{"inside one chunk", 100, 1000, 1000, false},
				{"across chunks unaligned", 65530, 200000, 200000, false},
				{"aligned whole chunks", 65536, 131072, 131072, false},
				{"to the end", size - 10, 10, 10, false},
				{"past the end", size - 10, 20, 10, true},
				{"at the end", size, 5, 0, true},
				{"empty", 5, 0, 0, false},
			}
			for _, tt := range tests {
				p := make([]byte, tt.n)
				n, err := r.ReadAt(p, tt.off)
				if int64(n) != tt.wantN || (err == io.EOF) != tt.wantEOF || (err != nil && err != io.EOF) {
					t.Errorf("%s: ReadAt = %d, %v; want %d, eof %v", tt.name, n, err, tt.wantN, tt.wantEOF)
					continue
				}
				if !bytes.Equal(p[:n], data[tt.off:tt.off+int64(n)]) {
					t.Errorf("%s: wrong bytes", tt.name)
				}
			}
			if _, err := r.ReadAt(make([]byte, 1), -1); err == nil {
				t.Error("negative offset: want an error")
			}
		})
	}
}

func TestStore_CreateTempErrors(t *testing.T) {
	s := blockstest.Open(t, blockstest.Config(t, 4*mib))
	blockstest.Write(t, s, 1, []byte("x"), blocks.CreateOptions{})
	if _, err := s.CreateTemp(t.Context(), 1, 1, blocks.CreateOptions{}); !errors.Is(err, blocks.ErrExists) {
		t.Errorf("CreateTemp of a committed ID: %v, want ErrExists", err)
	}
	tb, err := s.CreateTemp(t.Context(), 2, 1, blocks.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTemp(t.Context(), 2, 1, blocks.CreateOptions{}); !errors.Is(err, blocks.ErrExists) {
		t.Errorf("CreateTemp of an ID being written: %v, want ErrExists", err)
	}
	if _, err := s.CreateTemp(t.Context(), 3, 1, blocks.CreateOptions{Tier: blocks.HDD}); !errors.Is(err, blocks.ErrInvalidConfig) {
		t.Errorf("CreateTemp in a tier not configured: %v, want ErrInvalidConfig", err)
	}
	if _, err := s.CreateTemp(t.Context(), 4, 5*mib, blocks.CreateOptions{}); !errors.Is(err, blocks.ErrNoSpace) {
		t.Errorf("CreateTemp bigger than the store: %v, want ErrNoSpace", err)
	}
	if err := tb.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tb.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file after Abort: %v", err)
	}
	if _, err := tb.Write([]byte("y")); !errors.Is(err, blocks.ErrClosed) {
		t.Errorf("Write after Abort: %v, want ErrClosed", err)
	}
	if _, err := s.Stat(2); !errors.Is(err, blocks.ErrNotFound) {
		t.Errorf("Stat of an aborted block: %v, want ErrNotFound", err)
	}
	if got := usedBytes(s); got != 1 {
		t.Errorf("used %d bytes after abort, want 1", got)
	}
}

func usedBytes(s *blocks.Store) int64 {
	var n int64
	for _, u := range s.Usage() {
		n += u.Used
	}
	return n
}

func TestStore_WriteBeyondQuotaFails(t *testing.T) {
	s := blockstest.Open(t, blockstest.Config(t, 2*mib))
	blockstest.Write(t, s, 1, blockstest.Data(1, mib), blocks.CreateOptions{})
	s.Pin(1)
	tb, err := s.CreateTemp(t.Context(), 2, 512<<10, blocks.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tb.Write(blockstest.Data(2, 2*mib))
	if !errors.Is(err, blocks.ErrNoSpace) {
		t.Fatalf("Write past the quota: %v, want ErrNoSpace", err)
	}
	if _, err := os.Stat(tb.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial block left at %s: %v", tb.Path(), err)
	}
	if _, err := tb.Commit(t.Context()); err == nil {
		t.Error("Commit after a failed Write succeeded")
	}
	if _, err := s.Stat(2); !errors.Is(err, blocks.ErrNotFound) {
		t.Errorf("Stat: %v, want ErrNotFound", err)
	}
	if got := usedBytes(s); got != mib {
		t.Errorf("used %d, want %d", got, mib)
	}
}

func TestStore_ShortCircuitWrite(t *testing.T) {
	s := blockstest.Open(t, blockstest.Config(t, 8*mib))
	data := blockstest.Data(3, 200000)
	tb, err := s.CreateTemp(t.Context(), 5, int64(len(data)), blocks.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tb.Path(), data, 0o644); err != nil {
		t.Fatal(err)
	}
	tb.ExpectChecksum(blockstest.Checksum(data))
	m, err := tb.Commit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if m.Checksum != blockstest.Checksum(data) || m.Size != int64(len(data)) {
		t.Errorf("meta %+v", m)
	}
	got, err := blockstest.ReadAll(s, 5)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back: %v, equal %v", err, bytes.Equal(got, data))
	}

	// A wrong expected checksum fails the commit and leaves nothing.
	tb, err = s.CreateTemp(t.Context(), 6, 10, blocks.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tb.Write([]byte("0123456789"))
	tb.ExpectChecksum(1)
	if _, err := tb.Commit(t.Context()); !errors.Is(err, blocks.ErrCorrupt) {
		t.Errorf("Commit with a wrong checksum: %v, want ErrCorrupt", err)
	}
	if _, err := s.Stat(6); !errors.Is(err, blocks.ErrNotFound) {
		t.Errorf("Stat after failed commit: %v", err)
	}
}

func TestStore_RestartFindsBlocks(t *testing.T) {
	cfg := blockstest.Config(t, 16*mib, 16*mib)
	s, err := blocks.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[blocks.ID][]byte{}
	for i := range 6 {
		id := blocks.ID(100 + i)
		want[id] = blockstest.Data(uint64(i), 100000*i+1)
		tier := blocks.MEM
		if i%2 == 1 {
			tier = blocks.SSD
		}
		blockstest.Write(t, s, id, want[id], blocks.CreateOptions{Tier: tier})
	}
	before := s.Blocks()
	stale, err := s.CreateTemp(t.Context(), 999, 10, blocks.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale.Write([]byte("half"))
	if _, err := blocks.Open(t.Context(), cfg); !errors.Is(err, blocks.ErrLocked) {
		t.Errorf("second Open over the same directories: %v, want ErrLocked", err)
	}
	s.Close()

	s2 := blockstest.Open(t, cfg)
	if diff := cmp.Diff(before, s2.Blocks()); diff != "" {
		t.Errorf("blocks after restart (-before +after):\n%s", diff)
	}
	for id, data := range want {
		got, err := blockstest.ReadAll(s2, id)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("block %v after restart: %v", id, err)
		}
	}
	if _, err := os.Stat(stale.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file survived the restart: %v", err)
	}
	if _, err := s2.Stat(999); !errors.Is(err, blocks.ErrNotFound) {
		t.Errorf("uncommitted block after restart: %v", err)
	}
}

func TestStore_RestartDropsDamagedFiles(t *testing.T) {
	cfg := blockstest.Config(t, 16*mib)
	s, err := blocks.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	m1 := blockstest.Write(t, s, 1, blockstest.Data(1, 1000), blocks.CreateOptions{})
	m2 := blockstest.Write(t, s, 2, blockstest.Data(2, 1000), blocks.CreateOptions{})
	m3 := blockstest.Write(t, s, 3, blockstest.Data(3, 1000), blocks.CreateOptions{})
	s.Close()
	dir := m1.Dir
	os.Remove(filepath.Join(dir, m1.ID.String()+".crc"))                           // no checksums
	os.WriteFile(filepath.Join(dir, m2.ID.String()+".crc"), []byte("junk"), 0o644) // bad checksums
	os.Truncate(m3.Path, 10)                                                       // size mismatch
	os.WriteFile(filepath.Join(dir, "0000000000000004.crc"), []byte("x"), 0o644)   // orphan
	os.WriteFile(filepath.Join(dir, "README"), []byte("keep"), 0o644)              // not ours

	s2 := blockstest.Open(t, cfg)
	if got := s2.Blocks(); len(got) != 0 {
		t.Errorf("blocks after restart: %+v, want none", got)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{".lock", ".tmp", "README"}, names); diff != "" {
		t.Errorf("files left (-want +got):\n%s", diff)
	}
	if got := usedBytes(s2); got != 0 {
		t.Errorf("used %d, want 0", got)
	}
}

func TestStore_CorruptBlockDropped(t *testing.T) {
	for _, tier := range []blocks.TierAlias{blocks.MEM, blocks.SSD} {
		t.Run(string(tier), func(t *testing.T) {
			var mu sync.Mutex
			var events []blocks.Event
			cfg := blockstest.Config(t, 8*mib, 8*mib)
			cfg.OnEvent = func(e blocks.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
			s := blockstest.Open(t, cfg)
			data := blockstest.Data(4, 300000)
			m := blockstest.Write(t, s, 1, data, blocks.CreateOptions{Tier: tier})
			// A first read maps a MEM block; the corruption must be seen through it.
			if _, err := blockstest.ReadAll(s, 1); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(m.Path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte{data[200000] ^ 0xff}, 200000)
			f.Close()

			r, err := s.OpenBlock(t.Context(), 1)
			if err != nil {
				t.Fatal(err)
			}
			p := make([]byte, 10)
			if _, err := r.ReadAt(p, 0); err != nil {
				t.Errorf("read of a good chunk: %v", err)
			}
			big := make([]byte, 100000)
			n, err := r.ReadAt(big, 150000)
			if !errors.Is(err, blocks.ErrCorrupt) {
				t.Fatalf("read of the bad chunk: %d, %v; want ErrCorrupt", n, err)
			}
			if !bytes.Equal(big[:n], data[150000:150000+n]) || 150000+n > 196608 {
				t.Errorf("ReadAt reported %d verified bytes", n)
			}
			if _, err := s.OpenBlock(t.Context(), 1); !errors.Is(err, blocks.ErrCorrupt) {
				t.Errorf("OpenBlock of a corrupt block: %v, want ErrCorrupt", err)
			}
			r.Close()
			if _, err := s.Stat(1); !errors.Is(err, blocks.ErrNotFound) {
				t.Errorf("Stat after the last reader closed: %v, want ErrNotFound", err)
			}
			if _, err := os.Stat(m.Path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("corrupt file kept: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff([]blocks.Event{{Kind: blocks.EventCorrupt, Block: 1, From: tier}}, events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if got := usedBytes(s); got != 0 {
				t.Errorf("used %d after drop, want 0", got)
			}
		})
	}
}

func TestStore_TruncatedMemBlockIsCorrupt(t *testing.T) {
	s := blockstest.Open(t, blockstest.Config(t, 8*mib))
	data := blockstest.Data(5, 4*64<<10)
	m := blockstest.Write(t, s, 1, data, blocks.CreateOptions{})
	r, err := s.OpenBlock(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.Truncate(m.Path, 1000); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, len(data))
	if _, err := r.ReadAt(p, 0); !errors.Is(err, blocks.ErrCorrupt) {
		t.Errorf("read of a truncated MEM block: %v, want ErrCorrupt", err)
	}
}

func TestStore_RemoveWaitsForReaders(t *testing.T) {
	s := blockstest.Open(t, blockstest.Config(t, 8*mib))
	data := blockstest.Data(6, 1000)
	m := blockstest.Write(t, s, 1, data, blocks.CreateOptions{})
	r, err := s.OpenBlock(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	// With a reader, Remove waits; a short deadline cancels it and the block stays.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	err = s.Remove(ctx, 1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Remove of a read block: %v, want DeadlineExceeded", err)
	}
	got := make([]byte, len(data))
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after cancelled Remove: %v", err)
	}
	if _, err := os.Stat(r.Path()); err != nil {
		t.Fatalf("file gone under its reader: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Remove(context.Background(), 1) }()
	// Readers arriving while Remove waits queue behind it and find the block gone.
	waitFor(t, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		defer cancel()
		r2, err := s.OpenBlock(ctx, 1)
		if err == nil {
			r2.Close()
		}
		return errors.Is(err, context.DeadlineExceeded)
	})
	select {
	case err := <-done:
		t.Fatalf("Remove returned %v while a reader held the block", err)
	default:
	}
	r.Close()
	if err := <-done; err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(m.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file after Remove: %v", err)
	}
	if err := s.Remove(t.Context(), 1); !errors.Is(err, blocks.ErrNotFound) {
		t.Errorf("second Remove: %v, want ErrNotFound", err)
	}
}

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatal("condition not met within 10s")
		case <-tick.C:
		}
	}
}
