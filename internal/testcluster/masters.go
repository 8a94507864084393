package testcluster

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sluicedata/sluice/master"
)

// Masters talk Raft over in-memory transports (raft.NewInmemTransport), one per master,
// connected to each other; Partition cuts a master's links and Heal restores them. The
// gRPC servers listen on loopback ports that each master keeps across restarts.

// masterNode is one master slot. Its fields are used from the test's goroutine only,
// except errs, which the Run goroutine appends to before closing done.
type masterNode struct {
	idx         int
	raftAddr    raft.ServerAddress
	rpcAddr     string
	journalDir  string
	transport   *raft.InmemTransport
	m           *master.Master
	cancel      context.CancelFunc
	done        chan struct{}
	errs        []error
	partitioned bool
}

// running reports whether the master's Run is in progress.
func (n *masterNode) running() bool { return n.cancel != nil }

// stop ends the master's Run and waits for it.
func (n *masterNode) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	<-n.done
	n.cancel = nil
}

func (n *masterNode) closeTransport() {
	if n.transport != nil {
		n.transport.Close()
		n.transport = nil
	}
}

// startMasters creates every master slot and starts them.
func (c *Cluster) startMasters() {
	c.t.Helper()
	root := c.t.TempDir()
	for i := range c.cfg.Masters {
		addr, err := freeAddr()
		if err != nil {
			c.t.Fatalf("testcluster: %v", err)
		}
		c.masters = append(c.masters, &masterNode{
			idx:        i,
			raftAddr:   raft.ServerAddress(fmt.Sprintf("master-%d", i)),
			rpcAddr:    addr,
			journalDir: filepath.Join(root, fmt.Sprintf("master-%d-journal", i)),
		})
	}
	for _, n := range c.masters {
		c.startMaster(n)
	}
}

// startMaster gives n a new transport, links it to the running masters and runs a new
// Master on n's journal and addresses.
func (c *Cluster) startMaster(n *masterNode) {
	c.t.Helper()
	_, n.transport = raft.NewInmemTransportWithTimeout(n.raftAddr, 2*time.Second)
	n.partitioned = false
	for _, o := range c.masters {
		if o != n && o.transport != nil && !o.partitioned {
			connect(n, o)
		}
	}
	cfg := master.DefaultConfig()
	cfg.RPCAddr = n.rpcAddr
	cfg.HTTPAddr = ""
	cfg.Journal.Dir = n.journalDir
	cfg.Journal.Transport = n.transport
	cfg.PeerRPCAddrs = map[string]string{}
	if len(c.masters) > 1 {
		for _, o := range c.masters {
			cfg.Journal.Peers = append(cfg.Journal.Peers, string(o.raftAddr))
			cfg.PeerRPCAddrs[string(o.raftAddr)] = o.rpcAddr
		}
	}
	cfg.RootUFS = c.rootUFS
	cfg.RootUFSOptions = maps.Clone(c.cfg.RootUFSOptions)
	cfg.UFS = c.reg
	cfg.HeartbeatInterval = c.cfg.HeartbeatInterval
	cfg.HeartbeatTimeout = c.cfg.HeartbeatTimeout
	cfg.LostCheckInterval = min(cfg.LostCheckInterval, c.cfg.HeartbeatTimeout/4)
	cfg.DefaultBlockSize = c.cfg.BlockSize
	cfg.PersistRetryBase = 50 * time.Millisecond
	cfg.PersistRetryMax = time.Second
	cfg.Logger = c.log.With("master", n.idx)
	if c.cfg.MasterConfig != nil {
		c.cfg.MasterConfig(n.idx, &cfg)
	}
	m, err := master.New(cfg)
	if err != nil {
		c.t.Fatalf("testcluster: master %d: %v", n.idx, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.m, n.cancel, n.done = m, cancel, make(chan struct{})
	go func() {
		defer close(n.done)
		if err := m.Run(ctx); err != nil {
			n.errs = append(n.errs, fmt.Errorf("master %d: %w", n.idx, err))
		}
	}()
}

// connect links the Raft transports of two masters both ways.
func connect(a, b *masterNode) {
	a.transport.Connect(b.raftAddr, b.transport)
	b.transport.Connect(a.raftAddr, a.transport)
}

// disconnect cuts the Raft links of two masters both ways.
func disconnect(a, b *masterNode) {
	a.transport.Disconnect(b.raftAddr)
	b.transport.Disconnect(a.raftAddr)
}

// MasterAddrs returns the gRPC addresses of every master, running or not.
func (c *Cluster) MasterAddrs() []string {
	out := make([]string, len(c.masters))
	for i, n := range c.masters {
		out[i] = n.rpcAddr
	}
	return out
}

// Master returns master i, or nil while it is stopped.
func (c *Cluster) Master(i int) *master.Master {
	if !c.masters[i].running() {
		return nil
	}
	return c.masters[i].m
}

// Leader returns the index of a running master that leads and is ready to serve, or -1.
func (c *Cluster) Leader() int {
	for i, n := range c.masters {
		if n.running() && n.m.IsLeader() {
			return i
		}
	}
	return -1
}

// WaitForLeader waits (up to 30 s) until a running master leads and returns its index.
func (c *Cluster) WaitForLeader() int {
	c.t.Helper()
	c.waitFor(30*time.Second, "a leader", func() bool { return c.Leader() >= 0 })
	return c.Leader()
}

// StopMaster stops master i (its journal stays) and cuts it off the others.
func (c *Cluster) StopMaster(i int) {
	c.t.Helper()
	n := c.masters[i]
	n.stop()
	if n.transport == nil {
		return
	}
	for _, o := range c.masters {
		if o != n && o.transport != nil {
			disconnect(n, o)
		}
	}
	n.closeTransport()
}

// RestartMaster stops master i if it runs and starts it again on its journal and
// addresses. It does not wait for a leader; see WaitForLeader and WaitForExecutors.
func (c *Cluster) RestartMaster(i int) {
	c.t.Helper()
	c.StopMaster(i)
	c.startMaster(c.masters[i])
}

// Partition cuts master i's Raft links to every other master (clients and executors
// still reach it). Heal restores them.
func (c *Cluster) Partition(i int) {
	c.t.Helper()
	n := c.masters[i]
	if n.transport == nil || n.partitioned {
		return
	}
	for _, o := range c.masters {
		if o != n && o.transport != nil {
			disconnect(n, o)
		}
	}
	n.partitioned = true
}

// Heal restores the Raft links of a partitioned master i.
func (c *Cluster) Heal(i int) {
	c.t.Helper()
	n := c.masters[i]
	if n.transport == nil || !n.partitioned {
		return
	}
	n.partitioned = false
	for _, o := range c.masters {
		if o != n && o.transport != nil && !o.partitioned {
			connect(n, o)
		}
	}
}
