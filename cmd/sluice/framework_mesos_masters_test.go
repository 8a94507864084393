package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedata/sluice/integrations/mesos"
	"github.com/sluicedata/sluice/scheduler"
)

// threeMasterOptions are the options of a three-master framework on agents of one host.
func threeMasterOptions(t *testing.T, extra ...string) mesosRunOptions {
	t.Helper()
	args := append([]string{"--mesos-master", "127.0.0.1:5050", "--binary", "/usr/bin/sluice", "--masters", "3",
		"--master-journal-dir", "/var/sluice/journal", "--framework-id-file", filepath.Join(t.TempDir(), "fw-id"),
		"--master-mem", "512MiB"}, extra...)
	o, err := mesosRunOptionsFor(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestMesosMasters_ChoosePins(t *testing.T) {
	room := scheduler.Resources{CPU: 4, MemMB: 4096}
	nodes := []scheduler.Node{
		{ID: "d", Host: "h4", Resources: room},
		{ID: "a", Host: "h1", Resources: room},
		{ID: "b", Host: "h2", Resources: scheduler.Resources{CPU: 4, MemMB: 100}},
		{ID: "c", Host: "h3", Resources: room},
	}
	tests := []struct {
		name    string
		extra   []string
		nodes   []scheduler.Node
		want    []mesosMasterPin
		wantErr error
	}{{
		name:  "distinct hosts, default ports, small agent skipped",
		nodes: nodes,
		want: []mesosMasterPin{
			{Agent: "a", Host: "h1", RPC: 19998, HTTP: 19999, Raft: 19200},
			{Agent: "c", Host: "h3", RPC: 19998, HTTP: 19999, Raft: 19200},
			{Agent: "d", Host: "h4", RPC: 19998, HTTP: 19999, Raft: 19200},
		},
	}, {
		name:  "one host with a stride",
		extra: []string{"--task-bind-host", "127.0.0.1", "--master-port-stride", "1000", "--master-rpc-port", "21900", "--master-http-port", "21901", "--master-raft-port", "21902"},
		nodes: nodes,
		want: []mesosMasterPin{
			{Agent: "a", Host: "127.0.0.1", RPC: 21900, HTTP: 21901, Raft: 21902},
			{Agent: "c", Host: "127.0.0.1", RPC: 22900, HTTP: 22901, Raft: 22902},
			{Agent: "d", Host: "127.0.0.1", RPC: 23900, HTTP: 23901, Raft: 23902},
		},
	}, {
		name:    "one host without a stride",
		extra:   []string{"--task-bind-host", "127.0.0.1"},
		nodes:   nodes,
		wantErr: errBadFlag,
	}, {
		name:  "too few agents with room",
		nodes: nodes[1:],
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := threeMasterOptions(t, tc.extra...).choosePins(tc.nodes)
			switch {
			case tc.want == nil && err == nil:
				t.Fatalf("pins %+v, want an error", got)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			case tc.want != nil && err != nil:
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("pins (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMesosMasters_PinnedTask(t *testing.T) {
	o := threeMasterOptions(t)
	f := &mesosFramework{o: o, fwAddr: "fw:19990", pins: []mesosMasterPin{
		{Agent: "a", Host: "h1", RPC: 19998, HTTP: 19999, Raft: 19200},
		{Agent: "b", Host: "h2", RPC: 19998, HTTP: 19999, Raft: 19200},
		{Agent: "c", Host: "h3", RPC: 19998, HTTP: 19999, Raft: 19200},
	}}
	mt := f.masterTask(1)
	wantLabels := map[string]string{mesos.LabelAgent: "b", mesos.LabelStaticPorts: "rpc=19998,http=19999,raft=19200"}
	if diff := cmp.Diff(wantLabels, mt.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if mt.Env["SLUICE_MESOS_RAFT_ID"] != "h2:19200" || mt.Env["SLUICE_MESOS_ADVERTISE_HOST"] != "h2" {
		t.Errorf("env %v", mt.Env)
	}
	cmd := strings.Join(mt.Command[3:], " ")
	want := "/usr/bin/sluice --log-level INFO --journal-dir /var/sluice/journal/master-1" +
		" --peers h1:19200=h1:19998 --peers h2:19200=h2:19998 --peers h3:19200=h3:19998"
	if cmd != want {
		t.Errorf("master arguments\n got %s\nwant %s", cmd, want)
	}
	if strings.Count(cmd, "--journal-dir") != 1 {
		t.Errorf("journal dir given more than once: %s", cmd)
	}
}

func TestMesosMasters_PinsKept(t *testing.T) {
	o := threeMasterOptions(t)
	if pins, err := readMasterPins(o.mastersFile()); err != nil || pins != nil {
		t.Fatalf("pins before any run: %v, %v", pins, err)
	}
	want := []mesosMasterPin{{Agent: "a", Host: "h1", RPC: 1, HTTP: 2, Raft: 3}, {Agent: "b", Host: "h2", RPC: 1, HTTP: 2, Raft: 3}}
	if err := writeMasterPins(o.mastersFile(), want); err != nil {
		t.Fatal(err)
	}
	got, err := readMasterPins(o.mastersFile())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pins read back (-want +got):\n%s", diff)
	}
}
