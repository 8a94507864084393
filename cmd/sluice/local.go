package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/master"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/local"
)

// `sluice local` is the zero-configuration cluster of one machine: a master in this
// process and the framework scheduler with the local backend, which runs the executors
// as child processes (`sluice executor`), so that killing one is a lost node that the
// scheduler replaces, as on Nomad or Mesos.
//
// Decisions:
//   - Everything lives under --data-dir (./sluice-data): the journal (journal/), the root
//     UFS (ufs/), the logs of the master (logs/master.log) and of each executor
//     (logs/<task id>.log). A lock file (local.lock) keeps a second `sluice local` off the
//     same data directory.
//   - The master is a single-node Raft cluster whose transport is in memory, so local
//     mode needs no Raft port and the journal stays valid whatever ports are chosen.
//   - Executor i listens on --executor-port+i (gRPC) and --executor-port+N+i (HTTP), N
//     being --executors: 29998/30000 and 29999/30001 by default. Port 0 everywhere picks
//     free ports (tests run several locals side by side so).
//   - Executor i keeps its MEM tier in /dev/shm/sluice/local-<hash of the data dir>/
//     executor-<i>, so two locals in different folders never share blocks, and a clean
//     stop and start finds the cached blocks again. The directory records its data
//     directory (local_memgc.go), and each start removes the MEM directories of data
//     directories that were deleted since. A relaunch of a slot in the same run
//     (after its executor ended without being asked to) passes --format: the replacement
//     starts empty, as a new node would, and blocks that lived only on the lost executor
//     are gone. This holds even for an executor that failed before it served (a port in
//     use): the scheduler cannot tell, and an empty start is always consistent with the
//     master, which dropped the lost executor's blocks. The
//     scheduler reports the loss to the master at once (ReportExecutorLost), and the
//     short --heartbeat-timeout (3 s) covers anything the report misses.
//   - Lineage jobs (`sluice job submit`) run as child processes of the same scheduler,
//     with their logs in logs/<task id>.log. They are not relaunched; a restart of
//     `sluice local` marks the jobs it was running FAILED ("master restarted").
//   - Ctrl-C (or SIGTERM) stops the executors first (the scheduler sends them SIGTERM,
//     then SIGKILL after the kill grace), then the master.

// localOptions configures one run of the local cluster.
type localOptions struct {
	// DataDir is the absolute data directory.
	DataDir string
	// MasterPort, WebPort and ExecutorPort are the ports described above; 0 picks.
	MasterPort, WebPort, ExecutorPort int
	// Executors is the number of executor processes.
	Executors int
	// MemSize is each executor's MEM tier capacity, as a flag value ("1GiB").
	MemSize string
	// HeartbeatTimeout is the master's lost-executor timeout.
	HeartbeatTimeout time.Duration
	// LogLevel is the level of the master's log file and the executors' logs.
	LogLevel slog.Level
	// Executable is the sluice binary the executors run.
	Executable string
	// Out receives the banner and the cluster's events; Stderr the master's warnings.
	Out, Stderr io.Writer
	// OnReady, when set, is called once the cluster serves, with the master's address.
	OnReady func(masterAddr string)
	// TuneMaster, when set, adjusts the master's configuration last (the checkpoint and
	// recompute flags).
	TuneMaster func(*master.Config)
}

