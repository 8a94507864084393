package testcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/executor"
	"github.com/sluicedata/sluice/master"
	"github.com/sluicedata/sluice/ufs"
	"github.com/sluicedata/sluice/ufs/local"
)

// Config describes a test cluster. The zero value is one master and no executor.
type Config struct {
	// Masters is the number of masters (1 or 3 are usual; 0 means 1).
	Masters int
	// Executors is the number of executors.
	Executors int
	// MemSize is each executor's MEM capacity in bytes (default 64 MiB).
	MemSize int64
	// MemRoot is the directory under which executors get their MEM tiers (default
	// t.TempDir()); benchmarks put it on a tmpfs. The cluster removes what it creates.
	MemRoot string
	// BlockSize is the masters' default block size (default 1 MiB, so small files span
	// several blocks).
	BlockSize int64
	// HeartbeatInterval and HeartbeatTimeout are the masters' executor heartbeat timing
	// (defaults 100 ms and 5 s). KillExecutor reports losses at once, as the framework
	// scheduler does, so tests rarely wait for the timeout.
	HeartbeatInterval, HeartbeatTimeout time.Duration
	// ExecutorHost returns the host name executor i reports; nil means this host's name,
	// so clients use short-circuit. Another name makes clients stream over gRPC.
	ExecutorHost func(i int) string
	// RootUFS and RootUFSOptions replace the root UFS (default: a ufs/local directory in
	// t.TempDir(), see Cluster.UFSDir). UFS replaces the registry (default: file only).
	RootUFS        string
	RootUFSOptions map[string]string
	UFS            ufs.Registry
	// MasterConfig and ExecutorConfig, when set, may change each component's
	// configuration after the cluster filled it in (before every start).
	MasterConfig   func(i int, cfg *master.Config)
	ExecutorConfig func(i int, cfg *executor.Config)
	// LogLevel is the level of the components' logs, written to the test's output
	// (default Warn).
	LogLevel slog.Level
}

// Cluster is a running in-process cluster. Its methods must be called from the test's
// goroutine (they call t.Fatal); everything stops when the test ends.
type Cluster struct {
	t       testing.TB
	cfg     Config
	log     *slog.Logger
	ufsDir  string
	reg     ufs.Registry
	rootUFS string

	masters   []*masterNode
	executors []*executorNode
}

// New starts a cluster and returns once a master leads and every executor has
// registered. It skips the test under -short. Everything is stopped by t.Cleanup; a
// component whose Run failed fails the test then.
func New(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("testcluster: in-process cluster skipped with -short")
	}
	if cfg.Masters <= 0 {
		cfg.Masters = 1
	}
	if cfg.MemSize <= 0 {
		cfg.MemSize = 64 << 20
	}
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = 1 << 20
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 100 * time.Millisecond
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 5 * time.Second
	}
	if cfg.LogLevel == 0 {
		cfg.LogLevel = slog.LevelWarn
	}
	c := &Cluster{
		t:   t,
		cfg: cfg,
		log: slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: cfg.LogLevel})),
		reg: cfg.UFS,
	}
	if c.reg == nil {
		c.reg = ufs.Registry{"file": local.Factory}
	}
	c.rootUFS = cfg.RootUFS
	if c.rootUFS == "" {
		c.ufsDir = filepath.Join(t.TempDir(), "ufs")
		if err := os.MkdirAll(c.ufsDir, 0o755); err != nil {
			t.Fatalf("testcluster: %v", err)
		}
		c.rootUFS = "file://" + filepath.ToSlash(c.ufsDir)
	}
	t.Cleanup(c.stopAll)

	c.startMasters()
	c.WaitForLeader()
	memRoot := t.TempDir()
	if cfg.MemRoot != "" {
		d, err := os.MkdirTemp(cfg.MemRoot, "testcluster-")
		if err != nil {
			t.Fatalf("testcluster: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		memRoot = d
	}
	for i := range cfg.Executors {
		n := &executorNode{idx: i, memDir: filepath.Join(memRoot, fmt.Sprintf("executor-%d-mem", i)), rpcAddr: "127.0.0.1:0"}
		c.executors = append(c.executors, n)
		c.startExecutor(n)
	}
	c.WaitForExecutors(cfg.Executors)
	return c
}

// UFSDir is the local directory of the default root UFS ("" when Config.RootUFS was
// given).
func (c *Cluster) UFSDir() string { return c.ufsDir }

// RootUFS is the URI of the root UFS.
func (c *Cluster) RootUFS() string { return c.rootUFS }

// Logger is the logger the components write to (the test's output).
func (c *Cluster) Logger() *slog.Logger { return c.log }

// ClientConfig returns a client configuration for this cluster: every master's
// address, fast retries and a short wait for recomputes. Tests may change it.
func (c *Cluster) ClientConfig() client.Config {
	cfg := client.DefaultConfig()
	cfg.Masters = c.MasterAddrs()
	cfg.DialTimeout = 5 * time.Second
	cfg.RPCTimeout = 20 * time.Second
	cfg.RetryBackoff = 20 * time.Millisecond
	cfg.MaxRetries = 8
	cfg.RecomputeWait = 200 * time.Millisecond
	cfg.Logger = c.log.With("component", "client")
	return cfg
}

// Client returns a client of the cluster, closed when the test ends. Options change the
// configuration of ClientConfig first.
func (c *Cluster) Client(t testing.TB, opts ...func(*client.Config)) *client.Client {
	t.Helper()
	cfg := c.ClientConfig()
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.New(ctx, cfg)
	if err != nil {
		t.Fatalf("testcluster: client: %v", err)
	}
	t.Cleanup(func() {
		if err := cl.Close(); err != nil {
			t.Errorf("testcluster: close client: %v", err)
		}
	})
	return cl
}

// stopAll stops every executor, then every master, and reports Run errors.
func (c *Cluster) stopAll() {
	var wg sync.WaitGroup
	for _, n := range c.executors {
		wg.Go(func() { n.stop() })
	}
	wg.Wait()
	for _, n := range c.masters {
		wg.Go(func() { n.stop() })
	}
	wg.Wait()
	for _, n := range c.masters {
		n.closeTransport()
	}
	var errs []error
	for _, n := range c.executors {
		errs = append(errs, n.errs...)
	}
	for _, n := range c.masters {
		errs = append(errs, n.errs...)
	}
	if err := errors.Join(errs...); err != nil {
		c.t.Errorf("testcluster: %v", err)
	}
}

// waitFor polls cond every 10 ms until it holds, failing the test after timeout with
// the message what.
func (c *Cluster) waitFor(timeout time.Duration, what string, cond func() bool) {
	c.t.Helper()
	if !poll(timeout, cond) {
		c.t.Fatalf("testcluster: timed out after %v waiting for %s", timeout, what)
	}
}

// poll checks cond every 10 ms until it holds (true) or timeout passes (false).
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
	return true
}

// syncWriter serializes the writes of the components' goroutines to the test output.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func newTestWriter(t testing.TB) *syncWriter { return &syncWriter{w: t.Output()} }

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// freeAddr returns a loopback address with a port that was free a moment ago. Masters
// need their addresses before they start (every master tells clients where the leader
// is), and keep them across restarts.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
