package master

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicedata/sluice/master/mastertest"
)

func TestConfig_Validate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.Journal.Dir = t.TempDir()
		c.RootUFS = "mem://root"
		c.UFS = mastertest.Registry(&mastertest.Stores{})
		return c
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	cases := []struct {
		name   string
		change func(*Config)
	}{
		{"bad RPC address", func(c *Config) { c.RPCAddr = "nowhere" }},
		{"bad HTTP address", func(c *Config) { c.HTTPAddr = "x" }},
		{"no journal dir", func(c *Config) { c.Journal.Dir = "" }},
		{"no root UFS", func(c *Config) { c.RootUFS = "" }},
		{"root UFS without scheme", func(c *Config) { c.RootUFS = "/var/ufs" }},
		{"root UFS scheme unknown", func(c *Config) { c.RootUFS = "s3://bucket" }},
		{"no registry", func(c *Config) { c.UFS = nil }},
		{"heartbeat timeout below interval", func(c *Config) { c.HeartbeatTimeout = c.HeartbeatInterval }},
		{"no lost check interval", func(c *Config) { c.LostCheckInterval = 0 }},
		{"no TTL check interval", func(c *Config) { c.TTLCheckInterval = -time.Second }},
		{"no persist concurrency", func(c *Config) { c.PersistConcurrency = 0 }},
		{"retry max below base", func(c *Config) { c.PersistRetryMax = c.PersistRetryBase / 2 }},
		{"no persist timeout", func(c *Config) { c.PersistTimeout = 0 }},
		{"zero block size", func(c *Config) { c.DefaultBlockSize = 0 }},
		{"huge block size", func(c *Config) { c.DefaultBlockSize = MaxBlockSize + 1 }},
		{"tiny messages", func(c *Config) { c.MaxMessageSize = 1024 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
		})
	}
}
