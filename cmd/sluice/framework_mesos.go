package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/integrations/mesos"
)

// `sluice framework mesos run` is Sluice as a Mesos framework: a long-running framework
// scheduler on the Mesos v1 scheduler API (the mesos backend) that launches the Sluice
// master and one storage executor per agent from Mesos offers, relaunches them when they
// are lost, and runs lineage jobs and recomputes as Mesos command tasks, for the master,
// through the FrameworkScheduler service it serves on --rpc-addr.
//
// Decisions (framework_mesos_run.go holds the running part):
//   - The master is a Mesos command task: `sluice master --framework <--advertise-addr>`
//     with ports rpc, http and raft from the offer, bound on --task-bind-host (default
//     0.0.0.0) and advertised on the agent's address (LIBPROCESS_IP, else `hostname -f`),
//     or on --task-bind-host when set. Its journal is --master-journal-dir on the agent
//     (default: in the task's sandbox, so a master relaunched elsewhere starts a new
//     namespace; give a persistent directory and a shared --root-ufs in production).
//   - Executors run as Mesos custom executors, `sluice executor --mesos` (see
//     executor_mesos.go), one per agent, with ports rpc and http from the offer, memory
//     --executor-mem plus --mem-tier-size (the MEM tier is tmpfs, which Mesos counts as
//     the container's memory).
//   - Executors learn the master address at launch (--master): they are launched only
//     once every master runs, and when a master comes back at another address (a lost
//     master relaunched elsewhere), the running executors are killed and relaunched with
//     the new address. Their cached blocks go with them; the master recomputes or reads
//     through from the UFS.
//   - Losses: the FrameworkScheduler service reports a lost executor to the master at
//     once (EXECUTOR_LOST on WatchEvents); this command prints it.
//   - --masters is 1 or 3. Three masters are pinned to three distinct agents with
//     static ports, so that every master's address (--peers) is known before any of
//     them starts (framework_mesos_masters.go).
//   - Ctrl-C (SIGINT/SIGTERM) leaves the framework registered: its tasks keep running
//     for --failover-timeout, and starting this command again with the same
//     --framework-id-file (and --rpc-addr, which the masters dial) re-subscribes with
//     the same framework ID and takes the running master and executors back instead of
//     launching others. --teardown-on-exit stops every task instead (executors first,
//     then the master) and forgets the framework ID.

// mesosRunOptions is one run of `sluice framework mesos run`.
type mesosRunOptions struct {
	MesosMaster string
	Executors   int
	Masters     int
	Role        string
	Principal   string
	Secret      string
	// FailoverTimeout is how long Mesos keeps the tasks after this scheduler is gone.
	FailoverTimeout time.Duration
	// ExecutorCPU and ExecutorMemMB are each executor's own needs; MemTierMB its MEM tier
	// (MemTierSize as given, for the executor's --mem-size).
	ExecutorCPU   float64
	ExecutorMemMB int64
	MemTierSize   string
	MemTierMB     int64
	MasterCPU     float64
	MasterMemMB   int64
	// MasterRPCPort, MasterHTTPPort and MasterRaftPort are the static ports of a
	// three-master group; master i adds i*MasterPortStride. WaitAgents bounds the wait
	// for the agents that the masters are pinned to.
	MasterRPCPort, MasterHTTPPort, MasterRaftPort, MasterPortStride int
	WaitAgents                                                      time.Duration
	// FrameworkIDFile keeps the framework ID (and the launched tasks beside it).
	FrameworkIDFile string
	// RPCAddr is where the FrameworkScheduler service listens; AdvertiseAddr what the
	// masters dial (empty: RPCAddr, with this host's name for an unspecified host).
	RPCAddr, AdvertiseAddr string
	// Binary is the sluice binary's path on the agents.
	Binary string
	// TaskBindHost is the host masters and executors bind and advertise on; empty binds
	// every interface and advertises the agent's address.
	TaskBindHost string
	// RootUFS and JournalDir are passed to the master when set.
	RootUFS, JournalDir string
	// MasterArgs and ExecutorArgs are added to the masters' and executors' commands.
	MasterArgs, ExecutorArgs []string
	TeardownOnExit           bool
	LogLevel                 slog.Level
	// Out receives the progress lines.
	Out io.Writer
}

