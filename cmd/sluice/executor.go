package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/executor"
)

// `sluice executor` runs one storage executor until SIGINT or SIGTERM.
//
// Decisions:
//   - The MEM tier defaults to /dev/shm/sluice/executor-<rpc port>, so two executors of
//     one host (which need distinct ports anyway) never share a directory, and a restart
//     on the same port finds its blocks again. Without /dev/shm, the system's temporary
//     directory takes its place (then it is not memory).
//   - --ssd-dir and --hdd-dir take comma-separated directories; --ssd-size and
//     --hdd-size are the quota of each of them.
//   - --format empties every tier before the start, through the block store itself (it
//     opens the directories, which it locks, removes every block and closes them), so
//     only Sluice's block files go and a directory still held by a running executor is
//     refused. The framework scheduler of `sluice local` passes it when it relaunches a
//     lost executor: a lost node comes back empty.
//   - The framework task ID comes from SLUICE_TASK_ID (the --task-id flag's variable).

const (
	shmDir         = "/dev/shm"
	taskIDFlagName = "task-id"
)

func executorCommand() *cli.Command {
	def := executor.DefaultConfig()
	flags := append(clientFlags(),
		&cli.StringFlag{Name: "rpc-addr", Value: executor.DefaultRPCAddr, Usage: "serve the BlockService on `HOST:PORT`"},
		&cli.StringFlag{Name: "http-addr", Value: executor.DefaultHTTPAddr, Usage: "serve /metrics and /healthz on `HOST:PORT` (empty: off)"},
		&cli.StringFlag{Name: "advertise-host", Value: def.AdvertiseHost, Usage: "`HOST` name reported to the master; clients on the same host read blocks directly"},
		&cli.StringFlag{Name: "mem-dir", Usage: "MEM tier `DIR`, on a tmpfs (default: " + shmDir + "/sluice/executor-<rpc port>)"},
		&cli.StringFlag{Name: "mem-size", Value: "1GiB", Usage: "capacity `SIZE` of the MEM tier"},
		&cli.StringFlag{Name: "ssd-dir", Usage: "comma-separated `DIRS` of an SSD tier (none by default)"},
		&cli.StringFlag{Name: "ssd-size", Value: "10GiB", Usage: "capacity `SIZE` of each SSD directory"},
		&cli.StringFlag{Name: "hdd-dir", Usage: "comma-separated `DIRS` of an HDD tier (none by default)"},
		&cli.StringFlag{Name: "hdd-size", Value: "100GiB", Usage: "capacity `SIZE` of each HDD directory"},
		&cli.BoolFlag{Name: "format", Usage: "delete every block of the tiers before starting (a node that comes back empty)"},
		&cli.DurationFlag{Name: "heartbeat-interval", Value: def.HeartbeatInterval, Usage: "time between heartbeats until the master sets it"},
		&cli.IntFlag{Name: "persist-concurrency", Value: def.PersistConcurrency, Usage: "persist tasks run at once"},
		&cli.StringFlag{Name: taskIDFlagName, Usage: "framework scheduler task `ID` (set by the scheduler through SLUICE_TASK_ID)"},
		mesosFlag(),
		logLevelFlag("info"),
	)
	return &cli.Command{
		Name:  "executor",
		Usage: "run a storage executor (block tiers, block service, persists)",
		Description: `Serves blocks from its tiers on --rpc-addr, registers with the masters (--master)
and heartbeats to the leader. Executors of one host need distinct ports and tier
directories.

Started by a Mesos agent (or with --mesos), it is a Mesos custom executor: it runs the
storage executor as its task, with the task's ports and ID, and reports it to the agent.`,
		Flags:  flags,
		Action: runExecutor,
	}
}

func runExecutor(c *cli.Context) error {
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	if mesosMode(c) {
		ctx, stop := signalContext(c.Context)
		defer stop()
		return runMesosExecutor(ctx, c, log)
	}
	cfg, err := executorConfig(c)
	if err != nil {
		return err
	}
	cfg.Logger = log
	cfg.Store.Logger = log.With("component", "executor.blocks")
	ctx, stop := signalContext(c.Context)
	defer stop()
	if c.Bool("format") {
		if err := formatStore(ctx, cfg.Store, log); err != nil {
			return err
		}
	}
	e, err := executor.New(cfg)
	if err != nil {
		return err
	}
	return e.Run(ctx)
}

