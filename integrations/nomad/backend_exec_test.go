package nomad

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicedata/sluice/internal/nomadtest"
	"github.com/sluicedata/sluice/scheduler"
)

// TestBackend_ExecDriver runs a job under the exec driver (a chroot with cgroups; the
// Nomad client must be root), checking the exit code and SLUICE_TASK_ID inside. Nomad
// builds the chroot first, which takes some 20 s here: the wait is longer than the
// suite's.
func TestBackend_ExecDriver(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the exec driver needs the Nomad client to run as root")
	}
	agent := nomadtest.Shared(t)
	cfg := DefaultConfig()
	cfg.Address, cfg.Driver, cfg.KillTimeout = agent.Addr(), DriverExec, 2*time.Second
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ch, err := b.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	id := mustLaunch(t, b, scheduler.Task{Name: "chrooted", Kind: scheduler.KindJob,
		Command: []string{"/bin/sh", "-c", `test -n "$SLUICE_TASK_ID" && test ! -e "$0" && exit 5`, agent.DataDir()}})
	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	for {
		select {
		case ev := <-ch:
			if ev.TaskID != id || !ev.State.Terminal() {
				continue
			}
			// Exit 5: the task saw its ID and not the host's files (the agent's data
			// directory is outside the chroot).
			if ev.State != scheduler.StateFailed || ev.ExitCode != 5 {
				t.Errorf("exec task ended %+v, want failed with exit code 5", ev)
			}
			collect(t, b, agent, id)
			return
		case <-deadline.C:
			t.Fatalf("exec task %s did not end within 2 minutes", id)
		}
	}
}

// collect has the client remove the allocation's directory (the chroot), which would
// otherwise slow the shared agent's shutdown, and waits until it is gone.
func collect(t *testing.T, b *Backend, agent *nomadtest.Agent, id scheduler.TaskID) {
	t.Helper()
	allocID, err := b.AllocID(id)
	if err != nil || allocID == "" {
		t.Fatalf("allocation of %s: %q, %v", id, allocID, err)
	}
	// The agent answers 200 with an empty body, which the API client reads as io.EOF.
	if err := b.API().Nodes().GcAlloc(allocID, nil); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("GC of allocation %s: %v", allocID, err)
	}
	dir := filepath.Join(agent.DataDir(), "alloc", allocID)
	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("allocation directory %s still there 2 minutes after its GC", dir)
		}
	}
}