func localCommand() *cli.Command {
	return &cli.Command{
		Name:  "local",
		Usage: "run a whole cluster on this machine: a master, and executors as child processes",
		Description: `Starts a master in this process and the framework scheduler with the local backend,
which runs the executors as child processes and relaunches them when they die (with
empty storage, as a lost node). Everything is kept in --data-dir; starting again finds
the namespace and the cached blocks. Ctrl-C stops it all.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "data-dir", Value: defaultDataDir, Usage: "keep the journal, the root UFS and the logs in `DIR`"},
			&cli.IntFlag{Name: "master-port", Value: 19998, Usage: "master gRPC `PORT` on 127.0.0.1 (0: any free port)"},
			&cli.IntFlag{Name: "web-port", Value: 19999, Usage: "web UI, /metrics and /healthz `PORT` on 127.0.0.1 (0: any free port)"},
			&cli.IntFlag{Name: "executor-port", Value: 29998, Usage: "executor i serves gRPC on `PORT`+i and HTTP on PORT+N+i, N executors (0: any free ports)"},
			&cli.IntFlag{Name: "executors", Value: 2, Usage: "number of executor processes"},
			&cli.StringFlag{Name: "mem-size", Value: "1GiB", Usage: "MEM tier `SIZE` of each executor"},
			&cli.DurationFlag{Name: "heartbeat-timeout", Value: 3 * time.Second, Usage: "silence after which an executor is lost"},
			logLevelFlag("info"),
		}, lineageFlags()...),
		Action: runLocal,
	}
}

func runLocal(c *cli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("local takes no arguments: %w", errBadFlag)
	}
	dir, err := filepath.Abs(c.String("data-dir"))
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	level, err := parseLogLevel(c.String(logLevelFlagName))
	if err != nil {
		return err
	}
	tuned := master.DefaultConfig()
	if err := applyLineageFlags(c, &tuned); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the sluice binary for the executors: %w", err)
	}
	opts := localOptions{
		DataDir:          dir,
		MasterPort:       c.Int("master-port"),
		WebPort:          c.Int("web-port"),
		ExecutorPort:     c.Int("executor-port"),
		Executors:        c.Int("executors"),
		MemSize:          c.String("mem-size"),
		HeartbeatTimeout: c.Duration("heartbeat-timeout"),
		LogLevel:         level,
		Executable:       exe,
		Out:              c.App.Writer,
		Stderr:           c.App.ErrWriter,
		TuneMaster: func(cfg *master.Config) {
			cfg.Checkpoint, cfg.Recompute = tuned.Checkpoint, tuned.Recompute
		},
	}
	ctx, stop := signalContext(c.Context)
	defer stop()
	return runLocalCluster(ctx, opts)
}

// validate checks the options that the components do not check themselves.
func (o localOptions) validate() error {
	for _, p := range []struct {
		name string
		port int
	}{{"master-port", o.MasterPort}, {"web-port", o.WebPort}, {"executor-port", o.ExecutorPort}} {
		if p.port < 0 || p.port > 65535 {
			return fmt.Errorf("--%s %d out of range: %w", p.name, p.port, errBadFlag)
		}
	}
	if o.Executors < 0 {
		return fmt.Errorf("--executors %d is negative: %w", o.Executors, errBadFlag)
	}
	if o.ExecutorPort != 0 && o.ExecutorPort+2*o.Executors-1 > 65535 {
		return fmt.Errorf("--executor-port %d leaves no room for %d executors: %w", o.ExecutorPort, o.Executors, errBadFlag)
	}
	if _, err := parseSize(o.MemSize); err != nil {
		return fmt.Errorf("--mem-size: %w", err)
	}
	if o.HeartbeatTimeout <= 0 {
		return fmt.Errorf("--heartbeat-timeout %v must be positive: %w", o.HeartbeatTimeout, errBadFlag)
	}
	return nil
}

// executorPorts returns the gRPC and HTTP ports of executor i.
func (o localOptions) executorPorts(i int) (rpc, http int) {
	if o.ExecutorPort == 0 {
		return 0, 0
	}
	return o.ExecutorPort + i, o.ExecutorPort + o.Executors + i
}

// memDir is the MEM tier directory of executor slot i, keyed by the data directory.
func (o localOptions) memDir(i int) string {
	sum := sha256.Sum256([]byte(o.DataDir))
	return filepath.Join(memRoot(), "local-"+hex.EncodeToString(sum[:6]), "executor-"+strconv.Itoa(i))
}

// localCluster is one run of `sluice local`.
type localCluster struct {
	opts   localOptions
	out    *syncWriter
	log    *slog.Logger
	master *master.Master
	sched  *scheduler.Scheduler

	// mu guards launched, which records the executor slots launched in this run.
	mu       sync.Mutex
	launched []bool
}

// runLocalCluster runs the local cluster until ctx ends, then stops the executors and
// the master and returns nil, or the error that kept the cluster from starting or
// stopped it.
func runLocalCluster(ctx context.Context, opts localOptions) error {
	if err := opts.validate(); err != nil {
		return err
	}
	for _, d := range []string{"journal", "ufs", "logs"} {
		if err := os.MkdirAll(filepath.Join(opts.DataDir, d), 0o755); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
	}
	unlock, err := lockDataDir(opts.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	opts.tidyMemDirs()
	logFile, err := os.OpenFile(filepath.Join(opts.DataDir, "logs", "master.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open master log: %w", err)
	}
	defer logFile.Close()
	lc := &localCluster{
		opts:     opts,
		out:      &syncWriter{w: opts.Out},
		launched: make([]bool, opts.Executors),
	}
	// The master logs to its file at the chosen level and to the terminal from Warn up.
	lc.log = slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: opts.LogLevel}),
		slog.NewTextHandler(&syncWriter{w: opts.Stderr}, &slog.HandlerOptions{Level: max(opts.LogLevel, slog.LevelWarn)}),
	))
	return lc.run(ctx)
}

func (lc *localCluster) run(ctx context.Context) error {
	start := time.Now()
	mcfg, transport := lc.masterConfig()
	defer transport.Close()
	// Lineage jobs run on the scheduler below, as child processes (joblauncher.go).
	jobs := &schedJobLauncher{}
	mcfg.Jobs = jobs
	m, err := master.New(mcfg)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%w (is another sluice local running? choose other ports with --master-port and --web-port)", err)
		}
		return err
	}
	lc.master = m

	backend, err := local.New(local.Config{
		LogDir:    filepath.Join(lc.opts.DataDir, "logs"),
		KillGrace: local.DefaultConfig().KillGrace,
		Logger:    lc.log.With("component", "scheduler.local"),
	})
	if err != nil {
		m.Close()
		return err
	}
	defer backend.Close()
	scfg := scheduler.DefaultConfig()
	scfg.Backend = backend
	scfg.Executors = lc.opts.Executors
	scfg.ExecutorTask = lc.executorTask
	scfg.OnLoss = lc.onLoss
	scfg.Logger = lc.log.With("component", "scheduler")
	sched, err := scheduler.New(scfg)
	if err != nil {
		m.Close()
		return err
	}
	lc.sched = sched
	jobs.sched = sched

	// The master outlives the scheduler: executors are stopped first, so that they do
	// not spend their last moments looking for a master.
	masterCtx, stopMaster := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMaster()
	schedCtx, stopSched := context.WithCancel(ctx)
	defer stopSched()
	var masterErr, schedErr error
	masterDone := make(chan struct{})
	go func() {
		defer close(masterDone)
		masterErr = m.Run(masterCtx)
		stopSched() // a master that fails takes the cluster down
	}()
	if err := waitUntil(schedCtx, m.IsLeader); err != nil {
		stopMaster()
		<-masterDone
		return masterErr
	}
	events := sched.Subscribe(schedCtx)
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		schedErr = sched.Run(schedCtx)
	}()
	lc.banner(schedCtx, start)
	if lc.opts.OnReady != nil {
		lc.opts.OnReady(m.Addr())
	}
	lc.report(events) // until the scheduler stops

	fmt.Fprintln(lc.out, "stopping: executors, then the master")
	stopSched()
	<-schedDone
	stopMaster()
	<-masterDone
	if err := errors.Join(masterErr, schedErr); err != nil {
		return err
	}
	fmt.Fprintln(lc.out, "stopped")
	return nil
}

// masterConfig is the configuration of the in-process master and its in-memory Raft
// transport (closed by the caller after the master stopped).
func (lc *localCluster) masterConfig() (master.Config, *raft.InmemTransport) {
	o := lc.opts
	cfg := master.DefaultConfig()
	cfg.Version = version
	cfg.RPCAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(o.MasterPort))
	cfg.HTTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(o.WebPort))
	cfg.Journal.Dir = filepath.Join(o.DataDir, "journal")
	// The address is also the Raft server ID recorded in the journal: keep it fixed.
	_, transport := raft.NewInmemTransport("sluice-local")
	cfg.Journal.Transport = transport
	cfg.RootUFS = fileURI(filepath.Join(o.DataDir, "ufs"))
	cfg.UFS = ufsRegistry(os.Getenv)
	cfg.HeartbeatTimeout = o.HeartbeatTimeout
	cfg.HeartbeatInterval = min(cfg.HeartbeatInterval, o.HeartbeatTimeout/3)
	cfg.LostCheckInterval = min(cfg.LostCheckInterval, o.HeartbeatTimeout/4)
	cfg.Logger = lc.log
	if o.TuneMaster != nil {
		o.TuneMaster(&cfg)
	}
	return cfg, transport
}

// executorTask is the scheduler's task of executor slot i. It is called at every
// launch; a slot launched before in this run gets --format (see the decisions above).
func (lc *localCluster) executorTask(i int) scheduler.Task {
	o := lc.opts
	rpc, http := o.executorPorts(i)
	args := []string{
		o.Executable, "executor",
		"--master", lc.master.Addr(),
		"--rpc-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(rpc)),
		"--http-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(http)),
		"--mem-dir", o.memDir(i),
		"--mem-size", o.MemSize,
		"--log-level", o.LogLevel.String(),
	}
	lc.mu.Lock()
	if lc.launched[i] {
		args = append(args, "--format")
	}
	lc.launched[i] = true
	lc.mu.Unlock()
	return scheduler.Task{
		Name:    "executor-" + strconv.Itoa(i),
		Kind:    scheduler.KindExecutor,
		Command: args,
		// The executors run in this process's directory, so that they read the same
		// sluice.yaml (and SLUICE_* variables) as this command.
	}
}

// onLoss tells the master at once that an executor's process ended. The master may not
// know the executor yet (it died before registering); the heartbeat timeout is then moot.
func (lc *localCluster) onLoss(ctx context.Context, ev scheduler.TaskEvent) {
	if ev.Kind != scheduler.KindExecutor {
		return
	}
	fmt.Fprintf(lc.out, "executor %s (pid %d) lost: %s; starting a new one with empty storage\n", ev.TaskID, ev.PID, ev.Message)
	err := master.ReportLossRetrying(ctx, lc.master, string(ev.TaskID))
	switch {
	case err == nil:
		lc.log.Info("executor loss reported", "task_id", ev.TaskID)
	case ctx.Err() != nil:
	case errors.Is(err, master.ErrNotFound):
		lc.log.Info("lost executor was not registered", "task_id", ev.TaskID)
	default:
		lc.log.Warn("cannot report executor loss; the heartbeat timeout will catch it", "task_id", ev.TaskID, "err", err)
	}
}

// report prints the relaunches of executors until the events channel closes. The first
// launches are in the banner.
func (lc *localCluster) report(events <-chan scheduler.TaskEvent) {
	for ev := range events {
		if ev.Kind != scheduler.KindExecutor || ev.State != scheduler.StateRunning {
			continue
		}
		for _, st := range lc.sched.Executors() {
			if st.TaskID == ev.TaskID && st.Restarts > 0 {
				fmt.Fprintf(lc.out, "executor %s started (pid %d) in slot %s\n", ev.TaskID, ev.PID, st.Slot)
			}
		}
	}
}

// waitUntil polls cond every 10 ms until it holds (nil) or ctx ends (ctx's error).
func waitUntil(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// lockDataDir takes an exclusive lock on dataDir/local.lock, so that a second
// `sluice local` on the same directory fails at once instead of waiting on the journal.
// The lock goes with the process.
func lockDataDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "local.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is used by another sluice local: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// syncWriter serializes writes of several goroutines to one writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
