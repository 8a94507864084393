package mesostest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

const (
	sigKill = syscall.SIGKILL
	sigTerm = syscall.SIGTERM
)

// sandboxDir returns the sandbox of one executor run, laid out as a Mesos agent's work_dir.
func (m *Master) sandboxDir(a *agent, fwID, execID, containerID string) string {
	return filepath.Join(m.cfg.WorkDir, "slaves", a.id, "frameworks", fwID, "executors", execID, "runs", containerID)
}

// executorEnv returns the environment a Mesos agent gives an executor, followed by the
// command's own variables.
func (m *Master) executorEnv(a *agent, fw *framework, execID, sandbox string, cmd *mesos.CommandInfo, httpCommand bool) []string {
	env := a.cfg.Environment
	if env == nil {
		env = os.Environ()
	}
	env = append([]string(nil), env...)
	checkpoint := fw.info.GetCheckpoint()
	env = append(env,
		"MESOS_FRAMEWORK_ID="+fw.id,
		"MESOS_EXECUTOR_ID="+execID,
		"MESOS_DIRECTORY="+sandbox,
		"MESOS_SANDBOX="+sandbox,
		"MESOS_AGENT_ENDPOINT="+a.endpoint,
		"MESOS_SLAVE_ID="+a.id,
		"MESOS_SLAVE_PID=slave(1)@"+a.endpoint,
		"MESOS_CHECKPOINT="+boolDigit(checkpoint),
		"MESOS_HTTP_COMMAND_EXECUTOR="+boolDigit(httpCommand),
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD="+mesosDuration(a.cfg.ExecutorShutdownGracePeriod),
	)
	if checkpoint {
		env = append(env,
			"MESOS_RECOVERY_TIMEOUT="+mesosDuration(a.cfg.RecoveryTimeout),
			"MESOS_SUBSCRIPTION_BACKOFF_MAX="+mesosDuration(a.cfg.SubscriptionBackoffMax))
	}
	if cmd != nil && cmd.Environment != nil {
		for _, v := range cmd.Environment.Variables {
			env = append(env, v.Name+"="+v.GetValue())
		}
	}
	return env
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// buildCmd turns a CommandInfo into an exec.Cmd in sandbox: shell commands run with
// /bin/sh -c, others exec value with arguments as argv (arguments[0] is argv[0]).
func buildCmd(ci *mesos.CommandInfo, sandbox string, env []string) (*exec.Cmd, error) {
	var cmd *exec.Cmd
	if ci.Shell == nil || *ci.Shell {
		cmd = exec.Command("/bin/sh", "-c", ci.GetValue())
	} else {
		bin := ci.GetValue()
		if !strings.Contains(bin, "/") {
			if lp, err := exec.LookPath(bin); err == nil {
				bin = lp
			}
		} else if !filepath.IsAbs(bin) {
			bin = filepath.Join(sandbox, bin)
		}
		cmd = &exec.Cmd{Path: bin, Args: append([]string(nil), ci.Arguments...)}
		if len(cmd.Args) == 0 {
			cmd.Args = []string{ci.GetValue()}
		}
	}
	cmd.Dir = sandbox
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := os.OpenFile(filepath.Join(sandbox, "stdout"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open stdout: %w", err)
	}
	stderr, err := os.OpenFile(filepath.Join(sandbox, "stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("open stderr: %w", err)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd, nil
}

// closeCmdFiles closes the sandbox stdout/stderr files buildCmd opened.
func closeCmdFiles(cmd *exec.Cmd) {
	for _, w := range []io.Writer{cmd.Stdout, cmd.Stderr} {
		if f, ok := w.(*os.File); ok {
			f.Close()
		}
	}
}

// prepareSandbox creates the sandbox and fetches the command's URIs into it: local paths and
// file:// URLs are copied, http(s) URLs downloaded; executable URIs are made executable.
// Archives are not extracted.
func prepareSandbox(ctx context.Context, sandbox string, ci *mesos.CommandInfo) error {
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		return fmt.Errorf("create sandbox: %w", err)
	}
	if ci == nil {
		return nil
	}
	for _, u := range ci.URIs {
		if err := fetchURI(ctx, sandbox, u); err != nil {
			return fmt.Errorf("fetch %s: %w", u.Value, err)
		}
	}
	return nil
}

func fetchURI(ctx context.Context, sandbox string, u mesos.CommandInfo_URI) error {
	var src io.ReadCloser
	name := u.GetOutputFile()
	parsed, err := url.Parse(u.Value)
	switch {
	case err == nil && (parsed.Scheme == "http" || parsed.Scheme == "https"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Value, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("HTTP status %d", resp.StatusCode)
		}
		src = resp.Body
		if name == "" {
			name = path.Base(parsed.Path)
		}
	case err == nil && (parsed.Scheme == "file" || parsed.Scheme == ""):
		p := u.Value
		if parsed.Scheme == "file" {
			p = parsed.Path
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		src = f
		if name == "" {
			name = filepath.Base(p)
		}
	default:
		return fmt.Errorf("unsupported URI scheme in %q", u.Value)
	}
	defer src.Close()
	if name == "" || name == "." || name == "/" {
		return errors.New("cannot name the fetched file")
	}
	mode := os.FileMode(0o644)
	if u.GetExecutable() {
		mode = 0o755
	}
	dst, err := os.OpenFile(filepath.Join(sandbox, filepath.Base(name)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// startProcessLocked starts cmd and a goroutine that waits for it and calls onExit under the
// master lock.
func (m *Master) startProcessLocked(cmd *exec.Cmd, onExit func(p *process)) (*process, error) {
	err := cmd.Start()
	closeCmdFiles(cmd)
	if err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		_ = cmd.Wait()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		// Reap anything the process left in its group, as an agent destroys the container.
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		m.mu.Lock()
		defer m.mu.Unlock()
		p.exited = true
		p.status = ws
		if p.killTimer != nil {
			p.killTimer.Stop()
		}
		onExit(p)
	}()
	return p, nil
}

// terminateLocked sends SIGTERM to p's group and SIGKILL after grace.
func (m *Master) terminateLocked(p *process, grace time.Duration) {
	if p == nil || p.exited {
		return
	}
	p.signal(sigTerm)
	if p.killTimer == nil {
		p.killTimer = time.AfterFunc(grace, func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			p.signal(sigKill)
		})
	}
}

// exitMessage describes a wait status the way Mesos' command executor does.
func exitMessage(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "Command terminated with signal " + signalName(ws.Signal())
	}
	return "Command exited with status " + strconv.Itoa(ws.ExitStatus())
}

// signalName is strsignal(3)'s text for the common signals.
func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGKILL:
		return "Killed"
	case syscall.SIGTERM:
		return "Terminated"
	case syscall.SIGINT:
		return "Interrupt"
	case syscall.SIGSEGV:
		return "Segmentation fault"
	case syscall.SIGABRT:
		return "Aborted"
	}
	return s.String()
}
