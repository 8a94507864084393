package blockstest

import (
	"context"
	"hash/crc32"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicedata/sluice/blocks"
)

// MemDir returns a fresh directory under /dev/shm (tmpfs), removed when the test ends.
// Where /dev/shm is missing it falls back to t.TempDir().
func MemDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		return t.TempDir()
	}
	d, err := os.MkdirTemp("/dev/shm", "sluice-blockstest-")
	if err != nil {
		t.Fatalf("create MEM dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// Logger returns a logger that writes to the test's output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Config returns a valid configuration with one MEM directory (under /dev/shm) of
// memQuota bytes and, for each entry of diskQuotas, one more tier (SSD, then HDD) with
// one directory of that quota under t.TempDir().
func Config(t testing.TB, memQuota int64, diskQuotas ...int64) blocks.Config {
	t.Helper()
	cfg := blocks.DefaultConfig()
	cfg.Logger = Logger(t)
	cfg.Tiers = []blocks.TierConfig{{Alias: blocks.MEM, Dirs: []blocks.DirConfig{{Path: filepath.Join(MemDir(t), "mem"), Quota: memQuota}}}}
	for i, q := range diskQuotas {
		alias := []blocks.TierAlias{blocks.SSD, blocks.HDD}[i]
		cfg.Tiers = append(cfg.Tiers, blocks.TierConfig{Alias: alias, Dirs: []blocks.DirConfig{{Path: filepath.Join(t.TempDir(), string(alias)), Quota: q}}})
	}
	return cfg
}

// Open opens a Store over cfg and closes it when the test ends.
func Open(t testing.TB, cfg blocks.Config) *blocks.Store {
	t.Helper()
	s, err := blocks.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Data returns n deterministic pseudo-random bytes for seed.
func Data(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24), byte(seed >> 32)})
	r.Read(b)
	return b
}

// Checksum returns the CRC32C of data, as BlockMeta.Checksum reports it.
func Checksum(data []byte) uint32 {
	return crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
}

// Write stores data as block id through CreateTemp, Write and Commit.
func Write(t testing.TB, s *blocks.Store, id blocks.ID, data []byte, opts blocks.CreateOptions) blocks.BlockMeta {
	t.Helper()
	ctx := context.Background()
	tb, err := s.CreateTemp(ctx, id, int64(len(data)), opts)
	if err != nil {
		t.Fatalf("CreateTemp(%v): %v", id, err)
	}
	if _, err := tb.Write(data); err != nil {
		t.Fatalf("Write(%v): %v", id, err)
	}
	m, err := tb.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit(%v): %v", id, err)
	}
	return m
}

// ReadAll reads block id whole through OpenBlock and ReadAt.
func ReadAll(s *blocks.Store, id blocks.ID) ([]byte, error) {
	r, err := s.OpenBlock(context.Background(), id)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p := make([]byte, r.Size())
	if _, err := r.ReadAt(p, 0); err != nil {
		return nil, err
	}
	return p, nil
}

// Meta returns a valid BlockMeta of a 1 MiB MEM block, for tests of code that consumes
// block descriptions.
func Meta() blocks.BlockMeta {
	data := Data(1, 1<<20)
	return blocks.BlockMeta{
		ID: blocks.ID(7<<24 | 1), Size: int64(len(data)), Checksum: Checksum(data),
		Tier: blocks.MEM, Dir: "/dev/shm/sluice/executor",
		Path: "/dev/shm/sluice/executor/0000000007000001.blk",
	}
}

// Overwrite writes data at the start of the file at path without truncating it, as a
// short-circuit writer does with a file of TempBlock.PrepareDirect.
func Overwrite(t testing.TB, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
