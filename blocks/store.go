package blocks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ID identifies a block. The master builds it as fileID<<24 | index; the Store does not
// interpret it.
type ID uint64

// String formats the ID as the 16 hex digits used in file names.
func (id ID) String() string { return fmt.Sprintf("%016x", uint64(id)) }

// BlockMeta describes a committed block.
type BlockMeta struct {
	ID ID
	// Size is the length of the block in bytes.
	Size int64
	// Checksum is the CRC32C (Castagnoli) of the whole block.
	Checksum uint32
	// Tier and Dir say where the block lives; Path is its data file (a host path).
	Tier TierAlias
	Dir  string
	Path string
	// Pinned blocks are never evicted; Protected ones are evicted only when no
	// unprotected block can go.
	Pinned    bool
	Protected bool
}

// DirUsage is the space of one directory. Used counts committed blocks and the space
// reserved by blocks being written. Recycled counts MEM files kept for reuse: free for
// blocks, but still memory of the host (see the package doc).
type DirUsage struct {
	Path     string
	Capacity int64
	Used     int64
	Recycled int64
	Blocks   int
}

// TierUsage is the space of one tier, the sum of its directories.
type TierUsage struct {
	Alias    TierAlias
	Capacity int64
	Used     int64
	Dirs     []DirUsage
}

// EventKind says what the Store did on its own to a block.
type EventKind int

// The kinds of Event.
const (
	// EventEvicted: the block was removed to make room; the Store no longer holds it.
	EventEvicted EventKind = iota + 1
	// EventDemoted: the block was moved to a slower tier (To) to make room.
	EventDemoted
	// EventCorrupt: the block failed its checksum and was dropped; the Store no longer
	// holds it.
	EventCorrupt
)

func (k EventKind) String() string {
	switch k {
	case EventEvicted:
		return "evicted"
	case EventDemoted:
		return "demoted"
	case EventCorrupt:
		return "corrupt"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event reports a change the Store made without being asked (see Config.OnEvent).
type Event struct {
	Kind  EventKind
	Block ID
	// From is the tier the block was in; To is its new tier (EventDemoted only).
	From, To TierAlias
}

// tier is one configured tier.
type tier struct {
	alias TierAlias
	index int // position in Store.tiers
	dirs  []*dir
}

// dir is one directory of a tier. Its mutable fields are guarded by Store.mu.
type dir struct {
	tier  *tier
	path  string
	tmp   string // path/.tmp: blocks being written, moved in, and recycled MEM files
	quota int64

	used    int64       // committed block bytes plus reservations; never above quota
	pool    []*recycled // MEM: files kept for reuse (see recycle.go)
	pooled  int64       // bytes of pool; used+pooled stays within quota
	nblocks int
}

func (d *dir) blockPath(id ID) string   { return filepath.Join(d.path, id.String()+".blk") }
func (d *dir) sidecarPath(id ID) string { return filepath.Join(d.path, id.String()+".crc") }

// block is a committed block. Its mutable fields are guarded by Store.mu; the fields
// that describe its data (dir, size, crcs, mapping) change only under the block's write
// lock, so a holder of the read lock may use them without the mutex.
type block struct {
	id        ID
	dir       *dir
	size      int64
	checksum  uint32
	crcs      []uint32
	pinned    bool
	protected bool
	mapping   []byte // MEM: the data file mapped (may be longer than size); nil until read

	// The block lock: readers share it, one writer (remove, move, evict) owns it.
	readers int
	writer  bool
	waiting int           // writers waiting; new readers queue behind them
	changed chan struct{} // closed on every lock change; nil when nobody waits
	gone    bool          // detached from the Store

	corrupt atomic.Bool // a checksum failed: drop once the readers are gone
}

// evictable reports whether the evictor may take b now.
func (b *block) evictable() bool {
	return !b.pinned && b.readers == 0 && !b.writer && b.waiting == 0 && !b.gone && !b.corrupt.Load()
}

func (b *block) waitCh() chan struct{} {
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.changed
}

func (b *block) broadcast() {
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
}

func (b *block) meta() BlockMeta {
	return BlockMeta{
		ID: b.id, Size: b.size, Checksum: b.checksum,
		Tier: b.dir.tier.alias, Dir: b.dir.path, Path: b.dir.blockPath(b.id),
		Pinned: b.pinned, Protected: b.protected,
	}
}

// Store is a tiered block store over local directories. All methods are safe for
// concurrent use. A Store starts no goroutines; run its SpaceReserver to enforce the
// watermarks in the background.
type Store struct {
	cfg   Config
	log   *slog.Logger
	tiers []*tier
	locks []*os.File    // directory locks, released by Close
	kick  chan struct{} // wakes the SpaceReserver
	seq   atomic.Uint64 // names of recycled files
	done  atomic.Bool   // closed, readable without mu

	// mu guards blocks, temps, closed, the evictor, the allocator and the mutable fields
	// of every dir, block and TempBlock.
	mu     sync.Mutex
	closed bool
	blocks map[ID]*block
	temps  map[ID]*TempBlock
	evict  evictor
	alloc  allocator
}

// Open validates cfg, creates missing directories, locks them against other Stores,
// removes stale temporary files and loads every committed block found. Blocks whose
// checksum file is missing or damaged are removed (and logged). If the blocks found
// exceed a directory's quota, the excess is evicted before Open returns.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Allocator == "" {
		cfg.Allocator = AllocatorMaxFree
	}
	if cfg.Evictor == "" {
		cfg.Evictor = EvictorLRU
	}
	if cfg.ReserveInterval == 0 {
		cfg.ReserveInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "blocks"),
		kick:   make(chan struct{}, 1),
		blocks: map[ID]*block{},
		temps:  map[ID]*TempBlock{},
		evict:  newEvictor(cfg.Evictor),
		alloc:  newAllocator(cfg.Allocator),
	}
	var found []scanned
	for i, tc := range cfg.Tiers {
		t := &tier{alias: tc.Alias, index: i}
		s.tiers = append(s.tiers, t)
		for _, dc := range tc.Dirs {
			p := filepath.Clean(dc.Path)
			d := &dir{tier: t, path: p, tmp: filepath.Join(p, ".tmp"), quota: dc.Quota}
			t.dirs = append(t.dirs, d)
			blocks, err := s.openDir(d)
			if err != nil {
				s.releaseLocks()
				return nil, err
			}
			found = append(found, blocks...)
		}
	}
	// A move interrupted by a crash leaves a block in two directories: keep the copy in
	// the fastest tier.
	best := map[ID]scanned{}
	for _, f := range found {
		other, ok := best[f.b.id]
		if !ok {
			best[f.b.id] = f
			continue
		}
		loser := f
		if f.b.dir.tier.index < other.b.dir.tier.index {
			best[f.b.id], loser = f, other
		}
		s.log.Warn("duplicate block removed", "block_id", loser.b.id, "dir", loser.b.dir.path)
		s.removeFiles(loser.b.dir, loser.b.id)
	}
	found = found[:0]
	for _, f := range best {
		found = append(found, f)
	}
	// Oldest first, so that the evictor's first guess after a restart is the file age.
	sort.Slice(found, func(i, j int) bool {
		if !found[i].mtime.Equal(found[j].mtime) {
			return found[i].mtime.Before(found[j].mtime)
		}
		return found[i].b.id < found[j].b.id
	})
	for _, f := range found {
		s.blocks[f.b.id] = f.b
		f.b.dir.used += f.b.size
		f.b.dir.nblocks++
		s.evict.add(f.b.id)
	}
	for _, t := range s.tiers {
		for _, d := range t.dirs {
			if d.used > d.quota {
				s.log.Warn("directory over quota after restart", "dir", d.path, "used", d.used, "quota", d.quota)
				s.freeDir(ctx, d, d.used-d.quota)
			}
		}
	}
	return s, nil
}

