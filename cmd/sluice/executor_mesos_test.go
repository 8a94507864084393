package main

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/executor"
	"github.com/sluicedata/sluice/integrations/mesos"
)

func TestMesosTaskConfig(t *testing.T) {
	task := mesos.TaskInfo{
		ID: "executor-0.abc", Host: "agent7",
		Env: map[string]string{"SLUICE_PORT_RPC": "31000", "SLUICE_PORT_HTTP": "31001", "SLUICE_MASTER": "m1:19998,m2:19998"},
	}
	for _, tc := range []struct {
		name      string
		args      []string
		libproc   string
		task      mesos.TaskInfo
		rpc, http string
		advertise string
		masters   []string
		memDir    string
		wantErr   error
	}{
		{
			name: "ports and masters from the task, agent host",
			task: task, rpc: "agent7:31000", http: "agent7:31001", advertise: "agent7",
			masters: []string{"m1:19998", "m2:19998"},
			memDir:  filepath.Join(memRoot(), "mesos-fw_1-executor-0.abc"),
		},
		{
			name: "explicit flags keep their hosts and win",
			args: []string{"--rpc-addr", "127.0.0.1:1", "--http-addr", "127.0.0.1:2", "--master", "x:1", "--advertise-host", "me", "--mem-dir", "/tmp/m"},
			task: task, rpc: "127.0.0.1:31000", http: "127.0.0.1:31001", advertise: "me",
			masters: []string{"x:1"}, memDir: "/tmp/m",
		},
		{
			name: "LIBPROCESS_IP is the bind host", libproc: "10.1.2.3",
			task: task, rpc: "10.1.2.3:31000", http: "10.1.2.3:31001", advertise: "agent7",
			masters: []string{"m1:19998", "m2:19998"},
			memDir:  filepath.Join(memRoot(), "mesos-fw_1-executor-0.abc"),
		},
		{
			name: "HTTP off stays off",
			args: []string{"--http-addr", ""},
			task: task, rpc: "agent7:31000", advertise: "agent7",
			masters: []string{"m1:19998", "m2:19998"},
			memDir:  filepath.Join(memRoot(), "mesos-fw_1-executor-0.abc"),
		},
		{
			name:    "bad task port",
			task:    mesos.TaskInfo{ID: "t", Host: "h", Env: map[string]string{"SLUICE_PORT_RPC": "99999"}},
			wantErr: errBadFlag,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg executor.Config
			err := runCommand(t, executorCommand(), func(c *cli.Context) error {
				var err error
				cfg, err = mesosTaskConfig(c, tc.task, "fw/1", func(k string) string {
					if k == envLibprocess {
						return tc.libproc
					}
					return ""
				})
				return err
			}, tc.args...)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("mesosTaskConfig() error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []string{cfg.RPCAddr, cfg.HTTPAddr, cfg.AdvertiseHost, cfg.TaskID, cfg.Store.Tiers[0].Dirs[0].Path}
			want := []string{tc.rpc, tc.http, tc.advertise, tc.task.ID, tc.memDir}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("rpc, http, advertise, task, mem dir = %q, want %q", got, want)
					break
				}
			}
			if len(cfg.Masters) != len(tc.masters) || (len(tc.masters) > 0 && cfg.Masters[0] != tc.masters[0]) {
				t.Errorf("masters %v, want %v", cfg.Masters, tc.masters)
			}
		})
	}
}

func TestMesosMode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		executor string
		want     bool
	}{
		{"plain", nil, "", false},
		{"flag", []string{"--mesos"}, "", true},
		{"agent environment", nil, "e1", true},
		{"flag off wins", []string{"--mesos=false"}, "e1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MESOS_EXECUTOR_ID", tc.executor)
			t.Setenv("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051")
			var got bool
			if err := runCommand(t, executorCommand(), func(c *cli.Context) error {
				got = mesosMode(c)
				return nil
			}, tc.args...); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("mesosMode = %v, want %v", got, tc.want)
			}
		})
	}
}
