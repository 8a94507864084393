package mesos

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicedata/sluice/scheduler"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Master = "127.0.0.1:5050"
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config with a master: %v", err)
	}
	cases := map[string]func(*Config){
		"no master":           func(c *Config) { c.Master = "" },
		"master without port": func(c *Config) { c.Master = "mesos" },
		"master bad port":     func(c *Config) { c.Master = "mesos:99999" },
		"empty role":          func(c *Config) { c.Role = "" },
		"secret alone":        func(c *Config) { c.Secret = "s" },
		"no failover":         func(c *Config) { c.FailoverTimeout = 0 },
		"no name":             func(c *Config) { c.FrameworkName = "" },
		"negative executor":   func(c *Config) { c.Executor.MemMB = -1 },
		"no default cpu":      func(c *Config) { c.DefaultTask.CPU = 0 },
		"no refuse":           func(c *Config) { c.RefuseSeconds = 0 },
		"negative locality":   func(c *Config) { c.LocalityWait = -time.Second },
		"no reconcile":        func(c *Config) { c.ReconcileInterval = 0 },
		"no recovery":         func(c *Config) { c.RecoveryTimeout = 0 },
		"no adopt grace":      func(c *Config) { c.AdoptGrace = 0 },
		"backoff upside down": func(c *Config) { c.ReconnectMax = c.ReconnectMin / 2 },
		"empty wrapper":       func(c *Config) { c.Executor.Wrapper = []string{""} },
	}
	for name, mod := range cases {
		c := ok
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestConfigFromSettings(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromSettings(scheduler.BackendOptions{DataDir: dir, Settings: map[string]string{
		SettingMaster: "127.0.0.1:5050", SettingRole: "sluice", SettingPrincipal: "p", SettingSecretFile: secret,
		SettingFailoverTimeout: "1h", SettingExecutorCPU: "0.5", SettingExecutorMem: "64",
		SettingLocalityWait: "1s", SettingRefuse: "2s", SettingReconcileInterval: "1m",
	}})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case cfg.Master != "127.0.0.1:5050", cfg.Role != "sluice", cfg.Principal != "p", cfg.Secret != "s3cret",
		cfg.FailoverTimeout != time.Hour, cfg.Executor.CPU != 0.5, cfg.Executor.MemMB != 64,
		cfg.LocalityWait != time.Second, cfg.RefuseSeconds != 2*time.Second, cfg.ReconcileInterval != time.Minute:
		t.Errorf("config from settings: %+v", cfg)
	}
	if want := filepath.Join(dir, "mesos", "framework-id"); cfg.FrameworkIDFile != want {
		t.Errorf("framework id file %q, want %q", cfg.FrameworkIDFile, want)
	}
	for name, settings := range map[string]map[string]string{
		"unknown key":      {SettingMaster: "h:1", "bogus": "1"},
		"bad duration":     {SettingMaster: "h:1", SettingFailoverTimeout: "soon"},
		"missing secret":   {SettingMaster: "h:1", SettingPrincipal: "p", SettingSecretFile: filepath.Join(dir, "none")},
		"no master":        {},
		"bad executor cpu": {SettingMaster: "h:1", SettingExecutorCPU: "lots"},
	} {
		if _, err := ConfigFromSettings(scheduler.BackendOptions{Settings: settings}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}
