package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/sluicedata/sluice/scheduler"
)

// ErrInvalidConfig reports a Config or backend setting that is rejected.
var ErrInvalidConfig = errors.New("local: invalid config")

// Config configures a local Backend.
type Config struct {
	// LogDir receives one file per task, <task id>.log, holding its stdout and stderr
	// (unless the task names its own LogPath). It is created if missing. Required.
	LogDir string
	// KillGrace is how long Kill waits after SIGTERM before it sends SIGKILL.
	KillGrace time.Duration
	// Env is the environment every task starts from, as NAME=value pairs; nil means
	// this process's environment (as os/exec does). Task.Env and SLUICE_TASK_ID are
	// added to it.
	Env []string
	// Logger receives the backend's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with a 5 s kill grace and no LogDir.
func DefaultConfig() Config {
	return Config{KillGrace: 5 * time.Second}
}

// Validate reports the first problem of c, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.LogDir == "":
		return fmt.Errorf("no log dir: %w", ErrInvalidConfig)
	case c.KillGrace <= 0:
		return fmt.Errorf("kill grace %v <= 0: %w", c.KillGrace, ErrInvalidConfig)
	}
	return nil
}

// Settings keys Factory accepts.
const (
	// SettingLogDir is Config.LogDir; default <DataDir>/logs.
	SettingLogDir = "log-dir"
	// SettingKillGrace is Config.KillGrace as a Go duration ("5s").
	SettingKillGrace = "kill-grace"
)

// Factory is the scheduler.BackendFactory of the local backend, for cmd/sluice's map of
// backends. It accepts the settings "log-dir" and "kill-grace" and rejects any other.
// The Backend it returns must be closed (it is an io.Closer).
func Factory(ctx context.Context, opts scheduler.BackendOptions) (scheduler.Backend, error) {
	cfg := DefaultConfig()
	cfg.Logger = opts.Logger
	if opts.DataDir != "" {
		cfg.LogDir = filepath.Join(opts.DataDir, "logs")
	}
	err := scheduler.ApplySettings(opts.Settings, map[string]func(string) error{
		SettingLogDir:    scheduler.SetString(&cfg.LogDir),
		SettingKillGrace: scheduler.SetParsed(&cfg.KillGrace, time.ParseDuration),
	}, ErrInvalidConfig)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return New(cfg)
}