// scanned is a block found by openDir.
type scanned struct {
	b     *block
	mtime time.Time
}

// openDir prepares one directory and returns the committed blocks in it.
func (s *Store) openDir(d *dir) ([]scanned, error) {
	if err := os.MkdirAll(d.path, 0o755); err != nil {
		return nil, fmt.Errorf("create tier %s directory: %w", d.tier.alias, err)
	}
	lock, err := lockDir(filepath.Join(d.path, ".lock"))
	if err != nil {
		return nil, fmt.Errorf("open tier %s directory: %w", d.tier.alias, err)
	}
	s.locks = append(s.locks, lock)
	// Everything under .tmp is a block that was never committed, a move that did not
	// finish or a recycled file: none of it is a block.
	if err := os.RemoveAll(d.tmp); err != nil {
		return nil, fmt.Errorf("remove stale temporary files of %s: %w", d.path, err)
	}
	if err := os.Mkdir(d.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", d.tmp, err)
	}
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", d.path, err)
	}
	var found []scanned
	for _, e := range ents {
		name := e.Name()
		id, ext, ok := parseBlockName(name)
		if !ok {
			continue
		}
		if ext == ".crc" {
			if _, err := os.Stat(d.blockPath(id)); errors.Is(err, os.ErrNotExist) {
				s.log.Warn("orphan checksum file removed", "path", filepath.Join(d.path, name))
				os.Remove(filepath.Join(d.path, name))
			}
			continue
		}
		b, mtime, err := loadBlock(d, id)
		if err != nil {
			s.log.Warn("damaged block removed", "block_id", id, "dir", d.path, "err", err)
			s.removeFiles(d, id)
			continue
		}
		found = append(found, scanned{b, mtime})
	}
	return found, nil
}

// parseBlockName recognizes "<16 hex digits>.blk" and "<16 hex digits>.crc".
func parseBlockName(name string) (ID, string, bool) {
	ext := filepath.Ext(name)
	if (ext != ".blk" && ext != ".crc") || len(name) != 16+len(ext) {
		return 0, "", false
	}
	hex := strings.TrimSuffix(name, ext)
	if strings.ToLower(hex) != hex {
		return 0, "", false
	}
	v, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		return 0, "", false
	}
	return ID(v), ext, true
}