func frameworkMesosCommand() *cli.Command {
	return &cli.Command{
		Name:  "mesos",
		Usage: "run Sluice as a Mesos framework",
		Subcommands: []*cli.Command{{
			Name:  "run",
			Usage: "run the framework scheduler: a master and one executor per agent from Mesos offers, jobs as Mesos tasks",
			Description: `Subscribes to the Mesos master (v1 scheduler HTTP API) with a framework ID kept in
--framework-id-file, launches the Sluice master as a command task (--masters 3: three,
pinned to three agents with static ports, so that --peers is known) and one storage
executor per agent as a custom executor (sluice executor under the Mesos executor API),
relaunches whatever is lost, and serves the FrameworkScheduler service on --rpc-addr,
through which the master runs lineage jobs and recomputes as Mesos tasks and hears of
lost executors at once. Ctrl-C leaves the tasks running for --failover-timeout; run it
again with the same --framework-id-file to take them back. --teardown-on-exit stops them.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "mesos-master", Usage: "Mesos master `HOST:PORT` (required)"},
				&cli.IntFlag{Name: "executors", Value: 3, Usage: "number of storage executors, at most one per agent"},
				&cli.IntFlag{Name: "masters", Value: 1, Usage: "number of Sluice masters: 1, or 3 pinned to three distinct agents with static ports"},
				&cli.IntFlag{Name: "master-rpc-port", Value: 19998, Usage: "gRPC `PORT` of each master of --masters 3 (plus i * --master-port-stride)"},
				&cli.IntFlag{Name: "master-http-port", Value: 19999, Usage: "HTTP `PORT` of each master of --masters 3 (plus i * --master-port-stride)"},
				&cli.IntFlag{Name: "master-raft-port", Value: 19200, Usage: "Raft `PORT` of each master of --masters 3 (plus i * --master-port-stride)"},
				&cli.IntFlag{Name: "master-port-stride", Usage: "add i * `N` to master i's ports (for agents sharing one host)"},
				&cli.DurationFlag{Name: "wait-agents", Value: waitAgentsDefault, Usage: "with --masters 3, how long to wait for three agents to pin the masters to"},
				&cli.StringFlag{Name: "role", Value: "*", Usage: "Mesos `ROLE` to subscribe with (its reserved resources are used first)"},
				&cli.StringFlag{Name: "principal", Usage: "Mesos `PRINCIPAL` (HTTP basic authentication, FrameworkInfo.principal)"},
				&cli.StringFlag{Name: "secret-file", Usage: "`FILE` holding the principal's secret"},
				&cli.DurationFlag{Name: "failover-timeout", Value: 7 * 24 * time.Hour, Usage: "how long Mesos keeps the tasks running after this scheduler is gone"},
				&cli.Float64Flag{Name: "executor-cpu", Value: 1, Usage: "CPUs of each executor"},
				&cli.StringFlag{Name: "executor-mem", Value: "512MiB", Usage: "memory `SIZE` of each executor process, besides its MEM tier"},
				&cli.StringFlag{Name: "mem-tier-size", Value: "1GiB", Usage: "MEM tier `SIZE` of each executor (tmpfs, counted as the task's memory)"},
				&cli.Float64Flag{Name: "master-cpu", Value: 1, Usage: "CPUs of the master"},
				&cli.StringFlag{Name: "master-mem", Value: "1GiB", Usage: "memory `SIZE` of the master"},
				&cli.StringFlag{Name: "framework-id-file", Value: filepath.Join(defaultDataDir, "mesos-framework-id"), Usage: "keep the framework ID (and launched tasks) in `FILE` across restarts"},
				&cli.StringFlag{Name: "rpc-addr", Value: "0.0.0.0:19990", Usage: "serve the FrameworkScheduler service on `HOST:PORT` (the masters dial it)"},
				&cli.StringFlag{Name: "advertise-addr", Usage: "`HOST:PORT` the masters dial (default: --rpc-addr, with this host's name for 0.0.0.0)"},
				&cli.StringFlag{Name: "binary", Usage: "`PATH` of the sluice binary on the agents (default: this binary's path)"},
				&cli.StringFlag{Name: "task-bind-host", Usage: "`HOST` masters and executors listen and advertise on (default: all interfaces, the agent's address)"},
				&cli.StringFlag{Name: "root-ufs", Usage: "root UFS `URI` of the master (shared storage the agents all reach)"},
				&cli.StringFlag{Name: "master-journal-dir", Usage: "journal `DIR` of the master on its agent (default: in the task's sandbox)"},
				&cli.StringSliceFlag{Name: "master-arg", Usage: "extra `ARG` of `sluice master` (repeatable)"},
				&cli.StringSliceFlag{Name: "executor-arg", Usage: "extra `ARG` of `sluice executor` (repeatable)"},
				&cli.BoolFlag{Name: "teardown-on-exit", Usage: "on Ctrl-C, stop every task and forget the framework ID instead of leaving them for failover"},
				logLevelFlag("info"),
			},
			Action: runFrameworkMesos,
		}},
	}
}

func runFrameworkMesos(c *cli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("framework mesos run takes no arguments: %w", errBadFlag)
	}
	o, err := mesosRunOptionsOf(c)
	if err != nil {
		return err
	}
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	ctx, stop := signalContext(c.Context)
	defer stop()
	return runMesosFramework(ctx, o, log)
}

// mesosRunOptionsOf reads and checks the command's flags.
func mesosRunOptionsOf(c *cli.Context) (mesosRunOptions, error) {
	o := mesosRunOptions{
		MesosMaster:      c.String("mesos-master"),
		Executors:        c.Int("executors"),
		Masters:          c.Int("masters"),
		Role:             c.String("role"),
		Principal:        c.String("principal"),
		FailoverTimeout:  c.Duration("failover-timeout"),
		ExecutorCPU:      c.Float64("executor-cpu"),
		MemTierSize:      c.String("mem-tier-size"),
		MasterCPU:        c.Float64("master-cpu"),
		MasterRPCPort:    c.Int("master-rpc-port"),
		MasterHTTPPort:   c.Int("master-http-port"),
		MasterRaftPort:   c.Int("master-raft-port"),
		MasterPortStride: c.Int("master-port-stride"),
		WaitAgents:       c.Duration("wait-agents"),
		FrameworkIDFile:  c.String("framework-id-file"),
		RPCAddr:          c.String("rpc-addr"),
		AdvertiseAddr:    c.String("advertise-addr"),
		Binary:           c.String("binary"),
		TaskBindHost:     c.String("task-bind-host"),
		RootUFS:          c.String("root-ufs"),
		JournalDir:       c.String("master-journal-dir"),
		MasterArgs:       c.StringSlice("master-arg"),
		ExecutorArgs:     c.StringSlice("executor-arg"),
		TeardownOnExit:   c.Bool("teardown-on-exit"),
		Out:              c.App.Writer,
	}
	var err error
	if o.LogLevel, err = parseLogLevel(c.String(logLevelFlagName)); err != nil {
		return o, err
	}
	for _, s := range []struct {
		flag string
		dst  *int64
	}{{"executor-mem", &o.ExecutorMemMB}, {"mem-tier-size", &o.MemTierMB}, {"master-mem", &o.MasterMemMB}} {
		n, err := sizeFlag(c, s.flag)
		if err != nil {
			return o, err
		}
		*s.dst = (n + 1<<20 - 1) >> 20
	}
	if f := c.String("secret-file"); f != "" {
		if o.Principal == "" {
			return o, fmt.Errorf("--secret-file without --principal: %w", errBadFlag)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return o, fmt.Errorf("--secret-file: %w", err)
		}
		o.Secret = strings.TrimSpace(string(b))
	}
	if o.Binary == "" {
		if o.Binary, err = os.Executable(); err != nil {
			return o, fmt.Errorf("find the sluice binary for the agents (give --binary): %w", err)
		}
	}
	if o.FrameworkIDFile != "" {
		if o.FrameworkIDFile, err = filepath.Abs(o.FrameworkIDFile); err != nil {
			return o, fmt.Errorf("--framework-id-file: %w", err)
		}
	}
	return o, o.validate()
}

// validate checks what the components do not check themselves.
func (o mesosRunOptions) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errBadFlag)
	}
	switch {
	case o.MesosMaster == "":
		return bad("--mesos-master is required")
	case o.Masters != 1 && o.Masters != 3:
		return bad("--masters %d: a Mesos framework runs 1 or 3 masters", o.Masters)
	case o.Masters == 3 && o.WaitAgents <= 0:
		return bad("--wait-agents %v must be positive", o.WaitAgents)
	case o.Executors < 1:
		return bad("--executors %d: at least 1", o.Executors)
	case o.ExecutorCPU <= 0 || o.MasterCPU <= 0:
		return bad("--executor-cpu %v and --master-cpu %v must be positive", o.ExecutorCPU, o.MasterCPU)
	case o.ExecutorMemMB <= 0 || o.MemTierMB <= 0 || o.MasterMemMB <= 0:
		return bad("--executor-mem, --mem-tier-size and --master-mem must be positive")
	case o.FailoverTimeout <= 0:
		return bad("--failover-timeout %v must be positive", o.FailoverTimeout)
	case o.Role == "":
		return bad("--role is empty (\"*\" is no role)")
	case !filepath.IsAbs(o.Binary):
		return bad("--binary %q must be an absolute path on the agents", o.Binary)
	}
	for _, a := range []struct{ flag, addr string }{{"mesos-master", o.MesosMaster}, {"rpc-addr", o.RPCAddr}, {"advertise-addr", o.AdvertiseAddr}} {
		if a.addr == "" && a.flag == "advertise-addr" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.addr); err != nil {
			return bad("--%s %q is not HOST:PORT", a.flag, a.addr)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || (n == 0 && a.flag != "rpc-addr") {
			return bad("--%s %q: bad port", a.flag, a.addr)
		}
	}
	if err := o.validateMasterPorts(); err != nil {
		return err
	}
	if h := o.TaskBindHost; strings.ContainsAny(h, " \"'$`\\:") && net.ParseIP(h) == nil {
		return bad("--task-bind-host %q is not a host name or address", h)
	}
	return nil
}

// backendConfig is the mesos backend's configuration for o.
func (o mesosRunOptions) backendConfig(log *slog.Logger) mesos.Config {
	cfg := mesos.DefaultConfig()
	cfg.Master = o.MesosMaster
	cfg.Role = o.Role
	cfg.Principal, cfg.Secret = o.Principal, o.Secret
	cfg.FailoverTimeout = o.FailoverTimeout
	cfg.FrameworkIDFile = o.FrameworkIDFile
	cfg.Logger = log
	return cfg
}

// advertise is the FrameworkScheduler address the masters dial, given the listener.
func (o mesosRunOptions) advertise(lis net.Listener) (string, error) {
	if o.AdvertiseAddr != "" {
		return o.AdvertiseAddr, nil
	}
	host, _, _ := net.SplitHostPort(o.RPCAddr)
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("--rpc-addr %s binds every interface and the host name is unknown (give --advertise-addr): %w", o.RPCAddr, err)
		}
		host = h
	}
	return net.JoinHostPort(host, port), nil
}
