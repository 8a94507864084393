package schedulertest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicedata/sluice/scheduler"
)

// Commands gives the conformance suite the argv of the tasks it launches, and the
// backend-specific ways to hurt and inspect a task.
type Commands struct {
	// Sleep returns an argv that starts a child process of its own (so that Kill is seen
	// to reach the whole task), then creates the file ready, then runs until killed.
	Sleep func(ready string) []string
	// Exit0 exits with code 0 at once; Exit3 with code 3.
	Exit0 []string
	Exit3 []string
	// WriteEnv returns an argv that writes its environment to path, one NAME=value a
	// line, followed by the line SLUICE_TEST_PWD=<its working directory>, and exits 0.
	WriteEnv func(path string) []string
	// Lose ends the running task id from outside the backend, as a crash, an OOM kill or
	// an operator's kill -9 would. Nil skips the case that needs it (with a message).
	Lose func(t testing.TB, b scheduler.Backend, id scheduler.TaskID)
	// Alive reports whether any process of the task id still runs. Nil skips the checks
	// that need it.
	Alive func(t testing.TB, b scheduler.Backend, id scheduler.TaskID) bool
}

// ShellCommands returns Commands built on /bin/sh for backends that run processes on
// this machine (local; Nomad raw_exec). Lose and Alive need the backend to be a
// scheduler.StatusReporter that reports PIDs: Lose sends SIGKILL to the task's main
// process only, and Alive probes the task's process group (its PID).
func ShellCommands() Commands {
	return Commands{
		Sleep: func(ready string) []string {
			return []string{"/bin/sh", "-c", `sleep 600 & : > "$0"; wait`, ready}
		},
		Exit0: []string{"/bin/sh", "-c", "exit 0"},
		Exit3: []string{"/bin/sh", "-c", "exit 3"},
		WriteEnv: func(path string) []string {
			return []string{"/bin/sh", "-c", `{ env; echo "SLUICE_TEST_PWD=$(pwd -P)"; } > "$0"`, path}
		},
		Lose: func(t testing.TB, b scheduler.Backend, id scheduler.TaskID) {
			t.Helper()
			if err := syscall.Kill(taskPID(t, b, id), syscall.SIGKILL); err != nil {
				t.Fatalf("kill -9 task %s: %v", id, err)
			}
		},
		Alive: func(t testing.TB, b scheduler.Backend, id scheduler.TaskID) bool {
			t.Helper()
			return groupAlive(t, taskPID(t, b, id))
		},
	}
}

// groupAlive reports whether a process of group pgid runs. Zombies do not count: an
// orphaned child that has died waits for init to reap it, which may take a while. It
// reads /proc where there is one, and falls back on kill(-pgid, 0).
func groupAlive(t testing.TB, pgid int) bool {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
	}
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the process has gone
		}
		// The fields after the command name, which is in parentheses and may hold
		// spaces: state ppid pgrp ...
		_, rest, ok := bytes.Cut(b, []byte(") "))
		if !ok {
			continue
		}
		fields := strings.Fields(string(rest))
		if len(fields) < 3 || fields[0] == "Z" || fields[0] == "X" {
			continue
		}
		if g, err := strconv.Atoi(fields[2]); err == nil && g == pgid {
			return true
		}
	}
	return false
}

// taskPID asks a StatusReporter backend for the PID of task id.
func taskPID(t testing.TB, b scheduler.Backend, id scheduler.TaskID) int {
	t.Helper()
	sr, ok := b.(scheduler.StatusReporter)
	if !ok {
		t.Fatalf("backend %s is no scheduler.StatusReporter: ShellCommands cannot find PIDs", b.Name())
	}
	st, err := sr.Status(t.Context(), id)
	if err != nil {
		t.Fatalf("status of %s: %v", id, err)
	}
	if st.PID <= 0 {
		t.Fatalf("status of %s has no PID: %+v", id, st)
	}
	return st.PID
}

// Run checks that the backends newBackend returns keep the scheduler.Backend contract.
// newBackend is called once per case and must arrange the backend's cleanup with
// t.Cleanup. The cases run real tasks built from cmds.
func Run(t *testing.T, newBackend func(t testing.TB) scheduler.Backend, cmds Commands) {
	cases := []struct {
		name string
		run  func(t *testing.T, b scheduler.Backend, cmds Commands)
	}{
		{"LaunchRunning", testLaunchRunning},
		{"ExitZeroFinished", testExitZero},
		{"ExitCodeFailed", testExitCode},
		{"Kill", testKill},
		{"LostFromOutside", testLost},
		{"EnvAndDir", testEnvAndDir},
		{"InvalidTask", testInvalidTask},
		{"Nodes", testNodes},
		{"WatchersAndCancel", testWatchers},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newBackend(t), cmds)
		})
	}
}

