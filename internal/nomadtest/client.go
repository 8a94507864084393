package nomadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// Client is an extra Nomad client agent joined to an Agent's server: one more node on
// this machine, with a node ID of its own. Nomad's distinct_hosts and node constraints
// treat it as another host. Its methods are safe for concurrent use.
type Client struct {
	process
	nodeID string

	stopOnce sync.Once
	stopErr  error
}

// NodeID is the client's node ID.
func (c *Client) NodeID() string { return c.nodeID }

// AddClient starts one more client node joined to a and waits until it is ready with
// the raw_exec driver. It is stopped with a (or when t ends, whichever is first).
func (a *Agent) AddClient(t testing.TB) *Client {
	t.Helper()
	a.mu.Lock()
	n := len(a.clients) + 1
	a.mu.Unlock()
	dir := filepath.Join(a.root, "client"+strconv.Itoa(n))
	c := &Client{process: process{
		name:    fmt.Sprintf("nomad client %d of %s", n, a.addr),
		dataDir: filepath.Join(dir, "data"),
		logPath: filepath.Join(a.root, "client"+strconv.Itoa(n)+".log"),
	}}
	a.mu.Lock()
	a.clients = append(a.clients, c)
	a.mu.Unlock()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nomadtest: log tail of %s:\n%s", c.name, c.logTail())
		}
		if err := c.Stop(); err != nil {
			t.Errorf("nomadtest: stop %s: %v", c.name, err)
		}
	})
	if err := c.start(a, dir, "nomadtest-client-"+strconv.Itoa(n)); err != nil {
		t.Fatalf("nomadtest: %v\nlog tail:\n%s", err, c.logTail())
	}
	return c
}

// start writes the client's configuration, starts it and waits for its node.
func (c *Client) start(a *Agent, dir, name string) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	config := filepath.Join(dir, "client.hcl")
	if err := os.WriteFile(config, []byte(clientHCL(name, a.rpcAddr, ports, rand.IntN(30))), 0o600); err != nil {
		return err
	}
	if err := c.process.start(a.bin, "agent", "-config", a.base, "-config", config); err != nil {
		return err
	}
	api, hc, err := a.apiClient()
	if err != nil {
		return err
	}
	defer hc.CloseIdleConnections()
	return c.waitUntil(func(ctx context.Context) error {
		c.nodeID, err = readyNode(ctx, api, name)
		return err
	})
}

// clientHCL configures a client-only agent on loopback ports joined to the server at
// rpcAddr. no_host_uuid gives it a random node ID: the dev agent's node already has
// the one derived from this machine.
func clientHCL(name, rpcAddr string, ports []int, slot int) string {
	low := 20000 + slot*dynamicPortWindow
	return fmt.Sprintf(`name = %q

ports {
  http = %d
  rpc  = %d
  serf = %d
}

client {
  enabled          = true
  servers          = [%q]
  no_host_uuid     = true
  min_dynamic_port = %d
  max_dynamic_port = %d
}
`, name, ports[0], ports[1], ports[2], rpcAddr, low, low+dynamicPortWindow-1)
}

// Crash kills the client agent alone with SIGKILL, as a machine cut off would stop: its
// tasks keep running but the node stops heartbeating, so the servers mark it down and
// its allocations lost (within seconds with Options.FastHeartbeats). Stop still
// cleans up after it.
func (c *Client) Crash() {
	c.crash()
}

// Stop stops the client agent and the tasks it ran. It is safe to call more than once,
// and after Crash.
func (c *Client) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.process.stop() })
	return c.stopErr
}
