package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/integrations/nomad"
)

// deployFlags runs the deploy command's flag parsing on args (after "deploy") and
// returns the Deployment it builds, or its error.
func deployFlags(t *testing.T, env map[string]string, args ...string) (nomad.Deployment, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	cmd := nomadDeployCommand()
	var d nomad.Deployment
	var flagErr error
	cmd.Action = func(c *cli.Context) error {
		d, flagErr = deploymentFromFlags(c, nomadConfig(c))
		return nil
	}
	app := &cli.App{Name: "sluice", Commands: withEnv([]*cli.Command{cmd}), Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{},
		ExitErrHandler: func(*cli.Context, error) {}}
	if err := app.RunContext(context.Background(), append([]string{"sluice", "deploy"}, args...)); err != nil {
		t.Fatalf("run: %v", err)
	}
	return d, flagErr
}

func TestDeploymentFromFlags(t *testing.T) {
	d, err := deployFlags(t, map[string]string{"NOMAD_ADDR": "http://10.1.2.3:4646", "NOMAD_TOKEN": "tok", "NOMAD_NAMESPACE": "data"},
		"--executors", "3", "--executor-cpu", "2", "--executor-mem", "1GiB", "--mem-tier-size", "8GiB",
		"--binary", "/opt/sluice", "--datacenters", "dc1, dc2", "--job-prefix", "team-a",
		"--master-rpc-port", "7000", "--root-ufs", "s3://b/p", "--root-ufs-option", "s3.region=x",
		"--env", "A=1", "--framework-nomad-addr", "http://127.0.0.1:4646", "--job-driver", "exec", "--log-level", "DEBUG")
	if err != nil {
		t.Fatal(err)
	}
	want := nomad.DefaultDeployment()
	want.Prefix = "team-a"
	want.Executors = 3
	want.ExecutorCPU = 2
	want.ExecutorMemMB = 1024
	want.MemTierSize = 8 << 30
	want.Binary = "/opt/sluice"
	want.Datacenters = []string{"dc1", "dc2"}
	want.Namespace = "data"
	want.MasterRPCPort = 7000
	want.RootUFS = "s3://b/p"
	want.RootUFSOptions = map[string]string{"s3.region": "x"}
	want.Env = map[string]string{"A": "1"}
	want.LogLevel = "debug"
	want.Framework = nomad.DefaultConfig()
	want.Framework.Address = "http://127.0.0.1:4646"
	want.Framework.Token = "tok"
	want.Framework.Namespace = "data"
	want.Framework.JobPrefix = "team-a"
	want.Framework.Driver = "exec"
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("deployment (-want +got):\n%s", diff)
	}
}

func TestDeploymentFromFlags_DefaultBinaryIsThisOne(t *testing.T) {
	d, err := deployFlags(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Binary == "" || !strings.HasPrefix(d.Binary, "/") || d.Artifact != "" {
		t.Errorf("binary %q artifact %q, want this binary's absolute path", d.Binary, d.Artifact)
	}
	if d.Framework.Address != nomad.DefaultAddress || d.Masters != 1 || d.Executors != 1 {
		t.Errorf("defaults: %+v", d)
	}
}

func TestDeploymentFromFlags_Errors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"two masters", []string{"--masters", "2"}, "masters 2: want 1 or 3"},
		{"binary and artifact", []string{"--binary", "/a", "--artifact", "http://x/s"}, "exactly one of"},
		{"bad size", []string{"--mem-tier-size", "lots"}, "--mem-tier-size"},
		{"bad env", []string{"--env", "NOEQUALS"}, "--env"},
		{"bad log level", []string{"--log-level", "loud"}, "--log-level"},
		{"bad driver", []string{"--job-driver", "docker"}, "job driver"},
		{"bad address", []string{"--nomad-addr", "ftp://x"}, "scheme"},
		{"underscore prefix", []string{"--job-prefix", "a_b"}, "job prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := deployFlags(t, nil, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}
