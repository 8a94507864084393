package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Helpers shared by the long-running commands (master, executor, local).

var errBadFlag = errors.New("bad flag value")

const logLevelFlagName = "log-level"

// logLevelFlag is the --log-level flag of the daemons.
func logLevelFlag(def string) cli.Flag {
	return &cli.StringFlag{
		Name:  logLevelFlagName,
		Usage: "log `LEVEL`: debug, info, warn or error",
		Value: def,
	}
}

// parseLogLevel reads a --log-level value.
func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return 0, fmt.Errorf("--%s %q: want debug, info, warn or error: %w", logLevelFlagName, s, errBadFlag)
	}
	return l, nil
}

// newLogger returns a text logger writing to w at the level of --log-level.
func newLogger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	l, err := parseLogLevel(c.String(logLevelFlagName))
	if err != nil {
		return nil, err
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// signalContext returns a context cancelled on SIGINT or SIGTERM, so that a daemon
// stops cleanly. A second signal, once stop has been called (after the first signal),
// gets the default behaviour and ends the process at once.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// parseKeyValues reads repeated "key=value" flag values into a map. Keys must not be
// empty or repeated; values may be empty and may contain '='.
func parseKeyValues(flag string, kvs []string) (map[string]string, error) {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: want key=value: %w", flag, kv, errBadFlag)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--%s: key %q given twice: %w", flag, k, errBadFlag)
		}
		out[k] = v
	}
	return out, nil
}

// sizeFlag reads a byte-size flag with parseSize, naming the flag in errors.
func sizeFlag(c *cli.Context, name string) (int64, error) {
	n, err := parseSize(c.String(name))
	if err != nil {
		return 0, fmt.Errorf("--%s: %w", name, err)
	}
	return n, nil
}
