package nomadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Version is the Nomad version scripts/tools.sh builds; it names the cache folder.
const Version = "v1.6.1"

// ConfigFile is the project's loopback-only agent configuration, relative to the module
// root.
const ConfigFile = "scripts/nomad-dev.hcl"

const (
	// startTimeout bounds the wait for a leader and a ready node; generous because a
	// loaded CI machine running -race tests may start Nomad slowly.
	startTimeout = 90 * time.Second
	// stopGrace is how long a SIGINT gets before the agent is killed.
	stopGrace = 60 * time.Second
	// startAttempts retries a start whose agent exited early (a port taken between
	// probe and bind).
	startAttempts = 3
	// dynamicPortWindow is the size of each agent's own dynamic-port range.
	dynamicPortWindow = 400
)

// markerEnv is set in the agent's environment to its data directory, so that its plugin
// processes (which inherit it) can be found and killed after it stops.
const markerEnv = "SLUICE_NOMADTEST_DATA_DIR"

// errNoBinary reports that no Nomad binary could be found.
var errNoBinary = errors.New("nomadtest: no Nomad binary")

// Agent is a running Nomad dev agent: one server and one client node. Its methods are
// safe for concurrent use.
type Agent struct {
	process
	addr    string
	rpcAddr string
	nodeID  string
	root    string // temporary folder holding the configs, the logs and the data dirs
	bin     string
	base    string // the path of ConfigFile

	// mu guards clients.
	mu      sync.Mutex
	clients []*Client

	stopOnce sync.Once
	stopErr  error
}

// Options change how an agent runs.
type Options struct {
	// FastHeartbeats shortens the server's heartbeat TTL and grace to one second, so a
	// client node that stops heartbeating (Client.Crash) is down, and its allocations
	// lost, within seconds rather than half a minute.
	FastHeartbeats bool
}

// Addr is the agent's HTTP API address, "http://127.0.0.1:port".
func (a *Agent) Addr() string { return a.addr }

// NodeID is the ID of the agent's client node (the only node).
func (a *Agent) NodeID() string { return a.nodeID }

// DataDir is the agent's data directory; allocation directories are under
// DataDir()/alloc/<alloc-id>.
func (a *Agent) DataDir() string { return a.dataDir }

// API returns a Nomad API client for the agent; it is closed when t ends.
func (a *Agent) API(t testing.TB) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: a.addr, HttpClient: newHTTPClient()})
	if err != nil {
		t.Fatalf("nomadtest: API client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Start starts a Nomad dev agent for t and stops it when t ends. It skips t (or fails
// it under CI=true) when no Nomad binary can be found.
func Start(t testing.TB) *Agent {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Agent {
	t.Helper()
	a, err := LaunchWith(opts)
	if err != nil {
		fail(t, err)
		return nil
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nomadtest: log tail of the agent at %s:\n%s", a.addr, a.logTail())
		}
		if err := a.Stop(); err != nil {
			t.Errorf("nomadtest: stop: %v", err)
		}
	})
	return a
}

// fail skips or fails t for a start error, as the package doc says.
func fail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, errNoBinary) {
		msg := fmt.Sprintf("%v; run `make test`, which builds it, or set SLUICE_NOMAD_BIN", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
			return
		}
		t.Skip(msg)
		return
	}
	t.Fatalf("nomadtest: %v", err)
}

var shared struct {
	mu    sync.Mutex
	agent *Agent
	err   error
}

// Shared returns the agent shared by the tests of this test binary, starting it on
// first use. It skips or fails t like Start; a start that failed once is not retried.
// The binary's TestMain must call StopShared after m.Run.
func Shared(t testing.TB) *Agent {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.agent == nil && shared.err == nil {
		shared.agent, shared.err = LaunchWith(Options{})
	}
	if shared.err != nil {
		fail(t, shared.err)
		return nil
	}
	return shared.agent
}

// StopShared stops the agent Shared started, if any, and reports a failure to stop it.
func StopShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.agent == nil {
		return nil
	}
	err := shared.agent.Stop()
	shared.agent, shared.err = nil, errors.New("nomadtest: the shared agent was stopped")
	return err
}

// Launch starts an agent without a test: the caller must Stop it. Its error wraps
// errNoBinary when there is no Nomad binary (Start and Shared turn that into a skip).
func Launch() (*Agent, error) {
	return LaunchWith(Options{})
}

