package mesos

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedata/sluice/scheduler"
)

// Settings keys Factory accepts (scheduler.BackendOptions.Settings).
const (
	SettingMaster            = "master"             // Config.Master, host:port; required
	SettingRole              = "role"               // Config.Role
	SettingPrincipal         = "principal"          // Config.Principal
	SettingSecretFile        = "secret-file"        // a file holding Config.Secret
	SettingFailoverTimeout   = "failover-timeout"   // Config.FailoverTimeout, a Go duration
	SettingFrameworkName     = "framework-name"     // Config.FrameworkName
	SettingUser              = "user"               // Config.User
	SettingHostname          = "hostname"           // Config.Hostname
	SettingFrameworkIDFile   = "framework-id-file"  // default <DataDir>/mesos/framework-id
	SettingExecutorCPU       = "executor-cpu"       // Config.Executor.CPU
	SettingExecutorMem       = "executor-mem"       // Config.Executor.MemMB
	SettingRefuse            = "refuse"             // Config.RefuseSeconds, a Go duration
	SettingLocalityWait      = "locality-wait"      // Config.LocalityWait
	SettingReconcileInterval = "reconcile-interval" // Config.ReconcileInterval
)

// Factory is the scheduler.BackendFactory of the Mesos backend, for cmd/sluice's map of
// backends. It accepts the Setting* keys and rejects any other; the subscription lasts
// until ctx ends or the Backend (an io.Closer) is closed.
func Factory(ctx context.Context, opts scheduler.BackendOptions) (scheduler.Backend, error) {
	cfg, err := ConfigFromSettings(opts)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg)
}

// ConfigFromSettings is DefaultConfig with opts applied (see Factory). Errors wrap
// ErrInvalidConfig.
func ConfigFromSettings(opts scheduler.BackendOptions) (Config, error) {
	cfg := DefaultConfig()
	cfg.Logger = opts.Logger
	if opts.DataDir != "" {
		cfg.FrameworkIDFile = filepath.Join(opts.DataDir, "mesos", "framework-id")
	}
	err := scheduler.ApplySettings(opts.Settings, map[string]func(string) error{
		SettingMaster:    scheduler.SetString(&cfg.Master),
		SettingRole:      scheduler.SetString(&cfg.Role),
		SettingPrincipal: scheduler.SetString(&cfg.Principal),
		SettingSecretFile: func(v string) error {
			b, err := os.ReadFile(v)
			if err != nil {
				return err
			}
			cfg.Secret = strings.TrimRight(string(b), "\r\n")
			return nil
		},
		SettingFailoverTimeout:   scheduler.SetParsed(&cfg.FailoverTimeout, time.ParseDuration),
		SettingFrameworkName:     scheduler.SetString(&cfg.FrameworkName),
		SettingUser:              scheduler.SetString(&cfg.User),
		SettingHostname:          scheduler.SetString(&cfg.Hostname),
		SettingFrameworkIDFile:   scheduler.SetString(&cfg.FrameworkIDFile),
		SettingExecutorCPU:       scheduler.SetParsed(&cfg.Executor.CPU, parseFloat),
		SettingExecutorMem:       scheduler.SetParsed(&cfg.Executor.MemMB, parseInt),
		SettingRefuse:            scheduler.SetParsed(&cfg.RefuseSeconds, time.ParseDuration),
		SettingLocalityWait:      scheduler.SetParsed(&cfg.LocalityWait, time.ParseDuration),
		SettingReconcileInterval: scheduler.SetParsed(&cfg.ReconcileInterval, time.ParseDuration),
	}, ErrInvalidConfig)
	if err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// parseFloat and parseInt fit strconv to scheduler.SetParsed.
func parseFloat(v string) (float64, error) { return strconv.ParseFloat(v, 64) }

func parseInt(v string) (int64, error) { return strconv.ParseInt(v, 10, 64) }
