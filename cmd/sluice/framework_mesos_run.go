package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicedata/sluice/integrations/mesos"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/framework"
)

// mesosFramework is one run of `sluice framework mesos run`: two Schedulers on one
// mesos backend, one keeping the masters and one the executors (and running the jobs),
// so that executors are launched only once the masters' addresses are known.
type mesosFramework struct {
	o       mesosRunOptions
	log     *slog.Logger
	out     *syncWriter
	backend *mesos.Backend
	fwAddr  string
	masters *scheduler.Scheduler
	execs   *scheduler.Scheduler
	// stopExecs and stopMasters end the Schedulers, which kill their tasks: only a
	// teardown calls them.
	stopExecs, stopMasters context.CancelFunc

	// mu guards the fields below.
	mu sync.Mutex
	// addrs are the masters' gRPC addresses by slot ("" while unknown).
	addrs []string
	// execStarted is closed when the executors' Scheduler starts.
	execStarted chan struct{}
	started     bool

	// pins place the masters of a three-master group (nil for one master); set before
	// the masters' Scheduler runs and not changed after.
	pins []mesosMasterPin
}

// nodeWait bounds a look-up of an agent's host name.
const nodeWait = 5 * time.Second

// Ports the backend gives each task (SLUICE_PORT_<NAME>).
var (
	masterPorts   = []string{"rpc", "http", "raft"}
	executorPorts = []string{framework.RPCPortName, "http"}
)

// masterScript starts `sluice master` on the ports of its offer. $0 is the sluice
// binary and "$@" the extra arguments; the bind and advertised hosts come from
// SLUICE_MESOS_BIND_HOST (every interface, the agent's address when empty), and
// SLUICE_MESOS_ADVERTISE_HOST, when set, is the advertised host (pinned masters).
//
// The single master's Raft address is advertised as masterRaftID whatever port it
// listens on: that address is the Raft ID its journal records, and a master relaunched
// on another port or agent (with --master-journal-dir kept) must find itself in its
// journal. Nobody dials it: there are no peers.
const masterScript = `b="${SLUICE_MESOS_BIND_HOST:-0.0.0.0}"
h="${SLUICE_MESOS_ADVERTISE_HOST:-${SLUICE_MESOS_BIND_HOST:-${LIBPROCESS_IP:-$(hostname -f 2>/dev/null || hostname)}}}"
exec "$0" master --framework "$SLUICE_MESOS_FRAMEWORK" \
  --rpc-addr "$b:$SLUICE_PORT_RPC" --advertise-addr "$h:$SLUICE_PORT_RPC" \
  --http-addr "$b:$SLUICE_PORT_HTTP" \
  --raft-addr "$b:$SLUICE_PORT_RAFT" --raft-advertise-addr "$SLUICE_MESOS_RAFT_ID" "$@"`

// masterRaftID is the Raft address (and ID) the master advertises; see masterScript.
const masterRaftID = "127.0.0.1:19200"

