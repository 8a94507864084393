package master

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os/user"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicedata/sluice/master/journal"
	"github.com/sluicedata/sluice/ufs"
)

// ErrInvalidConfig reports a Config that Validate rejects.
var ErrInvalidConfig = errors.New("master: invalid config")

// Config configures a Master. Start from DefaultConfig and set at least Journal.Dir,
// RootUFS and UFS.
type Config struct {
	// RPCAddr is the host:port of the gRPC services (FileSystemMaster, ExecutorMaster,
	// MetaMaster). Port 0 picks a free port (see Master.Addr).
	RPCAddr string
	// AdvertiseRPCAddr is the gRPC address other processes reach this master at; empty
	// means the bound RPCAddr.
	AdvertiseRPCAddr string
	// HTTPAddr is the host:port of the web UI, /metrics and /healthz; empty disables HTTP.
	HTTPAddr string
	// Journal configures the Raft journal (its Dir is required).
	Journal journal.Config
	// PeerRPCAddrs maps the Raft address of every master of the cluster to its gRPC
	// address. A follower uses it to tell clients where the leader is (NOT_LEADER with
	// leader_address); a master missing from it is answered with an empty leader
	// address, and clients then try the next master they know. This master's own entry
	// is added automatically.
	PeerRPCAddrs map[string]string
	// RootUFS is the URI mounted at "/" when a new cluster starts
	// (e.g. file:///var/lib/sluice/ufs); later starts keep the journaled root mount.
	RootUFS string
	// RootUFSOptions configure the root UFS client.
	RootUFSOptions map[string]string
	// UFS opens under file systems by URI scheme; the caller builds it.
	UFS ufs.Registry
	// HeartbeatInterval is how often executors are asked to heartbeat.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long an executor may stay silent before it is declared
	// lost and its blocks are dropped.
	HeartbeatTimeout time.Duration
	// LostCheckInterval is how often the leader looks for silent executors.
	LostCheckInterval time.Duration
	// TTLCheckInterval is how often the leader applies expired TTLs.
	TTLCheckInterval time.Duration
	// PersistConcurrency bounds the persist tasks handed out at once.
	PersistConcurrency int
	// PersistTimeout is how long a persist task may run on an executor without the
	// executor listing it in its heartbeats before it is handed out again.
	PersistTimeout time.Duration
	// PersistRetryBase is the first retry delay of a failed persist; each further failure
	// doubles it, up to PersistRetryMax.
	PersistRetryBase time.Duration
	PersistRetryMax  time.Duration
	// Checkpoint orders (Edge planner) and throttles (bandwidth, bytes in flight) the
	// checkpoints of the persist loop (checkpoint.go).
	Checkpoint CheckpointConfig
	// Recompute bounds the recompute of lost lineage outputs and how long reads wait for
	// it (recompute.go).
	Recompute RecomputeConfig
	// DefaultBlockSize is the block size of files created without one.
	DefaultBlockSize int64
	// MaxMessageSize bounds gRPC messages received and sent, in bytes.
	MaxMessageSize int
	// DefaultOwner and DefaultGroup own inodes created without an owner or group.
	DefaultOwner string
	DefaultGroup string
	// Jobs launches lineage jobs on the framework scheduler; nil means none, and
	// SubmitJob then fails with FAILED_PRECONDITION ("no framework scheduler").
	Jobs JobLauncher
	// LineageGCInterval is how often the leader forgets the lineage of jobs whose
	// outputs and descendants' outputs are all checkpointed.
	LineageGCInterval time.Duration
	// Version is reported by GetMasterInfo.
	Version string
	// Logger receives the master's logs; nil discards them.
	Logger *slog.Logger
	// Registry receives the master's Prometheus metrics; nil means a new registry of its
	// own (served at /metrics either way).
	Registry *prometheus.Registry
}

// DefaultConfig returns the defaults: gRPC on 127.0.0.1:19998, HTTP on 127.0.0.1:19999,
// the journal's defaults, heartbeats every second with a 10 s timeout, 64 MiB blocks,
// 64 MiB messages, four concurrent persists. The default owner is the user running
// the master.
func DefaultConfig() Config {
	owner, group := "sluice", "sluice"
	if u, err := user.Current(); err == nil {
		owner = u.Username
		if g, err := user.LookupGroupId(u.Gid); err == nil {
			group = g.Name
		}
	}
	return Config{
		RPCAddr:            "127.0.0.1:19998",
		HTTPAddr:           "127.0.0.1:19999",
		Journal:            journal.DefaultConfig(),
		HeartbeatInterval:  time.Second,
		HeartbeatTimeout:   10 * time.Second,
		LostCheckInterval:  time.Second,
		TTLCheckInterval:   time.Minute,
		PersistConcurrency: 4,
		PersistTimeout:     10 * time.Minute,
		PersistRetryBase:   time.Second,
		PersistRetryMax:    time.Minute,
		Checkpoint:         DefaultCheckpointConfig(),
		Recompute:          DefaultRecomputeConfig(),
		DefaultBlockSize:   64 << 20,
		MaxMessageSize:     64 << 20,
		LineageGCInterval:  10 * time.Second,
		DefaultOwner:       owner,
		DefaultGroup:       group,
		Version:            "dev",
	}
}

// MaxBlockSize is the largest block size a file may have.
const MaxBlockSize = 4 << 30

// Validate checks the configuration. Errors wrap ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	if _, _, err := net.SplitHostPort(c.RPCAddr); err != nil {
		return bad("RPCAddr %q: %v", c.RPCAddr, err)
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			return bad("HTTPAddr %q: %v", c.HTTPAddr, err)
		}
	}
	if err := c.Journal.Validate(); err != nil {
		return fmt.Errorf("journal: %w: %w", err, ErrInvalidConfig)
	}
	u, err := url.Parse(c.RootUFS)
	switch {
	case c.RootUFS == "" || err != nil || u.Scheme == "":
		return bad("RootUFS %q is not a URI with a scheme", c.RootUFS)
	case c.UFS == nil || c.UFS[u.Scheme] == nil:
		return bad("no UFS factory for the root UFS scheme %q", u.Scheme)
	case c.HeartbeatInterval <= 0 || c.HeartbeatTimeout <= c.HeartbeatInterval:
		return bad("HeartbeatInterval %v must be positive and below HeartbeatTimeout %v", c.HeartbeatInterval, c.HeartbeatTimeout)
	case c.LostCheckInterval <= 0 || c.TTLCheckInterval <= 0:
		return bad("check intervals must be positive")
	case c.PersistConcurrency < 1:
		return bad("PersistConcurrency %d < 1", c.PersistConcurrency)
	case c.PersistTimeout <= 0 || c.PersistRetryBase <= 0 || c.PersistRetryMax < c.PersistRetryBase:
		return bad("persist timeout and retry delays must be positive, PersistRetryMax >= PersistRetryBase")
	case c.DefaultBlockSize <= 0 || c.DefaultBlockSize > MaxBlockSize:
		return bad("DefaultBlockSize %d out of (0, %d]", c.DefaultBlockSize, int64(MaxBlockSize))
	case c.MaxMessageSize < 1<<20:
		return bad("MaxMessageSize %d below 1 MiB", c.MaxMessageSize)
	case c.Checkpoint.Validate() != nil:
		return c.Checkpoint.Validate()
	case c.Recompute.Validate() != nil:
		return c.Recompute.Validate()
	case c.LineageGCInterval <= 0:
		return bad("LineageGCInterval %v must be positive", c.LineageGCInterval)
	}
	return nil
}
