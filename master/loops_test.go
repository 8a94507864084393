package master

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/mastertest"
)

// persistingExecutor runs e's heartbeat loop in the background and carries out
// PERSIST_FILES into the MemFS stores: it writes the temporary name, renames it and
// reports. failFirst makes the first attempt of every file fail. It stops at cleanup.
type persistingExecutor struct {
	e         *fakeExecutor
	stores    *mastertest.Stores
	failFirst bool
	// mu guards attempts and tasks.
	mu       sync.Mutex
	attempts map[uint64][]uint64 // file ID → attempts seen
	tasks    int
}

func startPersisting(t *testing.T, e *fakeExecutor, stores *mastertest.Stores, failFirst bool) *persistingExecutor {
	pe := &persistingExecutor{e: e, stores: stores, failFirst: failFirst, attempts: map[uint64][]uint64{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			resp, err := e.ex.Heartbeat(ctx, &sluicepb.HeartbeatRequest{ExecutorId: e.id})
			if err != nil {
				continue
			}
			for _, c := range resp.GetCommands() {
				if c.GetType() == sluicepb.CommandType_COMMAND_TYPE_REGISTER {
					e.tryRegister()
				}
				for _, pf := range c.GetPersistFiles() {
					pe.persist(ctx, pf)
				}
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return pe
}

// splitURI splits mem://store/path into the store and the path.
func splitURI(uri string) (string, string) {
	u, _ := url.Parse(uri)
	return u.Host, u.Path
}

func (pe *persistingExecutor) persist(ctx context.Context, pf *sluicepb.PersistFile) {
	pe.mu.Lock()
	pe.attempts[pf.GetFileId()] = append(pe.attempts[pf.GetFileId()], pf.GetAttempt())
	fail := pe.failFirst && len(pe.attempts[pf.GetFileId()]) == 1
	pe.tasks++
	pe.mu.Unlock()
	report := &sluicepb.ReportPersistedRequest{ExecutorId: pe.e.id, FileId: pf.GetFileId(), Attempt: pf.GetAttempt(),
		UfsUri: pf.GetUfs().GetUri()}
	var data []byte
	for _, b := range pf.GetBlocks() {
		data = append(data, pe.e.data[b.GetBlock().GetBlockId()]...)
	}
	store, tmp := splitURI(pf.GetTempUfsUri())
	_, final := splitURI(pf.GetUfs().GetUri())
	if !fail && int64(len(data)) == pf.GetLength() {
		fs := pe.stores.Get(store)
		fs.Put(tmp, data)
		if err := fs.Rename(ctx, tmp, final); err == nil {
			report.Success, report.Bytes = true, int64(len(data))
		}
	}
	if !report.Success {
		report.Error, report.Reason = "injected failure", sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR
	}
	pe.e.ex.ReportPersisted(ctx, report)
}

func TestMaster_PersistLoop(t *testing.T) {
	tm, stores := startMaster(t, nil)
	root := stores.Get("root")
	e := newFakeExecutor(t, tm, "127.0.0.1:7001")
	e.register()
	async := bytes.Repeat([]byte("a"), 2500)
	writeFile(t, tm, e, "/dir/async", async, sluicepb.WriteType_WRITE_TYPE_ASYNC_THROUGH)
	if tm.persistence("/dir/async") != sluicepb.PersistenceState_PERSISTENCE_STATE_TO_BE_PERSISTED {
		t.Fatal("ASYNC_THROUGH file not scheduled")
	}
	writeFile(t, tm, e, "/dir/cached", []byte("cached"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	writeFile(t, tm, e, "/dir/empty", nil, sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	pe := startPersisting(t, e, stores, true)

	waitFor(t, "checkpoint", func() bool {
		return tm.persistence("/dir/async") == sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED
	})
	if got, ok := root.Data("/dir/async"); !ok || !bytes.Equal(got, async) {
		t.Fatalf("UFS copy: %d bytes, ok %v", len(got), ok)
	}
	pe.mu.Lock()
	attempts := pe.attempts[tm.status("/dir/async").GetFileId()]
	pe.mu.Unlock()
	if len(attempts) != 2 || attempts[0] == attempts[1] {
		t.Fatalf("attempts %v: want a failed one and a distinct retry", attempts)
	}
	if tm.persistence("/dir/cached") != sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED {
		t.Fatal("MUST_CACHE file persisted unasked")
	}

	// Persist with wait returns once the files are durable.
	resp, err := tm.fs.Persist(callCtx(t), &sluicepb.PersistRequest{Path: "/dir", Recursive: true, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(resp.GetScheduledPaths(), ",") != "/dir/cached,/dir/empty" || resp.GetAlreadyPersisted() != 1 {
		t.Fatalf("persist: %v", resp)
	}
	if d, ok := root.Data("/dir/cached"); !ok || string(d) != "cached" {
		t.Fatal("persisted file missing in the UFS")
	}
	for _, name := range []string{"/dir/cached", "/dir/empty"} {
		if tm.persistence(name) != sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED {
			t.Fatalf("%s not persisted after Persist with wait", name)
		}
	}
	ls, _ := root.List(t.Context(), "/dir")
	for _, fi := range ls {
		if strings.Contains(fi.Path, tempMarker) {
			t.Fatalf("temporary file left: %s", fi.Path)
		}
	}

	// A stale report (another attempt) changes nothing.
	if _, err := tm.ex.ReportPersisted(callCtx(t), &sluicepb.ReportPersistedRequest{ExecutorId: e.id,
		FileId: tm.status("/dir/cached").GetFileId(), Attempt: 1, Success: false}); err != nil {
		t.Fatal(err)
	}

	// Free drops the cached copies of persisted files; the executor gets FREE.
	fr, err := tm.fs.Free(callCtx(t), &sluicepb.FreeRequest{Path: "/dir", Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if fr.GetFreedFiles() != 2 || fr.GetFreedBlocks() != 4 {
		t.Fatalf("free: %v", fr)
	}
	if st := tm.status("/dir/async"); st.GetInMemoryPercent() != 0 || st.GetPersistenceState() != sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED {
		t.Fatalf("freed file: %v", st)
	}
	if got := tm.m.metrics; got == nil {
		t.Fatal("no metrics")
	}
}

func TestMaster_PersistWaitTimeout(t *testing.T) {
	tm, _ := startMaster(t, nil)
	e := newFakeExecutor(t, tm, "127.0.0.1:7001")
	e.register()
	writeFile(t, tm, e, "/slow", []byte("never persisted"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	// No executor answers PERSIST_FILES: the wait runs out with TIMEOUT.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err := tm.fs.Persist(ctx, &sluicepb.PersistRequest{Path: "/slow", Wait: true})
	// The master answers just before the deadline, so the caller sees TIMEOUT.
	wantReason(t, err, codes.DeadlineExceeded, sluicepb.ErrorReason_ERROR_REASON_TIMEOUT)
	if tm.persistence("/slow") != sluicepb.PersistenceState_PERSISTENCE_STATE_TO_BE_PERSISTED {
		t.Fatal("the persist does not go on")
	}
	// A forced free of an un-persisted file destroys its data: it becomes LOST.
	if _, err := tm.fs.Free(callCtx(t), &sluicepb.FreeRequest{Path: "/slow", Forced: true}); err != nil {
		t.Fatal(err)
	}
	if tm.persistence("/slow") != sluicepb.PersistenceState_PERSISTENCE_STATE_LOST {
		t.Fatal("forced free of un-persisted data did not make it LOST")
	}
}

func TestMaster_TTL(t *testing.T) {
	tm, stores := startMaster(t, nil)
	root := stores.Get("root")
	e := newFakeExecutor(t, tm, "127.0.0.1:7001")
	e.register()
	ctx := callCtx(t)
	root.Put("/ttl/del/x", []byte("x"))
	root.Put("/ttl/free", []byte("free me"))
	free := tm.status("/ttl/free")
	if err := e.store(free.GetBlockIds()[0], []byte("free me")); err != nil {
		t.Fatal(err)
	}
	tm.status("/ttl/del/x")
	ttl, action := int64(1), sluicepb.TtlAction_TTL_ACTION_FREE
	if _, err := tm.fs.SetAttribute(ctx, &sluicepb.SetAttributeRequest{Path: "/ttl/free", TtlMs: &ttl, TtlAction: &action}); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.fs.SetAttribute(ctx, &sluicepb.SetAttributeRequest{Path: "/ttl/del", TtlMs: &ttl}); err != nil {
		t.Fatal(err)
	}
	// The directory is deleted from Sluice and the UFS.
	waitFor(t, "TTL delete", func() bool {
		_, err := tm.fs.GetStatus(ctx, &sluicepb.GetStatusRequest{Path: "/ttl/del", LoadMetadata: sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_NEVER})
		return err != nil
	})
	if _, ok := root.Data("/ttl/del/x"); ok {
		t.Fatal("TTL delete left the UFS file")
	}
	// The persisted file is freed and its TTL cleared.
	waitFor(t, "TTL free", func() bool { return tm.status("/ttl/free").GetTtlMs() == 0 })
	if st := tm.status("/ttl/free"); st.GetInMemoryPercent() != 0 {
		t.Fatalf("TTL-freed file still cached: %v", st)
	}
	if _, err := commandOf(e.heartbeat(), sluicepb.CommandType_COMMAND_TYPE_FREE); err != nil {
		t.Fatal("executor not told to free")
	}
}

func TestMaster_PersistAfterRename(t *testing.T) {
	tm, stores := startMaster(t, nil)
	root := stores.Get("root")
	e := newFakeExecutor(t, tm, "127.0.0.1:7001")
	e.register()
	writeFile(t, tm, e, "/before", []byte("moving"), sluicepb.WriteType_WRITE_TYPE_ASYNC_THROUGH)
	var task *sluicepb.PersistFile
	waitFor(t, "a persist task", func() bool {
		if c, err := commandOf(e.heartbeat(), sluicepb.CommandType_COMMAND_TYPE_PERSIST_FILES); err == nil {
			task = c.GetPersistFiles()[0]
		}
		return task != nil
	})
	if task.GetUfs().GetUri() != "mem://root/before" || !strings.Contains(task.GetTempUfsUri(), tempMarker) ||
		len(task.GetBlocks()) != 1 || task.GetBlocks()[0].GetLocations()[0].GetExecutorId() != e.id {
		t.Fatalf("task: %v", task)
	}
	// The file moves while the executor writes it under the old name.
	if _, err := tm.fs.Rename(callCtx(t), &sluicepb.RenameRequest{Src: "/before", Dst: "/after"}); err != nil {
		t.Fatal(err)
	}
	root.Put("/before", []byte("moving"))
	if _, err := tm.ex.ReportPersisted(callCtx(t), &sluicepb.ReportPersistedRequest{ExecutorId: e.id, FileId: task.GetFileId(),
		Attempt: task.GetAttempt(), UfsUri: task.GetUfs().GetUri(), Success: true, Bytes: 6}); err != nil {
		t.Fatal(err)
	}
	st := tm.status("/after")
	if st.GetPersistenceState() != sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED || st.GetUfsPath() != "mem://root/after" {
		t.Fatalf("renamed file: %v", st)
	}
	if _, ok := root.Data("/after"); !ok {
		t.Fatal("UFS copy not moved to the new name")
	}
	if _, ok := root.Data("/before"); ok {
		t.Fatal("UFS copy left under the old name")
	}
}

func TestMaster_PersistTaskTimeout(t *testing.T) {
	tm, _ := startMaster(t, func(c *Config) { c.PersistTimeout = 100 * time.Millisecond })
	e := newFakeExecutor(t, tm, "127.0.0.1:7001")
	e.register()
	writeFile(t, tm, e, "/stuck", []byte("stuck"), sluicepb.WriteType_WRITE_TYPE_ASYNC_THROUGH)
	// The executor takes the task and goes quiet about it: it is handed out again, as a
	// new attempt with a new temporary name.
	var tasks []*sluicepb.PersistFile
	waitFor(t, "the task handed out twice", func() bool {
		if c, err := commandOf(e.heartbeat(), sluicepb.CommandType_COMMAND_TYPE_PERSIST_FILES); err == nil {
			tasks = append(tasks, c.GetPersistFiles()...)
		}
		return len(tasks) >= 2
	})
	if tasks[0].GetAttempt() == tasks[1].GetAttempt() || tasks[0].GetTempUfsUri() == tasks[1].GetTempUfsUri() {
		t.Fatalf("attempts not distinct: %v / %v", tasks[0], tasks[1])
	}
	// A report of the first attempt is stale now.
	if _, err := tm.ex.ReportPersisted(callCtx(t), &sluicepb.ReportPersistedRequest{ExecutorId: e.id, FileId: tasks[0].GetFileId(),
		Attempt: tasks[0].GetAttempt(), Success: true}); err != nil {
		t.Fatal(err)
	}
	if tm.persistence("/stuck") != sluicepb.PersistenceState_PERSISTENCE_STATE_TO_BE_PERSISTED {
		t.Fatal("a stale report was taken")
	}
}