// runMesosFramework runs the framework until ctx ends (see the decisions in
// framework_mesos.go), or until the FrameworkScheduler service or a Scheduler fails.
func runMesosFramework(ctx context.Context, o mesosRunOptions, log *slog.Logger) error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.FrameworkIDFile != "" {
		if err := os.MkdirAll(filepath.Dir(o.FrameworkIDFile), 0o755); err != nil {
			return fmt.Errorf("framework ID directory: %w", err)
		}
	}
	lis, err := net.Listen("tcp", o.RPCAddr)
	if err != nil {
		return fmt.Errorf("framework scheduler service: %w", err)
	}
	defer lis.Close()
	f := &mesosFramework{o: o, log: log, out: &syncWriter{w: o.Out}, addrs: make([]string, o.Masters), execStarted: make(chan struct{})}
	if f.fwAddr, err = o.advertise(lis); err != nil {
		return err
	}
	// The backend outlives ctx: with failover, Ctrl-C only drops its subscription.
	backendCtx, dropSubscription := context.WithCancel(context.WithoutCancel(ctx))
	defer dropSubscription()
	if f.backend, err = mesos.New(backendCtx, o.backendConfig(log)); err != nil {
		return err
	}
	if err := f.newSchedulers(); err != nil {
		return err
	}
	srv, err := framework.NewServer(framework.ServerConfig{Scheduler: f.execs, Backend: "mesos",
		Logger: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(f.out, "sluice framework on mesos %s: %d master(s), %d executor(s), role %s\n", o.MesosMaster, o.Masters, o.Executors, o.Role)
	fmt.Fprintf(f.out, "framework service %s\n", f.fwAddr)

	// Service tasks are killed only on a teardown: their Schedulers run on contexts
	// that only a teardown ends, the executors' first.
	masterCtx, stopMasters := context.WithCancel(context.WithoutCancel(ctx))
	execCtx, stopExecs := context.WithCancel(context.WithoutCancel(ctx))
	f.stopMasters, f.stopExecs = stopMasters, stopExecs
	failed := make(chan error, 4)
	var wg sync.WaitGroup
	mevents := f.masters.Subscribe(masterCtx)
	eevents := f.execs.Subscribe(execCtx)
	masterDone := make(chan struct{})
	wg.Go(func() {
		defer close(masterDone)
		if err := f.pinMasters(masterCtx); err != nil {
			failed <- fmt.Errorf("masters: %w", err)
			return
		}
		if err := f.masters.Run(masterCtx); err != nil {
			failed <- fmt.Errorf("masters: %w", err)
		}
	})
	execDone := make(chan struct{})
	wg.Go(func() {
		defer close(execDone)
		select {
		case <-f.execStarted:
		case <-execCtx.Done():
			return
		}
		if err := f.execs.Run(execCtx); err != nil {
			failed <- fmt.Errorf("executors: %w", err)
		}
	})
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSrv()
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		if err := srv.Serve(srvCtx, lis); err != nil {
			failed <- fmt.Errorf("framework service: %w", err)
		}
	}()
	go f.reportFrameworkID(srvCtx)
	go f.watchMasters(masterCtx, mevents)
	go f.watchExecutors(eevents)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-failed:
		f.log.Error("framework_failed", "error", runErr)
	}
	if !f.o.TeardownOnExit {
		fmt.Fprintf(f.out, "leaving the tasks running for failover (up to %v); run again with --framework-id-file %s to take them back\n",
			o.FailoverTimeout, o.FrameworkIDFile)
		stopSrv()
		<-srvDone
		dropSubscription()
		// The Schedulers are left as they are (their contexts never end): stopping them
		// would kill the tasks. The process ends with them.
		return runErr
	}
	fmt.Fprintln(f.out, "tearing down: executors, then the master")
	f.stopExecs()
	<-execDone
	f.stopMasters()
	<-masterDone
	stopSrv()
	<-srvDone
	wg.Wait()
	if err := f.backend.Close(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if o.FrameworkIDFile != "" {
		for _, p := range []string{o.FrameworkIDFile, o.FrameworkIDFile + ".tasks.json", o.mastersFile()} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				runErr = errors.Join(runErr, fmt.Errorf("forget the framework ID: %w", err))
			}
		}
	}
	fmt.Fprintln(f.out, "torn down")
	return runErr
}

// newSchedulers builds the masters' and the executors' Schedulers.
func (f *mesosFramework) newSchedulers() error {
	mcfg := scheduler.DefaultConfig()
	mcfg.Backend = f.backend
	mcfg.Masters = f.o.Masters
	mcfg.MasterTask = f.masterTask
	mcfg.OnLoss = f.onLoss
	mcfg.Logger = f.log.With("tasks", "masters")
	var err error
	if f.masters, err = scheduler.New(mcfg); err != nil {
		return err
	}
	ecfg := scheduler.DefaultConfig()
	ecfg.Backend = f.backend
	ecfg.Executors = f.o.Executors
	ecfg.ExecutorTask = f.executorTask
	ecfg.OnLoss = f.onLoss
	ecfg.Logger = f.log.With("tasks", "executors")
	f.execs, err = scheduler.New(ecfg)
	return err
}

