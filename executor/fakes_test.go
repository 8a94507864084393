package executor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/ufs"
)

// fakeMaster is an ExecutorMaster that records what executors tell it and hands out
// queued commands. It admits every executor, knows the blocks in known (all blocks when
// known is nil) and, when leader is set, answers every call NOT_LEADER pointing there.
type fakeMaster struct {
	sluicepb.UnimplementedExecutorMasterServer
	addr string
	srv  *grpc.Server
	done chan struct{}

	// mu guards the fields below.
	mu            sync.Mutex
	nextID        uint64
	executors     map[uint64]bool
	known         map[uint64]bool
	registrations []*sluicepb.RegisterExecutorRequest
	heartbeats    []*sluicepb.HeartbeatRequest
	commits       []*sluicepb.CommitBlockRequest
	reports       []*sluicepb.ReportPersistedRequest
	commands      map[uint64][]*sluicepb.ExecutorCommand
	leader        string
	commitErr     error
	// persisted, lineage and gone are the file IDs the guard answers name.
	persisted, lineage, gone map[uint64]bool
	// pinned are the file IDs the pin answers name.
	pinned map[uint64]bool
}

// startFakeMaster serves a fakeMaster on addr (127.0.0.1:0 for a free port); it stops
// at the end of the test or on stop.
func startFakeMaster(t testing.TB, addr string) *fakeMaster {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	m := &fakeMaster{
		addr: lis.Addr().String(), srv: grpc.NewServer(), done: make(chan struct{}),
		nextID: 100, executors: map[uint64]bool{}, commands: map[uint64][]*sluicepb.ExecutorCommand{},
	}
	sluicepb.RegisterExecutorMasterServer(m.srv, m)
	go func() {
		defer close(m.done)
		m.srv.Serve(lis)
	}()
	t.Cleanup(m.stop)
	return m
}

func (m *fakeMaster) stop() {
	m.srv.Stop()
	<-m.done
}

func notLeaderErr(leader string) error {
	st, _ := status.New(codes.Unavailable, "not the leader").WithDetails(&sluicepb.ErrorDetail{
		Reason: sluicepb.ErrorReason_ERROR_REASON_NOT_LEADER, LeaderAddress: leader,
	})
	return st.Err()
}

func notRegisteredErr() error {
	st, _ := status.New(codes.FailedPrecondition, "unknown executor").WithDetails(&sluicepb.ErrorDetail{
		Reason: sluicepb.ErrorReason_ERROR_REASON_EXECUTOR_NOT_REGISTERED,
	})
	return st.Err()
}

func (m *fakeMaster) RegisterExecutor(ctx context.Context, req *sluicepb.RegisterExecutorRequest) (*sluicepb.RegisterExecutorResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leader != "" {
		return nil, notLeaderErr(m.leader)
	}
	m.registrations = append(m.registrations, proto.Clone(req).(*sluicepb.RegisterExecutorRequest))
	id := req.GetExecutor().GetId()
	if id == 0 {
		m.nextID++
		id = m.nextID
	}
	m.executors[id] = true
	resp := &sluicepb.RegisterExecutorResponse{ExecutorId: id, ClusterId: "test-cluster", Guards: m.guardAnswerLocked(req.GetGuardedFileIds())}
	for _, b := range req.GetBlocks() {
		if m.known != nil && !m.known[b.GetBlockId()] {
			resp.RemoveBlockIds = append(resp.RemoveBlockIds, b.GetBlockId())
		}
	}
	return resp, nil
}

func (m *fakeMaster) Heartbeat(ctx context.Context, req *sluicepb.HeartbeatRequest) (*sluicepb.HeartbeatResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leader != "" {
		return nil, notLeaderErr(m.leader)
	}
	if !m.executors[req.GetExecutorId()] {
		return &sluicepb.HeartbeatResponse{Commands: []*sluicepb.ExecutorCommand{{Type: sluicepb.CommandType_COMMAND_TYPE_REGISTER}}}, nil
	}
	m.heartbeats = append(m.heartbeats, proto.Clone(req).(*sluicepb.HeartbeatRequest))
	cmds := m.commands[req.GetExecutorId()]
	delete(m.commands, req.GetExecutorId())
	guards := m.guardAnswerLocked(req.GetGuardedFileIds())
	for _, f := range req.GetHeldFileIds() {
		if m.pinned[f] {
			guards.PinnedFileIds = append(guards.PinnedFileIds, f)
		}
	}
	return &sluicepb.HeartbeatResponse{Commands: cmds, Guards: guards}, nil
}

// guardAnswerLocked answers guarded files from persisted, lineage and gone.
func (m *fakeMaster) guardAnswerLocked(files []uint64) *sluicepb.GuardAnswer {
	ans := &sluicepb.GuardAnswer{}
	for _, f := range files {
		switch {
		case m.persisted[f]:
			ans.PersistedFileIds = append(ans.PersistedFileIds, f)
		case m.lineage[f]:
			ans.LineageFileIds = append(ans.LineageFileIds, f)
		case m.gone[f]:
			ans.GoneFileIds = append(ans.GoneFileIds, f)
		}
	}
	return ans
}

// setPersisted makes the guard answers name files as persisted.
func (m *fakeMaster) setPersisted(files ...uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.persisted == nil {
		m.persisted = map[uint64]bool{}
	}
	for _, f := range files {
		m.persisted[f] = true
	}
}

