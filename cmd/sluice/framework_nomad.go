package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/integrations/nomad"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/framework"
)

// `sluice framework nomad …` deploys Sluice on a Nomad cluster and runs its framework
// sidecar there.
//
// Decisions:
//   - The connection flags are those of the nomad CLI, with its environment variables
//     (NOMAD_ADDR, NOMAD_TOKEN, NOMAD_REGION, NOMAD_NAMESPACE, NOMAD_CACERT,
//     NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY, NOMAD_TLS_SERVER_NAME, NOMAD_SKIP_VERIFY), so
//     that a shell set up for `nomad` works as is.
//   - Without --binary or --artifact, deploy runs this very binary: its absolute path,
//     which must then exist on every node (true of a one-machine cluster).
//   - Bad flags exit 2 with the command's usage; a failure of Nomad or of the
//     deployment exits 1 with the reason (an unreachable agent names the address).
//   - deploy, scale and teardown wait for Nomad, at most --wait.

func frameworkNomadCommand() *cli.Command {
	return &cli.Command{
		Name:  "nomad",
		Usage: "deploy Sluice as Nomad jobs, and run its framework sidecar",
		Description: `Masters and executors run as Nomad service jobs: "<prefix>-master" (with the
framework sidecar, which runs lineage jobs and recomputes as Nomad batch jobs
"<prefix>-job-<id>-<attempt>") and "<prefix>-executor" (one per node).`,
		Subcommands: []*cli.Command{
			nomadDeployCommand(), nomadStatusCommand(), nomadScaleCommand(), nomadTeardownCommand(), nomadServeCommand(),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				fmt.Fprintf(c.App.ErrWriter, "nomad: unknown command %q\n", c.Args().First())
				printUsage(c.App.ErrWriter, c.Command)
				return cli.Exit("", exitUsage)
			}
			return cli.ShowSubcommandHelp(c)
		},
		OnUsageError: onUsageError,
	}
}

// nomadFlags are the flags every nomad subcommand has: how to reach Nomad and which
// deployment.
func nomadFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "nomad-addr", Value: nomad.DefaultAddress, EnvVars: []string{"NOMAD_ADDR"}, Usage: "HTTP API `ADDRESS` of a Nomad agent"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"NOMAD_TOKEN"}, Usage: "Nomad ACL `TOKEN` (secret ID)"},
		&cli.StringFlag{Name: "region", EnvVars: []string{"NOMAD_REGION"}, Usage: "Nomad `REGION` of the jobs"},
		&cli.StringFlag{Name: "namespace", EnvVars: []string{"NOMAD_NAMESPACE"}, Usage: "Nomad `NAMESPACE` of the jobs"},
		&cli.StringFlag{Name: "ca-cert", EnvVars: []string{"NOMAD_CACERT"}, Usage: "CA certificate `FILE` (PEM) of a TLS API"},
		&cli.StringFlag{Name: "client-cert", EnvVars: []string{"NOMAD_CLIENT_CERT"}, Usage: "client certificate `FILE` (PEM)"},
		&cli.StringFlag{Name: "client-key", EnvVars: []string{"NOMAD_CLIENT_KEY"}, Usage: "client key `FILE` (PEM)"},
		&cli.StringFlag{Name: "tls-server-name", EnvVars: []string{"NOMAD_TLS_SERVER_NAME"}, Usage: "server `NAME` checked in the API's certificate"},
		&cli.BoolFlag{Name: "tls-skip-verify", EnvVars: []string{"NOMAD_SKIP_VERIFY"}, Usage: "do not verify the API's certificate (tests only)"},
		&cli.StringFlag{Name: "job-prefix", Value: nomad.DefaultPrefix, Usage: "`PREFIX` of the deployment's job IDs"},
	}
}

// waitFlag bounds the waits of deploy, scale and teardown.
func waitFlag(def time.Duration) cli.Flag {
	return &cli.DurationFlag{Name: "wait", Value: def, Usage: "give up waiting for Nomad after `DURATION`"}
}

