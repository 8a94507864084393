package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// newBackend returns a Backend logging to the test's output, closed at cleanup.
func newBackend(t testing.TB) *Backend {
	t.Helper()
	cfg := DefaultConfig()
	cfg.LogDir = filepath.Join(t.TempDir(), "logs")
	cfg.KillGrace = 2 * time.Second
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBackend_Conformance(t *testing.T) {
	schedulertest.Run(t, func(t testing.TB) scheduler.Backend { return newBackend(t) }, schedulertest.ShellCommands())
}

// watch returns the events of b for the test's life.
func watch(t *testing.T, b *Backend) *schedulertest.Events {
	t.Helper()
	ch, err := b.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return schedulertest.NewEvents(ch)
}

func launch(t *testing.T, b *Backend, task scheduler.Task) scheduler.TaskID {
	t.Helper()
	id, err := b.Launch(t.Context(), task)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func status(t *testing.T, b *Backend, id scheduler.TaskID) scheduler.TaskStatus {
	t.Helper()
	st, err := b.Status(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestBackend_LogsAndStatus(t *testing.T) {
	b := newBackend(t)
	ev := watch(t, b)
	id := launch(t, b, scheduler.Task{
		Name:    "word count/1",
		Kind:    scheduler.KindJob,
		Command: []string{"/bin/sh", "-c", "echo out; echo err >&2; exit 7"},
	})
	if !strings.HasPrefix(string(id), "word_count_1-") {
		t.Errorf("ID %q does not start with the sanitized name", id)
	}
	running := ev.Next(t, id)
	end := ev.End(t, id)
	st := status(t, b, id)
	if want := filepath.Join(b.cfg.LogDir, string(id)+".log"); st.LogPath != want {
		t.Errorf("LogPath = %q, want %q", st.LogPath, want)
	}
	logs, err := os.ReadFile(st.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(logs), "out\nerr\n"; got != want {
		t.Errorf("log file holds %q, want %q", got, want)
	}
	if running.PID <= 0 || running.PID != st.PID || end.PID != st.PID {
		t.Errorf("PIDs: running event %d, end event %d, status %d", running.PID, end.PID, st.PID)
	}
	want := scheduler.TaskStatus{
		ID: id, Name: "word count/1", Kind: scheduler.KindJob, State: scheduler.StateFailed,
		ExitCode: 7, Message: "exit status 7", Node: b.node, PID: st.PID, LogPath: st.LogPath,
	}
	if diff := cmp.Diff(want, st, cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".Started" || p.Last().String() == ".Ended"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("Status mismatch (-want +got):\n%s", diff)
	}
	if st.Started.IsZero() || st.Ended.Before(st.Started) {
		t.Errorf("Started %v, Ended %v", st.Started, st.Ended)
	}
	if _, err := b.Status(t.Context(), "nope"); !errors.Is(err, scheduler.ErrUnknownTask) {
		t.Errorf("Status of an unknown task: %v", err)
	}
}

func TestBackend_TaskLogPath(t *testing.T) {
	b := newBackend(t)
	ev := watch(t, b)
	path := filepath.Join(t.TempDir(), "nested", "job.log")
	id := launch(t, b, scheduler.Task{Kind: scheduler.KindJob, LogPath: path, Command: []string{"/bin/sh", "-c", "echo hi"}})
	if end := ev.End(t, id); end.State != scheduler.StateFinished {
		t.Fatalf("ended %+v", end)
	}
	if !strings.HasPrefix(string(id), "job-") {
		t.Errorf("a nameless job got ID %q, want job-<n>", id)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "hi\n" {
		t.Errorf("log at the task's LogPath: %q, %v", got, err)
	}
	if st := status(t, b, id); st.LogPath != path {
		t.Errorf("LogPath = %q, want %q", st.LogPath, path)
	}
}

func TestBackend_Ports(t *testing.T) {
	b := newBackend(t)
	ev := watch(t, b)
	out := filepath.Join(t.TempDir(), "ports")
	id := launch(t, b, scheduler.Task{
		Kind:      scheduler.KindExecutor,
		Command:   []string{"/bin/sh", "-c", `echo "$SLUICE_PORT_GRPC $SLUICE_PORT_WEB_UI" > "$0"`, out},
		Resources: scheduler.Resources{Ports: []string{"grpc", "web.ui"}},
	})
	if end := ev.End(t, id); end.State != scheduler.StateFinished {
		t.Fatalf("ended %+v", end)
	}
	st := status(t, b, id)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.Itoa(st.Ports["grpc"]) + " " + strconv.Itoa(st.Ports["web.ui"]) + "\n"
	if string(got) != want || st.Ports["grpc"] == 0 || st.Ports["grpc"] == st.Ports["web.ui"] {
		t.Errorf("task saw ports %q, status has %v", got, st.Ports)
	}
	_, err = b.Launch(t.Context(), scheduler.Task{Kind: scheduler.KindJob, Command: []string{"true"}, Resources: scheduler.Resources{Ports: []string{"a", "a"}}})
	if !errors.Is(err, scheduler.ErrInvalidTask) {
		t.Errorf("a port named twice: %v, want ErrInvalidTask", err)
	}
}

func TestPortEnv(t *testing.T) {
	tests := map[string]string{
		"grpc":     "SLUICE_PORT_GRPC",
		"web-ui":   "SLUICE_PORT_WEB_UI",
		"raft.2":   "SLUICE_PORT_RAFT_2",
		"Mixed_Up": "SLUICE_PORT_MIXED_UP",
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			if got := PortEnv(name); got != want {
				t.Errorf("PortEnv(%q) = %q, want %q", name, got, want)
			}
		})
	}
}

// TestBackend_KillEscalates checks that a task ignoring SIGTERM is killed by SIGKILL
// after the grace period, children included.
func TestBackend_KillEscalates(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LogDir = t.TempDir()
	cfg.KillGrace = 50 * time.Millisecond
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ev := watch(t, b)
	ready := filepath.Join(t.TempDir(), "ready")
	// The shell ignores TERM and so does its child; only SIGKILL ends them.
	id := launch(t, b, scheduler.Task{Kind: scheduler.KindJob, Command: []string{"/bin/sh", "-c",
		`trap "" TERM; sh -c 'trap "" TERM; sleep 600' & touch "$0"; wait`, ready}})
	schedulertest.WaitFile(t, ready)
	if err := b.Kill(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	end := ev.End(t, id)
	if end.State != scheduler.StateKilled || !strings.Contains(end.Message, "signal 9") {
		t.Errorf("ended %+v, want killed by signal 9", end)
	}
	alive := schedulertest.ShellCommands().Alive
	schedulertest.Eventually(t, "the task's group to be gone", func() bool { return !alive(t, b, id) })
}

// TestBackend_KillContext checks that Kill returns ctx's error when ctx ends first, and
// that the task still ends.
func TestBackend_KillContext(t *testing.T) {
	b := newBackend(t)
	ev := watch(t, b)
	ready := filepath.Join(t.TempDir(), "ready")
	id := launch(t, b, scheduler.Task{Kind: scheduler.KindJob, Command: []string{"/bin/sh", "-c", `trap "" TERM; sleep 600 & : > "$0"; wait`, ready}})
	schedulertest.WaitFile(t, ready)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Kill(ctx, id); !errors.Is(err, context.Canceled) {
		t.Errorf("Kill with a cancelled ctx: %v", err)
	}
	if end := ev.End(t, id); end.State != scheduler.StateKilled || !strings.Contains(end.Message, "signal 9") {
		t.Errorf("ended %+v, want killed by signal 9", end)
	}
}

func TestBackend_CloseKillsEverything(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LogDir = t.TempDir()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ev := watch(t, b)
	var ids []scheduler.TaskID
	for range 3 {
		ready := filepath.Join(t.TempDir(), "ready")
		id := launch(t, b, scheduler.Task{Kind: scheduler.KindExecutor, Command: schedulertest.ShellCommands().Sleep(ready)})
		schedulertest.WaitFile(t, ready)
		ids = append(ids, id)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	alive := schedulertest.ShellCommands().Alive
	for _, id := range ids {
		if st := status(t, b, id); st.State != scheduler.StateKilled {
			t.Errorf("task %s after Close: %+v", id, st)
		}
		// The main process is reaped by Close; its children, sent SIGKILL, are reaped
		// by init a moment later.
		schedulertest.Eventually(t, "no process of "+string(id)+" after Close", func() bool { return !alive(t, b, id) })
	}
	ev.Closed(t)
	if _, err := b.Launch(t.Context(), scheduler.Task{Kind: scheduler.KindJob, Command: []string{"true"}}); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("Launch after Close: %v", err)
	}
	if _, err := b.Watch(t.Context()); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("Watch after Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBackend_LaunchErrors(t *testing.T) {
	b := newBackend(t)
	tests := []struct {
		name string
		task scheduler.Task
	}{
		{"no such program", scheduler.Task{Kind: scheduler.KindJob, Command: []string{"/nonexistent/sluice-test"}}},
		{"no such dir", scheduler.Task{Kind: scheduler.KindJob, Command: []string{"true"}, Dir: "/nonexistent/dir"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := b.Launch(t.Context(), tt.task)
			if err == nil {
				t.Fatalf("Launch succeeded with %s", id)
			}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Launch(ctx, scheduler.Task{Kind: scheduler.KindJob, Command: []string{"true"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Launch with a cancelled ctx: %v", err)
	}
}

func TestBackend_BaseEnv(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LogDir = t.TempDir()
	cfg.Env = []string{"PATH=/usr/bin:/bin", "ONLY_BASE=1"}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ev := watch(t, b)
	out := filepath.Join(t.TempDir(), "env")
	id := launch(t, b, scheduler.Task{Kind: scheduler.KindJob, Command: []string{"/bin/sh", "-c", `env > "$0"`, out}, Env: map[string]string{"ONLY_BASE": "2"}})
	ev.End(t, id)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "ONLY_BASE=2\n") || strings.Contains(string(got), "HOME=") {
		t.Errorf("task env should be the base env with Task.Env over it:\n%s", got)
	}
}

func TestBackend_Nodes(t *testing.T) {
	b := newBackend(t)
	nodes, err := b.Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 {
		t.Fatalf("Nodes = %+v, want one", nodes)
	}
	n := nodes[0]
	if n.ID != b.node || n.Host != "127.0.0.1" || n.Resources.CPU < 1 || n.Resources.MemMB < 1 || n.Resources.DiskMB < 1 {
		t.Errorf("node %+v", n)
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"valid", func(c *Config) {}, true},
		{"no log dir", func(c *Config) { c.LogDir = "" }, false},
		{"zero grace", func(c *Config) { c.KillGrace = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.LogDir = "/tmp/x"
			tt.change(&c)
			err := c.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestFactory(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		opts     scheduler.BackendOptions
		wantLogs string
		wantErr  bool
	}{
		{"data dir", scheduler.BackendOptions{DataDir: dir}, filepath.Join(dir, "logs"), false},
		{"log dir", scheduler.BackendOptions{DataDir: dir, Settings: map[string]string{"log-dir": filepath.Join(dir, "l"), "kill-grace": "1s"}}, filepath.Join(dir, "l"), false},
		{"bad grace", scheduler.BackendOptions{DataDir: dir, Settings: map[string]string{"kill-grace": "soon"}}, "", true},
		{"unknown key", scheduler.BackendOptions{DataDir: dir, Settings: map[string]string{"cpus": "2"}}, "", true},
		{"nothing", scheduler.BackendOptions{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Factory(t.Context(), tt.opts)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Errorf("Factory = %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lb := b.(*Backend)
			defer lb.Close()
			if lb.cfg.LogDir != tt.wantLogs {
				t.Errorf("LogDir = %q, want %q", lb.cfg.LogDir, tt.wantLogs)
			}
			if _, err := os.Stat(tt.wantLogs); err != nil {
				t.Errorf("log dir not created: %v", err)
			}
		})
	}
}
