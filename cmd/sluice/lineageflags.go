package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/master"
)

// lineageFlags are the checkpoint (Edge planner, throttle) and recompute flags shared by
// `sluice master` and `sluice local`; applyLineageFlags copies them into a master.Config.
func lineageFlags() []cli.Flag {
	d := master.DefaultConfig()
	return []cli.Flag{
		&cli.StringFlag{Name: "checkpoint-bandwidth", Value: "0",
			Usage: "bound checkpoint writes to the UFS to `SIZE` per second, averaged over a one-second burst (0: unlimited)"},
		&cli.StringFlag{Name: "checkpoint-max-in-flight", Value: formatSize(d.Checkpoint.MaxBytesInFlight),
			Usage: "bound the bytes of the files being checkpointed at once to `SIZE` (a larger file goes alone)"},
		&cli.IntFlag{Name: "checkpoint-max-depth", Value: d.Checkpoint.MaxUncheckpointedDepth,
			Usage: "checkpoint first the outputs that cut chains of more than `N` un-checkpointed jobs"},
		&cli.IntFlag{Name: "recompute-concurrency", Value: d.Recompute.MaxConcurrent,
			Usage: "rerun at most `N` jobs at once to rebuild lost outputs"},
		&cli.DurationFlag{Name: "recompute-read-wait", Value: d.Recompute.ReadWait,
			Usage: "let a read of a lost file wait at most this long for its recompute"},
	}
}

// applyLineageFlags sets the checkpoint and recompute fields of cfg from the flags.
func applyLineageFlags(c *cli.Context, cfg *master.Config) error {
	bw, err := sizeFlag(c, "checkpoint-bandwidth")
	if err != nil {
		return err
	}
	inflight, err := sizeFlag(c, "checkpoint-max-in-flight")
	if err != nil {
		return err
	}
	cfg.Checkpoint.Bandwidth = bw
	cfg.Checkpoint.MaxBytesInFlight = inflight
	cfg.Checkpoint.MaxUncheckpointedDepth = c.Int("checkpoint-max-depth")
	cfg.Recompute.MaxConcurrent = c.Int("recompute-concurrency")
	cfg.Recompute.ReadWait = c.Duration("recompute-read-wait")
	if err := cfg.Checkpoint.Validate(); err != nil {
		return fmt.Errorf("%w: %w", err, errBadFlag)
	}
	if err := cfg.Recompute.Validate(); err != nil {
		return fmt.Errorf("%w: %w", err, errBadFlag)
	}
	return nil
}