// loadBlock reads the checksum file of a block and checks it against the data file.
func loadBlock(d *dir, id ID) (*block, time.Time, error) {
	fi, err := os.Stat(d.blockPath(id))
	if err != nil {
		return nil, time.Time{}, err
	}
	raw, err := os.ReadFile(d.sidecarPath(id))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read checksums: %w", err)
	}
	sc, err := decodeSidecar(raw)
	if err != nil {
		return nil, time.Time{}, err
	}
	if sc.id != id || sc.size != fi.Size() {
		return nil, time.Time{}, fmt.Errorf("checksums describe block %v of %d bytes, file has %d: %w", sc.id, sc.size, fi.Size(), ErrCorrupt)
	}
	return &block{id: id, dir: d, size: sc.size, checksum: sc.checksum, crcs: sc.crcs}, fi.ModTime(), nil
}

// removeFiles deletes the checksum file, then the data file, of a block in d.
func (s *Store) removeFiles(d *dir, id ID) {
	for _, p := range []string{d.sidecarPath(id), d.blockPath(id)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("remove block file", "path", p, "err", err)
		}
	}
}

func (s *Store) releaseLocks() {
	for _, f := range s.locks {
		f.Close()
	}
	s.locks = nil
}

// Close releases the directory locks and the recycled MEM files. Blocks stay on disk for
// the next Open; blocks being written are discarded then. Close readers and temporary
// blocks first: their later calls fail with ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.done.Store(true)
	var pool []*recycled
	for _, t := range s.tiers {
		for _, d := range t.dirs {
			pool = append(pool, d.pool...)
			d.pool, d.pooled = nil, 0
		}
	}
	for _, b := range s.blocks {
		if b.readers == 0 && !b.writer && b.mapping != nil {
			unmap(b.mapping)
			b.mapping = nil
		}
	}
	s.mu.Unlock()
	s.discard(pool)
	s.releaseLocks()
	return nil
}

// tierByAlias returns the configured tier with that alias.
func (s *Store) tierByAlias(a TierAlias) (*tier, error) {
	for _, t := range s.tiers {
		if t.alias == a {
			return t, nil
		}
	}
	return nil, fmt.Errorf("tier %q is not configured: %w", a, ErrInvalidConfig)
}

// Stat describes a committed block.
func (s *Store) Stat(id ID) (BlockMeta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return BlockMeta{}, ErrClosed
	}
	b, ok := s.blocks[id]
	if !ok || b.corrupt.Load() {
		return BlockMeta{}, fmt.Errorf("stat block %v: %w", id, ErrNotFound)
	}
	return b.meta(), nil
}

// Blocks describes every committed block, sorted by ID, for registration with the master.
func (s *Store) Blocks() []BlockMeta {
	s.mu.Lock()
	out := make([]BlockMeta, 0, len(s.blocks))
	for _, b := range s.blocks {
		if !b.corrupt.Load() {
			out = append(out, b.meta())
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Usage reports capacity and used space per tier and directory, fastest tier first.
func (s *Store) Usage() []TierUsage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TierUsage, 0, len(s.tiers))
	for _, t := range s.tiers {
		tu := TierUsage{Alias: t.alias}
		for _, d := range t.dirs {
			tu.Dirs = append(tu.Dirs, DirUsage{Path: d.path, Capacity: d.quota, Used: d.used, Recycled: d.pooled, Blocks: d.nblocks})
			tu.Capacity += d.quota
			tu.Used += d.used
		}
		out = append(out, tu)
	}
	return out
}

// Pin keeps a block from eviction until Unpin. Pinning is a flag, not a count. It applies
// to committed blocks and to blocks being written. Pins are not kept across restarts.
func (s *Store) Pin(id ID) error { return s.setFlag(id, func(p *bool) { *p = true }, nil) }

// Unpin lets the evictor take a block again.
func (s *Store) Unpin(id ID) error { return s.setFlag(id, func(p *bool) { *p = false }, nil) }

// SetProtected marks a block as holding data that cannot be rebuilt cheaply (an output of
// un-checkpointed lineage): the evictor takes every unprotected evictable block of a
// directory before any protected one. Not kept across restarts.
func (s *Store) SetProtected(id ID, protected bool) error {
	return s.setFlag(id, nil, func(p *bool) { *p = protected })
}

func (s *Store) setFlag(id ID, pin, protect func(*bool)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var pinned, protected *bool
	if b, ok := s.blocks[id]; ok {
		pinned, protected = &b.pinned, &b.protected
	} else if t, ok := s.temps[id]; ok {
		pinned, protected = &t.pinned, &t.protected
	} else {
		return fmt.Errorf("block %v: %w", id, ErrNotFound)
	}
	if pin != nil {
		pin(pinned)
	}
	if protect != nil {
		protect(protected)
	}
	return nil
}

// emit reports an event to Config.OnEvent. Call it without s.mu held.
func (s *Store) emit(e Event) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}
