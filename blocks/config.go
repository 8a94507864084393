package blocks

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// TierAlias names a storage tier. Tiers are ordered from fastest to slowest: MEM, SSD, HDD.
type TierAlias string

// The tiers a Store knows, fastest first.
const (
	MEM TierAlias = "MEM"
	SSD TierAlias = "SSD"
	HDD TierAlias = "HDD"
)

// rank orders the tier aliases; an unknown alias has rank -1.
func (a TierAlias) rank() int {
	switch a {
	case MEM:
		return 0
	case SSD:
		return 1
	case HDD:
		return 2
	}
	return -1
}

// Names of the allocators and evictors accepted in Config.
const (
	AllocatorMaxFree    = "maxfree"
	AllocatorRoundRobin = "roundrobin"
	AllocatorGreedy     = "greedy"
	EvictorLRU          = "lru"
	EvictorLRFU         = "lrfu"
)

// DefaultMemDir is the MEM directory of DefaultConfig. Executors sharing a host must each
// be given their own directory (Open refuses a directory another Store holds).
const DefaultMemDir = "/dev/shm/sluice/executor"

// DirConfig is one directory of a tier and the bytes of blocks it may hold.
type DirConfig struct {
	// Path is an absolute host path; Open creates it if missing.
	Path string
	// Quota is the capacity of the directory in bytes (> 0).
	Quota int64
}

// TierConfig is one tier: its alias and its directories.
type TierConfig struct {
	Alias TierAlias
	Dirs  []DirConfig
}

// Config configures a Store.
type Config struct {
	// Tiers lists the tiers, fastest first (MEM before SSD before HDD), each at most once.
	Tiers []TierConfig
	// Allocator picks the directory of a new block within a tier: "maxfree" (default,
	// the directory with the most free space), "roundrobin" or "greedy" (the first that fits).
	Allocator string
	// Evictor orders eviction victims: "lru" (default) or "lrfu".
	Evictor string
	// HighWatermark and LowWatermark are fractions of each directory's quota: when the
	// used space of a directory goes above HighWatermark the SpaceReserver evicts blocks
	// until it is at or below LowWatermark. 0 < LowWatermark < HighWatermark <= 1.
	HighWatermark, LowWatermark float64
	// ReserveInterval is how often the SpaceReserver checks the watermarks besides being
	// woken by allocations (default 1s).
	ReserveInterval time.Duration
	// DisableRecycle turns off the reuse of MEM block files (see the package doc): freed
	// MEM space is then given back to the host at once.
	DisableRecycle bool
	// OnEvent, if set, is told of every change the Store makes on its own: evictions,
	// demotions by the evictor and drops of corrupt blocks. It is called synchronously,
	// without Store locks held, from the goroutine that made the change; it may call the
	// Store but should return quickly.
	OnEvent func(Event)
	// Logger receives the Store's logs (default slog.Default()).
	Logger *slog.Logger
}

// DefaultConfig returns a Store configuration with one MEM tier of one directory,
// DefaultMemDir, with a quota of 1 GiB, the maxfree allocator, the lru evictor and
// watermarks 0.95 and 0.7. Callers normally change the MEM directory and the quota.
func DefaultConfig() Config {
	return Config{
		Tiers:           []TierConfig{{Alias: MEM, Dirs: []DirConfig{{Path: DefaultMemDir, Quota: 1 << 30}}}},
		Allocator:       AllocatorMaxFree,
		Evictor:         EvictorLRU,
		HighWatermark:   0.95,
		LowWatermark:    0.7,
		ReserveInterval: time.Second,
		Logger:          slog.Default(),
	}
}

// Validate reports the first problem of the configuration, wrapping ErrInvalidConfig.
// Empty Allocator, Evictor, ReserveInterval and Logger are accepted: Open uses the defaults.
func (c Config) Validate() error {
	if len(c.Tiers) == 0 {
		return fmt.Errorf("no tiers: %w", ErrInvalidConfig)
	}
	last := -1
	seen := map[string]bool{}
	for _, t := range c.Tiers {
		r := t.Alias.rank()
		if r < 0 {
			return fmt.Errorf("tier %q: unknown alias (want MEM, SSD or HDD): %w", t.Alias, ErrInvalidConfig)
		}
		if r <= last {
			return fmt.Errorf("tier %s: tiers must be listed once each, fastest first: %w", t.Alias, ErrInvalidConfig)
		}
		last = r
		if len(t.Dirs) == 0 {
			return fmt.Errorf("tier %s: no directories: %w", t.Alias, ErrInvalidConfig)
		}
		for _, d := range t.Dirs {
			if d.Path == "" || !filepath.IsAbs(d.Path) {
				return fmt.Errorf("tier %s: directory %q is not an absolute path: %w", t.Alias, d.Path, ErrInvalidConfig)
			}
			if d.Quota <= 0 {
				return fmt.Errorf("tier %s: directory %s: quota %d must be positive: %w", t.Alias, d.Path, d.Quota, ErrInvalidConfig)
			}
			p := filepath.Clean(d.Path)
			if seen[p] {
				return fmt.Errorf("directory %s listed twice: %w", p, ErrInvalidConfig)
			}
			seen[p] = true
		}
	}
	switch c.Allocator {
	case "", AllocatorMaxFree, AllocatorRoundRobin, AllocatorGreedy:
	default:
		return fmt.Errorf("allocator %q (want maxfree, roundrobin or greedy): %w", c.Allocator, ErrInvalidConfig)
	}
	switch c.Evictor {
	case "", EvictorLRU, EvictorLRFU:
	default:
		return fmt.Errorf("evictor %q (want lru or lrfu): %w", c.Evictor, ErrInvalidConfig)
	}
	if !(c.LowWatermark > 0 && c.LowWatermark < c.HighWatermark && c.HighWatermark <= 1) {
		return fmt.Errorf("watermarks low %v, high %v: want 0 < low < high <= 1: %w", c.LowWatermark, c.HighWatermark, ErrInvalidConfig)
	}
	if c.ReserveInterval < 0 {
		return fmt.Errorf("reserve interval %v is negative: %w", c.ReserveInterval, ErrInvalidConfig)
	}
	return nil
}

// Errors of the blocks contract. Returned errors wrap them with context; use errors.Is.
var (
	// ErrNotFound reports a block the Store does not hold (or no longer holds).
	ErrNotFound = errors.New("blocks: block not found")
	// ErrExists reports a block ID that is already committed or being written.
	ErrExists = errors.New("blocks: block already exists")
	// ErrNoSpace reports that no directory could be given the space, even after eviction.
	ErrNoSpace = errors.New("blocks: no space left")
	// ErrCorrupt reports a block whose data does not match its checksum, or an on-disk
	// checksum file that cannot be decoded.
	ErrCorrupt = errors.New("blocks: block corrupt")
	// ErrLocked reports a directory already held by another Store.
	ErrLocked = errors.New("blocks: locked")
	// ErrClosed reports use of a closed Store, TempBlock or BlockReader.
	ErrClosed = errors.New("blocks: closed")
	// ErrInvalidConfig reports a Config that Validate rejects, or an unknown tier alias.
	ErrInvalidConfig = errors.New("blocks: invalid configuration")
)
