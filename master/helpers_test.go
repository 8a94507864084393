package master

import (
	"context"
	"errors"
	"hash/crc32"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/mastertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testConfig returns a fast Config on loopback port 0, an in-memory Raft transport
// named raftAddr, and a root UFS in stores ("mem://root").
func testConfig(t testing.TB, dir, raftAddr string, stores *mastertest.Stores) (Config, *raft.InmemTransport) {
	cfg := DefaultConfig()
	cfg.RPCAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RootUFS = "mem://root"
	cfg.UFS = mastertest.Registry(stores)
	cfg.HeartbeatInterval = 50 * time.Millisecond
	// Fake executors heartbeat only when a test says so: tests of executor loss set a
	// short timeout themselves.
	cfg.HeartbeatTimeout = time.Minute
	cfg.LostCheckInterval = 20 * time.Millisecond
	cfg.TTLCheckInterval = 20 * time.Millisecond
	cfg.PersistRetryBase = 20 * time.Millisecond
	cfg.PersistRetryMax = 200 * time.Millisecond
	cfg.DefaultBlockSize = 1024
	cfg.MaxMessageSize = 1 << 20
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.Journal.Dir = dir
	_, trans := raft.NewInmemTransportWithTimeout(raft.ServerAddress(raftAddr), 5*time.Second)
	cfg.Journal.Transport = trans
	cfg.Journal.HeartbeatTimeout = 50 * time.Millisecond
	cfg.Journal.ElectionTimeout = 50 * time.Millisecond
	cfg.Journal.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.Journal.CommitTimeout = 5 * time.Millisecond
	return cfg, trans
}

// testMaster is a running in-process master with clients on a real gRPC connection.
type testMaster struct {
	t      testing.TB
	m      *Master
	trans  *raft.InmemTransport
	conn   *grpc.ClientConn
	fs     sluicepb.FileSystemMasterClient
	ex     sluicepb.ExecutorMasterClient
	meta   sluicepb.MetaMasterClient
	cancel context.CancelFunc
	done   chan error
}

// runMaster starts a master with cfg and connects to it; it is stopped at cleanup.
func runMaster(t testing.TB, cfg Config, trans *raft.InmemTransport) *testMaster {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tm := dialMaster(t, m, trans)
	tm.start()
	return tm
}

// dialMaster connects clients to a master that is not yet running; start runs it.
func dialMaster(t testing.TB, m *Master, trans *raft.InmemTransport) *testMaster {
	t.Helper()
	tm := &testMaster{t: t, m: m, trans: trans, done: make(chan error, 1)}
	conn, err := grpc.NewClient(m.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(8<<20), grpc.MaxCallSendMsgSize(8<<20)))
	if err != nil {
		t.Fatal(err)
	}
	tm.conn = conn
	tm.fs = sluicepb.NewFileSystemMasterClient(conn)
	tm.ex = sluicepb.NewExecutorMasterClient(conn)
	tm.meta = sluicepb.NewMetaMasterClient(conn)
	return tm
}

// start runs the master until stop (called at cleanup at the latest).
func (tm *testMaster) start() {
	ctx, cancel := context.WithCancel(context.Background())
	tm.cancel = cancel
	go func() { tm.done <- tm.m.Run(ctx) }()
	tm.t.Cleanup(tm.stop)
}

// startMaster runs a single master on a fresh directory and waits for it to lead.
func startMaster(t *testing.T, tweak func(*Config)) (*testMaster, *mastertest.Stores) {
	t.Helper()
	stores := &mastertest.Stores{}
	cfg, trans := testConfig(t, t.TempDir(), "m0", stores)
	if tweak != nil {
		tweak(&cfg)
	}
	tm := runMaster(t, cfg, trans)
	waitFor(t, "leadership", tm.m.IsLeader)
	return tm, stores
}

// startMasterB is startMaster for benchmarks: only warnings are logged.
func startMasterB(b *testing.B) (*testMaster, *mastertest.Stores) {
	stores := &mastertest.Stores{}
	cfg, trans := testConfig(b, b.TempDir(), "m0", stores)
	cfg.Logger = slog.New(slog.NewTextHandler(b.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.Journal.Logger = cfg.Logger
	cfg.HeartbeatTimeout = time.Hour // the benchmark executor never heartbeats
	tm := runMaster(b, cfg, trans)
	waitFor(b, "leadership", tm.m.IsLeader)
	return tm, stores
}

// stop stops the master and waits for Run to return. Safe to call twice.
func (tm *testMaster) stop() {
	if tm.cancel == nil {
		return
	}
	tm.cancel()
	tm.cancel = nil
	if err := <-tm.done; err != nil {
		tm.t.Errorf("Run: %v", err)
	}
	tm.conn.Close()
	tm.trans.Close()
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// ctx returns a context for one call.
func callCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// reasonOf returns the code and ErrorDetail reason of a gRPC error.
func reasonOf(err error) (codes.Code, sluicepb.ErrorReason) {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if ed, ok := d.(*sluicepb.ErrorDetail); ok {
			return st.Code(), ed.GetReason()
		}
	}
	return st.Code(), sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED
}

// wantReason fails unless err carries code and reason.
func wantReason(t *testing.T, err error, code codes.Code, reason sluicepb.ErrorReason) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v %v", code, reason)
	}
	c, r := reasonOf(err)
	if c != code || r != reason {
		t.Fatalf("got %v %v (%v), want %v %v", c, r, err, code, reason)
	}
}

// fakeExecutor speaks ExecutorMaster like an executor, holding blocks in memory.
type fakeExecutor struct {
	t      *testing.T
	ex     sluicepb.ExecutorMasterClient
	id     uint64
	addr   string
	taskID string
	blocks map[uint64]*sluicepb.StoredBlock
	data   map[uint64][]byte
}