// watch starts a watch for the test's life.
func watch(t *testing.T, b scheduler.Backend) *Events {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	ch, err := b.Watch(ctx)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	return NewEvents(ch)
}

func launch(t *testing.T, b scheduler.Backend, task scheduler.Task) scheduler.TaskID {
	t.Helper()
	id, err := b.Launch(t.Context(), task)
	if err != nil {
		t.Fatalf("Launch(%+v): %v", task, err)
	}
	if id == "" {
		t.Fatalf("Launch(%+v) returned an empty ID", task)
	}
	return id
}

// sleeper launches cmds.Sleep and waits until it is ready.
func sleeper(t *testing.T, b scheduler.Backend, cmds Commands, task scheduler.Task) scheduler.TaskID {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	task.Command = cmds.Sleep(ready)
	id := launch(t, b, task)
	WaitFile(t, ready)
	return id
}

// kill kills id and waits for its Killed event.
func kill(t *testing.T, b scheduler.Backend, ev *Events, id scheduler.TaskID) scheduler.TaskEvent {
	t.Helper()
	if err := b.Kill(t.Context(), id); err != nil {
		t.Fatalf("Kill(%s): %v", id, err)
	}
	end := ev.End(t, id)
	if end.State != scheduler.StateKilled {
		t.Errorf("after Kill, task %s ended with %+v, want state %s", id, end, scheduler.StateKilled)
	}
	return end
}

func testLaunchRunning(t *testing.T, b scheduler.Backend, cmds Commands) {
	ev := watch(t, b)
	task := scheduler.Task{Name: "sleeper", Kind: scheduler.KindExecutor}
	a, c := sleeper(t, b, cmds, task), sleeper(t, b, cmds, task)
	if a == c {
		t.Fatalf("two launches got the same ID %s", a)
	}
	for _, id := range []scheduler.TaskID{a, c} {
		first := ev.Next(t, id)
		if first.State == scheduler.StatePending {
			first = ev.Next(t, id)
		}
		if first.State != scheduler.StateRunning || first.Kind != scheduler.KindExecutor {
			t.Errorf("task %s: first event %+v, want a running executor", id, first)
		}
		if first.Time.IsZero() {
			t.Errorf("task %s: event without a time: %+v", id, first)
		}
	}
	kill(t, b, ev, a)
	kill(t, b, ev, c)
}

func testExitZero(t *testing.T, b scheduler.Backend, cmds Commands) {
	ev := watch(t, b)
	id := launch(t, b, scheduler.Task{Name: "ok", Kind: scheduler.KindJob, Command: cmds.Exit0})
	end := ev.End(t, id)
	if end.State != scheduler.StateFinished || end.ExitCode != 0 || end.Kind != scheduler.KindJob {
		t.Errorf("task %s ended with %+v, want a finished job with exit code 0", id, end)
	}
	// Killing an ended task is not an error.
	if err := b.Kill(t.Context(), id); err != nil {
		t.Errorf("Kill of the ended task %s: %v", id, err)
	}
}

func testExitCode(t *testing.T, b scheduler.Backend, cmds Commands) {
	ev := watch(t, b)
	id := launch(t, b, scheduler.Task{Name: "three", Kind: scheduler.KindJob, Command: cmds.Exit3})
	end := ev.End(t, id)
	if end.State != scheduler.StateFailed || end.ExitCode != 3 {
		t.Errorf("task %s ended with %+v, want failed with exit code 3", id, end)
	}
	if end.Message == "" {
		t.Errorf("task %s: failure without a message: %+v", id, end)
	}
}

func testKill(t *testing.T, b scheduler.Backend, cmds Commands) {
	ev := watch(t, b)
	id := sleeper(t, b, cmds, scheduler.Task{Name: "victim", Kind: scheduler.KindJob})
	if first := ev.Next(t, id); first.State.Terminal() {
		t.Fatalf("task %s ended before Kill: %+v", id, first)
	}
	kill(t, b, ev, id)
	if cmds.Alive != nil {
		Eventually(t, "every process of the killed task to be gone", func() bool { return !cmds.Alive(t, b, id) })
	}
	if err := b.Kill(t.Context(), id); err != nil {
		t.Errorf("second Kill(%s): %v", id, err)
	}
	if err := b.Kill(t.Context(), "no-such-task"); !errors.Is(err, scheduler.ErrUnknownTask) {
		t.Errorf("Kill of an unknown task: %v, want ErrUnknownTask", err)
	}
}

