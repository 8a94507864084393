package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluicedata/sluice/master"
)

// `sluice master` runs one master until SIGINT or SIGTERM. A single master (no --peers)
// is a single-node Raft cluster; three masters started with the same --peers list form
// one cluster that tolerates the loss of one.

const defaultDataDir = "sluice-data"

func masterCommand() *cli.Command {
	return &cli.Command{
		Name:  "master",
		Usage: "run a master (metadata service, Raft journal, web UI)",
		Description: `Serves gRPC on --rpc-addr, the web UI, /metrics and /healthz on --http-addr and
Raft on --raft-addr. The journal lives in --journal-dir; the root UFS (--root-ufs) is
mounted at "/" when the cluster is new. With --peers, every master of the cluster is
started with the same list of RAFT_ADDR=RPC_ADDR pairs. With --framework, lineage jobs
run on that framework scheduler (sluice framework mesos run, the Nomad sidecar), which
also reports lost executors at once.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "rpc-addr", Value: "127.0.0.1:19998", Usage: "listen for gRPC on `HOST:PORT`"},
			&cli.StringFlag{Name: "advertise-addr", Usage: "gRPC `HOST:PORT` that clients and executors reach (default: --rpc-addr)"},
			&cli.StringFlag{Name: "http-addr", Value: "127.0.0.1:19999", Usage: "serve the web UI, /metrics and /healthz on `HOST:PORT` (empty: off)"},
			&cli.StringFlag{Name: "raft-addr", Value: "127.0.0.1:19200", Usage: "listen for Raft on `HOST:PORT`"},
			&cli.StringFlag{Name: "raft-advertise-addr", Usage: "Raft `HOST:PORT` other masters reach (default: --raft-addr); also this master's Raft ID"},
			&cli.StringSliceFlag{Name: "peers", Usage: "every master of a new cluster, this one included, as `RAFT_ADDR[=RPC_ADDR]` (RPC port defaults to this master's); empty: a single master"},
			&cli.StringFlag{Name: "journal-dir", Value: filepath.Join(defaultDataDir, "journal"), Usage: "keep the Raft journal in `DIR`"},
			&cli.StringFlag{Name: "root-ufs", Usage: "`URI` of the UFS mounted at / on a new cluster (default: file://$PWD/" + defaultDataDir + "/ufs; a file:// root is created if missing)"},
			&cli.StringSliceFlag{Name: "root-ufs-option", Usage: "option of the root UFS as `KEY=VALUE` (repeatable), e.g. s3.endpoint=127.0.0.1:9000"},
			&cli.DurationFlag{Name: "heartbeat-interval", Value: master.DefaultConfig().HeartbeatInterval, Usage: "how often executors heartbeat"},
			&cli.DurationFlag{Name: "heartbeat-timeout", Value: master.DefaultConfig().HeartbeatTimeout, Usage: "silence after which an executor is lost"},
			&cli.StringFlag{Name: "block-size", Value: "64MiB", Usage: "block `SIZE` of files created without one"},
			&cli.IntFlag{Name: "persist-concurrency", Value: master.DefaultConfig().PersistConcurrency, Usage: "persist tasks handed out at once"},
			&cli.StringFlag{Name: "framework", Usage: "run lineage jobs on the FrameworkScheduler at `HOST:PORT` and hear of lost executors from it (empty: jobs are refused)"},
			logLevelFlag("info"),
		}, lineageFlags()...),
		Action: runMaster,
	}
}

func runMaster(c *cli.Context) error {
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	cfg, err := masterConfig(c)
	if err != nil {
		return err
	}
	cfg.Logger = log
	if err := prepareRootUFS(cfg.RootUFS); err != nil {
		return err
	}
	ctx, stop := signalContext(c.Context)
	defer stop()
	return serveMaster(ctx, cfg, c.String("framework"), nil)
}

// serveMaster runs a master built from cfg until ctx ends. With a framework address,
// lineage jobs run on that FrameworkScheduler (master.FrameworkLauncher) and the
// executors it loses are reported to the master at once; without one, cfg.Jobs is kept
// (nil: SubmitJob is refused). started, when set, is called with the master before it
// runs.
func serveMaster(ctx context.Context, cfg master.Config, frameworkAddr string, started func(*master.Master)) error {
	var fw *master.FrameworkLauncher
	if frameworkAddr != "" {
		if _, _, err := net.SplitHostPort(frameworkAddr); err != nil {
			return fmt.Errorf("--framework %q: %v: %w", frameworkAddr, err, errBadFlag)
		}
		conn, err := grpc.NewClient(frameworkAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.MaxMessageSize), grpc.MaxCallSendMsgSize(cfg.MaxMessageSize)))
		if err != nil {
			return fmt.Errorf("--framework %s: %w", frameworkAddr, err)
		}
		defer conn.Close()
		fw = master.NewFrameworkLauncher(conn, cfg.Logger)
		cfg.Jobs = fw
	}
	m, err := master.New(cfg)
	if err != nil {
		return err
	}
	if started != nil {
		started(m)
	}
	if fw == nil {
		return m.Run(ctx)
	}
	lossCtx, stopLosses := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { fw.ReportExecutorLosses(lossCtx, m) })
	err = m.Run(ctx)
	stopLosses()
	wg.Wait()
	return err
}

// masterConfig builds the master's configuration from the command's flags.
func masterConfig(c *cli.Context) (master.Config, error) {
	cfg := master.DefaultConfig()
	cfg.Version = version
	cfg.RPCAddr = c.String("rpc-addr")
	cfg.AdvertiseRPCAddr = c.String("advertise-addr")
	cfg.HTTPAddr = c.String("http-addr")
	cfg.UFS = ufsRegistry(os.Getenv)
	cfg.HeartbeatInterval = c.Duration("heartbeat-interval")
	cfg.HeartbeatTimeout = c.Duration("heartbeat-timeout")
	cfg.PersistConcurrency = c.Int("persist-concurrency")
	if err := applyLineageFlags(c, &cfg); err != nil {
		return cfg, err
	}
	bs, err := sizeFlag(c, "block-size")
	if err != nil {
		return cfg, err
	}
	cfg.DefaultBlockSize = bs

	cfg.Journal.Dir = c.String("journal-dir")
	cfg.Journal.BindAddr = c.String("raft-addr")
	cfg.Journal.AdvertiseAddr = c.String("raft-advertise-addr")
	rpc := cfg.AdvertiseRPCAddr
	if rpc == "" {
		rpc = cfg.RPCAddr
	}
	raftSelf := cfg.Journal.AdvertiseAddr
	if raftSelf == "" {
		raftSelf = cfg.Journal.BindAddr
	}
	peers, rpcOf, err := parsePeers(c.StringSlice("peers"), rpc)
	if err != nil {
		return cfg, err
	}
	if len(peers) > 0 && !slices.Contains(peers, raftSelf) {
		return cfg, fmt.Errorf("--peers %v does not list this master's Raft address %s: %w", peers, raftSelf, errBadFlag)
	}
	cfg.Journal.Peers = peers
	cfg.PeerRPCAddrs = rpcOf

	root := c.String("root-ufs")
	if root == "" {
		abs, err := filepath.Abs(filepath.Join(defaultDataDir, "ufs"))
		if err != nil {
			return cfg, fmt.Errorf("default root UFS: %w", err)
		}
		root = fileURI(abs)
	}
	cfg.RootUFS = root
	opts, err := parseKeyValues("root-ufs-option", c.StringSlice("root-ufs-option"))
	if err != nil {
		return cfg, err
	}
	cfg.RootUFSOptions = opts
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// parsePeers reads --peers entries "RAFT_ADDR[=RPC_ADDR]" into the Raft peer list and
// the Raft-to-gRPC address map. An entry without RPC_ADDR gets the host of its Raft
// address and the port of selfRPC, as when every master listens on the same ports.
func parsePeers(entries []string, selfRPC string) ([]string, map[string]string, error) {
	var peers []string
	rpcOf := map[string]string{}
	_, selfPort, _ := net.SplitHostPort(selfRPC)
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		raftAddr, rpcAddr, hasRPC := strings.Cut(e, "=")
		host, _, err := net.SplitHostPort(raftAddr)
		if err != nil {
			return nil, nil, fmt.Errorf("--peers %q: Raft address: %v: %w", e, err, errBadFlag)
		}
		if !hasRPC {
			rpcAddr = net.JoinHostPort(host, selfPort)
		} else if _, _, err := net.SplitHostPort(rpcAddr); err != nil {
			return nil, nil, fmt.Errorf("--peers %q: RPC address: %v: %w", e, err, errBadFlag)
		}
		if _, dup := rpcOf[raftAddr]; dup {
			return nil, nil, fmt.Errorf("--peers: %s listed twice: %w", raftAddr, errBadFlag)
		}
		peers = append(peers, raftAddr)
		rpcOf[raftAddr] = rpcAddr
	}
	return peers, rpcOf, nil
}

// fileURI is the file:// URI of an absolute local path.
func fileURI(abs string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

// prepareRootUFS creates the directory of a file:// root UFS if it is missing, so that
// a first start needs no preparation. Other schemes are left to their backends.
func prepareRootUFS(uri string) error {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "file" || u.Path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.FromSlash(u.Path), 0o755); err != nil {
		return fmt.Errorf("create root UFS directory: %w", err)
	}
	return nil
}
