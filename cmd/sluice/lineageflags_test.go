package main

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicedata/sluice/master"
)

func TestLineageFlags(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := masterConfigOf(t)
	if err != nil {
		t.Fatal(err)
	}
	d := master.DefaultConfig()
	if cfg.Checkpoint != d.Checkpoint || cfg.Recompute != d.Recompute {
		t.Errorf("defaults: %+v %+v, want %+v %+v", cfg.Checkpoint, cfg.Recompute, d.Checkpoint, d.Recompute)
	}
	cfg, err = masterConfigOf(t, "--checkpoint-bandwidth", "10MiB", "--checkpoint-max-in-flight", "256MiB",
		"--checkpoint-max-depth", "5", "--recompute-concurrency", "2", "--recompute-read-wait", "90s")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Checkpoint.Bandwidth != 10<<20 || cfg.Checkpoint.MaxBytesInFlight != 256<<20 || cfg.Checkpoint.MaxUncheckpointedDepth != 5 ||
		cfg.Recompute.MaxConcurrent != 2 || cfg.Recompute.ReadWait != 90*time.Second {
		t.Errorf("flags: %+v %+v", cfg.Checkpoint, cfg.Recompute)
	}
	for _, args := range [][]string{
		{"--checkpoint-bandwidth", "fast"},
		{"--checkpoint-max-depth", "0"},
		{"--recompute-concurrency", "0"},
		{"--recompute-read-wait", "-1s"},
	} {
		if _, err := masterConfigOf(t, args...); !errors.Is(err, errBadFlag) && !errors.Is(err, errBadSize) {
			t.Errorf("%v: %v, want a flag error", args, err)
		}
	}
}

func TestLocalMasterConfig_Tuned(t *testing.T) {
	lc := &localCluster{opts: localOptions{DataDir: t.TempDir(), HeartbeatTimeout: 3 * time.Second,
		TuneMaster: func(c *master.Config) { c.Checkpoint.Bandwidth = 42 }}}
	cfg, transport := lc.masterConfig()
	defer transport.Close()
	if cfg.Checkpoint.Bandwidth != 42 || cfg.Recompute != master.DefaultConfig().Recompute {
		t.Errorf("tuned local master: %+v %+v", cfg.Checkpoint, cfg.Recompute)
	}
}
