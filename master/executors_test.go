package master

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
)

func TestMaster_ExecutorRegistration(t *testing.T) {
	tm, _ := startMaster(t, nil)
	ctx := callCtx(t)
	e := newFakeExecutor(t, tm, "127.0.0.1:7001")
	e.taskID = "task-7"
	e.register()
	f := writeFile(t, tm, e, "/f", []byte("0123456789"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	known := f.GetBlockIds()[0]

	// Unknown blocks are returned for removal, never trusted: an unknown file, an index
	// past the end, a wrong length. A block of a file being written is kept.
	inc, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/inc"})
	if err != nil {
		t.Fatal(err)
	}
	writing := sluicepb.NewBlockID(inc.GetFile().GetFileId(), 0)
	unknownFile := sluicepb.NewBlockID(999999, 0)
	pastEnd := sluicepb.NewBlockID(f.GetFileId(), 5)
	e2 := newFakeExecutor(t, tm, "127.0.0.1:7002")
	e2.blocks[known] = &sluicepb.StoredBlock{BlockId: known, Length: 10, Tier: "SSD", Crc32C: e.blocks[known].GetCrc32C()}
	e2.blocks[unknownFile] = &sluicepb.StoredBlock{BlockId: unknownFile, Length: 10, Tier: "MEM"}
	e2.blocks[pastEnd] = &sluicepb.StoredBlock{BlockId: pastEnd, Length: 10, Tier: "MEM"}
	e2.blocks[writing] = &sluicepb.StoredBlock{BlockId: writing, Length: 3, Tier: "MEM"}
	resp := e2.register()
	removed := resp.GetRemoveBlockIds()
	slices.Sort(removed)
	want := []uint64{pastEnd, unknownFile}
	slices.Sort(want)
	if !slices.Equal(removed, want) || resp.GetHeartbeatIntervalMs() != 50 || resp.GetClusterId() == "" {
		t.Fatalf("register: %v, want removals %v", resp, want)
	}
	bl, err := tm.fs.GetBlockLocations(ctx, &sluicepb.GetBlockLocationsRequest{Path: "/f"})
	if err != nil {
		t.Fatal(err)
	}
	locs := bl.GetBlocks()[0].GetLocations()
	if len(locs) != 2 || locs[0].GetTier() != "MEM" || locs[1].GetTier() != "SSD" || locs[1].GetRpcAddress() != "127.0.0.1:7002" {
		t.Fatalf("locations, fastest tier first: %v", locs)
	}

	// Heartbeats: an unknown ID must register; added blocks of unknown files are removed.
	hb, err := tm.ex.Heartbeat(ctx, &sluicepb.HeartbeatRequest{ExecutorId: 424242})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := commandOf(hb.GetCommands(), sluicepb.CommandType_COMMAND_TYPE_REGISTER); err != nil {
		t.Fatalf("unknown executor: %v", hb.GetCommands())
	}
	// Unknown and malformed blocks (an ID below the first file, no tier) are removed.
	hb, err = tm.ex.Heartbeat(ctx, &sluicepb.HeartbeatRequest{ExecutorId: e2.id,
		AddedBlocks: []*sluicepb.StoredBlock{{BlockId: unknownFile, Length: 1, Tier: "MEM"}, {BlockId: 5, Length: 1, Tier: "MEM"},
			{BlockId: writing, Length: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if rm, err := commandOf(hb.GetCommands(), sluicepb.CommandType_COMMAND_TYPE_REMOVE_BLOCKS); err != nil || !slices.Equal(rm.GetBlockIds(), []uint64{unknownFile, 5, writing}) {
		t.Fatalf("heartbeat with unknown blocks: %v", hb.GetCommands())
	}
	if cmds := e.heartbeat(); len(cmds) != 1 || cmds[0].GetType() != sluicepb.CommandType_COMMAND_TYPE_NOTHING {
		t.Fatalf("idle heartbeat: %v", cmds)
	}

	// Re-registering with the same ID keeps it.
	old := e.id
	e.register()
	if e.id != old {
		t.Fatalf("re-registration changed the ID from %d to %d", old, e.id)
	}

	// Listing and report show tiers, pid and task ID.
	le, err := tm.meta.ListExecutors(ctx, &sluicepb.ListExecutorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(le.GetExecutors()) != 2 || le.GetExecutors()[0].GetPid() != 4242 {
		t.Fatalf("executors: %v", le.GetExecutors())
	}
	rep, err := tm.meta.GetReport(ctx, &sluicepb.GetReportRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.GetLiveExecutors() != 2 || rep.GetFileCount() != 2 || rep.GetCapacityBytes() != 2<<30 || len(rep.GetTiers()) != 1 ||
		rep.GetMaster().GetIsLeader() != true || rep.GetPersistence().GetNotPersisted() != 2 {
		t.Fatalf("report: %v", rep)
	}

	// A loss report by task ID acts at once: e's copy goes, e2's SSD copy remains.
	if err := tm.m.ReportExecutorLost(ctx, "task-7"); err != nil {
		t.Fatal(err)
	}
	if tm.persistence("/f") != sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED {
		t.Fatal("a file with a copy left became LOST")
	}
	if err := tm.m.ReportExecutorLost(ctx, "no-such-task"); err == nil {
		t.Fatal("loss report of an unknown executor succeeded")
	}
	hb, err = tm.ex.Heartbeat(ctx, &sluicepb.HeartbeatRequest{ExecutorId: e.id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := commandOf(hb.GetCommands(), sluicepb.CommandType_COMMAND_TYPE_REGISTER); err != nil {
		t.Fatalf("lost executor heartbeat: %v", hb.GetCommands())
	}
	_, err = tm.ex.CommitBlock(ctx, &sluicepb.CommitBlockRequest{ExecutorId: e.id, BlockId: writing, Length: 1, Tier: "MEM"})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_EXECUTOR_NOT_REGISTERED)
	le, err = tm.meta.ListExecutors(ctx, &sluicepb.ListExecutorsRequest{IncludeLost: true})
	if err != nil || len(le.GetExecutors()) != 2 || le.GetExecutors()[0].GetState() != sluicepb.ExecutorState_EXECUTOR_STATE_LOST {
		t.Fatalf("executors with lost: %v %v", le.GetExecutors(), err)
	}
}

func TestMaster_LostExecutor(t *testing.T) {
	tm, stores := startMaster(t, func(c *Config) { c.HeartbeatTimeout = 300 * time.Millisecond })
	e := newFakeExecutor(t, tm, "127.0.0.1:7001")
	e.register()
	stop := e.keepAlive()
	writeFile(t, tm, e, "/cached", []byte("only in memory"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	stores.Get("root").Put("/persisted", []byte("in the UFS"))
	p := tm.status("/persisted")
	if err := e.store(p.GetBlockIds()[0], []byte("in the UFS")); err != nil {
		t.Fatal(err)
	}
	bl, err := tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: "/persisted"})
	if err != nil || len(bl.GetBlocks()[0].GetLocations()) != 1 {
		t.Fatalf("cached copy of a persisted file: %v %v", bl, err)
	}
	// e stops heartbeating: after HeartbeatTimeout it is lost, /cached with it.
	stop()
	waitFor(t, "LOST", func() bool { return tm.persistence("/cached") == sluicepb.PersistenceState_PERSISTENCE_STATE_LOST })
	if tm.persistence("/persisted") != sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED {
		t.Fatal("a persisted file became LOST")
	}
	bl, err = tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: "/persisted"})
	if err != nil || len(bl.GetBlocks()[0].GetLocations()) != 0 || bl.GetBlocks()[0].GetUfs() == nil {
		t.Fatalf("persisted file after the loss: %v %v", bl, err)
	}
	// A LOST file without lineage: reads answer at once, waits fail with FILE_LOST.
	bl, err = tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: "/cached"})
	if err != nil || len(bl.GetBlocks()[0].GetLocations()) != 0 {
		t.Fatalf("lost file: %v %v", bl, err)
	}
	_, err = tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: "/cached", WaitForRecompute: true})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_LOST)
	rep, err := tm.meta.GetReport(callCtx(t), &sluicepb.GetReportRequest{})
	if err != nil || rep.GetLostExecutors() != 1 || len(rep.GetLostFiles()) != 1 || rep.GetLostFiles()[0].GetPath() != "/cached" {
		t.Fatalf("report: %v %v", rep, err)
	}
	_, err = tm.fs.Persist(callCtx(t), &sluicepb.PersistRequest{Path: "/cached"})
	wantReason(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_FILE_LOST)

	// The executor comes back: it must register again, and its copy is accepted.
	if _, err := commandOf(e.heartbeat(), sluicepb.CommandType_COMMAND_TYPE_REGISTER); err != nil {
		t.Fatal("lost executor not asked to register")
	}
	e.register()
	if n := len(e.blocks); n != 2 {
		t.Fatalf("re-registered executor keeps %d blocks, want 2", n)
	}
	// Its blocks are back, so the file is readable again.
	if tm.persistence("/cached") != sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED {
		t.Fatal("LOST file with every block back not recovered")
	}
}

func TestMaster_LostFileWithLineage(t *testing.T) {
	tm, _ := startMaster(t, nil)
	e := newFakeExecutor(t, tm, "127.0.0.1:7001")
	e.register()
	ctx := callCtx(t)
	cr, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/out", JobId: "17", WriteType: sluicepb.WriteType_WRITE_TYPE_MUST_CACHE})
	if err != nil {
		t.Fatal(err)
	}
	// The job claims its placeholder again (a retry of the same CreateFile).
	again, err := tm.fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: "/out", JobId: "17"})
	if err != nil || again.GetFile().GetFileId() != cr.GetFile().GetFileId() || again.GetFile().GetJobId() != "17" {
		t.Fatalf("claim: %v %v", again, err)
	}
	id := sluicepb.NewBlockID(cr.GetFile().GetFileId(), 0)
	if err := e.store(id, []byte("output")); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.fs.CompleteFile(ctx, &sluicepb.CompleteFileRequest{Path: "/out", Length: 6,
		Blocks: []*sluicepb.BlockInfo{{BlockId: id, Length: 6}}}); err != nil {
		t.Fatal(err)
	}
	if tm.persistence("/out") != sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED {
		t.Fatal("job output scheduled for a checkpoint")
	}
	if err := tm.m.ReportExecutorLost(ctx, strconv.FormatUint(e.id, 10)); err != nil {
		t.Fatal(err)
	}
	if tm.persistence("/out") != sluicepb.PersistenceState_PERSISTENCE_STATE_LOST {
		t.Fatal("job output not LOST")
	}
	// A recompute rewrites the block (a new executor commits it): readable again, and a
	// read waiting for the recompute is answered.
	e2 := newFakeExecutor(t, tm, "127.0.0.1:7002")
	e2.register()
	waiting := make(chan error, 1)
	go func() {
		_, err := tm.fs.GetBlockLocations(ctx, &sluicepb.GetBlockLocationsRequest{Path: "/out", WaitForRecompute: true})
		waiting <- err
	}()
	if err := e2.store(id, []byte("output")); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err != nil {
		t.Fatalf("read waiting for the recompute: %v", err)
	}
	if tm.persistence("/out") != sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED {
		t.Fatal("recomputed output still LOST")
	}
	if err := tm.m.ReportExecutorLost(ctx, strconv.FormatUint(e2.id, 10)); err != nil {
		t.Fatal(err)
	}
	// Waiting for a recompute that does not come ends with FILE_LOST naming the job.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = tm.fs.GetBlockLocations(wctx, &sluicepb.GetBlockLocationsRequest{Path: "/out", WaitForRecompute: true})
	st, _ := status.FromError(err)
	if len(st.Details()) != 1 || st.Details()[0].(*sluicepb.ErrorDetail).GetJobId() != "17" ||
		st.Details()[0].(*sluicepb.ErrorDetail).GetReason() != sluicepb.ErrorReason_ERROR_REASON_FILE_LOST {
		t.Fatalf("wait for recompute: %v", err)
	}
}

func TestMaster_ExecutorReplacedAtSameAddress(t *testing.T) {
	tm, _ := startMaster(t, nil)
	e := newFakeExecutor(t, tm, "127.0.0.1:7001")
	e.register()
	f := writeFile(t, tm, e, "/f", []byte("data"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	// The same process restarts with its blocks but without its old ID: the old entry
	// goes, no block is lost, and it stays listed once.
	first := e.id
	e.id = 0
	e.register()
	if e.id == first {
		t.Fatal("no new ID")
	}
	le, err := tm.meta.ListExecutors(callCtx(t), &sluicepb.ListExecutorsRequest{IncludeLost: true})
	if err != nil || len(le.GetExecutors()) != 1 || le.GetExecutors()[0].GetId() != e.id {
		t.Fatalf("executors: %v %v", le, err)
	}
	if tm.persistence("/f") != sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED || tm.status("/f").GetInMemoryPercent() != 100 {
		t.Fatalf("file after re-registration: %v", tm.status("/f"))
	}
	_ = f
}
