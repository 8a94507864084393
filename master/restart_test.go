package master

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/mastertest"
)

func TestMaster_Restart(t *testing.T) {
	stores := &mastertest.Stores{}
	dir := t.TempDir()
	cfg, trans := testConfig(t, dir, "m0", stores)
	tm := runMaster(t, cfg, trans)
	waitFor(t, "leadership", tm.m.IsLeader)
	e := newFakeExecutor(t, tm, "127.0.0.1:7001")
	e.register()
	kept := writeFile(t, tm, e, "/kept", []byte("kept in memory"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	writeFile(t, tm, e, "/queued", []byte("to be persisted"), sluicepb.WriteType_WRITE_TYPE_ASYNC_THROUGH)
	gone := newFakeExecutor(t, tm, "127.0.0.1:7002")
	gone.register()
	writeFile(t, tm, gone, "/gone", []byte("its executor never returns"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	if _, err := tm.fs.Mount(callCtx(t), &sluicepb.MountRequest{Path: "/other", UfsUri: "mem://other"}); err != nil {
		t.Fatal(err)
	}
	tm.stop()

	// Reopen the same directory: the namespace, the mounts and the checkpoint queue are
	// back; executors are asked to register again.
	cfg2, trans2 := testConfig(t, dir, "m0", stores)
	cfg2.HeartbeatTimeout = time.Second // also the grace period before the LOST scan
	tm2 := runMaster(t, cfg2, trans2)
	waitFor(t, "leadership after restart", tm2.m.IsLeader)
	if st := tm2.status("/kept"); st.GetFileId() != kept.GetFileId() || st.GetLength() != kept.GetLength() || st.GetInMemoryPercent() != 0 {
		t.Fatalf("after restart: %v", st)
	}
	if tm2.persistence("/queued") != sluicepb.PersistenceState_PERSISTENCE_STATE_TO_BE_PERSISTED {
		t.Fatal("checkpoint state lost")
	}
	mt, err := tm2.fs.GetMountTable(callCtx(t), &sluicepb.GetMountTableRequest{})
	if err != nil || len(mt.GetMounts()) != 2 {
		t.Fatalf("mounts after restart: %v %v", mt, err)
	}
	e.ex = tm2.ex
	if _, err := commandOf(e.heartbeat(), sluicepb.CommandType_COMMAND_TYPE_REGISTER); err != nil {
		t.Fatal("executor unknown to the new master not asked to register")
	}
	old := e.id
	if resp := e.register(); len(resp.GetRemoveBlockIds()) != 0 || e.id != old {
		t.Fatalf("re-registration: %v (ID %d, was %d)", resp, e.id, old)
	}
	if st := tm2.status("/kept"); st.GetInMemoryPercent() != 100 {
		t.Fatalf("re-registered blocks not located: %v", st)
	}
	// The re-queued checkpoint completes.
	startPersisting(t, e, stores, false)
	waitFor(t, "re-queued checkpoint", func() bool {
		return tm2.persistence("/queued") == sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED
	})
	// Blocks nobody re-registered within HeartbeatTimeout were lost while no master watched.
	waitFor(t, "LOST after the grace period", func() bool {
		return tm2.persistence("/gone") == sluicepb.PersistenceState_PERSISTENCE_STATE_LOST
	})
	if tm2.persistence("/kept") != sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED {
		t.Fatal("a re-registered file became LOST")
	}
}

func TestMaster_HTTP(t *testing.T) {
	tm, stores := startMaster(t, nil)
	e := newFakeExecutor(t, tm, "127.0.0.1:7001")
	e.taskID = "exec-task-1"
	e.register()
	writeFile(t, tm, e, "/web/<b>file", []byte("html"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	stores.Get("root").Put("/web/ufs-only", []byte("u"))
	tm.status("/web/ufs-only")
	get := func(p string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + tm.m.HTTPAddr() + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		path string
		code int
		want []string
	}{
		{"/healthz", 200, []string{"ok leader"}},
		{"/metrics", 200, []string{"sluice_master_files 2", "sluice_master_executors_live 1", "sluice_master_persist_queue_length",
			"sluice_master_raft_state{state=\"Leader\"} 1", "sluice_master_rpcs_total", "sluice_master_files_lost 0",
			"sluice_master_journal_log_writes_total", "sluice_master_journal_log_entries_written_total"}},
		{"/", 200, []string{"Live executors", "Persisted", "Persist queue", "m0"}},
		{"/executors", 200, []string{"127.0.0.1:7001", "4242", "exec-task-1", "MEM"}},
		{"/browse?path=/web", 200, []string{"&lt;b&gt;file", "NOT_PERSISTED", "PERSISTED", "100%"}},
		{"/browse?path=/web/ufs-only", 200, []string{"mem://root/web/ufs-only"}},
		{"/browse?path=relative", 400, nil},
		{"/lost", 200, []string{"no lost file"}},
		{"/nope", 404, nil},
	}
	for _, c := range cases {
		code, body := get(c.path)
		if code != c.code {
			t.Errorf("%s: status %d, want %d", c.path, code, c.code)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: no %q in\n%s", c.path, w, body)
			}
		}
	}
}

func TestMaster_SharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	stores := &mastertest.Stores{}
	for i := range 2 {
		cfg, trans := testConfig(t, t.TempDir(), "m0", stores)
		cfg.Registry = reg
		m, err := New(cfg)
		if err != nil {
			t.Fatalf("master %d on a shared registry: %v", i, err)
		}
		m.Close()
		trans.Close()
	}
	if _, err := New(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("empty config: %v", err)
	}
}