// nomadLeaf builds a subcommand with the shared flags, no arguments and usage errors on
// bad flags.
func nomadLeaf(name, usage, description string, flags []cli.Flag, action cli.ActionFunc) *cli.Command {
	return &cli.Command{
		Name:            name,
		Usage:           usage,
		Description:     description,
		Flags:           append(flags, nomadFlags()...),
		HideHelpCommand: true,
		OnUsageError:    onUsageError,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageExit(c, name, fmt.Sprintf("takes no arguments, got %q", c.Args().First()))
			}
			return action(c)
		},
	}
}

// nomadConfig is the connection configuration the flags describe.
func nomadConfig(c *cli.Context) nomad.Config {
	cfg := nomad.DefaultConfig()
	cfg.Address = c.String("nomad-addr")
	cfg.Token = c.String("token")
	cfg.Region = c.String("region")
	cfg.Namespace = c.String("namespace")
	cfg.CACert = c.String("ca-cert")
	cfg.ClientCert = c.String("client-cert")
	cfg.ClientKey = c.String("client-key")
	cfg.TLSServerName = c.String("tls-server-name")
	cfg.TLSSkipVerify = c.Bool("tls-skip-verify")
	cfg.JobPrefix = c.String("job-prefix")
	return cfg
}

// nomadClient connects to Nomad and checks that it answers, so that an unreachable or
// misconfigured agent is reported once, clearly. A bad configuration is a usage error.
func nomadClient(c *cli.Context, name string, cfg nomad.Config) (*api.Client, error) {
	cl, err := nomad.NewAPIClient(cfg)
	if err != nil {
		return nil, usageExit(c, name, err.Error())
	}
	ctx, cancel := context.WithTimeout(c.Context, 15*time.Second)
	defer cancel()
	if _, _, err := cl.Jobs().List((&api.QueryOptions{Prefix: cfg.JobPrefix}).WithContext(ctx)); err != nil {
		cl.Close()
		return nil, fmt.Errorf("cannot reach Nomad at %s (set --nomad-addr or NOMAD_ADDR): %w", cfg.Address, err)
	}
	return cl, nil
}

// printer returns a progress function printing lines on the command's output.
func printer(c *cli.Context) func(string) {
	w := &syncWriter{w: c.App.Writer}
	return func(s string) { fmt.Fprintln(w, s) }
}

