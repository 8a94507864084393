package nomad

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sluicedata/sluice/scheduler"
)

func TestConfigFromSettings(t *testing.T) {
	all := map[string]string{
		SettingAddress: "https://nomad.example:4646", SettingToken: "tok", SettingRegion: "eu",
		SettingNamespace: "data", SettingDatacenters: "dc1, dc2,", SettingCACert: "ca.pem",
		SettingClientCert: "c.pem", SettingClientKey: "k.pem", SettingTLSServerName: "server.eu.nomad",
		SettingTLSSkipVerify: "true", SettingJobPrefix: "lake", SettingDriver: DriverExec,
		SettingKillTimeout: "7s",
	}
	want := Config{
		Address: "https://nomad.example:4646", Token: "tok", Region: "eu", Namespace: "data",
		Datacenters: []string{"dc1", "dc2"}, CACert: "ca.pem", ClientCert: "c.pem", ClientKey: "k.pem",
		TLSServerName: "server.eu.nomad", TLSSkipVerify: true, JobPrefix: "lake", Driver: DriverExec,
		KillTimeout: 7 * time.Second,
	}
	got, err := ConfigFromSettings(DefaultConfig(), all)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Config{}, "Logger")); diff != "" {
		t.Errorf("ConfigFromSettings (-want +got):\n%s", diff)
	}
	for _, bad := range []map[string]string{
		{"adress": "http://x:1"},
		{SettingTLSSkipVerify: "maybe"},
		{SettingKillTimeout: "5"},
		{SettingDriver: "docker"},
		{SettingAddress: ""},
	} {
		if _, err := ConfigFromSettings(DefaultConfig(), bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ConfigFromSettings(%v) = %v, want ErrInvalidConfig", bad, err)
		}
	}
}

func TestFactory(t *testing.T) {
	b, err := Factory(t.Context(), scheduler.BackendOptions{Settings: map[string]string{SettingAddress: "http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "nomad" {
		t.Errorf("Name() = %q", b.Name())
	}
	// Nothing listens there: calls fail, and say so.
	if _, err := b.Launch(t.Context(), scheduler.Task{Kind: scheduler.KindJob, Command: []string{"true"}}); err == nil {
		t.Error("Launch with Nomad down: no error")
	}
	if _, err := b.Nodes(t.Context()); err == nil {
		t.Error("Nodes with Nomad down: no error")
	}
	if err := b.(*Backend).Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := Factory(t.Context(), scheduler.BackendOptions{Settings: map[string]string{"bogus": "1"}}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Factory with an unknown setting = %v, want ErrInvalidConfig", err)
	}
}
