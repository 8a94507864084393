package nomad

import (
	"context"
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
	err := scheduler.ApplySettings(settings, map[string]func(string) error{
		SettingAddress:   scheduler.SetString(&cfg.Address),
		SettingToken:     scheduler.SetString(&cfg.Token),
		SettingRegion:    scheduler.SetString(&cfg.Region),
		SettingNamespace: scheduler.SetString(&cfg.Namespace),
		SettingDatacenters: func(v string) error {
			cfg.Datacenters = nil
			for _, dc := range strings.Split(v, ",") {
				if dc = strings.TrimSpace(dc); dc != "" {
					cfg.Datacenters = append(cfg.Datacenters, dc)
				}
			}
			return nil
		},
		SettingCACert:        scheduler.SetString(&cfg.CACert),
		SettingClientCert:    scheduler.SetString(&cfg.ClientCert),
		SettingClientKey:     scheduler.SetString(&cfg.ClientKey),
		SettingTLSServerName: scheduler.SetString(&cfg.TLSServerName),
		SettingTLSSkipVerify: scheduler.SetParsed(&cfg.TLSSkipVerify, strconv.ParseBool),
		SettingJobPrefix:     scheduler.SetString(&cfg.JobPrefix),
		SettingDriver:        scheduler.SetString(&cfg.Driver),
		SettingKillTimeout:   scheduler.SetParsed(&cfg.KillTimeout, time.ParseDuration),
	}, ErrInvalidConfig)
	if err != nil {
		return Config{}, err
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
