package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/internal/bench"
)

// `sluice bench` measures Sluice beside the physical limits and the alternatives, every
// figure beside its reference in the same run (internal/bench does the measuring; this
// file reads the flags, sets up the cluster and prints the report).
//
// Decisions:
//   - Without --master it starts the cluster `sluice local` starts (an in-process master
//     and two executor child processes of the local scheduler backend) in a temporary
//     data directory, with ports chosen by the kernel, and stops it at the end.
//   - The MEM tier: --mem-dir when given; else, when this process may mount (root), a
//     tmpfs mounted with huge=within_size for the run (the executors' MEM tier and the
//     pread references live on it); else /dev/shm. The report's setup says which, and
//     --mem=shm forces /dev/shm. (bench_env.go)
//   - The S3 rows need a MinIO binary (SLUICE_MINIO_BIN, the cache of scripts/tools.sh,
//     or PATH); without one they are skipped with a note.
//   - Ctrl-C (or SIGTERM) stops the run and removes everything it wrote: the Sluice
//     directory, the mounts, the MinIO server and its data, the cluster's processes, the
//     temporary and tmpfs directories. The exit status is then 130.

// benchJobCommand is the hidden subcommand lineage jobs of the benchmark run.
const benchJobCommand = "write-job"

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "measure Sluice beside the hardware and the alternatives, in one run",
		UsageText: "sluice bench [--size 1GiB] [--clients 16] [--runs 5] [--master ADDR] [--json | --markdown] [--only GROUPS]",
		Description: `Starts a local cluster (as ` + "`sluice local`" + ` does, in a temporary directory) or uses the
one at --master, and measures each figure beside its reference in the same run:

  read      short-circuit read vs memcpy and pread; remote (gRPC) read vs a raw loopback
            TCP stream; a file cached from the local UFS vs os.File; a cold read from S3
            (MinIO) vs minio-go GetObject
  write     MUST_CACHE vs memcpy and vs CACHE_THROUGH; ASYNC_THROUGH; CACHE_THROUGH and
            THROUGH vs os.File write+fsync on the same disk and vs minio-go PutObject
  parallel  N clients reading distinct files, and one hot file, vs os.File on tmpfs
  metadata  create+complete, getStatus, listing a 10,000-entry directory, with 1 and N
            clients, vs a stub master replaying the real answers
  lineage   a job's output write vs CACHE_THROUGH; recovery of an output whose executor
            was killed vs the job's original run (local cluster only)

The table shows, per figure, the median of the runs, their min–max, the reference's
median, the median of the per-run ratios (measured ÷ reference) and the issue's target.
Machines are noisy: read the ratios. Progress goes to stderr; Ctrl-C stops the run and
removes everything it wrote.

The S3 rows need a MinIO binary: $SLUICE_MINIO_BIN, the cache of scripts/tools.sh (make
test builds it) or minio on PATH; without one they are skipped with a note.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "size", Value: "1GiB", Usage: "`SIZE` of each data-path file (the parallel rows split it among the clients)"},
			&cli.IntFlag{Name: "clients", Value: 16, Usage: "`N` concurrent clients of the parallel and metadata rows"},
			&cli.IntFlag{Name: "runs", Value: 5, Usage: "measure each figure `N` times"},
			&cli.StringFlag{Name: "master", EnvVars: []string{envName("master")}, Usage: "measure the cluster whose master is at `ADDR` (host:port) instead of starting one; it must run on this host"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.BoolFlag{Name: "markdown", Usage: "print the report as the Markdown table docs/PERFORMANCE.md embeds"},
			&cli.StringFlag{Name: "only", Usage: "run only these comma-separated `GROUPS`: " + strings.Join(bench.AllGroups, ",")},
			&cli.StringFlag{Name: "mem", Value: memAuto, Usage: "MEM tier of the local cluster: " + memAuto + " (a huge-page tmpfs when this process may mount one, else /dev/shm), " + memHuge + " (fail if it cannot), " + memShm},
			&cli.StringFlag{Name: "mem-dir", Usage: "keep the local cluster's MEM tier under `DIR` (a tmpfs); overrides --mem"},
			&cli.IntFlag{Name: "list-entries", Value: 10000, Usage: "`N` entries in the listed directory"},
			&cli.IntFlag{Name: "ops", Value: 2048, Usage: "scale of the metadata rows: per run, `N` creates by the clients together (N/8 by one client), 8N getStatus (N by one)"},
		},
		Action: runBench,
		Subcommands: []*cli.Command{{
			Name:   benchJobCommand,
			Hidden: true,
			Usage:  "the lineage job of sluice bench: write the payload to the job's outputs",
			Flags: []cli.Flag{
				&cli.Int64Flag{Name: "size", Required: true},
				&cli.Uint64Flag{Name: "seed", Required: true},
				&cli.StringFlag{Name: "took", Required: true},
			},
			Action: runBenchJob,
		}},
	}
}

// benchOptions are the parsed flags of `sluice bench`.
type benchOptions struct {
	size        int64
	clients     int
	runs        int
	master      string
	format      string // "table", "json" or "markdown"
	groups      []string
	mem, memDir string
	listEntries int
	ops         int
}

func parseBenchFlags(c *cli.Context) (benchOptions, error) {
	o := benchOptions{
		clients: c.Int("clients"), runs: c.Int("runs"), master: c.String("master"),
		format: "table", mem: c.String("mem"), memDir: c.String("mem-dir"), listEntries: c.Int("list-entries"),
		ops: c.Int("ops"),
	}
	if c.Args().Present() {
		return o, fmt.Errorf("bench takes no arguments (got %q): %w", c.Args().First(), errBadFlag)
	}
	var err error
	if o.size, err = sizeFlag(c, "size"); err != nil {
		return o, fmt.Errorf("%w: %w", err, errBadFlag)
	}
	switch {
	case o.size < 1<<20:
		return o, fmt.Errorf("--size %s: at least 1MiB: %w", c.String("size"), errBadFlag)
	case o.clients < 1:
		return o, fmt.Errorf("--clients %d: at least 1: %w", o.clients, errBadFlag)
	case o.runs < 1:
		return o, fmt.Errorf("--runs %d: at least 1: %w", o.runs, errBadFlag)
	case o.ops < 1:
		return o, fmt.Errorf("--ops %d: at least 1: %w", o.ops, errBadFlag)
	case o.listEntries < 1:
		return o, fmt.Errorf("--list-entries %d: at least 1: %w", o.listEntries, errBadFlag)
	case c.Bool("json") && c.Bool("markdown"):
		return o, fmt.Errorf("--json and --markdown exclude each other: %w", errBadFlag)
	case c.Bool("json"):
		o.format = "json"
	case c.Bool("markdown"):
		o.format = "markdown"
	}
	switch o.mem {
	case memAuto, memHuge, memShm:
	default:
		return o, fmt.Errorf("--mem %q: want %s, %s or %s: %w", o.mem, memAuto, memHuge, memShm, errBadFlag)
	}
	for _, g := range splitList(c.String("only")) {
		if !contains(bench.AllGroups, g) {
			return o, fmt.Errorf("--only: unknown group %q (groups: %s): %w", g, strings.Join(bench.AllGroups, ", "), errBadFlag)
		}
		o.groups = append(o.groups, g)
	}
	if c.IsSet("only") && len(o.groups) == 0 {
		return o, fmt.Errorf("--only names no group: %w", errBadFlag)
	}
	if o.master != "" && (c.IsSet("mem") || c.IsSet("mem-dir")) {
		return o, fmt.Errorf("--mem and --mem-dir configure the local cluster; with --master the cluster's executors have their own: %w", errBadFlag)
	}
	return o, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func runBench(c *cli.Context) error {
	o, err := parseBenchFlags(c)
	if err != nil {
		return err
	}
	ctx, stop := signalContext(c.Context)
	defer stop()
	stderr := c.App.ErrWriter
	env, err := setUpBench(ctx, o, stderr)
	if err == nil {
		var rep *bench.Report
		rep, err = bench.Run(ctx, env.config(o, newBenchProgress(stderr)))
		if rep != nil && ctx.Err() == nil {
			rep.Setup = append(env.setup, rep.Setup...)
			rep.Notes = append(env.notes, rep.Notes...)
			if perr := printReport(c.App.Writer, rep, o.format); err == nil {
				err = perr
			}
		}
	}
	fmt.Fprintln(stderr, "sluice bench: removing what the run wrote")
	err = errors.Join(err, env.tearDown())
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "sluice bench: interrupted; everything it wrote is removed")
		return cli.Exit("", 130)
	}
	return err
}

// printReport writes the report in the format.
func printReport(w io.Writer, rep *bench.Report, format string) error {
	switch format {
	case "json":
		return rep.WriteJSON(w)
	case "markdown":
		return rep.WriteMarkdown(w)
	}
	return rep.WriteTable(w)
}

// benchProgress draws the progress display on stderr: one line rewritten in place on a
// terminal, one line per step otherwise.
type benchProgress struct {
	w     io.Writer
	tty   bool
	start time.Time
}

func newBenchProgress(w io.Writer) func(bench.Progress) {
	p := &benchProgress{w: w, tty: isTerminal(w), start: time.Now()}
	return p.show
}

func (p *benchProgress) show(ev bench.Progress) {
	step := "setup"
	if ev.Run > 0 {
		step = fmt.Sprintf("run %d/%d", ev.Run, ev.Runs)
	}
	line := fmt.Sprintf("[%s] %s — %s  (%s)", ev.Group, ev.Figure, step, time.Since(p.start).Round(time.Second))
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

// runBenchJob is the body of the benchmark's lineage job.
func runBenchJob(c *cli.Context) error {
	env, ok := client.JobEnv()
	if !ok {
		return fmt.Errorf("bench %s runs only as a lineage job (no %s): %w", benchJobCommand, client.EnvJobID, errBadFlag)
	}
	cfg := client.DefaultConfig()
	cfg.Masters = env.Masters
	return bench.RunWriteJob(c.Context, cfg, env, c.Int64("size"), c.Uint64("seed"), c.String("took"))
}

// hostSetup describes this machine for the report.
func hostSetup() []bench.KV {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(string(b))
	}
	model := "?"
	for _, l := range strings.Split(read("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			model = strings.TrimSpace(v)
			break
		}
	}
	load := strings.Fields(read("/proc/loadavg"))
	load = load[:min(3, len(load))]
	return []bench.KV{
		{Key: "date", Value: time.Now().UTC().Format("2006-01-02 15:04 UTC")},
		{Key: "machine", Value: strconv.Itoa(runtime.NumCPU()) + " CPUs (" + model + "), Linux " + read("/proc/sys/kernel/osrelease") + ", " + runtime.Version()},
		{Key: "load average at start", Value: strings.Join(load, " ")},
	}
}
