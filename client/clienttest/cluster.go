package clienttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// Options configure a fake Cluster.
type Options struct {
	// Masters is the number of master servers sharing the state (default 1); master 0
	// leads at first.
	Masters int
	// Executors are the executors to start (default: one on this host).
	Executors []ExecutorOptions
	// BlockSize is the default block size of new files (default 1 MiB, small so that tests
	// get multi-block files cheaply).
	BlockSize int64
	// RootUFS is the URI mounted at "/" (default "mem:///root").
	RootUFS string
}

// ExecutorOptions configure one fake executor.
type ExecutorOptions struct {
	// Host is the host name the executor reports (default os.Hostname(), so a client on
	// this machine uses short-circuit; use another name to force streamed access).
	Host string
	// Capacity is the executor's MEM capacity in bytes (default 1 GiB).
	Capacity int64
	// Dir is the directory of the block files (default a new t.TempDir()).
	Dir string
	// PathPrefix is put in front of the block file paths given to short-circuit clients,
	// to play an executor whose files a client cannot reach under the names it gives
	// (another mount namespace); such clients must fall back to streams.
	PathPrefix string
}

// Cluster is an in-memory fake of a Sluice cluster: masters serving FileSystemMaster and
// MetaMaster from one shared namespace, executors serving BlockService from block files
// in temporary directories, and an in-memory UFS. It follows the wire contracts of api/
// (codes, ErrorDetail reasons, block IDs, streams) closely enough to test clients, and
// offers fault injection: changing the leader, stopping masters and executors, declaring
// executors lost, injecting errors into any RPC, and hooks into block reads.
//
// Everything listens on 127.0.0.1 and stops when the test ends. Its methods are safe for
// concurrent use.
type Cluster struct {
	t    testing.TB
	opts Options

	// mu guards every field below and the namespace (namespace.go).
	mu         sync.Mutex
	masters    []*masterServer
	leader     int
	executors  []*Executor
	nextExecID uint64
	// inodes are the namespace by path; byID indexes them by file ID.
	inodes     map[string]*inode
	byID       map[uint64]*inode
	nextFileID uint64
	mounts     []*mount
	nextMount  uint64
	// ufs holds the UFS files by URI.
	ufs map[string][]byte
	// blockLocs are the executors holding each block (soft state, as on a real master).
	blockLocs map[uint64]map[uint64]bool
	// written are blocks committed for INCOMPLETE files, awaiting CompleteFile.
	written map[uint64]*sluicepb.BlockInfo
	// faults are errors to return from the next calls of a method, by method name.
	faults map[string][]error
	// calls counts calls by method name ("ReadBlock", "GetStatus", …).
	calls map[string]int
	// jobs are the recorded lineage jobs by ID ascending (jobs.go).
	jobs      []*job
	nextJobID uint64
}

// New starts a fake cluster and registers its shutdown with t.Cleanup.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Masters <= 0 {
		opts.Masters = 1
	}
	if opts.BlockSize <= 0 {
		opts.BlockSize = 1 << 20
	}
	if opts.RootUFS == "" {
		opts.RootUFS = "mem:///root"
	}
	if len(opts.Executors) == 0 {
		opts.Executors = []ExecutorOptions{{}}
	}
	c := &Cluster{
		t:         t,
		opts:      opts,
		inodes:    make(map[string]*inode),
		byID:      make(map[uint64]*inode),
		ufs:       make(map[string][]byte),
		blockLocs: make(map[uint64]map[uint64]bool),
		written:   make(map[uint64]*sluicepb.BlockInfo),
		faults:    make(map[string][]error),
		calls:     make(map[string]int),
	}
	c.initNamespace()
	for i := 0; i < opts.Masters; i++ {
		c.masters = append(c.masters, c.startMaster(i))
	}
	for _, eo := range opts.Executors {
		c.AddExecutor(eo)
	}
	t.Cleanup(c.stop)
	return c
}

