package nomad

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedata/sluice/internal/nomadtest"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// newTestBackend returns a Backend on the package's shared dev agent, closed at cleanup.
func newTestBackend(t testing.TB) *Backend {
	t.Helper()
	agent := nomadtest.Shared(t)
	cfg := DefaultConfig()
	cfg.Address = agent.Addr()
	cfg.KillTimeout = 2 * time.Second
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// nomadCommands are the suite's shell commands with Lose and Alive that find a task's
// processes on this machine (the dev agent's only node) by the SLUICE_TASK_ID in their
// environment: Nomad's API has no process IDs.
func nomadCommands() schedulertest.Commands {
	cmds := schedulertest.ShellCommands()
	cmds.Lose = func(t testing.TB, _ scheduler.Backend, id scheduler.TaskID) {
		t.Helper()
		pids := taskPIDs(id)
		if len(pids) == 0 {
			t.Fatalf("no process of task %s found", id)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	cmds.Alive = func(t testing.TB, _ scheduler.Backend, id scheduler.TaskID) bool {
		return len(taskPIDs(id)) > 0
	}
	return cmds
}

// taskPIDs lists the live (not zombie) processes whose environment holds
// SLUICE_TASK_ID=id.
func taskPIDs(id scheduler.TaskID) []int {
	needle := []byte("\x00" + scheduler.EnvTaskID + "=" + string(id) + "\x00")
	paths, _ := filepath.Glob("/proc/[0-9]*/environ")
	var pids []int
	for _, p := range paths {
		env, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(append([]byte{0}, env...), needle) {
			continue
		}
		dir := filepath.Dir(p)
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		if _, rest, ok := bytes.Cut(stat, []byte(") ")); ok && (bytes.HasPrefix(rest, []byte("Z")) || bytes.HasPrefix(rest, []byte("X"))) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(dir)); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestBackend_Conformance(t *testing.T) {
	schedulertest.Run(t, func(t testing.TB) scheduler.Backend { return newTestBackend(t) }, nomadCommands())
}
