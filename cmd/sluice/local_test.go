package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
)

// lockedBuffer is a bytes.Buffer safe for the cluster's goroutines and the test.
type lockedBuffer struct {
	syncWriter
	b bytes.Buffer
}

func newLockedBuffer() *lockedBuffer {
	l := &lockedBuffer{}
	l.w = &l.b
	return l
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runningLocal is one runLocalCluster in a goroutine.
type runningLocal struct {
	addr   string
	out    *lockedBuffer
	cancel context.CancelFunc
	done   chan error
}

// startLocal runs the local cluster of dir on free ports and waits until it serves.
func startLocal(t *testing.T, dir string) *runningLocal {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	rl := &runningLocal{out: newLockedBuffer(), done: make(chan error, 1)}
	opts := localOptions{
		DataDir: dir, Executors: 2, MemSize: "512MiB", HeartbeatTimeout: 3 * time.Second,
		LogLevel: slog.LevelInfo, Executable: exe, Out: rl.out, Stderr: t.Output(),
		OnReady: func(addr string) { ready <- addr },
	}
	var ctx context.Context
	ctx, rl.cancel = context.WithCancel(context.Background())
	go func() { rl.done <- runLocalCluster(ctx, opts) }()
	select {
	case rl.addr = <-ready:
	case err := <-rl.done:
		t.Fatalf("local cluster ended before serving: %v\n%s", err, rl.out)
	case <-time.After(60 * time.Second):
		rl.cancel()
		<-rl.done
		t.Fatalf("local cluster not ready after 60 s:\n%s", rl.out)
	}
	if !strings.Contains(rl.out.String(), "Press Ctrl-C to stop") {
		t.Errorf("no banner:\n%s", rl.out)
	}
	return rl
}

// stop ends the cluster as Ctrl-C does and checks that it stops cleanly.
func (rl *runningLocal) stop(t *testing.T) {
	t.Helper()
	rl.cancel()
	select {
	case err := <-rl.done:
		if err != nil {
			t.Fatalf("local cluster stopped with %v\n%s", err, rl.out)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("local cluster did not stop within 60 s:\n%s", rl.out)
	}
	if !strings.HasSuffix(rl.out.String(), "stopped\n") {
		t.Errorf("output does not end with stopped:\n%s", rl.out)
	}
}

func localClient(t *testing.T, addr string) *client.Client {
	t.Helper()
	cfg := client.DefaultConfig()
	cfg.Masters = []string{addr}
	cfg.RecomputeWait = 100 * time.Millisecond
	cfg.Logger = slog.New(slog.DiscardHandler)
	cl, err := client.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func writeFile(t *testing.T, cl *client.Client, path string, wt client.WriteType, data string) {
	t.Helper()
	w, err := cl.Create(t.Context(), path, client.CreateOptions{WriteType: wt})
	if err == nil {
		_, err = io.WriteString(w, data)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

func readFile(ctx context.Context, cl *client.Client, path string) (string, error) {
	r, err := cl.Open(ctx, path, client.OpenOptions{})
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

// pollFor checks cond every 20 ms until it holds or 30 s pass.
func pollFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// executorsOf returns the live executors by ID.
func executorsOf(t *testing.T, cl *client.Client) map[uint64]*sluicepb.ExecutorInfo {
	t.Helper()
	infos, err := cl.Executors(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]*sluicepb.ExecutorInfo{}
	for _, info := range infos {
		out[info.GetId()] = info
	}
	return out
}

// TestLocal_LostExecutorAndRestart runs `sluice local` with real executor processes:
// a killed executor is a lost node (its MUST_CACHE file becomes LOST, its replacement
// starts empty), and a clean stop and start keeps the namespace and the cached blocks.
func TestLocal_LostExecutorAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	t.Setenv(envBeSluice, "1")
	t.Setenv("SLUICE_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	if err := os.WriteFile(os.Getenv("SLUICE_CONFIG"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(localOptions{DataDir: dir}.memDir(0))) })
	t.Cleanup(func() { dumpLogs(t, filepath.Join(dir, "logs")) })

	rl := startLocal(t, dir)
	cl := localClient(t, rl.addr)
	before := executorsOf(t, cl)
	if len(before) != 2 {
		t.Fatalf("%d executors registered, want 2:\n%s", len(before), rl.out)
	}
	writeFile(t, cl, "/only-cached", client.WriteMustCache, "in memory only")
	writeFile(t, cl, "/persisted", client.WriteCacheThrough, "in the UFS too")

	loc, err := cl.BlockLocations(t.Context(), "/only-cached")
	if err != nil || len(loc.GetBlocks()) != 1 || len(loc.GetBlocks()[0].GetLocations()) != 1 {
		t.Fatalf("locations of /only-cached: %v, %v", loc, err)
	}
	victim := before[loc.GetBlocks()[0].GetLocations()[0].GetExecutorId()]
	if err := syscall.Kill(int(victim.GetPid()), syscall.SIGKILL); err != nil {
		t.Fatalf("kill executor pid %d: %v", victim.GetPid(), err)
	}

	pollFor(t, "/only-cached to be LOST", func() bool {
		fi, err := cl.Stat(t.Context(), "/only-cached")
		return err == nil && fi.Persistence == sluicepb.PersistenceState_PERSISTENCE_STATE_LOST
	})
	if _, err := readFile(t.Context(), cl, "/only-cached"); !errors.Is(err, client.ErrFileLost) {
		t.Fatalf("read of the lost file: %v, want ErrFileLost", err)
	}
	if got, err := readFile(t.Context(), cl, "/persisted"); err != nil || got != "in the UFS too" {
		t.Fatalf("read of the persisted file: %q, %v", got, err)
	}
	// The scheduler replaces the executor, with empty storage, although the killed
	// process left its block files behind.
	var replacement *sluicepb.ExecutorInfo
	pollFor(t, "a replacement executor", func() bool {
		for id, info := range executorsOf(t, cl) {
			if before[id] == nil && info.GetPid() != victim.GetPid() {
				replacement = info
				return true
			}
		}
		return false
	})
	if replacement.GetBlockCount() != 0 || replacement.GetMemDir() != victim.GetMemDir() {
		t.Fatalf("replacement holds %d blocks in %s, want 0 in the lost executor's %s", replacement.GetBlockCount(), replacement.GetMemDir(), victim.GetMemDir())
	}
	if out := rl.out.String(); !strings.Contains(out, "lost") {
		t.Errorf("the loss was not reported:\n%s", out)
	}
	writeFile(t, cl, "/kept", client.WriteMustCache, "cached across a clean stop")
	pids := []int32{replacement.GetPid()}
	for _, info := range executorsOf(t, cl) {
		pids = append(pids, info.GetPid())
	}
	rl.stop(t)
	for _, pid := range pids {
		if err := syscall.Kill(int(pid), 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("executor pid %d still exists after the stop (%v)", pid, err)
		}
	}

	rl = startLocal(t, dir)
	defer rl.stop(t)
	cl = localClient(t, rl.addr)
	if got, err := readFile(t.Context(), cl, "/kept"); err != nil || got != "cached across a clean stop" {
		t.Fatalf("read of a MUST_CACHE file after a restart: %q, %v", got, err)
	}
	if fi, err := cl.Stat(t.Context(), "/only-cached"); err != nil || fi.Persistence != sluicepb.PersistenceState_PERSISTENCE_STATE_LOST {
		t.Fatalf("/only-cached after a restart: %s, %v; want LOST", fi.PersistenceName(), err)
	}
}

func TestLocalOptions_Validate(t *testing.T) {
	ok := localOptions{MasterPort: 19998, WebPort: 19999, ExecutorPort: 29998, Executors: 2, MemSize: "1GiB", HeartbeatTimeout: time.Second}
	if err := ok.validate(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	for name, change := range map[string]func(*localOptions){
		"port too large": func(o *localOptions) { o.WebPort = 70000 },
		"negative port":  func(o *localOptions) { o.MasterPort = -1 },
		"no room":        func(o *localOptions) { o.ExecutorPort = 65530; o.Executors = 4 },
		"negative count": func(o *localOptions) { o.Executors = -1 },
		"bad size":       func(o *localOptions) { o.MemSize = "much" },
		"no timeout":     func(o *localOptions) { o.HeartbeatTimeout = 0 },
	} {
		o := ok
		change(&o)
		if err := o.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Default ports: executor i on 29998+i and 30000+i.
	for i, want := range [][2]int{{29998, 30000}, {29999, 30001}} {
		if rpc, http := ok.executorPorts(i); rpc != want[0] || http != want[1] {
			t.Errorf("executor %d ports %d/%d, want %v", i, rpc, http, want)
		}
	}
	a, b := localOptions{DataDir: "/a"}, localOptions{DataDir: "/b"}
	if a.memDir(0) == b.memDir(0) || a.memDir(0) == a.memDir(1) {
		t.Errorf("MEM directories collide: %s %s %s", a.memDir(0), b.memDir(0), a.memDir(1))
	}
}

// dumpLogs writes the logs of a failed test's cluster to its output.
func dumpLogs(t *testing.T, dir string) {
	if !t.Failed() {
		return
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		t.Logf("==> %s <==\n%s", e.Name(), b)
	}
}

func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDataDir(dir); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("second lock: %v, want EWOULDBLOCK", err)
	}
	unlock()
	unlock, err = lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock()
}
