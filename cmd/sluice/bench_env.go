package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/internal/bench"
)

// Values of --mem.
const (
	memAuto = "auto"
	memHuge = "huge"
	memShm  = "shm"
)

// tmpfsMagic is the f_type statfs reports for a tmpfs.
const tmpfsMagic = 0x01021994

// benchEnv is what `sluice bench` set up around the measurements; tearDown removes all of
// it, whatever part of the setup succeeded.
type benchEnv struct {
	// tmp is the temporary directory on the disk: the cluster's data directory, the
	// scratch directory of the references and the local UFS, MinIO's data.
	tmp string
	// memBase is the directory on the MEM tier's file system; mounted is set when
	// sluice bench mounted the tmpfs at memBase itself; memLink is the link that points
	// the local cluster's MEM directories into memBase.
	memBase, memLink string
	mounted          bool
	masterAddr       string
	stopCluster      func()
	clusterDone      chan error
	minio            *bench.MinIO
	lineage          bench.Lineage
	setup            []bench.KV
	notes            []string
}

// setUpBench prepares the directories, the local cluster (unless --master) and MinIO.
// It returns the env also on failure, for tearDown.
func setUpBench(ctx context.Context, o benchOptions, stderr io.Writer) (*benchEnv, error) {
	e := &benchEnv{setup: hostSetup()}
	var err error
	if e.tmp, err = os.MkdirTemp("", "sluice-bench-"); err != nil {
		return e, fmt.Errorf("temporary directory: %w", err)
	}
	for _, d := range []string{"data", "scratch", "minio"} {
		if err := os.MkdirAll(filepath.Join(e.tmp, d), 0o755); err != nil {
			return e, err
		}
	}
	if err := e.prepareMem(o); err != nil {
		return e, err
	}
	if o.master != "" {
		e.masterAddr = o.master
		e.setup = append(e.setup, bench.KV{Key: "cluster", Value: "the one at " + o.master})
	} else {
		fmt.Fprintln(stderr, "sluice bench: starting a local cluster in", e.tmp)
		if err := e.startCluster(ctx, o); err != nil {
			return e, err
		}
	}
	e.setup = append(e.setup,
		bench.KV{Key: "options", Value: fmt.Sprintf("--size %s --runs %d --clients %d", formatSize(o.size), o.runs, o.clients)},
		bench.KV{Key: "local UFS and disk references", Value: filepath.Join(e.tmp, "scratch") + " (" + fsDescription(filepath.Join(e.tmp, "scratch")) + ")"},
	)
	bin, err := bench.FindMinIO(os.Getenv)
	if err != nil {
		e.notes = append(e.notes, "S3 rows skipped: "+err.Error()+" (make test builds MinIO into the cache; or set SLUICE_MINIO_BIN)")
		return e, nil
	}
	fmt.Fprintln(stderr, "sluice bench: starting MinIO", bin)
	if e.minio, err = bench.StartMinIO(ctx, bin, filepath.Join(e.tmp, "minio")); err != nil {
		return e, err
	}
	e.setup = append(e.setup, bench.KV{Key: "S3", Value: "MinIO " + bin + " on " + e.minio.Target.Endpoint + ", data on the disk"})
	return e, nil
}

