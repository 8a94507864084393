package main

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/executor"
	"github.com/sluicedata/sluice/master"
)

// runCommand runs cmd alone in an app (with the configuration file and SLUICE_* variables
// wired as in newApp), with build as its action, and returns build's error.
func runCommand(t *testing.T, cmd *cli.Command, build func(*cli.Context) error, args ...string) error {
	t.Helper()
	t.Setenv("SLUICE_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	if err := os.WriteFile(os.Getenv("SLUICE_CONFIG"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd.Action = build
	app := &cli.App{
		Name:           "sluice",
		Flags:          []cli.Flag{configFlag},
		Commands:       withConfig(withEnv([]*cli.Command{cmd})),
		ExitErrHandler: func(*cli.Context, error) {},
		Writer:         t.Output(),
		ErrWriter:      t.Output(),
	}
	return app.RunContext(t.Context(), append([]string{"sluice", cmd.Name}, args...))
}

func masterConfigOf(t *testing.T, args ...string) (master.Config, error) {
	t.Helper()
	var cfg master.Config
	err := runCommand(t, masterCommand(), func(c *cli.Context) error {
		var err error
		cfg, err = masterConfig(c)
		return err
	}, args...)
	return cfg, err
}

func executorConfigOf(t *testing.T, args ...string) (executor.Config, error) {
	t.Helper()
	var cfg executor.Config
	err := runCommand(t, executorCommand(), func(c *cli.Context) error {
		var err error
		cfg, err = executorConfig(c)
		return err
	}, args...)
	return cfg, err
}

func TestMasterConfig_Defaults(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := masterConfigOf(t)
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	want := "file://" + filepath.Join(wd, "sluice-data", "ufs")
	if cfg.RootUFS != want || cfg.Journal.Dir != filepath.Join("sluice-data", "journal") {
		t.Fatalf("root UFS %q journal %q, want %q and sluice-data/journal", cfg.RootUFS, cfg.Journal.Dir, want)
	}
	if cfg.RPCAddr != "127.0.0.1:19998" || cfg.HTTPAddr != "127.0.0.1:19999" || cfg.Journal.BindAddr != "127.0.0.1:19200" {
		t.Fatalf("addresses %s %s %s, want the default ports", cfg.RPCAddr, cfg.HTTPAddr, cfg.Journal.BindAddr)
	}
	if cfg.UFS["file"] == nil || cfg.UFS["s3"] == nil || len(cfg.Journal.Peers) != 0 {
		t.Fatalf("schemes %v, peers %v: want file and s3, no peers", cfg.UFS.Schemes(), cfg.Journal.Peers)
	}
}

func TestMasterConfig_Flags(t *testing.T) {
	t.Setenv("SLUICE_HEARTBEAT_TIMEOUT", "7s")
	cfg, err := masterConfigOf(t,
		"--rpc-addr", "10.0.0.1:1000", "--raft-addr", "10.0.0.1:2000",
		"--peers", "10.0.0.1:2000,10.0.0.2:2000=10.0.0.2:3000", "--peers", "10.0.0.3:2000",
		"--root-ufs", "s3://bucket/p", "--root-ufs-option", "s3.endpoint=127.0.0.1:9000",
		"--root-ufs-option", "s3.secret-key=a=b", "--block-size", "8MiB", "--journal-dir", "/j")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"10.0.0.1:2000": "10.0.0.1:1000", "10.0.0.2:2000": "10.0.0.2:3000", "10.0.0.3:2000": "10.0.0.3:1000"}
	if diff := cmp.Diff(want, cfg.PeerRPCAddrs); diff != "" {
		t.Errorf("peer RPC addresses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"10.0.0.1:2000", "10.0.0.2:2000", "10.0.0.3:2000"}, cfg.Journal.Peers); diff != "" {
		t.Errorf("peers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"s3.endpoint": "127.0.0.1:9000", "s3.secret-key": "a=b"}, cfg.RootUFSOptions); diff != "" {
		t.Errorf("root UFS options (-want +got):\n%s", diff)
	}
	if cfg.HeartbeatTimeout != 7*time.Second || cfg.DefaultBlockSize != 8<<20 || cfg.Journal.Dir != "/j" || cfg.RootUFS != "s3://bucket/p" {
		t.Errorf("timeout %v block size %d journal %s root %s", cfg.HeartbeatTimeout, cfg.DefaultBlockSize, cfg.Journal.Dir, cfg.RootUFS)
	}
}

func TestMasterConfig_Refused(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want error
	}{
		{"self not in peers", []string{"--peers", "10.0.0.2:2000,10.0.0.3:2000"}, errBadFlag},
		{"peer twice", []string{"--peers", "127.0.0.1:19200,127.0.0.1:19200"}, errBadFlag},
		{"bad peer", []string{"--peers", "nohost"}, errBadFlag},
		{"bad peer rpc", []string{"--peers", "127.0.0.1:19200=x"}, errBadFlag},
		{"option without value", []string{"--root-ufs-option", "s3.endpoint"}, errBadFlag},
		{"option twice", []string{"--root-ufs-option", "a=1", "--root-ufs-option", "a=2"}, errBadFlag},
		{"bad block size", []string{"--block-size", "lots"}, errBadSize},
		{"unknown scheme", []string{"--root-ufs", "hdfs://nn/x"}, master.ErrInvalidConfig},
		{"timeout below interval", []string{"--heartbeat-timeout", "1s", "--heartbeat-interval", "2s"}, master.ErrInvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := masterConfigOf(t, tc.args...); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestExecutorConfig_Tiers(t *testing.T) {
	t.Setenv("SLUICE_TASK_ID", "executor-3-9")
	dir := t.TempDir()
	cfg, err := executorConfigOf(t, "--master", "a:1,b:2", "--rpc-addr", "127.0.0.1:4000", "--mem-size", "512MiB",
		"--ssd-dir", filepath.Join(dir, "s1")+","+filepath.Join(dir, "s2"), "--ssd-size", "2GiB", "--hdd-dir", "rel")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	want := []blocks.TierConfig{
		{Alias: blocks.MEM, Dirs: []blocks.DirConfig{{Path: filepath.Join(memRoot(), "executor-4000"), Quota: 512 << 20}}},
		{Alias: blocks.SSD, Dirs: []blocks.DirConfig{{Path: filepath.Join(dir, "s1"), Quota: 2 << 30}, {Path: filepath.Join(dir, "s2"), Quota: 2 << 30}}},
		{Alias: blocks.HDD, Dirs: []blocks.DirConfig{{Path: filepath.Join(wd, "rel"), Quota: 100 << 30}}},
	}
	if diff := cmp.Diff(want, cfg.Store.Tiers); diff != "" {
		t.Errorf("tiers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a:1", "b:2"}, cfg.Masters); diff != "" {
		t.Errorf("masters (-want +got):\n%s", diff)
	}
	if cfg.TaskID != "executor-3-9" || cfg.UFS["s3"] == nil {
		t.Errorf("task ID %q (want from SLUICE_TASK_ID), schemes %v", cfg.TaskID, cfg.UFS.Schemes())
	}
}

func TestExecutorConfig_Refused(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want error
	}{
		{"bad mem size", []string{"--mem-size", "-1"}, errBadSize},
		{"zero mem size", []string{"--mem-size", "0"}, blocks.ErrInvalidConfig},
		{"bad ssd size", []string{"--ssd-dir", "/x", "--ssd-size", "big"}, errBadSize},
		{"bad rpc address", []string{"--rpc-addr", "nowhere"}, errBadFlag},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := executorConfigOf(t, tc.args...); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFormatStore(t *testing.T) {
	dir := t.TempDir()
	cfg := blocks.DefaultConfig()
	cfg.Tiers = []blocks.TierConfig{{Alias: blocks.MEM, Dirs: []blocks.DirConfig{{Path: dir, Quota: 1 << 20}}}}
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := blocks.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for id := range blocks.ID(3) {
		tb, err := s.CreateTemp(t.Context(), id+1, 4, blocks.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tb.Write([]byte("data")); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// A store in use is refused, not wiped under its feet.
	if err := formatStore(t.Context(), cfg, cfg.Logger); !errors.Is(err, blocks.ErrLocked) {
		t.Fatalf("format of a locked store: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "keep.txt")
	if err := os.WriteFile(other, []byte("not a block"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := formatStore(t.Context(), cfg, cfg.Logger); err != nil {
		t.Fatal(err)
	}
	s, err = blocks.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := len(s.Blocks()); n != 0 {
		t.Fatalf("%d blocks after format, want 0", n)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("format removed a file that is not a block: %v", err)
	}
}

func TestParseLogLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, " warn ": slog.LevelWarn, "error": slog.LevelError} {
		if got, err := parseLogLevel(in); err != nil || got != want {
			t.Errorf("parseLogLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseLogLevel("loud"); !errors.Is(err, errBadFlag) || !strings.Contains(err.Error(), "loud") {
		t.Errorf("parseLogLevel(loud) = %v, want errBadFlag naming the value", err)
	}
}
