package executor

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/ufs"
)

// ErrInvalidConfig reports a Config that Validate rejects.
var ErrInvalidConfig = errors.New("executor: invalid configuration")

// Default addresses and sizes of DefaultConfig.
const (
	DefaultMasterAddr = "127.0.0.1:19998"
	DefaultRPCAddr    = "127.0.0.1:29998"
	DefaultHTTPAddr   = "127.0.0.1:30000"
	// DefaultChunkSize is the size of the chunks of streamed reads and persist copies.
	DefaultChunkSize = 1 << 20
	// DefaultMaxMessageSize bounds every gRPC message the executor sends or receives.
	DefaultMaxMessageSize = 64 << 20
	// MaxChunkSize is the largest chunk a ReadBlock request may ask for; larger requests
	// are served in chunks of this size.
	MaxChunkSize = 16 << 20
)

// Config configures an Executor. Build it with DefaultConfig and change what you need.
type Config struct {
	// Masters lists the gRPC addresses of the masters (host:port). The executor talks to
	// the one that answers as leader and follows NOT_LEADER redirections to others.
	Masters []string
	// RPCAddr is where the BlockService listens (host:port; port 0 picks a free one).
	RPCAddr string
	// HTTPAddr is where /healthz and /metrics are served; empty turns HTTP off.
	HTTPAddr string
	// AdvertiseHost is the host name reported to the master; clients compare it with
	// their own host name to decide on short-circuit access. It also replaces an
	// unspecified listen host (0.0.0.0, ::) in the advertised addresses.
	AdvertiseHost string
	// Store configures the tiered block store (directories, quotas, eviction). The
	// executor sets Store.OnEvent to its own hook and calls a hook given here after it.
	Store blocks.Config
	// UFS opens under file systems by URI scheme. Mount URIs and options arrive with
	// requests and commands; opened FSes are cached per scheme, authority and options.
	UFS ufs.Registry
	// HeartbeatInterval is the time between heartbeats until the master says otherwise
	// in its RegisterExecutorResponse.
	HeartbeatInterval time.Duration
	// MaxBackoff caps the wait between retries while no master answers.
	MaxBackoff time.Duration
	// RPCTimeout bounds each call to a master.
	RPCTimeout time.Duration
	// TaskID is the framework scheduler's task ID (SLUICE_TASK_ID, read by the command).
	TaskID string
	// PID is the process ID reported to the master.
	PID int
	// Version is the Sluice version reported to the master.
	Version string
	// PersistConcurrency bounds the PERSIST_FILES tasks that run at once.
	PersistConcurrency int
	// ChunkSize is the default chunk of streamed reads and of persist copies.
	ChunkSize int
	// MaxMessageSize bounds gRPC messages in both directions; larger ones are refused
	// with ResourceExhausted.
	MaxMessageSize int
	// LocalLockTimeout is the session timeout of short-circuit clients: a lock taken by
	// OpenLocalBlock or a temporary block of CreateLocalBlock whose client has made no
	// call with the same client_id for this long is released (or aborted).
	LocalLockTimeout time.Duration
	// StreamWindow and ConnWindow are the gRPC flow-control windows per stream and per
	// connection; IOBufferSize sizes the transport's read and write buffers (per
	// connection; the write buffer is shared while idle). The defaults, 1 MiB, 2 MiB and
	// 256 KiB, came out best for 1 MiB chunks in BenchmarkReadBlock: larger windows keep
	// more bytes in flight than the CPU caches hold and were slower on loopback, larger
	// buffers gained nothing measurable. Values
	// below 64 KiB (windows) or 0 (buffers) leave gRPC's defaults.
	StreamWindow, ConnWindow int32
	IOBufferSize             int
	// ShutdownGrace is how long Run waits for in-flight calls when ctx ends before it
	// cuts them off.
	ShutdownGrace time.Duration
	// Logger receives the executor's logs (default slog.Default()).
	Logger *slog.Logger
	// Registry receives the executor's metrics and is served at /metrics; nil makes a
	// fresh registry (never the global default one).
	Registry *prometheus.Registry
}

