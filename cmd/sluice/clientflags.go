package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/client"
)

// masterFlagName is the flag naming the masters a client talks to. Its environment
// variable, SLUICE_MASTER, is also what lineage jobs receive to find the cluster.
const masterFlagName = "master"

// clientFlags returns the flags every command that talks to a cluster as a client accepts.
// Each call returns new flag values, so that a command group and each of its subcommands
// can carry them: `sluice fs --master a:1 ls /` and `sluice fs ls --master a:1 /` both work,
// the innermost setting winning.
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    masterFlagName,
			Usage:   "comma-separated gRPC `ADDRESSES` (host:port) of the masters; the client finds the leader",
			Value:   client.DefaultMasterAddress,
			EnvVars: []string{envName(masterFlagName)},
		},
	}
}

// masterAddresses returns the master addresses set for the running command. A value given
// on the command line (or in sluice.yaml) at any level — `sluice fs --master …` or
// `sluice fs ls --master …` — wins over SLUICE_MASTER, the innermost such value first;
// then SLUICE_MASTER; then the default. Empty elements are dropped.
func masterAddresses(c *cli.Context) []string {
	env, hasEnv := os.LookupEnv(envName(masterFlagName))
	hasEnv = hasEnv && strings.TrimSpace(env) != ""
	v, found := client.DefaultMasterAddress, false
	for _, l := range c.Lineage() {
		if l.Command == nil || !hasFlag(l.Command, masterFlagName) || !l.IsSet(masterFlagName) {
			continue
		}
		// A value equal to the environment's may come from it; keep looking for one that
		// was given explicitly.
		if s := l.String(masterFlagName); strings.TrimSpace(s) != "" && (!hasEnv || s != env) {
			v, found = s, true
			break
		}
	}
	if !found && hasEnv {
		v = env
	}
	var out []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func hasFlag(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// clientConfig builds the client configuration of the running command from its flags.
// The client logs warnings and errors only, to the app's error writer.
func clientConfig(c *cli.Context) (client.Config, error) {
	cfg := client.DefaultConfig()
	cfg.Masters = masterAddresses(c)
	if len(cfg.Masters) == 0 {
		return cfg, fmt.Errorf("--%s: no master address given", masterFlagName)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// newClient connects to the cluster named by the running command's flags. The caller
// closes the client.
func newClient(ctx context.Context, c *cli.Context) (*client.Client, error) {
	cfg, err := clientConfig(c)
	if err != nil {
		return nil, err
	}
	cl, err := client.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", strings.Join(cfg.Masters, ","), err)
	}
	return cl, nil
}
