package mesos

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
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
	for _, k := range slices.Sorted(maps.Keys(opts.Settings)) {
		v := opts.Settings[k]
		bad := func(err error) error {
			return fmt.Errorf("setting %s=%q: %v: %w", k, v, err, ErrInvalidConfig)
		}
		var err error
		switch k {
		case SettingMaster:
			cfg.Master = v
		case SettingRole:
			cfg.Role = v
		case SettingPrincipal:
			cfg.Principal = v
		case SettingSecretFile:
			var b []byte
			if b, err = os.ReadFile(v); err == nil {
				cfg.Secret = strings.TrimRight(string(b), "\r\n")
			}
		case SettingFailoverTimeout:
			cfg.FailoverTimeout, err = time.ParseDuration(v)
		case SettingFrameworkName:
			cfg.FrameworkName = v
		case SettingUser:
			cfg.User = v
		case SettingHostname:
			cfg.Hostname = v
		case SettingFrameworkIDFile:
			cfg.FrameworkIDFile = v
		case SettingExecutorCPU:
			cfg.Executor.CPU, err = strconv.ParseFloat(v, 64)
		case SettingExecutorMem:
			cfg.Executor.MemMB, err = strconv.ParseInt(v, 10, 64)
		case SettingRefuse:
			cfg.RefuseSeconds, err = time.ParseDuration(v)
		case SettingLocalityWait:
			cfg.LocalityWait, err = time.ParseDuration(v)
		case SettingReconcileInterval:
			cfg.ReconcileInterval, err = time.ParseDuration(v)
		default:
			return Config{}, fmt.Errorf("unknown setting %q: %w", k, ErrInvalidConfig)
		}
		if err != nil {
			return Config{}, bad(err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}
