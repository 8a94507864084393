package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"
)

// Configuration precedence, highest first: command-line flags, SLUICE_* environment
// variables, the sluice.yaml file, built-in defaults.
//
// Every flag of every command gets an environment variable named after it:
// --mem-tier-size becomes SLUICE_MEM_TIER_SIZE (see envName). The YAML file holds the
// same keys; nested maps flatten to dotted keys, and a flag of command "executor" is
// looked up first as "executor.<flag>" and then as "<flag>":
//
//	master: 127.0.0.1:19998
//	executor:
//	  mem-tier-size: 4GiB
const defaultConfigFile = "sluice.yaml"

// configFlag names the YAML file. The default file may be missing; a file named on the
// command line or in SLUICE_CONFIG must exist.
var configFlag = &cli.StringFlag{
	Name:    "config",
	Usage:   "read settings from this YAML `FILE` (flags and SLUICE_* variables win over it)",
	Value:   defaultConfigFile,
	EnvVars: []string{"SLUICE_CONFIG"},
}

// envName is the environment variable of a flag: SLUICE_ and the flag's name in upper
// case with dashes as underscores.
func envName(flag string) string {
	return "SLUICE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// perInvocation lists the command groups whose flags act on one invocation (recursive,
// force, -h, a job's --name and --output …) rather than configure a component. They get
// no automatic SLUICE_* variable, so that an exported SLUICE_FORCE can never change what
// `fs rm` does, nor SLUICE_MEM what `job submit` reserves; flags that name their
// variables themselves (the shared --master) keep them.
var perInvocation = map[string]bool{"fs": true, "job": true, "lineage": true, "checkpoint": true, "bench": true}

// withEnv gives every flag of cmds (recursively) its SLUICE_* environment variable,
// unless the flag already names its own or its command group is perInvocation.
func withEnv(cmds []*cli.Command) []*cli.Command {
	for _, c := range cmds {
		if perInvocation[c.Name] {
			continue
		}
		for _, f := range c.Flags {
			setEnv(f)
		}
		withEnv(c.Subcommands)
	}
	return cmds
}

// setEnv sets the EnvVars field that every urfave/cli flag type has but no interface
// exposes, unless the flag names its own variables.
func setEnv(f cli.Flag) {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return
	}
	field := v.Elem().FieldByName("EnvVars")
	if !field.IsValid() || !field.CanSet() || field.Len() > 0 {
		return
	}
	field.Set(reflect.ValueOf([]string{envName(f.Names()[0])}))
}

// configFile is a flattened sluice.yaml: dotted keys to their values as text.
type configFile map[string]string

// loadConfigFile reads the YAML file at path. A missing file is an empty configuration
// when optional is true.
func loadConfigFile(path string, optional bool) (configFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && optional {
		return configFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return parseConfig(b)
}

// parseConfig flattens a YAML document of nested maps into dotted keys. Lists become
// comma-separated values; anything else that is not a scalar is an error.
func parseConfig(b []byte) (configFile, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse configuration: %w", err)
	}
	out := configFile{}
	if err := flatten(out, "", doc); err != nil {
		return nil, err
	}
	return out, nil
}

func flatten(out configFile, prefix string, m map[string]any) error {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch v := v.(type) {
		case map[string]any:
			if err := flatten(out, key, v); err != nil {
				return err
			}
		case []any:
			parts := make([]string, 0, len(v))
			for _, e := range v {
				s, err := scalar(key, e)
				if err != nil {
					return err
				}
				parts = append(parts, s)
			}
			out[key] = strings.Join(parts, ",")
		default:
			s, err := scalar(key, v)
			if err != nil {
				return err
			}
			out[key] = s
		}
	}
	return nil
}

func scalar(key string, v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string, bool, int, int64, uint64, float64:
		return fmt.Sprint(v), nil
	default:
		return "", fmt.Errorf("configuration key %q: unsupported value of type %T", key, v)
	}
}

// applyConfig sets, on the command being run, every flag that neither the command line
// nor the environment set and that the configuration file has a value for. It is the
// Before hook of every command, so that the file sits below flags and environment.
func applyConfig(c *cli.Context) error {
	path := c.String(configFlag.Name)
	cfg, err := loadConfigFile(path, !c.IsSet(configFlag.Name))
	if err != nil {
		return err
	}
	if len(cfg) == 0 || c.Command == nil {
		return nil
	}
	prefix := commandKey(c)
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if c.IsSet(name) {
			continue
		}
		v, ok := cfg[prefix+"."+name]
		if !ok {
			v, ok = cfg[name]
		}
		if !ok {
			continue
		}
		if err := c.Set(name, v); err != nil {
			return fmt.Errorf("configuration key %q in %s: %w", name, path, err)
		}
	}
	return nil
}

// commandKey is the dotted path of the running command below the app, e.g. "fs.put".
func commandKey(c *cli.Context) string {
	var names []string
	for _, l := range c.Lineage() {
		if l.Command != nil && l.Command.Name != "" {
			names = append(names, l.Command.Name)
		}
	}
	// The outermost command is the app's own root command, not part of the key.
	if n := len(names); n > 0 && names[n-1] == c.App.Name {
		names = names[:n-1]
	}
	// Lineage runs from the current context up to the root.
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	return strings.Join(names, ".")
}

// withConfig makes applyConfig the Before hook of every command of cmds (recursively),
// keeping a command's own Before after it.
func withConfig(cmds []*cli.Command) []*cli.Command {
	for _, c := range cmds {
		own := c.Before
		c.Before = func(ctx *cli.Context) error {
			if err := applyConfig(ctx); err != nil {
				return err
			}
			if own != nil {
				return own(ctx)
			}
			return nil
		}
		withConfig(c.Subcommands)
	}
	return cmds
}

// configKeys lists every configuration key of cmds with its environment variable and
// usage, sorted, for `sluice config keys`.
func configKeys(cmds []*cli.Command, prefix string) []string {
	var out []string
	for _, c := range cmds {
		key := c.Name
		if prefix != "" {
			key = prefix + "." + c.Name
		}
		for _, f := range c.Flags {
			name := f.Names()[0]
			if name == "help" {
				continue
			}
			usage := ""
			if d, ok := f.(cli.DocGenerationFlag); ok {
				usage = strings.ReplaceAll(d.GetUsage(), "`", "")
				if v := d.GetDefaultText(); v != "" {
					usage += " (default " + v + ")"
				} else if v := d.GetValue(); v != "" {
					usage += " (default " + v + ")"
				}
			}
			env := "-"
			if e, ok := f.(interface{ GetEnvVars() []string }); ok && len(e.GetEnvVars()) > 0 {
				env = strings.Join(e.GetEnvVars(), ",")
			}
			out = append(out, fmt.Sprintf("%s.%s\t%s\t%s", key, name, env, usage))
		}
		out = append(out, configKeys(c.Subcommands, key)...)
	}
	sort.Strings(out)
	return out
}
