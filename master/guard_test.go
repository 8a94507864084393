package master

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// guardSets flattens a GuardAnswer for comparison.
type guardSets struct {
	Persisted, Lineage, Gone []uint64
}

func setsOf(a *sluicepb.GuardAnswer) guardSets {
	return guardSets{Persisted: a.GetPersistedFileIds(), Lineage: a.GetLineageFileIds(), Gone: a.GetGoneFileIds()}
}

func TestMaster_GuardAnswer(t *testing.T) {
	tm, stores := startMaster(t, func(c *Config) { c.Jobs = newFakeLauncher() })
	waitFor(t, "job runner", func() bool { return tm.m.jobRunner.Load() != nil })
	jm := sluicepb.NewJobMasterClient(tm.conn)
	e := newFakeExecutor(t, tm, "127.0.0.1:7001")
	e.register()
	ctx := callCtx(t)

	cached := writeFile(t, tm, e, "/cached", []byte("only in memory"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE).GetFileId()
	stores.Get("root").Put("/persisted", []byte("in the UFS"))
	persisted := tm.status("/persisted").GetFileId()
	deleted := writeFile(t, tm, e, "/deleted", []byte("soon gone"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE).GetFileId()
	if _, err := tm.fs.Delete(ctx, &sluicepb.DeleteRequest{Path: "/deleted"}); err != nil {
		t.Fatal(err)
	}
	// A complete job output is recomputable; one still being written is not yet.
	outJob, writingJob := mustSubmit(t, jm, nil, []string{"/out"}), mustSubmit(t, jm, nil, []string{"/writing"})
	out, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/out", JobId: outJob.GetJobId(), WriteType: sluicepb.WriteType_WRITE_TYPE_MUST_CACHE})
	if err != nil {
		t.Fatal(err)
	}
	outID := out.GetFile().GetFileId()
	blk := sluicepb.NewBlockID(outID, 0)
	if err := e.store(blk, []byte("output")); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.fs.CompleteFile(ctx, &sluicepb.CompleteFileRequest{Path: "/out", Length: 6,
		Blocks: []*sluicepb.BlockInfo{{BlockId: blk, Length: 6}}}); err != nil {
		t.Fatal(err)
	}
	writing, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/writing", JobId: writingJob.GetJobId(), WriteType: sluicepb.WriteType_WRITE_TYPE_MUST_CACHE})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := tm.fs.CreateDirectory(ctx, &sluicepb.CreateDirectoryRequest{Path: "/dir"})
	if err != nil {
		t.Fatal(err)
	}
	const neverUsed = 1 << 39

	ask := []uint64{cached, persisted, deleted, outID, writing.GetFile().GetFileId(), dir.GetFile().GetFileId(), neverUsed}
	want := guardSets{
		Persisted: []uint64{persisted},
		Lineage:   []uint64{outID},
		Gone:      []uint64{deleted, dir.GetFile().GetFileId(), neverUsed},
	}
	hb, err := tm.ex.Heartbeat(ctx, &sluicepb.HeartbeatRequest{ExecutorId: e.id, GuardedFileIds: ask})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, setsOf(hb.GetGuards())); d != "" {
		t.Errorf("heartbeat guard answer (-want +got):\n%s", d)
	}
	// A restarted executor asks at registration and gets the same answer.
	reg, err := tm.ex.RegisterExecutor(ctx, &sluicepb.RegisterExecutorRequest{
		Executor:       &sluicepb.ExecutorInfo{Id: e.id, RpcAddress: e.addr, Host: "localhost"},
		GuardedFileIds: ask,
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, setsOf(reg.GetGuards())); d != "" {
		t.Errorf("registration guard answer (-want +got):\n%s", d)
	}
	// Nothing to tell: no answer at all; the file not persisted stays guarded.
	hb, err = tm.ex.Heartbeat(ctx, &sluicepb.HeartbeatRequest{ExecutorId: e.id, GuardedFileIds: []uint64{cached}})
	if err != nil || hb.GetGuards() != nil {
		t.Fatalf("guard answer for an un-persisted file: %v %v", hb.GetGuards(), err)
	}
}

func TestMaster_PinnedAnswer(t *testing.T) {
	tm, stores := startMaster(t, nil)
	e := newFakeExecutor(t, tm, "127.0.0.1:7001")
	e.register()
	ctx := callCtx(t)

	stores.Get("root").Put("/pinned", []byte("pin me"))
	stores.Get("root").Put("/plain", []byte("leave me"))
	pinned, plain := tm.status("/pinned").GetFileId(), tm.status("/plain").GetFileId()
	dir, err := tm.fs.CreateDirectory(ctx, &sluicepb.CreateDirectoryRequest{Path: "/dir"})
	if err != nil {
		t.Fatal(err)
	}
	setPin := func(path string, on bool) {
		t.Helper()
		if _, err := tm.fs.SetAttribute(ctx, &sluicepb.SetAttributeRequest{Path: path, Pinned: &on}); err != nil {
			t.Fatalf("pin %s=%v: %v", path, on, err)
		}
	}
	setPin("/pinned", true)
	setPin("/dir", true) // a directory holds no blocks: never answered
	const neverUsed = 1 << 39
	held := []uint64{plain, pinned, dir.GetFile().GetFileId(), neverUsed}

	hb, err := tm.ex.Heartbeat(ctx, &sluicepb.HeartbeatRequest{ExecutorId: e.id, HeldFileIds: held})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]uint64{pinned}, hb.GetGuards().GetPinnedFileIds()); d != "" {
		t.Errorf("pinned answer (-want +got):\n%s", d)
	}
	// The guard lists are untouched by held files, and an unpin shows at once: the master
	// keeps no pin state for executors.
	if s := setsOf(hb.GetGuards()); s.Persisted != nil || s.Lineage != nil || s.Gone != nil {
		t.Errorf("held files classified as guarded: %+v", s)
	}
	setPin("/pinned", false)
	hb, err = tm.ex.Heartbeat(ctx, &sluicepb.HeartbeatRequest{ExecutorId: e.id, HeldFileIds: held})
	if err != nil || hb.GetGuards() != nil {
		t.Fatalf("answer after unpin: %v %v", hb.GetGuards(), err)
	}
}