func nomadDeployCommand() *cli.Command {
	def := nomad.DefaultDeployment()
	flags := []cli.Flag{
		&cli.IntFlag{Name: "masters", Value: def.Masters, Usage: "number of masters: 1, or 3 on three nodes"},
		&cli.IntFlag{Name: "executors", Value: def.Executors, Usage: "number of executors, one per node"},
		&cli.Float64Flag{Name: "executor-cpu", Value: def.ExecutorCPU, Usage: "CPU `CORES` of each executor"},
		&cli.StringFlag{Name: "executor-mem", Value: fmt.Sprintf("%dMiB", def.ExecutorMemMB), Usage: "memory `SIZE` of each executor's process (the MEM tier comes on top)"},
		&cli.StringFlag{Name: "mem-tier-size", Value: "1GiB", Usage: "MEM tier `SIZE` of each executor, in /dev/shm"},
		&cli.Float64Flag{Name: "master-cpu", Value: def.MasterCPU, Usage: "CPU `CORES` of each master"},
		&cli.StringFlag{Name: "master-mem", Value: fmt.Sprintf("%dMiB", def.MasterMemMB), Usage: "memory `SIZE` of each master"},
		&cli.StringFlag{Name: "binary", Usage: "absolute `PATH` of the sluice binary on every node (default: this binary's path)"},
		&cli.StringFlag{Name: "artifact", Usage: "`URL` of the sluice binary or of an archive holding it, fetched by Nomad (go-getter)"},
		&cli.StringFlag{Name: "datacenters", Usage: "comma-separated `DATACENTERS` of the jobs (default: all)"},
		&cli.IntFlag{Name: "master-rpc-port", Value: def.MasterRPCPort, Usage: "static gRPC `PORT` of the masters"},
		&cli.IntFlag{Name: "master-http-port", Value: def.MasterHTTPPort, Usage: "static web UI `PORT` of the masters"},
		&cli.IntFlag{Name: "master-raft-port", Value: def.MasterRaftPort, Usage: "static Raft `PORT` of the masters"},
		&cli.StringFlag{Name: "data-dir", Usage: "`DIR` on the master nodes for the journal (and a default file root UFS) (default: /var/lib/sluice/<prefix>)"},
		&cli.StringFlag{Name: "root-ufs", Usage: "`URI` of the root UFS, reachable from every node (default: file://<data-dir>/ufs)"},
		&cli.StringSliceFlag{Name: "root-ufs-option", Usage: "option of the root UFS as `KEY=VALUE` (repeatable)"},
		&cli.StringSliceFlag{Name: "env", Usage: "`KEY=VALUE` added to the environment of masters and executors (repeatable)"},
		&cli.StringFlag{Name: "framework-nomad-addr", Usage: "Nomad API `ADDRESS` the framework sidecar uses from the master nodes (default: --nomad-addr)"},
		&cli.StringFlag{Name: "job-driver", Value: nomad.DriverRawExec, Usage: "task `DRIVER` of lineage jobs: raw_exec or exec"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log `LEVEL` of the deployed processes"},
		waitFlag(5 * time.Minute),
	}
	return nomadLeaf("deploy", "register the master and executor jobs and wait until they are healthy",
		`Registers "<prefix>-master" (masters on static ports, with the framework sidecar)
and, once the masters are healthy, "<prefix>-executor" (executors on distinct nodes,
dynamic ports, finding the masters through Nomad's service catalog). Fails at once,
with Nomad's reasons, when the allocations cannot be placed (for example more
executors than nodes) or fail; otherwise prints the addresses.`,
		flags, runNomadDeploy)
}

func runNomadDeploy(c *cli.Context) error {
	cfg := nomadConfig(c)
	d, err := deploymentFromFlags(c, cfg)
	if err != nil {
		return usageExit(c, "deploy", err.Error())
	}
	cl, err := nomadClient(c, "deploy", cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("wait"))
	defer cancel()
	say := printer(c)
	if d.RootUFS == "" {
		say("root UFS " + d.RootUFSURI() + " is local to each master node; on several nodes use --root-ufs s3://… or a shared file system")
	}
	st, err := nomad.Deploy(ctx, cl, d, say)
	if err != nil {
		if errors.Is(err, nomad.ErrPlacement) || errors.Is(err, nomad.ErrUnhealthy) {
			return fmt.Errorf("deploy: %w (`sluice framework nomad status` shows the jobs; `teardown` removes them)", err)
		}
		return fmt.Errorf("deploy: %w", err)
	}
	say("deployed:")
	return st.Print(c.App.Writer)
}

// deploymentFromFlags builds the Deployment the deploy flags describe.
func deploymentFromFlags(c *cli.Context, cfg nomad.Config) (nomad.Deployment, error) {
	d := nomad.DefaultDeployment()
	d.Prefix = cfg.JobPrefix
	d.Masters = c.Int("masters")
	d.Executors = c.Int("executors")
	d.ExecutorCPU = c.Float64("executor-cpu")
	d.MasterCPU = c.Float64("master-cpu")
	for _, m := range []struct {
		flag string
		dst  *int
	}{{"executor-mem", &d.ExecutorMemMB}, {"master-mem", &d.MasterMemMB}} {
		n, err := sizeFlag(c, m.flag)
		if err != nil {
			return d, err
		}
		*m.dst = int(n >> 20)
	}
	tier, err := sizeFlag(c, "mem-tier-size")
	if err != nil {
		return d, err
	}
	d.MemTierSize = tier
	d.Binary, d.Artifact = c.String("binary"), c.String("artifact")
	if d.Binary == "" && d.Artifact == "" {
		exe, err := os.Executable()
		if err != nil {
			return d, fmt.Errorf("find this binary for --binary: %w", err)
		}
		if exe, err = filepath.EvalSymlinks(exe); err != nil {
			return d, fmt.Errorf("find this binary for --binary: %w", err)
		}
		d.Binary = exe
	}
	d.Datacenters = splitList(c.String("datacenters"))
	d.Namespace, d.Region = cfg.Namespace, cfg.Region
	d.MasterRPCPort = c.Int("master-rpc-port")
	d.MasterHTTPPort = c.Int("master-http-port")
	d.MasterRaftPort = c.Int("master-raft-port")
	d.DataDir = c.String("data-dir")
	d.RootUFS = c.String("root-ufs")
	if d.RootUFSOptions, err = parseKeyValues("root-ufs-option", c.StringSlice("root-ufs-option")); err != nil {
		return d, err
	}
	if d.Env, err = parseKeyValues("env", c.StringSlice("env")); err != nil {
		return d, err
	}
	level, err := parseLogLevel(c.String(logLevelFlagName))
	if err != nil {
		return d, err
	}
	d.LogLevel = strings.ToLower(level.String())
	d.Framework = cfg
	d.Framework.Driver = c.String("job-driver")
	if a := c.String("framework-nomad-addr"); a != "" {
		d.Framework.Address = a
	}
	// Three masters are placed by Deploy; Validate would want their nodes already.
	check := d
	if check.Masters == 3 {
		check.MasterNodes, check.MasterAddrs = []string{"a", "b", "c"}, []string{"a", "b", "c"}
	}
	if err := check.Validate(); err != nil {
		return d, err
	}
	if err := cfg.Validate(); err != nil {
		return d, err
	}
	return d, nil
}

func nomadStatusCommand() *cli.Command {
	return nomadLeaf("status", "show the deployment's jobs, allocations and addresses",
		"Lists the jobs of the deployment (lineage batch jobs included), then each master and\n"+
			"executor allocation with its node, state, health and addresses.",
		nil, func(c *cli.Context) error {
			cfg := nomadConfig(c)
			cl, err := nomadClient(c, "status", cfg)
			if err != nil {
				return err
			}
			defer cl.Close()
			st, err := nomad.GetStatus(c.Context, cl, cfg.JobPrefix)
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			return st.Print(c.App.Writer)
		})
}

func nomadScaleCommand() *cli.Command {
	return nomadLeaf("scale", "change the number of executors and wait until they are healthy",
		"Sets the count of the executor group; executors stay one per node, so more executors\n"+
			"than eligible nodes fails before anything changes.",
		[]cli.Flag{
			&cli.IntFlag{Name: "executors", Usage: "number of executors `N` (required)"},
			waitFlag(5 * time.Minute),
		}, func(c *cli.Context) error {
			cfg := nomadConfig(c)
			if !c.IsSet("executors") {
				return usageExit(c, "scale", "--executors N is required")
			}
			if n := c.Int("executors"); n < 0 {
				return usageExit(c, "scale", fmt.Sprintf("--executors %d is negative", n))
			}
			cl, err := nomadClient(c, "scale", cfg)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("wait"))
			defer cancel()
			st, err := nomad.Scale(ctx, cl, cfg.JobPrefix, c.Int("executors"), printer(c))
			if err != nil {
				return fmt.Errorf("scale: %w", err)
			}
			return st.Print(c.App.Writer)
		})
}