func testLost(t *testing.T, b scheduler.Backend, cmds Commands) {
	if cmds.Lose == nil {
		t.Skip("Commands.Lose is nil: this backend cannot lose a task on purpose")
	}
	ev := watch(t, b)
	id := sleeper(t, b, cmds, scheduler.Task{Name: "doomed", Kind: scheduler.KindExecutor})
	for {
		first := ev.Next(t, id)
		if first.State == scheduler.StateRunning {
			break
		}
		if first.State.Terminal() {
			t.Fatalf("task %s ended before it was lost: %+v", id, first)
		}
	}
	cmds.Lose(t, b, id)
	end := ev.End(t, id)
	if end.State != scheduler.StateFailed && end.State != scheduler.StateLost {
		t.Errorf("task %s killed from outside ended with %+v, want failed or lost", id, end)
	}
	if end.Message == "" {
		t.Errorf("task %s: loss without a message: %+v", id, end)
	}
	if cmds.Alive != nil {
		Eventually(t, "every process of the lost task to be gone", func() bool { return !cmds.Alive(t, b, id) })
	}
}

func testEnvAndDir(t *testing.T, b scheduler.Backend, cmds Commands) {
	ev := watch(t, b)
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "env.txt")
	id := launch(t, b, scheduler.Task{
		Name:    "env",
		Kind:    scheduler.KindJob,
		Command: cmds.WriteEnv(out),
		Env:     map[string]string{"SLUICE_TEST_VALUE": "hello world", scheduler.EnvTaskID: "overridden"},
		Dir:     dir,
	})
	if end := ev.End(t, id); end.State != scheduler.StateFinished {
		t.Fatalf("env task ended with %+v", end)
	}
	env := readEnv(t, out)
	wantDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"SLUICE_TEST_VALUE": "hello world",
		scheduler.EnvTaskID: string(id),
		"SLUICE_TEST_PWD":   wantDir,
	} {
		if got := env[k]; got != want {
			t.Errorf("task environment %s=%q, want %q", k, got, want)
		}
	}
}

// readEnv parses a file of NAME=value lines.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the env task wrote no file: %v", err)
	}
	defer f.Close()
	env := make(map[string]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

func testInvalidTask(t *testing.T, b scheduler.Backend, cmds Commands) {
	for _, task := range []scheduler.Task{
		{Name: "empty", Kind: scheduler.KindJob},
		{Name: "kindless", Command: cmds.Exit0},
	} {
		if _, err := b.Launch(t.Context(), task); !errors.Is(err, scheduler.ErrInvalidTask) {
			t.Errorf("Launch(%+v) = %v, want ErrInvalidTask", task, err)
		}
	}
}

func testNodes(t *testing.T, b scheduler.Backend, cmds Commands) {
	nodes, err := b.Nodes(t.Context())
	if err != nil {
		t.Fatalf("Nodes: %v", err)
	}
	if len(nodes) == 0 {
		t.Fatal("Nodes returned no node")
	}
	ids := make(map[string]bool)
	for _, n := range nodes {
		if n.ID == "" || n.Host == "" {
			t.Errorf("node without ID or host: %+v", n)
		}
		ids[n.ID] = true
	}
	ev := watch(t, b)
	id := launch(t, b, scheduler.Task{Name: "placed", Kind: scheduler.KindJob, Command: cmds.Exit0})
	if end := ev.End(t, id); end.Node != "" && !ids[end.Node] {
		t.Errorf("task %s ran on node %q, which Nodes does not list (%v)", id, end.Node, nodes)
	}
}

func testWatchers(t *testing.T, b scheduler.Backend, cmds Commands) {
	ctx, cancel := context.WithCancel(t.Context())
	early, err := b.Watch(ctx)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	one, two := NewEvents(early), watch(t, b)
	id := launch(t, b, scheduler.Task{Name: "twice", Kind: scheduler.KindJob, Command: cmds.Exit0})
	if a, c := one.End(t, id), two.End(t, id); a.State != c.State || a.ExitCode != c.ExitCode {
		t.Errorf("two watchers saw different ends: %+v and %+v", a, c)
	}
	cancel()
	one.Closed(t)
}
