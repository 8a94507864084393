package journal

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Config configures a Journal. Start from DefaultConfig.
type Config struct {
	// Dir holds the Raft log and stable store (raft.db, bbolt) and the snapshots
	// (snapshots/). Required; created if missing.
	Dir string
	// BindAddr is the host:port the Raft TCP transport listens on.
	BindAddr string
	// AdvertiseAddr is the address other masters reach this one at; empty means
	// BindAddr, which must then not be an unspecified address (0.0.0.0).
	AdvertiseAddr string
	// Peers lists the Raft addresses of every master of the cluster, this one
	// included, for the first start of a new cluster; empty means a single-node
	// cluster. Each server's Raft ID is its address. Ignored once Dir holds state.
	Peers []string
	// SnapshotThreshold is how many log entries since the last snapshot trigger a new
	// one (checked every SnapshotInterval); TrailingLogs how many entries a snapshot
	// keeps in the log, so a slightly lagging follower catches up without one.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// SnapshotRetain is how many snapshots are kept on disk.
	SnapshotRetain int
	// HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout and CommitTimeout are
	// Raft's timing (see raft.Config). Lower values elect faster and tolerate less
	// latency; LeaderLeaseTimeout must not exceed HeartbeatTimeout.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// Logger receives the journal's and Raft's logs (Raft's levels shifted down, see
	// hclog.go); nil discards them.
	Logger *slog.Logger
	// Transport replaces the TCP transport (tests use raft.NewInmemTransport); its
	// LocalAddr is this server's address and ID. The Journal does not close it.
	Transport raft.Transport
}

// DefaultConfig returns the defaults: Raft on 127.0.0.1:19200, single node, a snapshot
// every 8192 entries (checked every 2 minutes) keeping 10240 trailing entries, two
// snapshots retained, and timeouts shorter than Raft's so a single master leads within
// about a second of starting.
func DefaultConfig() Config {
	return Config{
		BindAddr:           "127.0.0.1:19200",
		SnapshotThreshold:  8192,
		SnapshotInterval:   2 * time.Minute,
		TrailingLogs:       10240,
		SnapshotRetain:     2,
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
	}
}

// ErrInvalidConfig reports a Config that Validate rejects.
var ErrInvalidConfig = errors.New("journal: invalid config")

// Validate checks the configuration. Errors wrap ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	switch {
	case c.Dir == "":
		return bad("no Dir")
	case c.SnapshotThreshold == 0 || c.TrailingLogs == 0 || c.SnapshotInterval <= 0 || c.SnapshotRetain < 1:
		return bad("snapshot threshold %d, trailing logs %d, interval %v, retain %d must be positive",
			c.SnapshotThreshold, c.TrailingLogs, c.SnapshotInterval, c.SnapshotRetain)
	case c.HeartbeatTimeout < 5*time.Millisecond || c.ElectionTimeout < 5*time.Millisecond ||
		c.LeaderLeaseTimeout < 5*time.Millisecond || c.CommitTimeout <= 0:
		return bad("Raft timeouts must be at least 5ms")
	case c.LeaderLeaseTimeout > c.HeartbeatTimeout:
		return bad("leader lease timeout %v exceeds heartbeat timeout %v", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.Transport == nil {
		if _, _, err := net.SplitHostPort(c.BindAddr); err != nil {
			return bad("bind address %q: %v", c.BindAddr, err)
		}
		adv := c.advertise()
		host, _, err := net.SplitHostPort(adv)
		if err != nil {
			return bad("advertise address %q: %v", adv, err)
		}
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			return bad("advertise address %q must be a reachable IP address", adv)
		}
	}
	seen := map[string]bool{}
	for _, p := range c.Peers {
		if _, _, err := net.SplitHostPort(p); err != nil && c.Transport == nil {
			return bad("peer %q: %v", p, err)
		}
		if seen[p] {
			return bad("peer %q twice", p)
		}
		seen[p] = true
	}
	if len(c.Peers) > 0 && c.Transport == nil && !slices.Contains(c.Peers, c.advertise()) {
		return bad("peers %v do not include this master's address %s", c.Peers, c.advertise())
	}
	return nil
}

func (c Config) advertise() string {
	if c.AdvertiseAddr != "" {
		return c.AdvertiseAddr
	}
	return c.BindAddr
}

func resolveTCP(addr string) (*net.TCPAddr, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("advertise address %q: %v: %w", addr, err, ErrInvalidConfig)
	}
	return a, nil
}