// stop stops every server.
func (c *Cluster) stop() {
	c.mu.Lock()
	masters := append([]*masterServer(nil), c.masters...)
	execs := append([]*Executor(nil), c.executors...)
	c.mu.Unlock()
	for _, m := range masters {
		m.srv.Stop()
	}
	for _, e := range execs {
		e.Stop()
	}
}

// listen opens a loopback listener on a free port.
func (c *Cluster) listen() net.Listener {
	c.t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatalf("clienttest: listen: %v", err)
	}
	return lis
}

// newServer returns a gRPC server with raised message limits whose interceptors count
// calls, return injected faults and, when notLeader says so, answer NOT_LEADER.
func (c *Cluster) newServer(notLeader func(method string) error) *grpc.Server {
	check := func(full string) error {
		method := full[strings.LastIndex(full, "/")+1:]
		c.mu.Lock()
		c.calls[method]++
		var err error
		if q := c.faults[method]; len(q) > 0 {
			err, c.faults[method] = q[0], q[1:]
		}
		c.mu.Unlock()
		if err != nil {
			return err
		}
		if notLeader != nil {
			return notLeader(method)
		}
		return nil
	}
	return grpc.NewServer(
		grpc.MaxRecvMsgSize(64<<20),
		grpc.MaxSendMsgSize(64<<20),
		// Large socket buffers and windows: streaming 1 MiB chunks in 32 KiB writes costs
		// more in system calls than in copies.
		grpc.WriteBufferSize(1<<20),
		grpc.ReadBufferSize(1<<20),
		grpc.InitialWindowSize(4<<20),
		grpc.InitialConnWindowSize(16<<20),
		grpc.ForceServerCodecV2(sendCodec{}),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(info.FullMethod); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(info.FullMethod); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	)
}

// masterServer is one master process of the fake cluster.
type masterServer struct {
	index   int
	addr    string
	srv     *grpc.Server
	stopped bool
}

func (c *Cluster) startMaster(i int) *masterServer {
	lis := c.listen()
	m := &masterServer{index: i, addr: lis.Addr().String()}
	m.srv = c.newServer(func(method string) error {
		if method == "GetMasterInfo" {
			return nil
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.leader == i {
			return nil
		}
		d := &sluicepb.ErrorDetail{Reason: sluicepb.ErrorReason_ERROR_REASON_NOT_LEADER}
		if c.leader >= 0 {
			d.LeaderAddress = c.masters[c.leader].addr
		}
		return withDetail(codes.Unavailable, d, "master %s is not the leader", m.addr)
	})
	sluicepb.RegisterFileSystemMasterServer(m.srv, &fsServer{c: c})
	sluicepb.RegisterMetaMasterServer(m.srv, &metaServer{c: c, self: i})
	sluicepb.RegisterJobMasterServer(m.srv, &jobServer{c: c})
	go m.srv.Serve(lis)
	return m
}

// Address returns the address of the leading master (master 0 unless SetLeader changed it).
func (c *Cluster) Address() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader < 0 {
		return c.masters[0].addr
	}
	return c.masters[c.leader].addr
}

// MasterAddresses returns every master's address, by index.
func (c *Cluster) MasterAddresses() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.masters))
	for i, m := range c.masters {
		out[i] = m.addr
	}
	return out
}

// SetLeader makes master i the leader; the others answer NOT_LEADER naming it. A negative
// i leaves the cluster without a leader: every master answers NOT_LEADER with no address.
func (c *Cluster) SetLeader(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leader = i
}

// StopMaster stops master i's server; calls to it fail as unreachable.
func (c *Cluster) StopMaster(i int) {
	c.mu.Lock()
	m := c.masters[i]
	m.stopped = true
	c.mu.Unlock()
	m.srv.Stop()
}