// executorConfig builds the executor's configuration from the command's flags.
func executorConfig(c *cli.Context) (executor.Config, error) {
	cfg := executor.DefaultConfig()
	cfg.Version = version
	cfg.Masters = masterAddresses(c)
	cfg.RPCAddr = c.String("rpc-addr")
	cfg.HTTPAddr = c.String("http-addr")
	cfg.AdvertiseHost = c.String("advertise-host")
	cfg.UFS = ufsRegistry(os.Getenv)
	cfg.HeartbeatInterval = c.Duration("heartbeat-interval")
	cfg.PersistConcurrency = c.Int("persist-concurrency")
	cfg.TaskID = c.String(taskIDFlagName)

	memDir := c.String("mem-dir")
	if memDir == "" {
		_, port, err := net.SplitHostPort(cfg.RPCAddr)
		if err != nil {
			return cfg, fmt.Errorf("--rpc-addr %q: %v: %w", cfg.RPCAddr, err, errBadFlag)
		}
		if port == "0" {
			// An ephemeral port names no stable directory; the PID at least is unique.
			port = fmt.Sprintf("pid%d", os.Getpid())
		}
		memDir = filepath.Join(memRoot(), "executor-"+port)
	}
	memSize, err := sizeFlag(c, "mem-size")
	if err != nil {
		return cfg, err
	}
	tiers := []blocks.TierConfig{{Alias: blocks.MEM, Dirs: []blocks.DirConfig{{Path: memDir, Quota: memSize}}}}
	for _, t := range []struct {
		alias     blocks.TierAlias
		dir, size string
	}{{blocks.SSD, "ssd-dir", "ssd-size"}, {blocks.HDD, "hdd-dir", "hdd-size"}} {
		dirs := splitList(c.String(t.dir))
		if len(dirs) == 0 {
			continue
		}
		quota, err := sizeFlag(c, t.size)
		if err != nil {
			return cfg, err
		}
		tc := blocks.TierConfig{Alias: t.alias}
		for _, d := range dirs {
			tc.Dirs = append(tc.Dirs, blocks.DirConfig{Path: d, Quota: quota})
		}
		tiers = append(tiers, tc)
	}
	// The block store wants absolute paths; relative flags are taken from the working
	// directory.
	for i := range tiers {
		for j := range tiers[i].Dirs {
			abs, err := filepath.Abs(tiers[i].Dirs[j].Path)
			if err != nil {
				return cfg, fmt.Errorf("tier %s directory: %w", tiers[i].Alias, err)
			}
			tiers[i].Dirs[j].Path = abs
		}
	}
	cfg.Store.Tiers = tiers
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// memRoot is the directory under which MEM tiers are made by default: /dev/shm/sluice,
// or the temporary directory where there is no /dev/shm.
func memRoot() string {
	if fi, err := os.Stat(shmDir); err == nil && fi.IsDir() {
		return filepath.Join(shmDir, "sluice")
	}
	return filepath.Join(os.TempDir(), "sluice")
}

// splitList splits a comma-separated flag value, dropping empty elements.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// formatStore deletes every block of the store that cfg describes: it opens the store
// (which locks its directories and drops unfinished temporary blocks), removes each
// committed block and closes it. Directories that do not exist yet are created empty.
func formatStore(ctx context.Context, cfg blocks.Config, log *slog.Logger) error {
	s, err := blocks.Open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("format tiers: %w", err)
	}
	var errs []error
	n := 0
	for _, b := range s.Blocks() {
		if err := s.Remove(ctx, b.ID); err != nil && !errors.Is(err, blocks.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	errs = append(errs, s.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("format tiers: %w", err)
	}
	log.Info("tiers formatted", "blocks_removed", n)
	return nil
}
