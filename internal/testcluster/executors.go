package testcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/executor"
	"github.com/sluicedata/sluice/master"
)

// executorNode is one executor slot: its MEM directory and its address stay across
// restarts, as those of a node. Its fields are used from the test's goroutine only,
// except errs, which the Run goroutine appends to before closing done.
type executorNode struct {
	idx     int
	memDir  string
	rpcAddr string
	attempt int
	taskID  string
	e       *executor.Executor
	cancel  context.CancelFunc
	done    chan struct{}
	errs    []error
}

func (n *executorNode) running() bool { return n.cancel != nil }

// stop ends the executor's Run (a clean stop: it keeps its blocks) and waits for it.
func (n *executorNode) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	<-n.done
	n.cancel = nil
}

// startExecutor runs a new Executor in slot n and waits until it listens.
func (c *Cluster) startExecutor(n *executorNode) {
	c.t.Helper()
	n.attempt++
	n.taskID = fmt.Sprintf("executor-%d-%d", n.idx, n.attempt)
	cfg := executor.DefaultConfig()
	cfg.Masters = c.MasterAddrs()
	cfg.RPCAddr = n.rpcAddr
	cfg.HTTPAddr = ""
	if c.cfg.ExecutorHost != nil {
		cfg.AdvertiseHost = c.cfg.ExecutorHost(n.idx)
	}
	cfg.Store = blocks.DefaultConfig()
	cfg.Store.Tiers = []blocks.TierConfig{{Alias: blocks.MEM, Dirs: []blocks.DirConfig{{Path: n.memDir, Quota: c.cfg.MemSize}}}}
	cfg.UFS = c.reg
	cfg.HeartbeatInterval = c.cfg.HeartbeatInterval
	cfg.MaxBackoff = 200 * time.Millisecond
	cfg.RPCTimeout = 10 * time.Second
	cfg.TaskID = n.taskID
	cfg.ShutdownGrace = time.Second
	cfg.Logger = c.log.With("executor", n.idx)
	if c.cfg.ExecutorConfig != nil {
		c.cfg.ExecutorConfig(n.idx, &cfg)
	}
	e, err := executor.New(cfg)
	if err != nil {
		c.t.Fatalf("testcluster: executor %d: %v", n.idx, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.e, n.cancel, n.done = e, cancel, make(chan struct{})
	go func() {
		defer close(n.done)
		if err := e.Run(ctx); err != nil {
			n.errs = append(n.errs, fmt.Errorf("executor %d: %w", n.idx, err))
		}
	}()
	select {
	case <-e.Ready():
		n.rpcAddr = e.Addr() // a restart listens on the same port
	case <-n.done:
		c.t.Fatalf("testcluster: executor %d did not start: %v", n.idx, errors.Join(n.errs...))
	case <-time.After(30 * time.Second):
		c.t.Fatalf("testcluster: executor %d did not listen within 30 s", n.idx)
	}
}

// Executor returns executor i, or nil while it is stopped.
func (c *Cluster) Executor(i int) *executor.Executor {
	if !c.executors[i].running() {
		return nil
	}
	return c.executors[i].e
}

// ExecutorTaskID returns the task ID executor i reported at its last start
// ("executor-<i>-<attempt>"), as a framework scheduler would have set it.
func (c *Cluster) ExecutorTaskID(i int) string { return c.executors[i].taskID }

// ExecutorMemDir returns the MEM tier directory of executor slot i.
func (c *Cluster) ExecutorMemDir(i int) string { return c.executors[i].memDir }

// ExecutorIndex returns the slot of the running executor whose master-assigned ID is id,
// or -1.
func (c *Cluster) ExecutorIndex(id uint64) int {
	for i, n := range c.executors {
		if n.running() && n.e.ExecutorID() == id {
			return i
		}
	}
	return -1
}

// StopExecutor stops executor i cleanly; its blocks stay in its directory for
// RestartExecutor. The master notices through the heartbeat timeout.
func (c *Cluster) StopExecutor(i int) {
	c.t.Helper()
	c.executors[i].stop()
}

// KillExecutor stops executor i as a lost node: it stops serving, its storage is wiped,
// and the leader is told at once (as the framework scheduler does), so blocks that
// lived only there are gone and un-persisted files that had one become LOST.
func (c *Cluster) KillExecutor(i int) {
	c.t.Helper()
	n := c.executors[i]
	n.stop()
	if err := os.RemoveAll(n.memDir); err != nil {
		c.t.Fatalf("testcluster: wipe executor %d: %v", i, err)
	}
	c.reportLost(n.taskID)
}

// reportLost tells the leader that the executor with taskID is lost, retrying while
// leadership moves.
func (c *Cluster) reportLost(taskID string) {
	c.t.Helper()
	var last error
	ok := poll(30*time.Second, func() bool {
		l := c.Leader()
		if l < 0 {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		last = c.masters[l].m.ReportExecutorLost(ctx, taskID)
		// An unknown executor was already declared lost (heartbeat timeout) or never
		// registered: nothing is left to report.
		return last == nil || errors.Is(last, master.ErrNotFound)
	})
	if !ok {
		c.t.Fatalf("testcluster: report executor %s lost: %v", taskID, last)
	}
}

// RestartExecutor starts executor i again (stopping it cleanly first if it runs), on
// the same address and directory, and waits until it has registered with the leader.
func (c *Cluster) RestartExecutor(i int) {
	c.t.Helper()
	n := c.executors[i]
	n.stop()
	c.startExecutor(n)
	c.waitForExecutor(n.taskID)
}

// LiveExecutors returns the executors the leader lists as LIVE (nil when no master
// answers).
func (c *Cluster) LiveExecutors() []*sluicepb.ExecutorInfo {
	c.t.Helper()
	cl, err := c.pollClient()
	if err != nil {
		return nil
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	infos, err := cl.Executors(ctx, false)
	if err != nil {
		return nil
	}
	var live []*sluicepb.ExecutorInfo
	for _, info := range infos {
		if info.GetState() == sluicepb.ExecutorState_EXECUTOR_STATE_LIVE {
			live = append(live, info)
		}
	}
	return live
}

// WaitForExecutors waits (up to 30 s) until the leader lists n LIVE executors, each
// of them a running executor of this cluster at its current start.
func (c *Cluster) WaitForExecutors(n int) {
	c.t.Helper()
	c.waitFor(30*time.Second, fmt.Sprintf("%d live executors", n), func() bool {
		live := c.LiveExecutors()
		if len(live) != n {
			return false
		}
		for _, info := range live {
			if !c.isCurrent(info.GetTaskId()) {
				return false
			}
		}
		return true
	})
}

// waitForExecutor waits until the leader lists the executor with taskID as LIVE.
func (c *Cluster) waitForExecutor(taskID string) {
	c.t.Helper()
	c.waitFor(30*time.Second, "executor "+taskID+" to register", func() bool {
		for _, info := range c.LiveExecutors() {
			if info.GetTaskId() == taskID {
				return true
			}
		}
		return false
	})
}

// isCurrent reports whether taskID is the current start of a running executor.
func (c *Cluster) isCurrent(taskID string) bool {
	for _, n := range c.executors {
		if n.running() && n.taskID == taskID {
			return true
		}
	}
	return false
}

// pollClient is a short-lived client for the cluster's own checks, quiet and quick to
// give up, so that a poll loop decides when to stop.
func (c *Cluster) pollClient() (*client.Client, error) {
	cfg := c.ClientConfig()
	cfg.MaxRetries = 1
	cfg.DialTimeout = 2 * time.Second
	cfg.RPCTimeout = 5 * time.Second
	cfg.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return client.New(ctx, cfg)
}