func nomadTeardownCommand() *cli.Command {
	return nomadLeaf("teardown", "stop and purge every job of the deployment",
		"Stops the executors, the lineage batch jobs and the masters, waits for their\n"+
			"allocations to end (the executors' MEM tiers are removed), then purges the jobs.\n"+
			"The masters' data directory (journal, file root UFS) stays on the nodes.",
		[]cli.Flag{waitFlag(5 * time.Minute)}, func(c *cli.Context) error {
			cfg := nomadConfig(c)
			cl, err := nomadClient(c, "teardown", cfg)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("wait"))
			defer cancel()
			ids, err := nomad.Teardown(ctx, cl, cfg.JobPrefix, printer(c))
			if err != nil {
				return fmt.Errorf("teardown: %w", err)
			}
			fmt.Fprintf(c.App.Writer, "removed %d job(s): %s\n", len(ids), strings.Join(ids, ", "))
			return nil
		})
}

func nomadServeCommand() *cli.Command {
	return nomadLeaf("serve", "run the FrameworkScheduler of a deployment (the masters' sidecar)",
		`Serves the FrameworkScheduler gRPC service on --rpc-addr for the master of the same
allocation: lineage jobs and recomputes run as Nomad batch jobs "<prefix>-job-<id>-
<attempt>", and the executors are the allocations of "<prefix>-executor", which Nomad
keeps running; an executor allocation that stops is reported lost at once. Deploy runs
it as the "framework" task of the master job.`,
		[]cli.Flag{
			&cli.StringFlag{Name: "rpc-addr", Required: true, Usage: "serve the FrameworkScheduler on `HOST:PORT`"},
			&cli.StringFlag{Name: "datacenters", Usage: "comma-separated `DATACENTERS` of the lineage jobs (default: all)"},
			&cli.StringFlag{Name: "driver", Value: nomad.DriverRawExec, Usage: "task `DRIVER` of lineage jobs: raw_exec or exec"},
			logLevelFlag("info"),
		}, runNomadServe)
}