// prepareMem chooses the file system of the MEM tier (see --mem) and makes memBase on it.
func (e *benchEnv) prepareMem(o benchOptions) error {
	var err error
	switch {
	case o.memDir != "":
		e.memBase, err = os.MkdirTemp(o.memDir, "sluice-bench-")
		if err != nil {
			return fmt.Errorf("--mem-dir: %w", err)
		}
	case o.master == "" && o.mem != memShm:
		mnt := filepath.Join(e.tmp, "mem")
		if err := os.Mkdir(mnt, 0o700); err != nil {
			return err
		}
		// Room for both executors' MEM tiers and the reference files.
		size := 2*benchMemSize(o.size) + 4*o.size
		if err = syscall.Mount("tmpfs", mnt, "tmpfs", 0, "huge=within_size,mode=0700,size="+strconv.FormatInt(size, 10)); err == nil {
			e.memBase, e.mounted = mnt, true
			break
		}
		if o.mem == memHuge {
			return fmt.Errorf("--mem %s: mount a tmpfs with huge pages at %s: %w", memHuge, mnt, err)
		}
		e.notes = append(e.notes, fmt.Sprintf("could not mount a huge-page tmpfs (%v): the MEM tier is on %s", err, memRoot()))
		fallthrough
	default:
		parent := filepath.Dir(memRoot()) // /dev/shm, or the temporary directory
		if e.memBase, err = os.MkdirTemp(parent, "sluice-bench-"); err != nil {
			return fmt.Errorf("MEM directory: %w", err)
		}
	}
	desc := fsDescription(e.memBase)
	if e.mounted {
		desc = "a tmpfs sluice bench mounted with huge=within_size (2 MiB pages)"
	}
	e.setup = append(e.setup, bench.KV{Key: "MEM tier and tmpfs references", Value: e.memBase + ": " + desc})
	return nil
}

// fsDescription says what file system dir is on and, for a tmpfs, its page size.
func fsDescription(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "?"
	}
	if st.Type != tmpfsMagic {
		return fmt.Sprintf("file system type %#x, not tmpfs", st.Type)
	}
	if b, err := os.ReadFile("/proc/mounts"); err == nil {
		best, opts := "", ""
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) >= 4 && f[2] == "tmpfs" && strings.HasPrefix(dir+"/", strings.TrimSuffix(f[1], "/")+"/") && len(f[1]) > len(best) {
				best, opts = f[1], f[3]
			}
		}
		for _, opt := range strings.Split(opts, ",") {
			if strings.HasPrefix(opt, "huge=") && opt != "huge=never" {
				return "tmpfs mounted with " + opt + " (2 MiB pages)"
			}
		}
	}
	shmem, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/shmem_enabled")
	return "tmpfs without huge=, so 4 KiB pages unless shmem_enabled forces them (shmem_enabled: " + strings.TrimSpace(string(shmem)) + ")"
}

// benchMemSize is each local executor's MEM capacity: room for the three files the read
// rows keep at once, and some.
func benchMemSize(size int64) int64 { return 3*size + 512<<20 }

// startCluster starts `sluice local`'s cluster in tmp/data with free ports and two
// executors whose MEM directories are under memBase, and waits until it serves.
func (e *benchEnv) startCluster(ctx context.Context, o benchOptions) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the sluice binary for the executors: %w", err)
	}
	opts := localOptions{
		DataDir:          filepath.Join(e.tmp, "data"),
		Executors:        2,
		MemSize:          strconv.FormatInt(benchMemSize(o.size), 10),
		HeartbeatTimeout: 3 * time.Second,
		LogLevel:         slog.LevelWarn,
		Executable:       exe,
	}
	// `sluice local` keeps executor i's MEM tier in memRoot()/local-<hash>/executor-i;
	// a link there points it into memBase.
	e.memLink = filepath.Dir(opts.memDir(0))
	if err := os.MkdirAll(filepath.Dir(e.memLink), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(e.memBase, "executors"), 0o755); err != nil {
		return err
	}
	if err := os.Symlink(filepath.Join(e.memBase, "executors"), e.memLink); err != nil {
		e.memLink = ""
		return fmt.Errorf("link the MEM directories: %w", err)
	}
	logFile, err := os.Create(filepath.Join(e.tmp, "cluster.log"))
	if err != nil {
		return err
	}
	opts.Out, opts.Stderr = logFile, logFile
	ready := make(chan string, 1)
	opts.OnReady = func(addr string) { ready <- addr }
	// The cluster outlives an interrupt of the run: tearDown stops it once the run has
	// removed its files.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.stopCluster, e.clusterDone = cancel, make(chan error, 1)
	go func() {
		err := runLocalCluster(cctx, opts)
		logFile.Close()
		e.clusterDone <- err
	}()
	select {
	case e.masterAddr = <-ready:
	case err := <-e.clusterDone:
		e.clusterDone <- err
		return fmt.Errorf("local cluster: %w (log: %s)", err, logFile.Name())
	case <-ctx.Done():
		return ctx.Err()
	}
	// Wait for both executors, so that the first rows do not meet a half-started cluster.
	cl, err := e.newClient(ctx, false)
	if err != nil {
		return err
	}
	defer cl.Close()
	err = waitUntil(ctx, func() bool {
		infos, err := cl.Executors(ctx, false)
		return err == nil && len(infos) == opts.Executors
	})
	if err != nil {
		return err
	}
	e.lineage = benchLineage{exe: exe}
	e.setup = append(e.setup, bench.KV{Key: "cluster", Value: "started by sluice bench: an in-process master (Raft journal on the disk) and 2 executor processes, MEM " + formatSize(benchMemSize(o.size)) + " each"})
	return nil
}