func newFakeExecutor(t *testing.T, tm *testMaster, addr string) *fakeExecutor {
	return &fakeExecutor{t: t, ex: tm.ex, addr: addr, blocks: map[uint64]*sluicepb.StoredBlock{}, data: map[uint64][]byte{}}
}

// register (re)registers with every held block and applies the removals.
func (e *fakeExecutor) register() *sluicepb.RegisterExecutorResponse {
	e.t.Helper()
	resp, err := e.tryRegister()
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// tryRegister is register without failing the test (for background goroutines).
func (e *fakeExecutor) tryRegister() (*sluicepb.RegisterExecutorResponse, error) {
	req := &sluicepb.RegisterExecutorRequest{Executor: &sluicepb.ExecutorInfo{Id: e.id, RpcAddress: e.addr, Host: "localhost",
		Pid: 4242, TaskId: e.taskID, Tiers: []*sluicepb.TierUsage{{Alias: "MEM", CapacityBytes: 1 << 30, UsedBytes: int64(len(e.blocks))}}}}
	for _, b := range e.blocks {
		req.Blocks = append(req.Blocks, b)
	}
	resp, err := e.ex.RegisterExecutor(callCtx(e.t), req)
	if err != nil {
		return nil, err
	}
	e.id = resp.GetExecutorId()
	for _, id := range resp.GetRemoveBlockIds() {
		delete(e.blocks, id)
	}
	return resp, nil
}

// keepAlive heartbeats for e in the background (ignoring commands) until the returned
// stop is called, so a short HeartbeatTimeout does not lose it during a test's setup.
func (e *fakeExecutor) keepAlive() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	id := e.id
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				e.ex.Heartbeat(ctx, &sluicepb.HeartbeatRequest{ExecutorId: id})
			}
		}
	}()
	return func() { cancel(); <-done }
}

// store writes a block and commits it.
func (e *fakeExecutor) store(id uint64, data []byte) error {
	crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	_, err := e.ex.CommitBlock(callCtx(e.t), &sluicepb.CommitBlockRequest{ExecutorId: e.id, BlockId: id,
		Length: int64(len(data)), Tier: "MEM", Crc32C: crc})
	if err == nil {
		e.blocks[id] = &sluicepb.StoredBlock{BlockId: id, Length: int64(len(data)), Tier: "MEM", Crc32C: crc}
		e.data[id] = data
	}
	return err
}

// heartbeat sends one heartbeat and carries out REMOVE_BLOCKS and FREE; it returns the
// commands.
func (e *fakeExecutor) heartbeat(persisting ...uint64) []*sluicepb.ExecutorCommand {
	e.t.Helper()
	resp, err := e.ex.Heartbeat(callCtx(e.t), &sluicepb.HeartbeatRequest{ExecutorId: e.id, PersistingFileIds: persisting,
		Tiers: []*sluicepb.TierUsage{{Alias: "MEM", CapacityBytes: 1 << 30}}})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range resp.GetCommands() {
		switch c.GetType() {
		case sluicepb.CommandType_COMMAND_TYPE_REMOVE_BLOCKS, sluicepb.CommandType_COMMAND_TYPE_FREE:
			for _, id := range c.GetBlockIds() {
				delete(e.blocks, id)
				delete(e.data, id)
			}
		}
	}
	return resp.GetCommands()
}

// writeFile creates, writes (on e) and completes a file.
func writeFile(t *testing.T, tm *testMaster, e *fakeExecutor, p string, data []byte, wt sluicepb.WriteType) *sluicepb.FileInfo {
	t.Helper()
	cr, err := tm.fs.CreateFile(callCtx(t), &sluicepb.CreateFileRequest{Path: p, WriteType: wt, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	f := cr.GetFile()
	var blocks []*sluicepb.BlockInfo
	for i := 0; int64(i)*f.GetBlockSize() < int64(len(data)); i++ {
		chunk := data[int64(i)*f.GetBlockSize() : min(int64(len(data)), int64(i+1)*f.GetBlockSize())]
		id := sluicepb.NewBlockID(f.GetFileId(), uint32(i))
		if err := e.store(id, chunk); err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, &sluicepb.BlockInfo{BlockId: id, Length: int64(len(chunk))})
	}
	resp, err := tm.fs.CompleteFile(callCtx(t), &sluicepb.CompleteFileRequest{Path: p, FileId: f.GetFileId(),
		Length: int64(len(data)), Blocks: blocks})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetFile()
}

// status returns a path's FileInfo.
func (tm *testMaster) status(p string) *sluicepb.FileInfo {
	tm.t.Helper()
	r, err := tm.fs.GetStatus(callCtx(tm.t), &sluicepb.GetStatusRequest{Path: p})
	if err != nil {
		tm.t.Fatal(err)
	}
	return r.GetFile()
}

// persistence returns a path's persistence state, or UNSPECIFIED if it is gone.
func (tm *testMaster) persistence(p string) sluicepb.PersistenceState {
	r, err := tm.fs.GetStatus(callCtx(tm.t), &sluicepb.GetStatusRequest{Path: p,
		LoadMetadata: sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_NEVER})
	if err != nil {
		return sluicepb.PersistenceState_PERSISTENCE_STATE_UNSPECIFIED
	}
	return r.GetFile().GetPersistenceState()
}

var errNoCommand = errors.New("no such command")

// commandOf returns the first command of type typ.
func commandOf(cmds []*sluicepb.ExecutorCommand, typ sluicepb.CommandType) (*sluicepb.ExecutorCommand, error) {
	for _, c := range cmds {
		if c.GetType() == typ {
			return c, nil
		}
	}
	return nil, errNoCommand
}
