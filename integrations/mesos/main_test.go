package mesos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"go.uber.org/goleak"
)

// wrapperArg, as the first argument of the test binary, makes it a Mesos custom
// executor that runs the rest of its arguments as its task (see runWrapperExecutor).
// The backend tests launch executor tasks under it (ExecutorSpec.Wrapper), since their
// commands are plain shell commands, not `sluice executor`.
const wrapperArg = "mesos-test-wrapper-executor"

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == wrapperArg {
		os.Exit(runWrapperExecutor(os.Args[2:]))
	}
	goleak.VerifyTestMain(m)
}

// testWrapper is the ExecutorSpec.Wrapper of the backend tests.
func testWrapper(t testing.TB) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, wrapperArg}
}

// runWrapperExecutor is a Mesos custom executor (RunExecutor) whose task is argv, run as
// a child process in the executor's process group: when the executor exits, the agent
// ends the group, as Mesos destroys the executor's container. KILL and SHUTDOWN send
// SIGTERM to the child. A non-zero exit fails the task with the message Mesos' command
// executor would write.
func runWrapperExecutor(argv []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	agent, err := config.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wrapper executor:", err)
		return 2
	}
	cfg := DefaultExecutorConfig()
	cfg.Agent = agent
	err = RunExecutor(ctx, cfg, func(ctx context.Context, task TaskInfo, ready func()) error {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		for k, v := range task.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Env = append(os.Environ(), cmd.Env...)
		if err := cmd.Start(); err != nil {
			return err
		}
		ready()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return exitError(err)
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			return nil
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "wrapper executor:", err)
		return 1
	}
	return 0
}

// exitError words a child's end as Mesos' command executor does.
func exitError(err error) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Errorf("command terminated with signal %s", ws.Signal())
	}
	return fmt.Errorf("command exited with status %d", ee.ExitCode())
}

// testLogger writes to the test's output when -v is given, and nowhere otherwise.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startBackend starts a Backend on cfg; it is closed when the test ends. cancel ends its
// subscription without killing its tasks, as a crash of the scheduler would.
func startBackend(t testing.TB, cfg Config) (b *Backend, cancel context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Close()
		cancel()
	})
	return b, cancel
}
