package client

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/user"
	"strings"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// DefaultMasterAddress is the master's gRPC address when Config.Masters is empty.
const DefaultMasterAddress = "127.0.0.1:19998"

// DefaultChunkSize is the size of the chunks streamed to and from executors.
const DefaultChunkSize = 1 << 20

// maxChunkSize bounds Config.ChunkSize below the gRPC message limit.
const maxChunkSize = 16 << 20

// WriteType says where the bytes of a new file go and when they reach the UFS. The zero
// value means "the Config's default" (ASYNC_THROUGH unless configured otherwise).
type WriteType int32

// Write types; their values are those of sluicepb.WriteType.
const (
	// WriteDefault uses Config.DefaultWriteType.
	WriteDefault WriteType = 0
	// WriteMustCache writes to executor memory only; the file is not persisted unless asked.
	WriteMustCache WriteType = WriteType(sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	// WriteCacheThrough writes to executor memory and to the UFS before Close returns.
	WriteCacheThrough WriteType = WriteType(sluicepb.WriteType_WRITE_TYPE_CACHE_THROUGH)
	// WriteThrough writes to the UFS only, through one executor; nothing is cached.
	WriteThrough WriteType = WriteType(sluicepb.WriteType_WRITE_TYPE_THROUGH)
	// WriteAsyncThrough writes to executor memory; the master persists the file soon after.
	WriteAsyncThrough WriteType = WriteType(sluicepb.WriteType_WRITE_TYPE_ASYNC_THROUGH)
)

// String returns the write type's name as the CLI spells it ("MUST_CACHE", …).
func (w WriteType) String() string {
	if w == WriteDefault {
		return "DEFAULT"
	}
	return strings.TrimPrefix(sluicepb.WriteType(w).String(), "WRITE_TYPE_")
}

// proto returns the wire value.
func (w WriteType) proto() sluicepb.WriteType { return sluicepb.WriteType(w) }

// ParseWriteType parses a write type name, case-insensitively, with "_" or "-" between
// words: "MUST_CACHE", "cache-through", "THROUGH", "async_through". It returns an error
// wrapping ErrInvalidArgument for anything else.
func ParseWriteType(s string) (WriteType, error) {
	name := "WRITE_TYPE_" + strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
	v, ok := sluicepb.WriteType_value[name]
	if !ok || v == 0 {
		return 0, fmt.Errorf("write type %q (want MUST_CACHE, CACHE_THROUGH, THROUGH or ASYNC_THROUGH): %w", s, ErrInvalidArgument)
	}
	return WriteType(v), nil
}

// ReadType says what a read does with blocks it fetches from the UFS. The zero value
// means "the Config's default" (CACHE unless configured otherwise).
type ReadType int32

// Read types; their values are those of sluicepb.ReadType.
const (
	// ReadDefault uses Config.DefaultReadType.
	ReadDefault ReadType = 0
	// ReadCache caches blocks read from the UFS on an executor (this host's first).
	ReadCache ReadType = ReadType(sluicepb.ReadType_READ_TYPE_CACHE)
	// ReadNoCache never creates a copy.
	ReadNoCache ReadType = ReadType(sluicepb.ReadType_READ_TYPE_NO_CACHE)
	// ReadCachePromote caches like ReadCache and moves cached blocks to the top tier.
	ReadCachePromote ReadType = ReadType(sluicepb.ReadType_READ_TYPE_CACHE_PROMOTE)
)

// String returns the read type's name as the CLI spells it ("CACHE", …).
func (r ReadType) String() string {
	if r == ReadDefault {
		return "DEFAULT"
	}
	return strings.TrimPrefix(sluicepb.ReadType(r).String(), "READ_TYPE_")
}

// ParseReadType parses a read type name like ParseWriteType: "CACHE", "no-cache",
// "CACHE_PROMOTE". It returns an error wrapping ErrInvalidArgument for anything else.
func ParseReadType(s string) (ReadType, error) {
	name := "READ_TYPE_" + strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
	v, ok := sluicepb.ReadType_value[name]
	if !ok || v == 0 {
		return 0, fmt.Errorf("read type %q (want CACHE, NO_CACHE or CACHE_PROMOTE): %w", s, ErrInvalidArgument)
	}
	return ReadType(v), nil
}

// Config configures a Client. Start from DefaultConfig and change what you need; New
// fills zero fields with their defaults, except the booleans, RPCTimeout and
// StreamIdleTimeout, whose zero values mean something (off, no timeout).
type Config struct {
	// Masters are the gRPC addresses (host:port) of the masters; the client finds the leader
	// among them and follows NOT_LEADER answers. Empty means DefaultMasterAddress.
	Masters []string
	// ShortCircuit lets the client read and write blocks of executors on its own host
	// directly through their files. DefaultConfig turns it on; a Config built from
	// scratch has it off.
	ShortCircuit bool
	// ChunkSize is the size of the chunks streamed to and from executors (default 1 MiB).
	ChunkSize int
	// DefaultWriteType is used when CreateOptions.WriteType is WriteDefault
	// (default ASYNC_THROUGH).
	DefaultWriteType WriteType
	// DefaultReadType is used when OpenOptions.ReadType is ReadDefault (default CACHE).
	DefaultReadType ReadType
	// DefaultBlockSize is used when CreateOptions.BlockSize is 0; 0 means the master's
	// default (64 MiB).
	DefaultBlockSize int64
	// DialTimeout bounds New's search for a reachable master and each connection attempt
	// (default 5 s).
	DialTimeout time.Duration
	// RPCTimeout bounds each metadata call to a master and each control call to an
	// executor; 0 means only the caller's context bounds them (default 30 s). Calls that
	// wait by contract (Persist with Wait, reads of LOST files waiting for recompute) use
	// the caller's context alone.
	RPCTimeout time.Duration
	// StreamIdleTimeout cancels a block stream (read or write) that makes no progress for
	// this long, so that a hung executor is failed over like a dead one; 0 means never
	// (default 1 min). Keep it above the time an executor may need to read a block from a
	// slow UFS before its first chunk.
	StreamIdleTimeout time.Duration
	// MaxRetries is how many rounds over the masters a call makes when masters are
	// unreachable or have no leader, with a growing pause between rounds (default 4).
	MaxRetries int
	// RetryBackoff is the first pause between rounds; it doubles up to 2 s (default 100 ms).
	RetryBackoff time.Duration
	// RecomputeWait bounds how long Open, or a read whose executors died under it, waits
	// for a LOST file to be recomputed before it fails with ErrFileLost (default 10 min,
	// as in the master; the caller's context may end it sooner).
	RecomputeWait time.Duration
	// MaxMessageSize is the largest gRPC message sent or received (default 64 MiB).
	MaxMessageSize int
	// User is the owner of files and directories the client creates (default: the current
	// OS user; empty lets the master choose).
	User string
	// Group is the group of created files; empty lets the master choose.
	Group string
	// Hostname is this client's host name, compared with executors' host names to choose
	// short-circuit access and local executors (default os.Hostname()).
	Hostname string
	// Logger receives the client's debug and warning logs (default slog.Default()).
	Logger *slog.Logger
}

// DefaultConfig returns the default configuration: the master on 127.0.0.1:19998,
// short-circuit on, 1 MiB chunks, ASYNC_THROUGH writes and CACHE reads, owner the current
// user.
func DefaultConfig() Config {
	cfg := Config{
		Masters:           []string{DefaultMasterAddress},
		ShortCircuit:      true,
		ChunkSize:         DefaultChunkSize,
		DefaultWriteType:  WriteAsyncThrough,
		DefaultReadType:   ReadCache,
		DialTimeout:       5 * time.Second,
		RPCTimeout:        30 * time.Second,
		StreamIdleTimeout: time.Minute,
		MaxRetries:        4,
		RetryBackoff:      100 * time.Millisecond,
		RecomputeWait:     10 * time.Minute,
		MaxMessageSize:    64 << 20,
		Logger:            slog.Default(),
	}
	if u, err := user.Current(); err == nil {
		cfg.User = u.Username
	}
	return cfg
}

// Validate checks the configuration and returns an error wrapping ErrInvalidArgument that
// names every bad field. Zero values that have defaults are filled in by New, not refused.
func (c Config) Validate() error {
	var errs []error
	for _, m := range c.Masters {
		if _, _, err := net.SplitHostPort(m); err != nil {
			errs = append(errs, fmt.Errorf("master address %q: %v", m, err))
		}
	}
	if c.ChunkSize < 0 || c.ChunkSize > maxChunkSize {
		errs = append(errs, fmt.Errorf("chunk size %d out of range [0, %d]", c.ChunkSize, maxChunkSize))
	}
	if c.MaxMessageSize != 0 && c.MaxMessageSize < c.ChunkSize+(1<<16) {
		errs = append(errs, fmt.Errorf("max message size %d too small for chunk size %d", c.MaxMessageSize, c.ChunkSize))
	}
	switch c.DefaultWriteType {
	case WriteDefault, WriteMustCache, WriteCacheThrough, WriteThrough, WriteAsyncThrough:
	default:
		errs = append(errs, fmt.Errorf("default write type %d unknown", c.DefaultWriteType))
	}
	switch c.DefaultReadType {
	case ReadDefault, ReadCache, ReadNoCache, ReadCachePromote:
	default:
		errs = append(errs, fmt.Errorf("default read type %d unknown", c.DefaultReadType))
	}
	if c.DefaultBlockSize < 0 {
		errs = append(errs, fmt.Errorf("default block size %d negative", c.DefaultBlockSize))
	}
	if c.DialTimeout < 0 || c.RPCTimeout < 0 || c.RetryBackoff < 0 || c.RecomputeWait < 0 || c.StreamIdleTimeout < 0 {
		errs = append(errs, errors.New("timeouts must not be negative"))
	}
	if c.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("max retries %d negative", c.MaxRetries))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("client config: %w: %w", errors.Join(errs...), ErrInvalidArgument)
}

// withDefaults fills zero fields with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if len(c.Masters) == 0 {
		c.Masters = d.Masters
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = d.ChunkSize
	}
	if c.DefaultWriteType == WriteDefault {
		c.DefaultWriteType = d.DefaultWriteType
	}
	if c.DefaultReadType == ReadDefault {
		c.DefaultReadType = d.DefaultReadType
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = d.MaxRetries
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = d.RetryBackoff
	}
	if c.RecomputeWait == 0 {
		c.RecomputeWait = d.RecomputeWait
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = d.MaxMessageSize
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}