// DefaultConfig returns the configuration of an executor on this host: master
// 127.0.0.1:19998, BlockService on 127.0.0.1:29998, HTTP on 127.0.0.1:30000, the block
// store's DefaultConfig, heartbeats every second, four concurrent persists, 1 MiB chunks
// and 64 MiB messages. UFS is empty: the caller adds its schemes.
func DefaultConfig() Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return Config{
		Masters:            []string{DefaultMasterAddr},
		RPCAddr:            DefaultRPCAddr,
		HTTPAddr:           DefaultHTTPAddr,
		AdvertiseHost:      host,
		Store:              blocks.DefaultConfig(),
		UFS:                ufs.Registry{},
		HeartbeatInterval:  time.Second,
		MaxBackoff:         5 * time.Second,
		RPCTimeout:         30 * time.Second,
		PID:                os.Getpid(),
		PersistConcurrency: 4,
		ChunkSize:          DefaultChunkSize,
		MaxMessageSize:     DefaultMaxMessageSize,
		LocalLockTimeout:   10 * time.Minute,
		StreamWindow:       1 << 20,
		ConnWindow:         2 << 20,
		IOBufferSize:       256 << 10,
		ShutdownGrace:      5 * time.Second,
	}
}

// Validate reports the first problem of the configuration, wrapping ErrInvalidConfig.
// A nil Logger, Registry or UFS is accepted: New uses defaults (an empty registry
// refuses every UFS URI with ufs.ErrUnknownScheme).
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	if len(c.Masters) == 0 {
		return bad("no master address")
	}
	for _, m := range c.Masters {
		if _, _, err := net.SplitHostPort(m); err != nil {
			return bad("master address %q: %v", m, err)
		}
	}
	if _, _, err := net.SplitHostPort(c.RPCAddr); err != nil {
		return bad("RPC address %q: %v", c.RPCAddr, err)
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			return bad("HTTP address %q: %v", c.HTTPAddr, err)
		}
	}
	if c.AdvertiseHost == "" {
		return bad("empty advertise host")
	}
	if err := c.Store.Validate(); err != nil {
		return fmt.Errorf("store: %w (%w)", err, ErrInvalidConfig)
	}
	switch {
	case c.HeartbeatInterval <= 0:
		return bad("heartbeat interval %v must be positive", c.HeartbeatInterval)
	case c.MaxBackoff <= 0:
		return bad("max backoff %v must be positive", c.MaxBackoff)
	case c.RPCTimeout <= 0:
		return bad("RPC timeout %v must be positive", c.RPCTimeout)
	case c.PersistConcurrency <= 0:
		return bad("persist concurrency %d must be positive", c.PersistConcurrency)
	case c.MaxMessageSize < 64<<10:
		return bad("max message size %d is below 64 KiB", c.MaxMessageSize)
	case c.ChunkSize <= 0 || c.ChunkSize > MaxChunkSize || c.ChunkSize > c.MaxMessageSize-chunkOverhead:
		return bad("chunk size %d must be in (0, min(%d, max message size - %d)]", c.ChunkSize, MaxChunkSize, chunkOverhead)
	case c.LocalLockTimeout <= 0:
		return bad("local lock timeout %v must be positive", c.LocalLockTimeout)
	case c.StreamWindow < 0 || c.ConnWindow < 0 || c.IOBufferSize < 0:
		return bad("gRPC windows and buffer sizes must not be negative")
	case c.ShutdownGrace < 0:
		return bad("shutdown grace %v must not be negative", c.ShutdownGrace)
	}
	return nil
}

// chunkOverhead is room for the fields of a ReadBlockChunk besides its data.
const chunkOverhead = 1 << 10
