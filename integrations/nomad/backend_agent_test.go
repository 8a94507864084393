package nomad

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// watchEvents returns the events of b for the test's life.
func watchEvents(t *testing.T, b *Backend) *schedulertest.Events {
	t.Helper()
	ch, err := b.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return schedulertest.NewEvents(ch)
}

func mustLaunch(t *testing.T, b *Backend, task scheduler.Task) scheduler.TaskID {
	t.Helper()
	id, err := b.Launch(t.Context(), task)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestBackend_PortsAndStatus(t *testing.T) {
	b := newTestBackend(t)
	ev := watchEvents(t, b)
	out := filepath.Join(t.TempDir(), "ports")
	id := mustLaunch(t, b, scheduler.Task{
		Name: "ports", Kind: scheduler.KindJob,
		Command:   []string{"/bin/sh", "-c", `echo "$SLUICE_PORT_RPC $SLUICE_PORT_WEB_UI" > "$0"; echo hello; echo oops >&2; exit 4`, out},
		Resources: scheduler.Resources{CPU: 0.2, MemMB: 64, Ports: []string{"rpc", "web-ui"}},
	})
	end := ev.End(t, id)
	if end.State != scheduler.StateFailed || end.ExitCode != 4 || end.Node == "" {
		t.Fatalf("ended %+v, want failed with 4 on a node", end)
	}
	b2, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(b2))
	if len(fields) != 2 {
		t.Fatalf("ports file %q, want two ports", b2)
	}
	st, err := b.Status(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"rpc", "web-ui"} {
		if p, _ := strconv.Atoi(fields[i]); p == 0 || st.Ports[name] != p {
			t.Errorf("port %s: task saw %q, Status says %d", name, fields[i], st.Ports[name])
		}
	}
	if st.State != scheduler.StateFailed || st.ExitCode != 4 || st.Started.IsZero() || st.Ended.IsZero() || st.Kind != scheduler.KindJob || st.Name != "ports" {
		t.Errorf("Status = %+v", st)
	}
	logs, err := b.LogTail(t.Context(), id, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, "hello") || !strings.Contains(logs, "oops") {
		t.Errorf("LogTail = %q, want stdout and stderr", logs)
	}
	if _, err := b.Status(t.Context(), "nope"); !errors.Is(err, scheduler.ErrUnknownTask) {
		t.Errorf("Status of an unknown task: %v", err)
	}
}

func TestBackend_StoppedFromOutsideFails(t *testing.T) {
	b := newTestBackend(t)
	ev := watchEvents(t, b)
	ready := filepath.Join(t.TempDir(), "ready")
	id := mustLaunch(t, b, scheduler.Task{Name: "victim", Kind: scheduler.KindExecutor, Command: schedulertest.ShellCommands().Sleep(ready)})
	schedulertest.WaitFile(t, ready)
	// An operator runs `nomad job stop`.
	if _, _, err := b.API().Jobs().Deregister(string(id), false, nil); err != nil {
		t.Fatal(err)
	}
	end := ev.End(t, id)
	if end.State != scheduler.StateFailed || !strings.Contains(end.Message, "stopped from outside") {
		t.Errorf("ended %+v, want failed, stopped from outside", end)
	}
}

func TestBackend_KillBeforePlacement(t *testing.T) {
	b := newTestBackend(t)
	ev := watchEvents(t, b)
	// No node has a petabyte of memory: the job waits in a blocked evaluation.
	id := mustLaunch(t, b, scheduler.Task{Name: "huge", Kind: scheduler.KindJob, Command: []string{"/bin/true"},
		Resources: scheduler.Resources{MemMB: 1 << 30}})
	if first := ev.Next(t, id); first.State != scheduler.StatePending {
		t.Fatalf("first event %+v, want pending", first)
	}
	if err := b.Kill(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if end := ev.Next(t, id); end.State != scheduler.StateKilled {
		t.Errorf("after Kill: %+v, want killed", end)
	}
	if _, _, err := b.API().Jobs().Info(string(id), nil); err == nil {
		t.Errorf("job %s still registered after Kill", id)
	}
}

func TestBackend_LabelledJobIDs(t *testing.T) {
	b := newTestBackend(t)
	b.cfg.JobPrefix = "l" + randomSuffix()
	ev := watchEvents(t, b)
	task := scheduler.Task{Name: "wc", Kind: scheduler.KindJob, Command: []string{"/bin/sh", "-c", "exit 0"},
		Labels: map[string]string{labelJobID: "12", labelJobAttempt: "1"}, PreferNodes: []string{nomadNodeID(t, b)}}
	first := mustLaunch(t, b, task)
	if want := b.cfg.JobPrefix + "-job-12-1"; string(first) != want {
		t.Errorf("ID %s, want %s", first, want)
	}
	second := mustLaunch(t, b, task)
	if second == first || !strings.HasPrefix(string(second), string(first)+"-") {
		t.Errorf("second launch of the same attempt got %s, want %s-<random>", second, first)
	}
	for _, id := range []scheduler.TaskID{first, second} {
		if end := ev.End(t, id); end.State != scheduler.StateFinished {
			t.Errorf("%s ended %+v", id, end)
		}
	}
	job, _, err := b.API().Jobs().Info(string(first), nil)
	if err != nil {
		t.Fatal(err)
	}
	if job.Meta[labelJobID] != "12" || job.Meta[MetaTaskKind] != "job" || len(job.TaskGroups[0].Affinities) != 1 {
		t.Errorf("registered job meta %v affinities %v", job.Meta, job.TaskGroups[0].Affinities)
	}
}

func nomadNodeID(t *testing.T, b *Backend) string {
	t.Helper()
	nodes, err := b.Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The dev agent's node is named after the host, which deployed executors advertise.
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if nodes[0].Host != host || nodes[0].Resources.CPU < 1 || nodes[0].Resources.MemMB <= 0 {
		t.Errorf("node %+v, want host %s with CPU and memory", nodes[0], host)
	}
	return nodes[0].ID
}

func TestBackend_CloseKillsLiveTasks(t *testing.T) {
	b := newTestBackend(t)
	ready := filepath.Join(t.TempDir(), "ready")
	id := mustLaunch(t, b, scheduler.Task{Name: "left", Kind: scheduler.KindExecutor, Command: schedulertest.ShellCommands().Sleep(ready)})
	schedulertest.WaitFile(t, ready)
	if len(taskPIDs(id)) == 0 {
		t.Fatal("no process of the task")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	schedulertest.Eventually(t, "the task's processes to be gone", func() bool { return len(taskPIDs(id)) == 0 })
	if _, err := b.Launch(t.Context(), scheduler.Task{Kind: scheduler.KindJob, Command: []string{"true"}}); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("Launch after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Watch(t.Context()); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("Watch after Close: %v, want ErrClosed", err)
	}
}

func TestBackend_CloseWithUnplacedTask(t *testing.T) {
	b := newTestBackend(t)
	id := mustLaunch(t, b, scheduler.Task{Name: "huge", Kind: scheduler.KindExecutor, Command: []string{"/bin/true"},
		Resources: scheduler.Resources{MemMB: 1 << 30}})
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, _, err := b.API().Jobs().Info(string(id), nil); err == nil {
		t.Errorf("job %s still registered after Close", id)
	}
	if st, err := b.Status(t.Context(), id); err != nil || st.State != scheduler.StateKilled {
		t.Errorf("Status after Close = %+v, %v; want killed", st, err)
	}
}
