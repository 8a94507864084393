package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// mesosRunOptionsFor parses args as `sluice framework mesos run` would.
func mesosRunOptionsFor(t *testing.T, args ...string) (mesosRunOptions, error) {
	t.Helper()
	var o mesosRunOptions
	run := frameworkMesosCommand().Subcommands[0]
	err := runCommand(t, run, func(c *cli.Context) error {
		var err error
		o, err = mesosRunOptionsOf(c)
		return err
	}, args...)
	return o, err
}

func TestMesosRunOptions(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := mesosRunOptionsFor(t, "--mesos-master", "127.0.0.1:5050", "--executors", "4", "--principal", "sluice",
		"--secret-file", secret, "--executor-mem", "256MiB", "--mem-tier-size", "2GiB", "--binary", "/opt/sluice/bin/sluice",
		"--framework-id-file", "fw/id", "--master-arg", "--checkpoint-bandwidth", "--master-arg", "1")
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case o.Secret != "s3cret":
		t.Errorf("secret %q, want the file's trimmed content", o.Secret)
	case o.ExecutorMemMB != 256 || o.MemTierMB != 2048 || o.MasterMemMB != 1024:
		t.Errorf("memory executor %d, tier %d, master %d MiB", o.ExecutorMemMB, o.MemTierMB, o.MasterMemMB)
	case !filepath.IsAbs(o.FrameworkIDFile) || !strings.HasSuffix(o.FrameworkIDFile, "fw/id"):
		t.Errorf("framework ID file %q, want it absolute", o.FrameworkIDFile)
	case strings.Join(o.MasterArgs, " ") != "--checkpoint-bandwidth 1":
		t.Errorf("master args %q", o.MasterArgs)
	case o.Executors != 4 || o.Masters != 1 || o.Role != "*":
		t.Errorf("executors %d, masters %d, role %q", o.Executors, o.Masters, o.Role)
	}
}

func TestMesosRunOptions_Refused(t *testing.T) {
	base := []string{"--mesos-master", "127.0.0.1:5050", "--binary", "/usr/bin/sluice"}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no mesos master", []string{"--binary", "/usr/bin/sluice"}},
		{"mesos master without port", []string{"--mesos-master", "mesos1", "--binary", "/usr/bin/sluice"}},
		{"two masters", append(base, "--masters", "2")},
		{"three masters without journal dir", append(base, "--masters", "3")},
		{"three masters with clashing ports", append(base, "--masters", "3", "--master-journal-dir", "/j",
			"--master-rpc-port", "20000", "--master-http-port", "20001", "--master-raft-port", "20002", "--master-port-stride", "1")},
		{"three masters with one port twice", append(base, "--masters", "3", "--master-journal-dir", "/j", "--master-http-port", "19998")},
		{"three masters beyond port 65535", append(base, "--masters", "3", "--master-journal-dir", "/j", "--master-port-stride", "30000")},
		{"three masters without wait", append(base, "--masters", "3", "--master-journal-dir", "/j", "--wait-agents", "0s")},
		{"no executors", append(base, "--executors", "0")},
		{"zero cpu", append(base, "--executor-cpu", "0")},
		{"bad size", append(base, "--mem-tier-size", "lots")},
		{"secret without principal", append(base, "--secret-file", "/dev/null")},
		{"relative binary", []string{"--mesos-master", "127.0.0.1:5050", "--binary", "bin/sluice"}},
		{"empty role", append(base, "--role", "")},
		{"zero failover", append(base, "--failover-timeout", "0s")},
		{"bad rpc addr", append(base, "--rpc-addr", "nowhere")},
		{"bad bind host", append(base, "--task-bind-host", "a b")},
		{"arguments", append(base, "extra")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.name == "arguments" {
				run := frameworkMesosCommand().Subcommands[0]
				err = runCommand(t, run, runFrameworkMesos, tc.args...)
			} else {
				_, err = mesosRunOptionsFor(t, tc.args...)
			}
			if !errors.Is(err, errBadFlag) && !errors.Is(err, errBadSize) {
				t.Errorf("error %v, want errBadFlag or errBadSize", err)
			}
		})
	}
}

func TestMesosFramework_Tasks(t *testing.T) {
	o, err := mesosRunOptionsFor(t, "--mesos-master", "127.0.0.1:5050", "--binary", "/usr/bin/sluice",
		"--task-bind-host", "127.0.0.1", "--executor-arg", "--ssd-dir", "--executor-arg", "/ssd")
	if err != nil {
		t.Fatal(err)
	}
	f := &mesosFramework{o: o, fwAddr: "fw:19990", addrs: []string{"127.0.0.1:31000"}}
	mt := f.masterTask(0)
	if mt.Env["SLUICE_MESOS_FRAMEWORK"] != "fw:19990" || mt.Env["SLUICE_MESOS_BIND_HOST"] != "127.0.0.1" ||
		mt.Command[0] != "/bin/sh" || mt.Command[3] != "/usr/bin/sluice" || len(mt.Resources.Ports) != 3 {
		t.Errorf("master task %+v", mt)
	}
	et := f.executorTask(2)
	got := strings.Join(et.Command, " ")
	want := "/usr/bin/sluice executor --mesos --master 127.0.0.1:31000 --mem-size 1GiB --log-level INFO " +
		"--rpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --ssd-dir /ssd"
	if got != want {
		t.Errorf("executor command\n got %s\nwant %s", got, want)
	}
	if et.Name != "executor-2" || et.Resources.MemMB != 512+1024 || et.Resources.CPU != 1 {
		t.Errorf("executor task %+v", et)
	}
}