// LaunchWith is Launch with options.
func LaunchWith(opts Options) (*Agent, error) {
	bin, err := findBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoBinary, err)
	}
	base, err := findConfig()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "nomadtest-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for i := range startAttempts {
		a := &Agent{
			process: process{
				name:    "nomad dev agent",
				dataDir: filepath.Join(root, fmt.Sprintf("data%d", i)),
				logPath: filepath.Join(root, "agent.log"),
			},
			root: root, bin: bin, base: base,
		}
		if lastErr = a.start(opts); lastErr == nil {
			return a, nil
		}
		tail := a.logTail()
		_ = a.process.stop()
		if !errors.Is(lastErr, errExited) {
			break
		}
		lastErr = fmt.Errorf("%w\nlog tail:\n%s", lastErr, tail)
	}
	_ = removeUnlessMounted(root)
	return nil, fmt.Errorf("start %s: %w", bin, lastErr)
}

// start runs one attempt: it writes the port configuration, starts the agent and waits
// until it is ready. On failure the caller stops the process.
func (a *Agent) start(opts Options) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	extra := portsHCL(ports, rand.IntN(30))
	if opts.FastHeartbeats {
		extra += fastHeartbeatsHCL
	}
	portsConfig := filepath.Join(a.root, "ports.hcl")
	if err := os.WriteFile(portsConfig, []byte(extra), 0o600); err != nil {
		return err
	}
	a.addr = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	a.rpcAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	if err := a.process.start(a.bin, "agent", "-dev", "-bind", "127.0.0.1", "-config", a.base, "-config", portsConfig); err != nil {
		return err
	}
	c, hc, err := a.apiClient()
	if err != nil {
		return err
	}
	defer hc.CloseIdleConnections()
	return a.waitUntil(func(ctx context.Context) error {
		leader, err := c.Status().Leader()
		if err != nil {
			return err
		}
		if leader == "" {
			return errors.New("no leader yet")
		}
		a.nodeID, err = readyNode(ctx, c, "")
		return err
	})
}

// fastHeartbeatsHCL is the server configuration of Options.FastHeartbeats.
const fastHeartbeatsHCL = `
server {
  heartbeat_grace   = "1s"
  min_heartbeat_ttl = "1s"
}
`

// portsHCL is the second configuration file: the agent's own ports and a dynamic-port
// window (slot of 30 in Nomad's default 20000-32000 range) for the tasks it places.
func portsHCL(ports []int, slot int) string {
	low := 20000 + slot*dynamicPortWindow
	return fmt.Sprintf(`ports {
  http = %d
  rpc  = %d
  serf = %d
}

client {
  min_dynamic_port = %d
  max_dynamic_port = %d
}
`, ports[0], ports[1], ports[2], low, low+dynamicPortWindow-1)
}

// apiClient returns a client of the agent's API and its HTTP client, whose idle
// connections the caller closes.
func (a *Agent) apiClient() (*api.Client, *http.Client, error) {
	hc := newHTTPClient()
	c, err := api.NewClient(&api.Config{Address: a.addr, HttpClient: hc})
	return c, hc, err
}

// readyNode returns the ID of a ready, eligible node with a healthy raw_exec driver,
// named name unless name is empty.
func readyNode(ctx context.Context, c *api.Client, name string) (string, error) {
	nodes, _, err := c.Nodes().List((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return "", err
	}
	for _, n := range nodes {
		d := n.Drivers["raw_exec"]
		if (name == "" || n.Name == name) && n.Status == api.NodeStatusReady &&
			n.SchedulingEligibility == api.NodeSchedulingEligible && d != nil && d.Detected && d.Healthy {
			return n.ID, nil
		}
	}
	return "", fmt.Errorf("no ready node %q with raw_exec among %d", name, len(nodes))
}

// Stop stops the agent's extra clients, then the agent: SIGINT, SIGKILL after a grace
// period, then the processes it left behind, then its temporary folder. It is safe to
// call more than once.
func (a *Agent) Stop() error {
	a.stopOnce.Do(func() {
		a.mu.Lock()
		clients := a.clients
		a.mu.Unlock()
		for _, c := range clients {
			a.stopErr = errors.Join(a.stopErr, c.Stop())
		}
		a.stopErr = errors.Join(a.stopErr, a.process.stop())
		if err := removeUnlessMounted(a.root); err != nil {
			a.stopErr = errors.Join(a.stopErr, err)
		}
	})
	return a.stopErr
}

// LogTail returns the last few KiB of the agent's log.
func (a *Agent) LogTail() string { return a.logTail() }
