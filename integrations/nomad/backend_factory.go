package nomad

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedata/sluice/scheduler"
)

// Settings keys Factory accepts (scheduler.BackendOptions.Settings, the keys under
// "nomad" in sluice.yaml); each sets the Config field of the same name.
const (
	SettingAddress       = "address"
	SettingToken         = "token"
	SettingRegion        = "region"
	SettingNamespace     = "namespace"
	SettingDatacenters   = "datacenters" // comma-separated
	SettingCACert        = "ca-cert"
	SettingClientCert    = "client-cert"
	SettingClientKey     = "client-key"
	SettingTLSServerName = "tls-server-name"
	SettingTLSSkipVerify = "tls-skip-verify" // true or false
	SettingJobPrefix     = "job-prefix"
	SettingDriver        = "driver"
	SettingKillTimeout   = "kill-timeout" // a Go duration ("5s")
)

// ConfigFromSettings applies settings to base and validates the result; an unknown key
// or a bad value wraps ErrInvalidConfig.
func ConfigFromSettings(base Config, settings map[string]string) (Config, error) {
	cfg := base
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		v := settings[k]
		bad := func(err error) error {
			return fmt.Errorf("setting %s=%q: %v: %w", k, v, err, ErrInvalidConfig)
		}
		switch k {
		case SettingAddress:
			cfg.Address = v
		case SettingToken:
			cfg.Token = v
		case SettingRegion:
			cfg.Region = v
		case SettingNamespace:
			cfg.Namespace = v
		case SettingDatacenters:
			cfg.Datacenters = nil
			for _, dc := range strings.Split(v, ",") {
				if dc = strings.TrimSpace(dc); dc != "" {
					cfg.Datacenters = append(cfg.Datacenters, dc)
				}
			}
		case SettingCACert:
			cfg.CACert = v
		case SettingClientCert:
			cfg.ClientCert = v
		case SettingClientKey:
			cfg.ClientKey = v
		case SettingTLSServerName:
			cfg.TLSServerName = v
		case SettingTLSSkipVerify:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, bad(err)
			}
			cfg.TLSSkipVerify = b
		case SettingJobPrefix:
			cfg.JobPrefix = v
		case SettingDriver:
			cfg.Driver = v
		case SettingKillTimeout:
			d, err := time.ParseDuration(v)
			if err != nil {
				return Config{}, bad(err)
			}
			cfg.KillTimeout = d
		default:
			return Config{}, fmt.Errorf("unknown setting %q: %w", k, ErrInvalidConfig)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Factory is the scheduler.BackendFactory of the Nomad backend, for cmd/sluice's map of
// backends: DefaultConfig with opts.Settings applied (see the Setting keys) and
// opts.Logger. The Backend it returns must be closed (it is an io.Closer).
func Factory(ctx context.Context, opts scheduler.BackendOptions) (scheduler.Backend, error) {
	base := DefaultConfig()
	base.Logger = opts.Logger
	cfg, err := ConfigFromSettings(base, opts.Settings)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return New(cfg)
}
