package nomadtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

func TestStart_LeaderAndNode(t *testing.T) {
	a := Start(t)
	if !strings.HasPrefix(a.Addr(), "http://127.0.0.1:") {
		t.Errorf("Addr() = %q, want a loopback HTTP address", a.Addr())
	}
	c := a.API(t)
	leader, err := c.Status().Leader()
	if err != nil || !strings.HasPrefix(leader, "127.0.0.1:") {
		t.Errorf("Leader() = %q, %v; want a loopback leader", leader, err)
	}
	n, _, err := c.Nodes().Info(a.NodeID(), nil)
	if err != nil {
		t.Fatalf("node %s: %v", a.NodeID(), err)
	}
	if n.Status != api.NodeStatusReady || n.Attributes["unique.network.ip-address"] != "127.0.0.1" {
		t.Errorf("node status %q address %q, want ready on 127.0.0.1", n.Status, n.Attributes["unique.network.ip-address"])
	}
	// The denylist keeps the cloud fingerprinters from probing metadata addresses.
	for k := range n.Attributes {
		if strings.HasPrefix(k, "platform.aws") || strings.HasPrefix(k, "platform.gce") || strings.HasPrefix(k, "consul.") {
			t.Errorf("node attribute %s: a denied fingerprinter ran", k)
		}
	}
}

func TestFindBinary_EnvWins(t *testing.T) {
	t.Setenv("SLUICE_NOMAD_BIN", "/nonexistent/nomad")
	if p, err := findBinary(); err == nil {
		t.Fatalf("findBinary() = %q, nil; want an error for a missing SLUICE_NOMAD_BIN", p)
	}
}

func TestFindBinary_Cache(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SLUICE_NOMAD_BIN", "")
	t.Setenv("SLUICE_CACHE", dir)
	t.Setenv("PATH", t.TempDir())
	if p, err := findBinary(); err == nil {
		t.Fatalf("findBinary() = %q, nil in an empty cache; want an error", p)
	}
	bin := filepath.Join(dir, "nomad-"+Version, "bin", "nomad")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := findBinary(); err != nil || p != bin {
		t.Fatalf("findBinary() = %q, %v; want %q", p, err, bin)
	}
}

func TestFindConfig(t *testing.T) {
	p, err := findConfig()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`bind_addr            = "127.0.0.1"`, "fingerprint.denylist", "env_aws", "disable_update_check = true"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", p, want)
		}
	}
}

func TestPortsHCL(t *testing.T) {
	got := portsHCL([]int{1001, 1002, 1003}, 2)
	for _, want := range []string{"http = 1001", "rpc  = 1002", "serf = 1003", "min_dynamic_port = 20800", "max_dynamic_port = 21199"} {
		if !strings.Contains(got, want) {
			t.Errorf("portsHCL lacks %q:\n%s", want, got)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/tmp/a\040b`: "/tmp/a b",
		`/plain`:      "/plain",
		`/tail\04`:    `/tail\04`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRemoveUnlessMounted_PlainDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x")
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := removeUnlessMounted(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists: %v", dir, err)
	}
}

func TestStop_LeavesNothingBehind(t *testing.T) {
	a, err := Launch()
	if errors.Is(err, errNoBinary) {
		fail(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop() })
	c := a.API(t)
	marker := "SLUICE_NOMADTEST_TASK=" + filepath.Base(a.root)
	job := api.NewBatchJob("leftover", "leftover", "global", 50)
	job.Datacenters = []string{"*"}
	task := api.NewTask("t", "raw_exec").SetConfig("command", "/bin/sh").SetConfig("args", []string{"-c", "sleep 600 & wait"})
	task.Env = map[string]string{"SLUICE_NOMADTEST_TASK": filepath.Base(a.root)}
	job.AddTaskGroup(api.NewTaskGroup("g", 1).AddTask(task))
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task's processes", func() bool { return len(pidsWith(marker)) >= 2 })
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "no process of the task", func() bool { return len(pidsWith(marker)) == 0 })
	if _, err := os.Stat(a.root); !os.IsNotExist(err) {
		t.Errorf("the agent's folder %s remains: %v", a.root, err)
	}
	if err := a.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// pidsWith lists the live processes whose environment holds kv.
func pidsWith(kv string) []string {
	paths, _ := filepath.Glob("/proc/[0-9]*/environ")
	var out []string
	for _, p := range paths {
		env, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(append([]byte{0}, env...), []byte("\x00"+kv+"\x00")) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if _, rest, ok := bytes.Cut(stat, []byte(") ")); err != nil || !ok || rest[0] == 'Z' {
			continue
		}
		out = append(out, filepath.Base(filepath.Dir(p)))
	}
	return out
}

// waitFor polls cond until it holds, failing t after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// recordTB records how fail ends a test instead of ending it.
type recordTB struct {
	testing.TB
	skipped, fatal bool
}

func (r *recordTB) Helper()               {}
func (r *recordTB) Skip(...any)           { r.skipped = true }
func (r *recordTB) Fatal(...any)          { r.fatal = true }
func (r *recordTB) Fatalf(string, ...any) { r.fatal = true }

func TestFail_SkipsOrFailsUnderCI(t *testing.T) {
	noBin := fmt.Errorf("%w: test", errNoBinary)
	for _, tc := range []struct {
		ci          string
		err         error
		skip, fatal bool
	}{
		{"", noBin, true, false},
		{"true", noBin, false, true},
		{"", errors.New("agent crashed"), false, true},
	} {
		t.Setenv("CI", tc.ci)
		r := &recordTB{TB: t}
		fail(r, tc.err)
		if r.skipped != tc.skip || r.fatal != tc.fatal {
			t.Errorf("CI=%q, %v: skipped %v fatal %v; want %v %v", tc.ci, tc.err, r.skipped, r.fatal, tc.skip, tc.fatal)
		}
	}
}

func TestAddClient_Crash(t *testing.T) {
	a := StartWith(t, Options{FastHeartbeats: true})
	cl := a.AddClient(t)
	if cl.NodeID() == "" || cl.NodeID() == a.NodeID() {
		t.Fatalf("client node %q, agent node %q: want a second, distinct node", cl.NodeID(), a.NodeID())
	}
	c := a.API(t)
	n, _, err := c.Nodes().Info(cl.NodeID(), nil)
	if err != nil || n.Status != api.NodeStatusReady || n.Attributes["unique.network.ip-address"] != "127.0.0.1" {
		t.Fatalf("client node %+v, %v; want ready on 127.0.0.1", n, err)
	}
	cl.Crash()
	waitFor(t, "the crashed client's node to be down", func() bool {
		n, _, err := c.Nodes().Info(cl.NodeID(), nil)
		return err == nil && n.Status == api.NodeStatusDown
	})
	if err := cl.Stop(); err != nil {
		t.Errorf("Stop after Crash: %v", err)
	}
}