// InjectError makes the next len(errs) calls of method (a short name such as "CompleteFile"
// or "ReadBlock", on any server) fail with errs in order, before the call is served.
// Use Status to build contract errors.
func (c *Cluster) InjectError(method string, errs ...error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults[method] = append(c.faults[method], errs...)
}

// Calls returns how many calls of method (short name) the cluster's servers received.
func (c *Cluster) Calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

// Status builds a contract error: a gRPC status with code and an ErrorDetail of reason.
func Status(code codes.Code, reason sluicepb.ErrorReason, msg string) error {
	return withDetail(code, &sluicepb.ErrorDetail{Reason: reason}, "%s", msg)
}

// withDetail builds a status error carrying d.
func withDetail(code codes.Code, d *sluicepb.ErrorDetail, format string, args ...any) error {
	st := status.New(code, fmt.Sprintf(format, args...))
	if sd, err := st.WithDetails(d); err == nil {
		st = sd
	}
	return st.Err()
}

// fail returns the contract error of reason, with the code the api/errors.proto table
// gives it, about path.
func fail(reason sluicepb.ErrorReason, path string, format string, args ...any) error {
	return withDetail(reasonCode[reason], &sluicepb.ErrorDetail{Reason: reason, Path: path}, format, args...)
}

// reasonCode is the server side of the error table in api/errors.proto.
var reasonCode = map[sluicepb.ErrorReason]codes.Code{
	sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND:               codes.NotFound,
	sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS:          codes.AlreadyExists,
	sluicepb.ErrorReason_ERROR_REASON_FILE_INCOMPLETE:         codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_FILE_COMPLETE:           codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_DIRECTORY_NOT_EMPTY:     codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_NOT_A_DIRECTORY:         codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_IS_A_DIRECTORY:          codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_FILE_LOST:               codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_READ_ONLY_MOUNT:         codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_MOUNT_CONFLICT:          codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_NOT_PERSISTED:           codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_IS_MOUNT_POINT:          codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_NOT_A_MOUNT_POINT:       codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH:         codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_LINEAGE_HAS_DEPENDENTS:  codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_JOB_FAILED:              codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_EXECUTOR_NOT_REGISTERED: codes.FailedPrecondition,
	sluicepb.ErrorReason_ERROR_REASON_NOT_LEADER:              codes.Unavailable,
	sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE:             codes.Unavailable,
	sluicepb.ErrorReason_ERROR_REASON_INVALID_PATH:            codes.InvalidArgument,
	sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT:        codes.InvalidArgument,
	sluicepb.ErrorReason_ERROR_REASON_UNKNOWN_SCHEME:          codes.InvalidArgument,
	sluicepb.ErrorReason_ERROR_REASON_NO_SPACE:                codes.ResourceExhausted,
	sluicepb.ErrorReason_ERROR_REASON_BLOCK_CORRUPT:           codes.DataLoss,
	sluicepb.ErrorReason_ERROR_REASON_PERMISSION_DENIED:       codes.PermissionDenied,
	sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR:               codes.Internal,
	sluicepb.ErrorReason_ERROR_REASON_BLOCK_LOCKED:            codes.Aborted,
	sluicepb.ErrorReason_ERROR_REASON_TIMEOUT:                 codes.DeadlineExceeded,
}

// hostname is the default executor host name.
func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

// PersistPending persists every TO_BE_PERSISTED file, as the master's persist loop would,
// and returns the first failure.
func (c *Cluster) PersistPending() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, in := range c.subtree("/") {
		if in.info.PersistenceState == sluicepb.PersistenceState_PERSISTENCE_STATE_TO_BE_PERSISTED {
			if err := c.persist(in); err != nil {
				return err
			}
		}
	}
	return nil
}

// FileStatus returns a copy of the master's metadata of path, without loading anything.
func (c *Cluster) FileStatus(path string) (*sluicepb.FileInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.inodes[path]
	if in == nil {
		return nil, false
	}
	return c.view(in), true
}