func runNomadServe(c *cli.Context) error {
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return usageExit(c, "serve", err.Error())
	}
	cfg := nomadConfig(c)
	cfg.Datacenters = splitList(c.String("datacenters"))
	cfg.Driver = c.String("driver")
	cfg.Logger = log
	if err := cfg.Validate(); err != nil {
		return usageExit(c, "serve", err.Error())
	}
	lis, err := net.Listen("tcp", c.String("rpc-addr"))
	if err != nil {
		return fmt.Errorf("framework scheduler service: %w", err)
	}
	defer lis.Close()
	backend, err := nomad.New(cfg)
	if err != nil {
		return err
	}
	defer backend.Close()
	watch, err := nomad.NewExecutorWatch(nomad.ExecutorWatchConfig{Nomad: cfg, Logger: log})
	if err != nil {
		return err
	}
	defer watch.Close()
	// The Scheduler runs jobs only: Nomad keeps the masters and the executors.
	scfg := scheduler.DefaultConfig()
	scfg.Backend = backend
	scfg.Logger = log.With("component", "scheduler")
	sched, err := scheduler.New(scfg)
	if err != nil {
		return err
	}
	srv, err := framework.NewServer(framework.ServerConfig{Scheduler: sched, Executors: watch, Backend: backend.Name(),
		Logger: log})
	if err != nil {
		return err
	}
	ctx, stop := signalContext(c.Context)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log.Info("nomad framework scheduler serving", "rpc_addr", lis.Addr().String(), "nomad", cfg.Address, "job_prefix", cfg.JobPrefix)
	var (
		wg       sync.WaitGroup
		schedErr error
		srvErr   error
	)
	wg.Go(func() {
		schedErr = sched.Run(ctx)
		cancel() // the service cannot go on without its Scheduler
	})
	wg.Go(func() {
		srvErr = srv.Serve(ctx, lis)
		cancel()
	})
	wg.Wait()
	if err := errors.Join(schedErr, srvErr); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
