package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Deadlines of the polls and commands. They are generous: the binaries may be race
// builds on a loaded two-core machine, and no test asserts on time.
const (
	// waitLong bounds a wait for a cluster to start, stop or notice a loss.
	waitLong = 90 * time.Second
	// commandTimeout bounds one CLI command.
	commandTimeout = 2 * time.Minute
	// dumpTail is how much of each output or log file a failed test prints.
	dumpTail = 8 << 10
)

// sluiceEnv is the environment of the processes the tests start: the test's own
// without any SLUICE_* variable (a developer's settings must not leak in), plus extra.
func sluiceEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// masterEnv is the SLUICE_MASTER setting that points commands at addr.
func masterEnv(addr string) string { return "SLUICE_MASTER=" + addr }

// result is the outcome of one CLI command.
type result struct {
	args   []string
	stdout string
	stderr string
	code   int
}

func (r result) String() string {
	return fmt.Sprintf("sluice %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// run runs the sluice binary with args in dir and returns its outputs and exit status.
// It fails the test only when the command cannot be run at all, hangs past
// commandTimeout or reports a data race.
func run(t testing.TB, dir string, env []string, args ...string) result {
	t.Helper()
	return runWithin(t, commandTimeout, dir, env, args...)
}

// runWithin is run with its own time limit, for commands that wait on purpose (a Nomad
// deploy waits for its allocations).
func runWithin(t testing.TB, timeout time.Duration, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("sluice %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	if strings.Contains(r.stderr, "WARNING: DATA RACE") {
		t.Errorf("race report from sluice %s:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

// mustRun runs a command that must exit 0 and returns its standard output.
func mustRun(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	r := run(t, dir, env, args...)
	if r.code != 0 {
		t.Fatalf("want exit 0, got %v", r)
	}
	return r.stdout
}

// eventually polls f every 50 ms until it returns nil, and fails the test with f's
// last error when timeout passes first.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v: %v", what, timeout, err)
		}
		<-tick.C
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. Only the master
// test uses it, for ports that must stay the same across restarts.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a long-running sluice process (local, master, executor) started by a test.
// Its standard output and error go to files in the test's directory.
type proc struct {
	name    string
	cmd     *exec.Cmd
	outPath string
	errPath string
	// done is closed once the process has exited; waitErr is Wait's error then.
	done    chan struct{}
	waitErr error
	// childrenIn, when set, is the working directory of the process's children (the
	// executors of `sluice local` run in its data directory): any sluice process still
	// running there once the process is gone is a leftover.
	childrenIn string
	// afterExit runs in the cleanup, once the process and its leftovers are gone.
	afterExit []func()
}

// startProc starts the sluice binary with args in dir, its outputs going to
// dir/<name>.stdout and .stderr, and registers a cleanup that kills it (SIGKILL) if it
// still runs, then the processes it left behind (see childrenIn), and prints its
// outputs if the test failed.
func startProc(t testing.TB, name, dir string, env []string, args ...string) *proc {
	p := &proc{
		name:    name,
		outPath: filepath.Join(dir, name+".stdout"),
		errPath: filepath.Join(dir, name+".stderr"),
		done:    make(chan struct{}),
	}
	stdout, err := os.Create(p.outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(p.errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	p.cmd = exec.Command(sluiceBin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start sluice %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if p.childrenIn != "" {
			killLeftovers(t, p.childrenIn)
		}
		if t.Failed() {
			t.Logf("%s (pid %d) %s", p.name, p.pid(), strings.Join(args, " "))
			dumpFile(t, p.outPath)
			dumpFile(t, p.errPath)
		}
		checkNoRace(t, p.errPath)
		for _, f := range p.afterExit {
			f()
		}
	})
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL unless the process has ended, and waits for its end.
func (p *proc) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// wait waits up to timeout for the process to end and returns its exit code (-1 when
// a signal ended it); it fails the test if the process still runs then.
func (p *proc) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s (pid %d) still runs after %v", p.name, p.pid(), timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// stdout returns what the process has printed on its standard output so far.
func (p *proc) stdout() string { return readFile(p.outPath) }

// stderr returns what the process has printed on its standard error so far.
func (p *proc) stderr() string { return readFile(p.errPath) }

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// dumpFile prints the end of a file into the test's log.
func dumpFile(t testing.TB, p string) {
	b, err := os.ReadFile(p)
	if err != nil {
		return
	}
	if len(b) > dumpTail {
		b = append([]byte("…"), b[len(b)-dumpTail:]...)
	}
	t.Logf("--- %s:\n%s", p, b)
}

// checkNoRace fails the test if a file holds a race detector report.
func checkNoRace(t testing.TB, files ...string) {
	for _, f := range files {
		if strings.Contains(readFile(f), "WARNING: DATA RACE") {
			t.Errorf("race report in %s", f)
			dumpFile(t, f)
		}
	}
}

// sluiceProcs returns the PIDs of the running processes of the test's sluice binary
// whose working directory is root or under it.
func sluiceProcs(root string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != sluiceBin {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || (cwd != root && !strings.HasPrefix(cwd, root+string(filepath.Separator))) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// killLeftovers waits a little for the sluice processes still running under root to
// end (the children of a killed `sluice local` get their SIGKILL from the kernel a
// moment after it died), then kills (SIGKILL) those left, which fails the test: a
// process that outlives its parent is a leftover.
func killLeftovers(t testing.TB, root string) {
	if waitNoProcs(root, 10*time.Second) {
		return
	}
	pids := sluiceProcs(root)
	t.Errorf("sluice processes left running in %s: %v", root, pids)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	waitNoProcs(root, waitLong)
}

// waitNoProcs polls until no sluice process runs under root, at most timeout; it
// reports whether none does.
func waitNoProcs(root string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for len(sluiceProcs(root)) > 0 {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}
