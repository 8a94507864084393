package nomadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// process is one Nomad agent process: the dev agent or an extra client.
type process struct {
	// name says which agent it is, in errors.
	name    string
	dataDir string
	logPath string

	cmd    *exec.Cmd
	exited chan struct{}
	// waitErr is the process's exit status, set before exited is closed.
	waitErr error
}

var errExited = errors.New("nomad agent exited before it was ready")

// start runs the agent binary with args (the data directory is added), its output
// appended to the log and markerEnv in its environment.
func (p *process) start(bin string, args ...string) error {
	if err := os.MkdirAll(p.dataDir, 0o700); err != nil {
		return err
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child holds its own descriptor
	p.cmd = exec.Command(bin, append(args, "-data-dir", p.dataDir)...)
	p.cmd.Env = append(environWithoutNomad(), markerEnv+"="+p.dataDir)
	p.cmd.Stdout = logFile
	p.cmd.Stderr = logFile
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.exited = make(chan struct{})
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return nil
}

// waitUntil polls ready every 100 ms until it returns nil, the process exits or
// startTimeout passes.
func (p *process) waitUntil(ready func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		last := ready(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s: %w: %v", p.name, errExited, p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v (last: %v)", p.name, startTimeout, last)
		case <-tick.C:
		}
	}
}

// crash kills the agent process alone with SIGKILL: its tasks and plugins live on.
func (p *process) crash() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// stop sends SIGINT, then SIGKILL after stopGrace, then kills the process group and
// every process that carries the data directory in its environment.
func (p *process) stop() error {
	var err error
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(os.Interrupt)
		timer := time.NewTimer(stopGrace)
		select {
		case <-p.exited:
		case <-timer.C:
			_ = p.cmd.Process.Kill()
			<-p.exited
			err = fmt.Errorf("%s ignored SIGINT for %v; log tail:\n%s", p.name, stopGrace, p.logTail())
		}
		timer.Stop()
		killGroup(p.cmd.Process.Pid)
	}
	if p.dataDir != "" {
		killByEnviron(p.dataDir)
	}
	return err
}

// logTail returns the last few KiB of the process's log.
func (p *process) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const max = 8 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// newHTTPClient is a client with a transport of its own, so closing its idle
// connections leaves no goroutine behind (goleak).
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil, // loopback only: never through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     30 * time.Second,
	}}
}
