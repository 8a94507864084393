package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// `sluice checkpoint status`: how far the asynchronous checkpoint lags, and what a loss
// of every executor would cost in recomputation now.

// checkpointWatchInterval is the refresh period of --watch.
var checkpointWatchInterval = 2 * time.Second

func checkpointCommand() *cli.Command {
	return groupCommand("checkpoint", "follow the checkpointing of job outputs to the UFS",
		"Job outputs are written to memory only and checkpointed to the UFS in the background\n"+
			"(leaves of the lineage graph first); until then their lineage protects them.",
		[]*cli.Command{fsLeaf(fsSpec{
			name:      "status",
			usage:     "print checkpoint progress and recompute exposure",
			argsUsage: "[--json] [--watch] [PATH]",
			description: "Per un-checkpointed file: persistence state, size, time waiting and producing job.\n" +
				"In total: bytes waiting, age of the oldest un-checkpointed output, checkpoint throughput,\n" +
				"and the recompute exposure: the jobs that would rerun if every executor died now, with\n" +
				"their recorded run times. --watch refreshes every 2 s until interrupted (Ctrl-C).",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "json", Usage: "print JSON (the GetCheckpointStatusResponse message)"},
				&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "refresh every 2 s until interrupted"},
				&cli.IntFlag{Name: "max-files", Usage: "list at most `N` files (0: the master's default, 1000)"},
				&cli.BoolFlag{Name: "raw", Usage: "print sizes in bytes instead of KiB, MiB …"},
			},
			maxArgs: 1,
			run:     runCheckpointStatus,
		})})
}

func runCheckpointStatus(s *shell, args []string) error {
	p := "/"
	if len(args) == 1 {
		p = absPath(args[0])
	}
	if s.c.Int("max-files") < 0 {
		return usagef("--max-files must not be negative")
	}
	watch := s.c.Bool("watch")
	clear := watch && !s.c.Bool("json") && isTerminal(s.out)
	var ticker *time.Ticker
	if watch {
		ticker = time.NewTicker(checkpointWatchInterval)
		defer ticker.Stop()
	}
	for {
		resp, err := s.cl.GetCheckpointStatus(s.ctx, p, s.c.Int("max-files"))
		switch {
		case err != nil && watch && s.ctx.Err() != nil:
			return nil // interrupted: the normal end of --watch
		case err != nil:
			s.fail(p, err)
			return nil
		case s.c.Bool("json"):
			b, err := protojson.MarshalOptions{Multiline: !watch}.Marshal(resp)
			if err != nil {
				return err
			}
			s.printf("%s\n", b)
		default:
			if clear {
				s.printf("\x1b[H\x1b[2J")
			}
			s.printf("%s", checkpointText(resp, p, time.Now(), !s.c.Bool("raw")))
		}
		if !watch || s.failed {
			return nil
		}
		select {
		case <-s.ctx.Done():
			return nil
		case <-ticker.C:
		}
		if !clear && !s.c.Bool("json") {
			s.printf("\n")
		}
	}
}

// checkpointText renders a checkpoint report for people, as of now; human prints sizes in
// binary units.
func checkpointText(r *sluicepb.GetCheckpointStatusResponse, p string, now time.Time, human bool) string {
	var b strings.Builder
	t := r.GetTotals()
	fmt.Fprintf(&b, "Checkpoint status of %s at %s\n", p, now.Local().Format("15:04:05"))
	fmt.Fprintf(&b, "Waiting:          %d files, %s", t.GetFilesWaiting(), sizeText(t.GetBytesWaiting(), human))
	if t.GetInProgress() > 0 {
		fmt.Fprintf(&b, " (%d being persisted)", t.GetInProgress())
	}
	b.WriteByte('\n')
	fmt.Fprintf(&b, "Oldest waiting:   %s\n", durationText(t.GetOldestWaitingMs()))
	fmt.Fprintf(&b, "Throughput:       %s/s\n", sizeText(int64(t.GetThroughputBytesPerSec()), human))
	fmt.Fprintf(&b, "Persisted files:  %d\n", t.GetPersistedFiles())
	fmt.Fprintf(&b, "Lost files:       %d\n", t.GetLostFiles())

	if len(r.GetFiles()) > 0 {
		b.WriteString("\nWaiting files (oldest first):\n")
		rows := [][]string{{"", "STATE", "SIZE", "WAITING", "JOB", "PRIORITY", "PATH"}}
		for _, f := range r.GetFiles() {
			st := strings.TrimPrefix(f.GetPersistenceState().String(), "PERSISTENCE_STATE_")
			if f.GetInProgress() {
				st += "*"
			}
			rows = append(rows, []string{"", st, sizeText(f.GetLength(), human), durationText(f.GetWaitingMs()),
				orDash(f.GetJobId()), fmt.Sprint(f.GetPriority()), f.GetPath()})
		}
		_ = writeTable(&b, rows, 2, 3, 5)
		if r.GetFilesTruncated() {
			fmt.Fprintf(&b, "  … and %d more\n", t.GetFilesWaiting()-int64(len(r.GetFiles())))
		}
		if t.GetInProgress() > 0 {
			b.WriteString("  (* being persisted now)\n")
		}
	}

	exp := r.GetExposure()
	fmt.Fprintf(&b, "\nRecompute exposure if every executor died now: %d jobs, %s of run time in sequence\n",
		len(exp), durationText(r.GetExposureRunTimeMs()))
	if len(exp) > 0 {
		rows := [][]string{{"", "JOB", "NAME", "RUN TIME", "DEPTH", "UNPERSISTED OUTPUTS"}}
		for _, e := range exp {
			rows = append(rows, []string{"", e.GetJobId(), orDash(e.GetName()), durationText(e.GetRunTimeMs()),
				fmt.Sprint(e.GetDepth()), strings.Join(e.GetUnpersistedOutputs(), ",")})
		}
		_ = writeTable(&b, rows, 1, 3, 4)
	}
	return b.String()
}
