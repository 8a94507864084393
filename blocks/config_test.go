package blocks_test

import (
	"errors"
	"testing"

	"github.com/sluicedata/sluice/blocks"
)

func TestConfig_Validate(t *testing.T) {
	dir := func(p string, q int64) []blocks.DirConfig { return []blocks.DirConfig{{Path: p, Quota: q}} }
	tests := []struct {
		name   string
		mutate func(*blocks.Config)
		ok     bool
	}{
		{"default", func(*blocks.Config) {}, true},
		{"three tiers", func(c *blocks.Config) {
			c.Tiers = append(c.Tiers, blocks.TierConfig{Alias: blocks.SSD, Dirs: dir("/ssd", 1)}, blocks.TierConfig{Alias: blocks.HDD, Dirs: dir("/hdd", 1)})
		}, true},
		{"SSD only", func(c *blocks.Config) { c.Tiers = []blocks.TierConfig{{Alias: blocks.SSD, Dirs: dir("/ssd", 1)}} }, true},
		{"empty names use defaults", func(c *blocks.Config) { c.Allocator, c.Evictor, c.Logger = "", "", nil }, true},
		{"other policies", func(c *blocks.Config) { c.Allocator, c.Evictor = blocks.AllocatorRoundRobin, blocks.EvictorLRFU }, true},
		{"no tiers", func(c *blocks.Config) { c.Tiers = nil }, false},
		{"unknown alias", func(c *blocks.Config) { c.Tiers[0].Alias = "NVME" }, false},
		{"tiers out of order", func(c *blocks.Config) {
			c.Tiers = []blocks.TierConfig{{Alias: blocks.SSD, Dirs: dir("/ssd", 1)}, {Alias: blocks.MEM, Dirs: dir("/mem", 1)}}
		}, false},
		{"tier twice", func(c *blocks.Config) {
			c.Tiers = append(c.Tiers, blocks.TierConfig{Alias: blocks.MEM, Dirs: dir("/m2", 1)})
		}, false},
		{"no dirs", func(c *blocks.Config) { c.Tiers[0].Dirs = nil }, false},
		{"relative dir", func(c *blocks.Config) { c.Tiers[0].Dirs = dir("shm", 1) }, false},
		{"zero quota", func(c *blocks.Config) { c.Tiers[0].Dirs = dir("/shm", 0) }, false},
		{"same dir twice", func(c *blocks.Config) {
			c.Tiers = append(c.Tiers, blocks.TierConfig{Alias: blocks.SSD, Dirs: dir(blocks.DefaultMemDir+"/", 1)})
		}, false},
		{"unknown allocator", func(c *blocks.Config) { c.Allocator = "best" }, false},
		{"unknown evictor", func(c *blocks.Config) { c.Evictor = "fifo" }, false},
		{"low above high", func(c *blocks.Config) { c.LowWatermark, c.HighWatermark = 0.9, 0.8 }, false},
		{"high above 1", func(c *blocks.Config) { c.HighWatermark = 1.5 }, false},
		{"low zero", func(c *blocks.Config) { c.LowWatermark = 0 }, false},
		{"negative interval", func(c *blocks.Config) { c.ReserveInterval = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := blocks.DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate: %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, blocks.ErrInvalidConfig) {
				t.Errorf("Validate: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestDefaultConfig_MemOnDevShm(t *testing.T) {
	c := blocks.DefaultConfig()
	if len(c.Tiers) != 1 || c.Tiers[0].Alias != blocks.MEM || len(c.Tiers[0].Dirs) != 1 || c.Tiers[0].Dirs[0].Path != "/dev/shm/sluice/executor" {
		t.Errorf("DefaultConfig tiers = %+v, want one MEM dir under /dev/shm", c.Tiers)
	}
}
