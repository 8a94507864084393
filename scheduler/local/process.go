package local

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicedata/sluice/scheduler"
)

// proc is one task's process. Fields after the marker are guarded by Backend.mu.
type proc struct {
	id      scheduler.TaskID
	name    string
	kind    scheduler.Kind
	node    string
	cmd     *exec.Cmd
	logFile *os.File
	logPath string
	ports   map[string]int
	// done is closed once the end is recorded.
	done chan struct{}

	// Guarded by Backend.mu; pid and started are set once by start.
	pid      int
	started  time.Time
	killed   bool
	state    scheduler.State
	exitCode int
	message  string
	ended    time.Time
}

// taskName is the ID prefix of t: its name, or its kind, restricted to characters that
// are safe in a file name.
func taskName(t scheduler.Task) string {
	name := t.Name
	if name == "" {
		name = string(t.Kind)
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
}

// prepare builds the command of t without starting it: log file opened, ports picked,
// environment set.
func prepare(id scheduler.TaskID, t scheduler.Task, logPath string, baseEnv []string) (*proc, error) {
	ports, err := pickPorts(t.Resources.Ports)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	cmd := exec.Command(t.Command[0], t.Command[1:]...)
	cmd.Dir = t.Dir
	cmd.Stdout, cmd.Stderr = f, f
	// Setpgid puts the task in a process group of its own, so signals sent to -pid
	// reach its children too. Pdeathsig kills the task if this process dies without
	// Close (kill -9); it applies to the task's main process only. Hazard: Linux sends
	// it when the OS thread that started the child exits, which the Go runtime does only
	// when a goroutine ends while locked to its thread (runtime.LockOSThread without
	// UnlockOSThread); code in this process must not do that while tasks run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if baseEnv != nil {
		cmd.Env = slices.Clone(baseEnv)
	}
	env := cmd.Environ()
	for _, k := range slices.Sorted(maps.Keys(t.Env)) {
		env = append(env, k+"="+t.Env[k])
	}
	for _, name := range slices.Sorted(maps.Keys(ports)) {
		env = append(env, PortEnv(name)+"="+strconv.Itoa(ports[name]))
	}
	// Last, so that it wins: os/exec keeps the last value of a repeated name.
	cmd.Env = append(env, scheduler.EnvTaskID+"="+string(id))
	return &proc{
		id: id, name: t.Name, kind: t.Kind, cmd: cmd, logFile: f, logPath: logPath,
		ports: ports, done: make(chan struct{}), state: scheduler.StatePending,
	}, nil
}

// PortEnv is the environment variable that carries the port named name:
// SLUICE_PORT_<NAME>, upper case, with every character other than a letter or digit
// as '_'.
func PortEnv(name string) string {
	return "SLUICE_PORT_" + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, name)
}

// pickPorts finds a distinct free loopback port for each name. The ports are free when
// picked; another process could take one before the task binds it.
func pickPorts(names []string) (map[string]int, error) {
	if len(names) == 0 {
		return nil, nil
	}
	ports := make(map[string]int, len(names))
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for _, name := range names {
		if _, dup := ports[name]; dup {
			return nil, fmt.Errorf("port %q named twice: %w", name, scheduler.ErrInvalidTask)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick port %q: %w", name, err)
		}
		held = append(held, l)
		ports[name] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// discard releases what prepare opened for a process that will not start.
func (p *proc) discard() {
	p.logFile.Close()
}

// start starts the process. Backend.mu is held.
func (p *proc) start() error {
	err := p.cmd.Start()
	// The child has its own copy of the log descriptor.
	p.logFile.Close()
	if err != nil {
		return err
	}
	p.pid = p.cmd.Process.Pid
	p.started = time.Now()
	p.state = scheduler.StateRunning
	return nil
}

// sweep sends SIGKILL to what is left of the task's process group once its main process
// has exited, so that no child of the task outlives it.
func (p *proc) sweep() {
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
}

// signal sends sig to the task's process group unless the task has been reaped (after
// which its PID may belong to another process).
func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-p.pid, sig)
	}
}

// terminate sends SIGTERM to the group, SIGKILL after grace, and waits for the task to be
// reaped. If ctx ends first, it sends SIGKILL and returns ctx's error without waiting.
func (p *proc) terminate(ctx context.Context, grace time.Duration) error {
	if err := ctx.Err(); err != nil {
		p.signal(syscall.SIGKILL)
		return err
	}
	p.signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	case <-ctx.Done():
		p.signal(syscall.SIGKILL)
		return ctx.Err()
	}
	p.signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish records how the process ended. Backend.mu is held.
func (p *proc) finish(waitErr error, now time.Time) {
	p.ended = now
	p.exitCode = -1
	var ws syscall.WaitStatus
	if ps := p.cmd.ProcessState; ps != nil {
		p.exitCode = ps.ExitCode()
		ws, _ = ps.Sys().(syscall.WaitStatus)
	}
	var exitErr *exec.ExitError
	switch {
	case waitErr != nil && !errors.As(waitErr, &exitErr):
		p.state, p.message = scheduler.StateFailed, fmt.Sprintf("wait: %v", waitErr)
	case ws.Signaled():
		sig := ws.Signal()
		p.state, p.message = scheduler.StateFailed, fmt.Sprintf("killed by signal %d (%v)", int(sig), sig)
	case p.exitCode == 0:
		p.state, p.message = scheduler.StateFinished, "exit status 0"
	default:
		p.state, p.message = scheduler.StateFailed, "exit status "+strconv.Itoa(p.exitCode)
	}
	if p.killed {
		p.message = "killed by scheduler: " + p.message
		p.state = scheduler.StateKilled
	}
}

// event is the task's current state as an event. Backend.mu is held.
func (p *proc) event() scheduler.TaskEvent {
	ev := scheduler.TaskEvent{
		TaskID: p.id, Kind: p.kind, State: p.state, Node: p.node, PID: p.pid, Time: p.started,
	}
	if p.state.Terminal() {
		ev.ExitCode, ev.Message, ev.Time = p.exitCode, p.message, p.ended
	}
	return ev
}

// status is the task's TaskStatus. Backend.mu is held.
func (p *proc) status() scheduler.TaskStatus {
	st := scheduler.TaskStatus{
		ID: p.id, Name: p.name, Kind: p.kind, State: p.state, Node: p.node, PID: p.pid,
		LogPath: p.logPath, Ports: maps.Clone(p.ports), Started: p.started, Ended: p.ended,
	}
	if p.state.Terminal() {
		st.ExitCode, st.Message = p.exitCode, p.message
	}
	return st
}
