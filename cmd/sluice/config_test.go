package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want configFile
		err  bool
	}{
		{"flat", "master: 127.0.0.1:1\n", configFile{"master": "127.0.0.1:1"}, false},
		{"nested", "executor:\n  mem-tier-size: 4GiB\n  port: 29998\n", configFile{"executor.mem-tier-size": "4GiB", "executor.port": "29998"}, false},
		{"list", "peers: [a, b]\n", configFile{"peers": "a,b"}, false},
		{"empty", "", configFile{}, false},
		{"bad", "a: [\n", nil, true},
		{"list of maps", "a: [{b: 1}]\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig([]byte(tt.yaml))
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if !tt.err {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestPrecedence checks flags > SLUICE_* environment > sluice.yaml > defaults.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(file, []byte("demo:\n  a: from-file\n  b: from-file\n  c: from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_A", "from-env")
	t.Setenv("SLUICE_B", "from-env")
	var got [4]string
	app := &cli.App{
		Name:  "sluice",
		Flags: []cli.Flag{configFlag},
		Commands: withConfig(withEnv([]*cli.Command{{
			Name: "demo",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "a", Value: "default"},
				&cli.StringFlag{Name: "b", Value: "default"},
				&cli.StringFlag{Name: "c", Value: "default"},
				&cli.StringFlag{Name: "d", Value: "default"},
			},
			Action: func(c *cli.Context) error {
				got = [4]string{c.String("a"), c.String("b"), c.String("c"), c.String("d")}
				return nil
			},
		}})),
	}
	if err := app.Run([]string{"sluice", "--config", file, "demo", "--a", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	want := [4]string{"from-flag", "from-env", "from-file", "default"}
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestConfig_MissingExplicitFile(t *testing.T) {
	app := newApp()
	app.ErrWriter = new(bytes.Buffer)
	err := app.Run([]string{"sluice", "--config", filepath.Join(t.TempDir(), "nope.yaml"), "config", "keys"})
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("err = %v, want an error naming the missing file", err)
	}
}

func TestWithEnv_PerInvocationFlagsGetNone(t *testing.T) {
	cmds := withEnv([]*cli.Command{{
		Name: "fs",
		Subcommands: []*cli.Command{{Name: "rm", Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force"},
			&cli.StringFlag{Name: "master", EnvVars: []string{"SLUICE_MASTER"}},
		}}},
	}})
	flags := cmds[0].Subcommands[0].Flags
	if got := flags[0].(*cli.BoolFlag).EnvVars; len(got) != 0 {
		t.Errorf("fs rm --force got environment variables %v, want none", got)
	}
	if got := flags[1].(*cli.StringFlag).EnvVars; len(got) != 1 || got[0] != "SLUICE_MASTER" {
		t.Errorf("fs rm --master variables = %v, want [SLUICE_MASTER]", got)
	}
}

func TestConfigKeys(t *testing.T) {
	cmds := withEnv([]*cli.Command{{
		Name: "executor",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "mem-tier-size", Value: "1GiB", Usage: "size of the MEM tier"},
		},
		Subcommands: []*cli.Command{{Name: "sub", Flags: []cli.Flag{&cli.BoolFlag{Name: "x", Usage: "x"}}}},
	}})
	got := configKeys(cmds, "")
	want := []string{
		"executor.mem-tier-size\tSLUICE_MEM_TIER_SIZE\tsize of the MEM tier (default \"1GiB\")",
		"executor.sub.x\tSLUICE_X\tx (default false)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