// newClient returns a client of the cluster, quiet (its warnings would break the
// progress display).
func (e *benchEnv) newClient(ctx context.Context, shortCircuit bool) (*client.Client, error) {
	cfg := client.DefaultConfig()
	cfg.Masters = []string{e.masterAddr}
	cfg.ShortCircuit = shortCircuit
	cfg.Logger = slog.New(slog.DiscardHandler)
	return client.New(ctx, cfg)
}

// config is the bench.Config of the run.
func (e *benchEnv) config(o benchOptions, progress func(bench.Progress)) bench.Config {
	cfg := bench.Config{
		Size: o.size, Runs: o.runs, Clients: o.clients, ListEntries: o.listEntries, MetaOps: o.ops, Groups: o.groups,
		NewClient:   e.newClient,
		Dir:         fmt.Sprintf("/sluice-bench-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6),
		Scratch:     filepath.Join(e.tmp, "scratch"),
		MemScratch:  e.memBase,
		Lineage:     e.lineage,
		LineageSkip: "needs the local cluster (it kills an executor): run without --master",
		S3Skip:      "no MinIO binary (set SLUICE_MINIO_BIN)",
		OnProgress:  progress,
	}
	if e.minio != nil {
		t := e.minio.Target
		cfg.S3 = &t
	}
	return cfg
}

// tearDown stops the cluster and MinIO and removes every directory the run made.
func (e *benchEnv) tearDown() error {
	var errs []error
	if e.stopCluster != nil {
		e.stopCluster()
		if err := <-e.clusterDone; err != nil {
			errs = append(errs, fmt.Errorf("local cluster: %w", err))
		}
	}
	if e.minio != nil {
		errs = append(errs, e.minio.Stop())
	}
	if e.memLink != "" {
		errs = append(errs, os.Remove(e.memLink))
	}
	if e.mounted {
		if err := syscall.Unmount(e.memBase, 0); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", e.memBase, err))
		}
	}
	if e.memBase != "" {
		errs = append(errs, os.RemoveAll(e.memBase))
	}
	if e.tmp != "" {
		errs = append(errs, os.RemoveAll(e.tmp))
	}
	return errors.Join(errs...)
}

// benchLineage runs the lineage rows' jobs as `sluice bench write-job` and kills
// executors that are child processes of this one.
type benchLineage struct{ exe string }

func (l benchLineage) WriteJobCommand(size int64, seed uint64, tookFile string) []string {
	return []string{l.exe, "bench", benchJobCommand, "--size", strconv.FormatInt(size, 10), "--seed", strconv.FormatUint(seed, 10), "--took", tookFile}
}

// KillExecutor sends SIGKILL to the executor's process, after checking that it is a
// child of this process (an executor of the cluster sluice bench started).
func (l benchLineage) KillExecutor(_ context.Context, e *sluicepb.ExecutorInfo) error {
	pid := int(e.GetPid())
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return fmt.Errorf("executor %d (pid %d): %w", e.GetId(), pid, err)
	}
	// The parent's pid is the second field after the command, which ends with ')'.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(fields) < 2 || fields[1] != strconv.Itoa(os.Getpid()) {
		return fmt.Errorf("executor %d (pid %d) is not a child of sluice bench: not killing it: %w", e.GetId(), pid, errBadFlag)
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}
