package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	mesosconfig "github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/executor"
	"github.com/sluicedata/sluice/integrations/mesos"
)

// `sluice executor` under a Mesos agent: the process is a Mesos custom executor (the
// framework scheduler of `sluice framework mesos run` launches it with an ExecutorInfo)
// that runs the storage executor as its one task.
//
// Decisions:
//   - Mesos mode is on with --mesos, or when the agent's MESOS_EXECUTOR_ID and
//     MESOS_AGENT_ENDPOINT are both set (--mesos=false turns it off).
//   - The storage executor starts when the agent sends LAUNCH. Its settings are the
//     flags (and SLUICE_* variables: the framework puts the task's environment in the
//     ExecutorInfo's command too), then from the task: the task ID (SLUICE_TASK_ID, the
//     Mesos TaskID), the ports the offer gave (SLUICE_PORT_RPC, SLUICE_PORT_HTTP), and
//     SLUICE_MASTER when no --master was given.
//   - Addresses: the port comes from the task; the host is --rpc-addr's (--http-addr's)
//     when that flag was set, otherwise LIBPROCESS_IP when the agent sets it, otherwise
//     the agent's host name. The advertised host is --advertise-host, or the agent's host
//     name.
//   - Without --mem-dir, the MEM tier is /dev/shm/sluice/mesos-<framework>-<task>: a new
//     task starts empty (a relaunched executor is a new node) and the directory is
//     removed when the task ends. A SIGKILLed executor leaves it behind.
//   - TASK_RUNNING is sent once the storage executor listens; TASK_FINISHED, TASK_KILLED
//     (KILL, SHUTDOWN, SIGTERM) or TASK_FAILED when it stops.

const (
	mesosFlagName = "mesos"
	envLibprocess = "LIBPROCESS_IP"
)

// mesosFlag is the executor's --mesos flag.
func mesosFlag() cli.Flag {
	return &cli.BoolFlag{Name: mesosFlagName, Usage: "run as a Mesos custom executor (default: when MESOS_EXECUTOR_ID and MESOS_AGENT_ENDPOINT are set)"}
}

// mesosMode reports whether the executor runs under a Mesos agent.
func mesosMode(c *cli.Context) bool {
	if c.IsSet(mesosFlagName) {
		return c.Bool(mesosFlagName)
	}
	return os.Getenv("MESOS_EXECUTOR_ID") != "" && os.Getenv("MESOS_AGENT_ENDPOINT") != ""
}

// runMesosExecutor runs the storage executor as the task of a Mesos custom executor.
func runMesosExecutor(ctx context.Context, c *cli.Context, log *slog.Logger) error {
	agent, err := mesosconfig.FromEnv()
	if err != nil {
		return fmt.Errorf("mesos executor environment: %v: %w", err, errBadFlag)
	}
	// The flags are checked before the agent is asked for a task.
	if _, err := executorConfig(c); err != nil {
		return err
	}
	ecfg := mesos.DefaultExecutorConfig()
	ecfg.Agent = agent
	ecfg.Logger = log
	log.Info("mesos executor starting", "agent", agent.AgentEndpoint, "framework_id", agent.FrameworkID,
		"executor_id", agent.ExecutorID, "checkpoint", agent.Checkpoint)
	err = mesos.RunExecutor(ctx, ecfg, func(ctx context.Context, task mesos.TaskInfo, ready func()) error {
		cfg, err := mesosTaskConfig(c, task, agent.FrameworkID, os.Getenv)
		if err != nil {
			return err
		}
		cfg.Logger = log.With("task_id", task.ID)
		cfg.Store.Logger = cfg.Logger.With("component", "executor.blocks")
		return runStorageTask(ctx, c, cfg, ready)
	})
	return err
}

// runStorageTask runs one storage executor, calling ready once it listens, and removes
// its own MEM directory (one made for the task) when it stops.
func runStorageTask(ctx context.Context, c *cli.Context, cfg executor.Config, ready func()) error {
	memDir := cfg.Store.Tiers[0].Dirs[0].Path
	if !c.IsSet("mem-dir") {
		defer os.RemoveAll(memDir)
	}
	if c.Bool("format") {
		if err := formatStore(ctx, cfg.Store, cfg.Logger); err != nil {
			return err
		}
	}
	e, err := executor.New(cfg)
	if err != nil {
		return err
	}
	stopped := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-e.Ready():
			ready()
		case <-stopped:
		}
	}()
	err = e.Run(ctx)
	close(stopped)
	<-watched
	return err
}

// mesosTaskConfig is the storage executor's configuration for a Mesos task: the flags,
// completed from the task as the decisions above say. getenv reads the process's
// environment (LIBPROCESS_IP).
func mesosTaskConfig(c *cli.Context, task mesos.TaskInfo, frameworkID string, getenv func(string) string) (executor.Config, error) {
	cfg, err := executorConfig(c)
	if err != nil {
		return cfg, err
	}
	cfg.TaskID = task.ID
	if !c.IsSet(masterFlagName) {
		if m := splitList(task.Env[envName(masterFlagName)]); len(m) > 0 {
			cfg.Masters = m
		}
	}
	host := task.Host
	if ip := getenv(envLibprocess); ip != "" {
		host = ip
	}
	if cfg.RPCAddr, err = taskAddr(c, "rpc-addr", cfg.RPCAddr, host, task.Env[mesos.PortEnv("rpc")]); err != nil {
		return cfg, err
	}
	if cfg.HTTPAddr != "" {
		if cfg.HTTPAddr, err = taskAddr(c, "http-addr", cfg.HTTPAddr, host, task.Env[mesos.PortEnv("http")]); err != nil {
			return cfg, err
		}
	}
	if !c.IsSet("advertise-host") && task.Host != "" {
		cfg.AdvertiseHost = task.Host
	}
	if !c.IsSet("mem-dir") {
		cfg.Store.Tiers[0].Dirs[0].Path = filepath.Join(memRoot(), "mesos-"+pathSafe(frameworkID)+"-"+pathSafe(task.ID))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// taskAddr is the address of a server of the task: the flag's host when the flag was
// set, else host; the task's port when it has one, else the flag's.
func taskAddr(c *cli.Context, flag, addr, host, port string) (string, error) {
	fh, fp, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--%s %q: %v: %w", flag, addr, err, errBadFlag)
	}
	if c.IsSet(flag) || host == "" {
		host = fh
	}
	if port == "" {
		port = fp
	} else if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", fmt.Errorf("task port %q for --%s: %w", port, flag, errBadFlag)
	}
	return net.JoinHostPort(host, port), nil
}

// pathSafe keeps letters, digits, '-', '_' and '.' of s (Mesos IDs are those already),
// replacing anything else by '_', so that s can be a file name.
func pathSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
