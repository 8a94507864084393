package nomadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	stopGrace = 20 * time.Second
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
	addr    string
	nodeID  string
	root    string // temporary folder holding the config, the log and the data dir
	dataDir string
	logPath string

	cmd    *exec.Cmd
	exited chan struct{}
	// waitErr is the agent's exit status, set before exited is closed.
	waitErr error

	stopOnce sync.Once
	stopErr  error
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
	a, err := Launch()
	if err != nil {
		fail(t, err)
		return nil
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nomadtest: log tail of the agent at %s:\n%s", a.addr, a.LogTail())
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
		shared.agent, shared.err = Launch()
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
			root:    root,
			dataDir: filepath.Join(root, fmt.Sprintf("data%d", i)),
			logPath: filepath.Join(root, "agent.log"),
		}
		if lastErr = a.start(bin, base); lastErr == nil {
			return a, nil
		}
		tail := a.LogTail()
		a.cleanup()
		if !errors.Is(lastErr, errExited) {
			break
		}
		lastErr = fmt.Errorf("%w\nlog tail:\n%s", lastErr, tail)
	}
	_ = os.RemoveAll(root)
	return nil, fmt.Errorf("start %s: %w", bin, lastErr)
}

var errExited = errors.New("nomad agent exited before it was ready")

// start runs one attempt: it writes the port configuration, starts the agent and waits
// until it is ready. On failure the caller cleans up.
func (a *Agent) start(bin, baseConfig string) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(a.dataDir, 0o700); err != nil {
		return err
	}
	portsConfig := filepath.Join(a.root, "ports.hcl")
	if err := os.WriteFile(portsConfig, []byte(portsHCL(ports, rand.IntN(30))), 0o600); err != nil {
		return err
	}
	logFile, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child holds its own descriptor
	a.cmd = exec.Command(bin, "agent", "-dev", "-bind", "127.0.0.1",
		"-config", baseConfig, "-config", portsConfig, "-data-dir", a.dataDir)
	a.cmd.Env = append(environWithoutNomad(), markerEnv+"="+a.dataDir)
	a.cmd.Stdout = logFile
	a.cmd.Stderr = logFile
	a.cmd.SysProcAttr = sysProcAttr()
	if err := a.cmd.Start(); err != nil {
		return err
	}
	a.exited = make(chan struct{})
	go func() {
		a.waitErr = a.cmd.Wait()
		close(a.exited)
	}()
	a.addr = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	return a.waitReady()
}

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

// waitReady polls the agent until it has a leader and a ready, eligible node with a
// healthy raw_exec driver, the agent exits or the start deadline passes.
func (a *Agent) waitReady() error {
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	c, err := api.NewClient(&api.Config{Address: a.addr, HttpClient: hc})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var last error
		if a.nodeID, last = readyNode(ctx, c); last == nil {
			return nil
		}
		select {
		case <-a.exited:
			return fmt.Errorf("%w: %v", errExited, a.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("nomad agent at %s not ready after %v (last: %v)", a.addr, startTimeout, last)
		case <-tick.C:
		}
	}
}

// readyNode returns the ID of a ready node with a healthy raw_exec driver once the
// cluster has a leader.
func readyNode(ctx context.Context, c *api.Client) (string, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	leader, err := c.Status().Leader()
	if err != nil {
		return "", err
	}
	if leader == "" {
		return "", errors.New("no leader yet")
	}
	nodes, _, err := c.Nodes().List(q)
	if err != nil {
		return "", err
	}
	for _, n := range nodes {
		d := n.Drivers["raw_exec"]
		if n.Status == api.NodeStatusReady && n.SchedulingEligibility == api.NodeSchedulingEligible &&
			d != nil && d.Detected && d.Healthy {
			return n.ID, nil
		}
	}
	return "", fmt.Errorf("no ready node with raw_exec among %d", len(nodes))
}

// Stop stops the agent: SIGINT, SIGKILL after a grace period, then the processes it
// left behind, then its temporary folder. It is safe to call more than once.
func (a *Agent) Stop() error {
	a.stopOnce.Do(func() {
		a.stopErr = a.cleanup()
		if err := removeUnlessMounted(a.root); err != nil && a.stopErr == nil {
			a.stopErr = err
		}
	})
	return a.stopErr
}

// cleanup stops the agent process of one attempt and kills its leftovers.
func (a *Agent) cleanup() error {
	var err error
	if a.cmd != nil && a.cmd.Process != nil {
		_ = a.cmd.Process.Signal(os.Interrupt)
		timer := time.NewTimer(stopGrace)
		select {
		case <-a.exited:
		case <-timer.C:
			_ = a.cmd.Process.Kill()
			<-a.exited
			err = fmt.Errorf("nomad agent at %s ignored SIGINT for %v", a.addr, stopGrace)
		}
		timer.Stop()
		killGroup(a.cmd.Process.Pid)
	}
	if a.dataDir != "" {
		killByEnviron(a.dataDir)
	}
	return err
}

// LogTail returns the last few KiB of the agent's log.
func (a *Agent) LogTail() string {
	b, err := os.ReadFile(a.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const max = 8 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// newHTTPClient is a client with a transport of its own, so closing its idle
// connections leaves no goroutine behind (goleak).
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil, // loopback only: never through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     30 * time.Second,
	}}
}

// findBinary looks for Nomad in $SLUICE_NOMAD_BIN, the cache folder of scripts/tools.sh
// and $PATH, in that order.
func findBinary() (string, error) {
	if p := os.Getenv("SLUICE_NOMAD_BIN"); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("SLUICE_NOMAD_BIN=%s is not an executable file", p)
	}
	if dir, ok := cacheDir(); ok {
		p := filepath.Join(dir, "nomad-"+Version, "bin", "nomad")
		if isExecutable(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath("nomad")
	if err != nil {
		return "", fmt.Errorf("not in the cache folder of scripts/tools.sh nor on PATH: %w", err)
	}
	return p, nil
}

// cacheDir mirrors SLUICE_CACHE in scripts/tools.sh.
func cacheDir() (string, bool) {
	if d := os.Getenv("SLUICE_CACHE"); d != "" {
		return d, true
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "sluice"), true
	}
	if h := os.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "sluice"), true
	}
	return "", false
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// findConfig walks up from the working directory to the module root and returns the
// path of ConfigFile there.
func findConfig() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ConfigFile)
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("nomadtest: the agent configuration: %w", err)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("nomadtest: no go.mod above the working directory to find %s", ConfigFile)
		}
		dir = parent
	}
}

// environWithoutNomad is the test's environment minus NOMAD_* and CONSUL_*/VAULT_*
// variables, so that a developer's own settings cannot point the agent elsewhere.
func environWithoutNomad() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOMAD_") && !strings.HasPrefix(kv, "CONSUL_") && !strings.HasPrefix(kv, "VAULT_") {
			env = append(env, kv)
		}
	}
	return env
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
