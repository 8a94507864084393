package executor

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
)

// seedStore writes blocks of 1 KiB into the store directory of cfg before the executor
// opens it.
func seedStore(t *testing.T, cfg Config, ids ...uint64) {
	t.Helper()
	s, err := blocks.Open(t.Context(), cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range ids {
		tb, err := s.CreateTemp(t.Context(), blocks.ID(id), 1024, blocks.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tb.Write(randBytes(id, 1024)); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExecutor_RegisterWithExistingBlocks(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	keep1, keep2, unknown := sluicepb.NewBlockID(20, 0), sluicepb.NewBlockID(20, 1), sluicepb.NewBlockID(21, 0)
	m.with(func(m *fakeMaster) { m.known = map[uint64]bool{keep1: true, keep2: true} })
	cfg := testConfig(t, []string{m.addr}, 8<<20)
	cfg.TaskID = "task-7"
	seedStore(t, cfg, keep1, keep2, unknown)
	e, _ := startExecutor(t, cfg)
	registered(t, e)
	var reg *sluicepb.RegisterExecutorRequest
	m.with(func(m *fakeMaster) { reg = m.registrations[0] })
	var got []uint64
	for _, b := range reg.GetBlocks() {
		got = append(got, b.GetBlockId())
		if b.GetLength() != 1024 || b.GetTier() != "MEM" {
			t.Errorf("registered block %v", b)
		}
	}
	if !slices.Equal(got, []uint64{keep1, keep2, unknown}) {
		t.Fatalf("registered blocks %v", got)
	}
	info := reg.GetExecutor()
	if info.GetRpcAddress() != e.Addr() || info.GetHttpAddress() != e.HTTPAddr() || info.GetHost() != "test-host" ||
		info.GetTaskId() != "task-7" || info.GetCapacityBytes() != 8<<20 || info.GetBlockCount() != 3 || len(info.GetTiers()) != 1 || info.GetMemDir() == "" || info.GetPid() == 0 {
		t.Fatalf("executor info %v", info)
	}
	c := blockClient(t, e.Addr())
	waitFor(t, "removal of the unknown block", func() bool {
		_, _, err := readBlock(t.Context(), c, &sluicepb.ReadBlockRequest{BlockId: unknown})
		return err != nil
	})
	waitFor(t, "the removal in a heartbeat", func() bool { return m.reportedRemoved(unknown) })
	for _, id := range []uint64{keep1, keep2} {
		if _, _, err := readBlock(t.Context(), c, &sluicepb.ReadBlockRequest{BlockId: id}); err != nil {
			t.Fatalf("known block %d: %v", id, err)
		}
	}
}

func TestHeartbeat_RemoveAndFree(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	cfg := testConfig(t, []string{m.addr}, 8<<20)
	ids := []uint64{sluicepb.NewBlockID(30, 0), sluicepb.NewBlockID(30, 1), sluicepb.NewBlockID(31, 0)}
	seedStore(t, cfg, ids...)
	e, _ := startExecutor(t, cfg)
	id := registered(t, e)
	c := blockClient(t, e.Addr())
	// A reader holds ids[1]: its removal waits for the lock to go.
	ol, err := c.OpenLocalBlock(t.Context(), &sluicepb.OpenLocalBlockRequest{BlockId: ids[1], ClientId: "r"})
	if err != nil {
		t.Fatal(err)
	}
	m.command(id, &sluicepb.ExecutorCommand{Type: sluicepb.CommandType_COMMAND_TYPE_REMOVE_BLOCKS, BlockIds: ids[:2]})
	m.command(id, &sluicepb.ExecutorCommand{Type: sluicepb.CommandType_COMMAND_TYPE_FREE, BlockIds: ids[2:]})
	waitFor(t, "removals reported", func() bool { return m.reportedRemoved(ids[0]) && m.reportedRemoved(ids[2]) })
	if m.reportedRemoved(ids[1]) {
		t.Fatal("a locked block was removed")
	}
	if _, err := c.CloseLocalBlock(t.Context(), &sluicepb.CloseLocalBlockRequest{LockId: ol.GetLockId()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the released block's removal", func() bool { return m.reportedRemoved(ids[1]) })
	for _, b := range ids {
		_, _, err := readBlock(t.Context(), c, &sluicepb.ReadBlockRequest{BlockId: b})
		reasonIs(t, err, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND)
	}
}

func TestHeartbeat_RegisterCommand(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	e, _ := startExecutor(t, testConfig(t, []string{m.addr}, 8<<20))
	id := registered(t, e)
	m.command(id, &sluicepb.ExecutorCommand{Type: sluicepb.CommandType_COMMAND_TYPE_REGISTER})
	waitFor(t, "a second registration", func() bool { return m.numRegistrations() >= 2 })
	m.with(func(m *fakeMaster) {
		if got := m.registrations[1].GetExecutor().GetId(); got != id {
			t.Errorf("re-registration offered ID %d, want %d", got, id)
		}
	})
}

func TestMaster_UnavailableThenBack(t *testing.T) {
	addr := freeAddr(t)
	cfg := testConfig(t, []string{addr}, 8<<20)
	held := sluicepb.NewBlockID(40, 0)
	seedStore(t, cfg, held)
	e, _ := startExecutor(t, cfg)
	c := blockClient(t, e.Addr())
	// No master: reads still work, writes cannot commit.
	if _, _, err := readBlock(t.Context(), c, &sluicepb.ReadBlockRequest{BlockId: held}); err != nil {
		t.Fatalf("read without a master: %v", err)
	}
	wctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	_, err := writeBlock(wctx, c, &sluicepb.WriteBlockHeader{BlockId: sluicepb.NewBlockID(40, 1)}, []byte("x"), 1)
	cancel()
	if err == nil {
		t.Fatal("write committed without a master")
	}
	m := startFakeMaster(t, addr)
	id := registered(t, e)
	m.with(func(m *fakeMaster) {
		if len(m.registrations[0].GetBlocks()) != 1 {
			t.Errorf("registration lists %v", m.registrations[0].GetBlocks())
		}
	})
	// The master restarts and forgets the executor: it registers again with its old ID.
	m.stop()
	m2 := startFakeMaster(t, addr)
	waitFor(t, "registration with the new master", func() bool { return m2.numRegistrations() > 0 })
	m2.with(func(m *fakeMaster) {
		if got := m.registrations[0].GetExecutor().GetId(); got != id {
			t.Errorf("registered with ID %d, want the old %d", got, id)
		}
	})
	if _, err := writeBlock(t.Context(), c, &sluicepb.WriteBlockHeader{BlockId: sluicepb.NewBlockID(40, 2)}, []byte("x"), 1); err != nil {
		t.Fatalf("write after the master came back: %v", err)
	}
}

func TestMaster_NotLeaderRedirect(t *testing.T) {
	leader := startFakeMaster(t, "127.0.0.1:0")
	follower := startFakeMaster(t, "127.0.0.1:0")
	follower.with(func(m *fakeMaster) { m.leader = leader.addr })
	down := freeAddr(t)
	e, _ := startExecutor(t, testConfig(t, []string{down, follower.addr}, 8<<20))
	registered(t, e)
	if leader.numRegistrations() != 1 || follower.numRegistrations() != 0 {
		t.Fatalf("registrations: leader %d, follower %d", leader.numRegistrations(), follower.numRegistrations())
	}
	c := blockClient(t, e.Addr())
	id := sluicepb.NewBlockID(50, 0)
	if _, err := writeBlock(t.Context(), c, &sluicepb.WriteBlockHeader{BlockId: id}, []byte("abc"), 2); err != nil {
		t.Fatal(err)
	}
	if leader.committed(id) == nil {
		t.Fatal("commit did not reach the leader")
	}
}

func TestBlockService_CommitRefusedLeavesNothing(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	e, _ := startExecutor(t, testConfig(t, []string{m.addr}, 8<<20))
	registered(t, e)
	m.with(func(m *fakeMaster) {
		m.commitErr = statusErr(codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_COMPLETE)
	})
	c := blockClient(t, e.Addr())
	id := sluicepb.NewBlockID(51, 0)
	_, err := writeBlock(t.Context(), c, &sluicepb.WriteBlockHeader{BlockId: id}, []byte("abc"), 2)
	reasonIs(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_COMPLETE)
	_, _, err = readBlock(t.Context(), c, &sluicepb.ReadBlockRequest{BlockId: id})
	reasonIs(t, err, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND)
}

func TestExecutor_HTTP(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	e, _ := startExecutor(t, testConfig(t, []string{m.addr}, 8<<20))
	registered(t, e)
	c := blockClient(t, e.Addr())
	if _, err := writeBlock(t.Context(), c, &sluicepb.WriteBlockHeader{BlockId: sluicepb.NewBlockID(60, 0)}, []byte("abc"), 2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readBlock(t.Context(), c, &sluicepb.ReadBlockRequest{BlockId: sluicepb.NewBlockID(60, 0)}); err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+e.HTTPAddr()+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	if h := get("/healthz"); !strings.HasPrefix(h, "ok") {
		t.Fatalf("/healthz: %q", h)
	}
	metrics := get("/metrics")
	for _, want := range []string{
		`sluice_executor_read_bytes_total{path="remote",tier="MEM"} 3`,
		`sluice_executor_written_bytes_total{path="remote",tier="MEM"} 3`,
		`sluice_executor_tier_blocks{tier="MEM"} 1`,
		`sluice_executor_cache_hits_total 1`,
		`sluice_executor_tier_capacity_bytes{tier="MEM"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestExecutor_RunTwice(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	e, _ := startExecutor(t, testConfig(t, []string{m.addr}, 8<<20))
	if err := e.Run(t.Context()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"no masters", func(c *Config) { c.Masters = nil }, false},
		{"bad master", func(c *Config) { c.Masters = []string{"nohost"} }, false},
		{"bad rpc addr", func(c *Config) { c.RPCAddr = "x" }, false},
		{"bad http addr", func(c *Config) { c.HTTPAddr = "x" }, false},
		{"http off", func(c *Config) { c.HTTPAddr = "" }, true},
		{"no host", func(c *Config) { c.AdvertiseHost = "" }, false},
		{"no tiers", func(c *Config) { c.Store.Tiers = nil }, false},
		{"zero heartbeat", func(c *Config) { c.HeartbeatInterval = 0 }, false},
		{"zero backoff", func(c *Config) { c.MaxBackoff = 0 }, false},
		{"zero RPC timeout", func(c *Config) { c.RPCTimeout = 0 }, false},
		{"zero persist concurrency", func(c *Config) { c.PersistConcurrency = 0 }, false},
		{"small messages", func(c *Config) { c.MaxMessageSize = 1000 }, false},
		{"zero chunk", func(c *Config) { c.ChunkSize = 0 }, false},
		{"chunk above cap", func(c *Config) { c.ChunkSize = MaxChunkSize + 1 }, false},
		{"chunk above message size", func(c *Config) { c.MaxMessageSize = 1 << 20; c.ChunkSize = 1 << 20 }, false},
		{"zero lock timeout", func(c *Config) { c.LocalLockTimeout = 0 }, false},
		{"negative window", func(c *Config) { c.StreamWindow = -1 }, false},
		{"negative grace", func(c *Config) { c.ShutdownGrace = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mod(&cfg)
			err := cfg.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate: %v, want ErrInvalidConfig", err)
			}
			if _, nerr := New(cfg); (nerr == nil) != tt.ok {
				t.Fatalf("New: %v", nerr)
			}
		})
	}
}