// masterTask is the task of master slot i.
func (f *mesosFramework) masterTask(i int) scheduler.Task {
	o := f.o
	args := []string{"/bin/sh", "-c", masterScript, o.Binary, "--log-level", o.LogLevel.String()}
	if o.JournalDir != "" && f.pins == nil {
		args = append(args, "--journal-dir", o.JournalDir)
	}
	if o.RootUFS != "" {
		args = append(args, "--root-ufs", o.RootUFS)
	}
	args = append(args, o.MasterArgs...)
	env := map[string]string{"SLUICE_MESOS_FRAMEWORK": f.fwAddr, "SLUICE_MESOS_RAFT_ID": masterRaftID}
	if o.TaskBindHost != "" {
		env["SLUICE_MESOS_BIND_HOST"] = o.TaskBindHost
	}
	t := scheduler.Task{
		Name:      "master-" + strconv.Itoa(i),
		Kind:      scheduler.KindMaster,
		Command:   args,
		Env:       env,
		Resources: scheduler.Resources{CPU: o.MasterCPU, MemMB: o.MasterMemMB, Ports: masterPorts},
	}
	if f.pins != nil {
		f.pinnedMaster(i, &t)
	}
	return t
}

// executorTask is the task of executor slot i: `sluice executor --mesos` pointed at the
// masters' current addresses.
func (f *mesosFramework) executorTask(i int) scheduler.Task {
	o := f.o
	f.mu.Lock()
	masters := strings.Join(f.addrs, ",")
	f.mu.Unlock()
	args := []string{o.Binary, "executor", "--mesos", "--master", masters, "--mem-size", o.MemTierSize,
		"--log-level", o.LogLevel.String()}
	if o.TaskBindHost != "" {
		// The executor keeps these hosts and takes the ports of its offer; it still
		// advertises the agent's host name, which clients compare with theirs to read
		// blocks of their own host directly.
		args = append(args, "--rpc-addr", net.JoinHostPort(o.TaskBindHost, "0"),
			"--http-addr", net.JoinHostPort(o.TaskBindHost, "0"))
	}
	args = append(args, o.ExecutorArgs...)
	return scheduler.Task{
		Name:      "executor-" + strconv.Itoa(i),
		Kind:      scheduler.KindExecutor,
		Command:   args,
		Resources: scheduler.Resources{CPU: o.ExecutorCPU, MemMB: o.ExecutorMemMB + o.MemTierMB, Ports: executorPorts},
	}
}

// watchMasters follows the masters: it records each running master's address, starts
// the executors once every master runs, and relaunches the executors when a master
// comes back at another address.
func (f *mesosFramework) watchMasters(ctx context.Context, events <-chan scheduler.TaskEvent) {
	for ev := range events {
		if ev.Kind != scheduler.KindMaster || ev.State != scheduler.StateRunning {
			continue
		}
		idx := -1
		for _, st := range f.masters.Masters() {
			if st.TaskID == ev.TaskID {
				idx = st.Index
			}
		}
		if idx < 0 {
			continue
		}
		addr, err := f.taskAddr(ctx, ev.TaskID, ev.Node)
		if err != nil {
			f.log.Warn("master_address_unknown", "task_id", ev.TaskID, "error", err)
			continue
		}
		f.mu.Lock()
		old := f.addrs[idx]
		f.addrs[idx] = addr
		all := !slices.Contains(f.addrs, "")
		f.mu.Unlock()
		fmt.Fprintf(f.out, "master %s (task %s)\n", addr, ev.TaskID)
		if web := f.webAddr(ctx, ev.TaskID, addr); web != "" {
			fmt.Fprintf(f.out, "web UI http://%s\n", web)
		}
		if old != "" && old != addr {
			fmt.Fprintf(f.out, "master moved from %s: relaunching the executors with the new address\n", old)
			f.relaunchExecutors(ctx)
		}
		if all {
			f.markStarted()
		}
	}
}

// markStarted starts the executors' Scheduler (once).
func (f *mesosFramework) markStarted() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started {
		f.started = true
		close(f.execStarted)
	}
}