func (m *fakeMaster) CommitBlock(ctx context.Context, req *sluicepb.CommitBlockRequest) (*sluicepb.CommitBlockResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leader != "" {
		return nil, notLeaderErr(m.leader)
	}
	if !m.executors[req.GetExecutorId()] {
		return nil, notRegisteredErr()
	}
	if m.commitErr != nil {
		return nil, m.commitErr
	}
	m.commits = append(m.commits, proto.Clone(req).(*sluicepb.CommitBlockRequest))
	return &sluicepb.CommitBlockResponse{}, nil
}

func (m *fakeMaster) ReportPersisted(ctx context.Context, req *sluicepb.ReportPersistedRequest) (*sluicepb.ReportPersistedResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.executors[req.GetExecutorId()] {
		return nil, notRegisteredErr()
	}
	m.reports = append(m.reports, proto.Clone(req).(*sluicepb.ReportPersistedRequest))
	return &sluicepb.ReportPersistedResponse{}, nil
}

// command queues cmd for executor id's next heartbeat.
func (m *fakeMaster) command(id uint64, cmd *sluicepb.ExecutorCommand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.commands[id] = append(m.commands[id], cmd)
}

// with runs fn with the master's fields locked.
func (m *fakeMaster) with(fn func(m *fakeMaster)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn(m)
}

func (m *fakeMaster) numRegistrations() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.registrations)
}

// committed reports whether block id was committed by any executor.
func (m *fakeMaster) committed(id uint64) *sluicepb.CommitBlockRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.commits {
		if c.GetBlockId() == id {
			return c
		}
	}
	return nil
}

// reportedRemoved reports whether a heartbeat listed block id as removed.
func (m *fakeMaster) reportedRemoved(id uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range m.heartbeats {
		if slices.Contains(h.GetRemovedBlockIds(), id) {
			return true
		}
	}
	return false
}

func (m *fakeMaster) report(fileID uint64) *sluicepb.ReportPersistedRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.reports {
		if r.GetFileId() == fileID {
			return r
		}
	}
	return nil
}

// memFS is an in-memory ufs.FS. Open waits on gate when it is set, and counts calls.
type memFS struct {
	opens atomic.Int64
	gate  chan struct{}

	// mu guards files.
	mu    sync.Mutex
	files map[string][]byte
}

var _ ufs.FS = (*memFS)(nil)

func newMemFS() *memFS { return &memFS{files: map[string][]byte{}} }

// registry returns a Registry whose "mem" scheme opens fsys for every authority.
func (f *memFS) registry() ufs.Registry {
	return ufs.Registry{"mem": func(ctx context.Context, u *url.URL, options map[string]string) (ufs.FS, error) {
		if u.Path != "/" {
			return nil, fmt.Errorf("memfs: root %q, want /", u.Path)
		}
		return f, nil
	}}
}

func (f *memFS) put(name string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[name] = bytes.Clone(data)
}

func (f *memFS) get(name string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.files[name]
	return b, ok
}

func (f *memFS) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ns []string
	for n := range f.files {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

func (f *memFS) Open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	f.opens.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	b = b[off:]
	if length >= 0 && length < int64(len(b)) {
		b = b[:length]
	}
	return io.NopCloser(bytes.NewReader(bytes.Clone(b))), nil
}

type memWriter struct {
	f    *memFS
	name string
	buf  bytes.Buffer
	done bool
}

func (w *memWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, ufs.ErrAborted
	}
	return w.buf.Write(p)
}

func (w *memWriter) Close() error {
	if w.done {
		return ufs.ErrAborted
	}
	w.done = true
	w.f.put(w.name, w.buf.Bytes())
	return nil
}

func (w *memWriter) Abort() error {
	w.done = true
	return nil
}

func (f *memFS) Create(ctx context.Context, name string) (ufs.Writer, error) {
	return &memWriter{f: f, name: name}, nil
}

func (f *memFS) Stat(ctx context.Context, name string) (ufs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.files[name]
	if !ok {
		return ufs.FileInfo{}, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return ufs.FileInfo{Path: name, Size: int64(len(b)), ModTime: time.Unix(0, 0)}, nil
}

func (f *memFS) List(ctx context.Context, name string) ([]ufs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ufs.FileInfo
	for n, b := range f.files {
		if strings.HasPrefix(n, strings.TrimSuffix(name, "/")+"/") && !strings.Contains(n[len(strings.TrimSuffix(name, "/"))+1:], "/") {
			out = append(out, ufs.FileInfo{Path: n, Size: int64(len(b))})
		}
	}
	slices.SortFunc(out, func(a, b ufs.FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

func (f *memFS) Delete(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.files[name]; !ok {
		return &fs.PathError{Op: "delete", Path: name, Err: fs.ErrNotExist}
	}
	delete(f.files, name)
	return nil
}

func (f *memFS) Rename(ctx context.Context, src, dst string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.files[src]
	if !ok {
		return &fs.PathError{Op: "rename", Path: src, Err: fs.ErrNotExist}
	}
	if _, ok := f.files[dst]; ok {
		return &fs.PathError{Op: "rename", Path: dst, Err: fs.ErrExist}
	}
	delete(f.files, src)
	f.files[dst] = b
	return nil
}

func (f *memFS) Mkdir(ctx context.Context, name string) error { return nil }