// relaunchExecutors kills every running executor: its Scheduler relaunches each slot
// with the masters' current addresses.
func (f *mesosFramework) relaunchExecutors(ctx context.Context) {
	for _, st := range f.execs.Executors() {
		if st.TaskID == "" {
			continue
		}
		if err := f.backend.Kill(ctx, st.TaskID); err != nil && !errors.Is(err, scheduler.ErrUnknownTask) {
			f.log.Warn("executor_kill_failed", "task_id", st.TaskID, "error", err)
		}
	}
}

// taskAddr is the gRPC address of a running task: its node's host (or --task-bind-host)
// and its rpc port.
func (f *mesosFramework) taskAddr(ctx context.Context, id scheduler.TaskID, node string) (string, error) {
	st, err := f.backend.Status(ctx, id)
	if err != nil {
		return "", err
	}
	port, ok := st.Ports["rpc"]
	if !ok || port <= 0 {
		return "", fmt.Errorf("task %s has no rpc port", id)
	}
	host := f.o.TaskBindHost
	if host == "" {
		host = f.nodeHost(ctx, node)
	}
	if host == "" {
		return "", fmt.Errorf("agent %s of task %s has no known host", node, id)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// webAddr is the master's web UI address: the host of its gRPC address rpcAddr and its
// http port; "" when unknown.
func (f *mesosFramework) webAddr(ctx context.Context, id scheduler.TaskID, rpcAddr string) string {
	st, err := f.backend.Status(ctx, id)
	if err != nil || st.Ports["http"] <= 0 {
		return ""
	}
	host, _, err := net.SplitHostPort(rpcAddr)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(st.Ports["http"]))
}

// nodeHost is the host name of a Mesos agent, "" when unknown. It waits at most
// nodeWait for the backend to know an agent.
func (f *mesosFramework) nodeHost(ctx context.Context, node string) string {
	ctx, cancel := context.WithTimeout(ctx, nodeWait)
	defer cancel()
	nodes, err := f.backend.Nodes(ctx)
	if err != nil {
		return ""
	}
	for _, n := range nodes {
		if n.ID == node {
			return n.Host
		}
	}
	return ""
}

// watchExecutors prints the executors' launches and the jobs' ends until the channel
// closes.
func (f *mesosFramework) watchExecutors(events <-chan scheduler.TaskEvent) {
	ctx := context.Background()
	for ev := range events {
		switch {
		case ev.Kind == scheduler.KindExecutor && ev.State == scheduler.StateRunning:
			for _, st := range f.execs.Executors() {
				if st.TaskID == ev.TaskID {
					fmt.Fprintf(f.out, "%s running on %s (task %s)\n", st.Slot, f.nodeHost(ctx, ev.Node), ev.TaskID)
				}
			}
		case ev.Kind == scheduler.KindJob && ev.State.Terminal():
			fmt.Fprintf(f.out, "job task %s %s on %s\n", ev.TaskID, ev.State, f.nodeHost(ctx, ev.Node))
		}
	}
}

// reportFrameworkID prints the framework ID once Mesos has given it.
func (f *mesosFramework) reportFrameworkID(ctx context.Context) {
	if err := waitUntil(ctx, func() bool { return f.backend.FrameworkID() != "" }); err != nil {
		return
	}
	fmt.Fprintf(f.out, "framework %s subscribed\n", f.backend.FrameworkID())
}

// onLoss prints a lost master or executor. The master hears of a lost executor through
// the FrameworkScheduler service's EXECUTOR_LOST event, at once.
func (f *mesosFramework) onLoss(ctx context.Context, ev scheduler.TaskEvent) {
	what := "executor"
	if ev.Kind == scheduler.KindMaster {
		what = "master"
	}
	fmt.Fprintf(f.out, "%s task %s %s: %s; launching another from a new offer\n", what, ev.TaskID, ev.State, ev.Message)
	if ev.Kind == scheduler.KindMaster && f.pins != nil {
		f.reportPinnedLoss(ctx, ev)
	}
}
