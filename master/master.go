package master

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/journal"
	"github.com/sluicedata/sluice/master/state"
)

// Master is one Sluice master: the gRPC services, the web UI and, while it leads the
// Raft cluster, the leader-only loops. Create it with New and run it with Run; call
// Close instead of Run to release a Master that never ran.
type Master struct {
	cfg       Config
	log       *slog.Logger
	st        *state.State
	startTime time.Time

	// j is set by Run before any server goroutine starts and never changes after.
	j *journal.Journal

	rpcLis  net.Listener
	httpLis net.Listener
	rpcAddr string // advertised gRPC address
	grpc    *grpc.Server
	httpSrv *http.Server

	// ids is the leader's inode ID allocator, set when leadership is gained.
	ids atomic.Pointer[state.IDAllocator]
	// jobRunner owns the runs of lineage jobs while this master leads (jobs_run.go).
	jobRunner atomic.Pointer[jobRunner]
	// ready is true while this master leads and has caught up with the journal.
	ready atomic.Bool
	// serving is true while the servers run (for /healthz); it is set after j, so a
	// goroutine that sees it true may use j.
	serving atomic.Bool
	// done is closed when Run starts shutting down; long waits in handlers end then.
	done     chan struct{}
	doneOnce sync.Once

	blocks  *blockMaster
	persist *persister
	rec     *recomputer
	ufs     *ufsCache
	loader  *metaLoader
	metrics *metrics

	// notifyMu guards notifyCh, which is closed whenever this master journals a change,
	// so that waiters (Persist with wait, reads of LOST files) re-check the state. It is
	// nil while nobody waits (changed makes it), so most changes allocate nothing.
	notifyMu sync.Mutex
	notifyCh chan struct{}

	// writeTypes remembers the write type of files being written (leader memory),
	// so CompleteFile knows whether to schedule a checkpoint. Guarded by writeTypesMu.
	writeTypesMu sync.Mutex
	writeTypes   map[uint64]sluicepb.WriteType

	access accessTracker
}

// New checks cfg, binds the gRPC and HTTP listeners (so Addr and HTTPAddr are known at
// once) and builds the Master. It starts no goroutine; the journal is opened by Run.
func New(cfg Config) (*Master, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Journal.Logger == nil {
		cfg.Journal.Logger = log
	}
	log = log.With("component", "master")
	m := &Master{
		cfg:        cfg,
		log:        log,
		st:         state.New(),
		startTime:  time.Now(),
		done:       make(chan struct{}),
		writeTypes: make(map[uint64]sluicepb.WriteType),
	}
	m.blocks = newBlockMaster()
	m.persist = newPersister()
	m.rec = newRecomputer()
	m.ufs = newUFSCache(cfg.UFS)
	m.loader = &metaLoader{m: m}

	lis, err := net.Listen("tcp", cfg.RPCAddr)
	if err != nil {
		return nil, fmt.Errorf("master: listen gRPC %s: %w", cfg.RPCAddr, err)
	}
	m.rpcLis = lis
	m.rpcAddr = lis.Addr().String()
	if cfg.AdvertiseRPCAddr != "" {
		m.rpcAddr = cfg.AdvertiseRPCAddr
	}
	if cfg.HTTPAddr != "" {
		hl, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			lis.Close()
			return nil, fmt.Errorf("master: listen HTTP %s: %w", cfg.HTTPAddr, err)
		}
		m.httpLis = hl
	}
	if m.metrics, err = newMetrics(m, cfg.Registry); err != nil {
		m.Close()
		return nil, err
	}
	m.grpc = grpc.NewServer(
		// Stream workers run unary handlers on goroutines that live on, with their
		// stacks already grown, instead of a new goroutine per call (which then grows
		// its stack in every call): about a tenth of a metadata call's CPU. A call
		// finding every worker busy still gets its own goroutine.
		grpc.NumStreamWorkers(streamWorkers),
		// Fixed flow-control windows (as the client's) turn off gRPC's bandwidth-delay
		// estimation, which otherwise sends a PING and a WINDOW_UPDATE for nearly every
		// small request of a busy connection, and waits for the PING's answer: two more
		// frames and wake-ups per call on both sides.
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.MaxRecvMsgSize(cfg.MaxMessageSize),
		grpc.MaxSendMsgSize(cfg.MaxMessageSize),
		grpc.ChainUnaryInterceptor(m.unaryInterceptor),
	)
	sluicepb.RegisterFileSystemMasterServer(m.grpc, &fsServer{m: m})
	sluicepb.RegisterExecutorMasterServer(m.grpc, &executorServer{m: m})
	sluicepb.RegisterMetaMasterServer(m.grpc, &metaServer{m: m})
	sluicepb.RegisterJobMasterServer(m.grpc, &jobServer{m: m})
	if m.httpLis != nil {
		m.httpSrv = &http.Server{Handler: m.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
	}
	return m, nil
}

// Addr returns the address the gRPC server is bound to (useful with port 0).
func (m *Master) Addr() string { return m.rpcLis.Addr().String() }

// HTTPAddr returns the address of the HTTP server, or "" when HTTP is disabled.
func (m *Master) HTTPAddr() string {
	if m.httpLis == nil {
		return ""
	}
	return m.httpLis.Addr().String()
}

// Close releases the listeners of a Master whose Run was never called. Do not call it
// together with Run.
func (m *Master) Close() error {
	if m.grpc != nil {
		// Ends the server's stream workers, which start with it.
		m.grpc.Stop()
	}
	err := m.rpcLis.Close()
	if m.httpLis != nil {
		err = errors.Join(err, m.httpLis.Close())
	}
	return err
}

// JournalLogWrites returns the journal's log writes since Run opened it and the entries
// they stored (sluice_master_journal_log_* in /metrics): entries per write measures
// group commit. Both are 0 before Run.
func (m *Master) JournalLogWrites() (writes, entries uint64) {
	if !m.serving.Load() {
		return 0, 0
	}
	return m.j.LogWrites()
}

// IsLeader reports whether this master leads and is ready to serve.
func (m *Master) IsLeader() bool { return m.ready.Load() }

// Run opens the journal, serves gRPC and HTTP, and runs the leader-only loops while this
// master leads. It returns when ctx ends (after stopping the servers and loops and
// closing the journal, nil) or when a server fails. Run may be called once.
func (m *Master) Run(ctx context.Context) error {
	jcfg := m.cfg.Journal
	j, err := journal.Open(jcfg, m.st)
	if err != nil {
		m.Close()
		return fmt.Errorf("master: open journal: %w", err)
	}
	m.j = j
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	errCh := make(chan error, 3)
	m.serving.Store(true)
	wg.Go(func() {
		if err := m.grpc.Serve(m.rpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errCh <- fmt.Errorf("master: gRPC server: %w", err)
			cancel()
		}
	})
	if m.httpSrv != nil {
		wg.Go(func() {
			if err := m.httpSrv.Serve(m.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errCh <- fmt.Errorf("master: HTTP server: %w", err)
				cancel()
			}
		})
	}
	wg.Go(func() { m.monitorLeadership(ctx) })
	m.log.Info("master started", "rpc_addr", m.Addr(), "http_addr", m.HTTPAddr(), "raft_addr", j.Addr())

	<-ctx.Done()
	m.serving.Store(false)
	m.doneOnce.Do(func() { close(m.done) })
	stopped := make(chan struct{})
	go func() { m.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		m.grpc.Stop()
		<-stopped
	}
	if m.httpSrv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := m.httpSrv.Shutdown(sctx); err != nil {
			m.httpSrv.Close()
		}
		scancel()
	}
	wg.Wait()
	m.ufs.close()
	err = j.Close()
	m.log.Info("master stopped")
	select {
	case e := <-errCh:
		return e
	default:
	}
	if err != nil {
		return fmt.Errorf("master: close journal: %w", err)
	}
	return nil
}

// monitorLeadership starts the leader-only work on gaining leadership and stops it on
// losing it (or when ctx ends).
func (m *Master) monitorLeadership(ctx context.Context) {
	var (
		lcancel context.CancelFunc
		lwg     sync.WaitGroup
	)
	stop := func() {
		if lcancel == nil {
			return
		}
		m.ready.Store(false)
		lcancel()
		lwg.Wait()
		lcancel = nil
		m.blocks.reset()
		m.persist.reset()
		m.log.Info("leadership lost")
	}
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case leader := <-m.j.LeaderCh():
			if leader && lcancel == nil {
				lcancel = m.startLeading(ctx, &lwg)
			} else if !leader {
				stop()
			}
		}
	}
}

// startLeading runs lead in a goroutine of wg and returns what cancels it.
func (m *Master) startLeading(ctx context.Context, wg *sync.WaitGroup) context.CancelFunc {
	lctx, cancel := context.WithCancel(ctx)
	wg.Go(func() { m.lead(lctx) })
	return cancel
}

// lead prepares this master to serve as leader (journal caught up, root mount, ID
// allocator, persist queue) and runs the leader-only loops until ctx ends.
func (m *Master) lead(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for {
		err := m.becomeLeader(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		m.log.Error("cannot start leading, retrying", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	m.blocks.startTerm()
	m.persist.load(m.st.View())
	m.ready.Store(true)
	m.log.Info("leading", "raft_addr", m.j.Addr(), "applied_index", m.st.View().AppliedIndex())
	var wg sync.WaitGroup
	wg.Go(func() { m.lostLoop(ctx) })
	wg.Go(func() { m.ttlLoop(ctx) })
	wg.Go(func() { m.persistLoop(ctx) })
	wg.Go(func() { m.recomputeLoop(ctx) })
	wg.Go(func() { m.accessLoop(ctx) })
	wg.Go(func() { m.runJobs(ctx) })
	wg.Go(func() { m.lineageGCLoop(ctx) })
	wg.Wait()
}

// becomeLeader waits for the journal to catch up, mounts the root UFS on a new cluster
// and starts the ID allocator.
func (m *Master) becomeLeader(ctx context.Context) error {
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.j.Barrier(bctx); err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	if !m.st.View().HasRootMount() {
		if _, err := m.ufs.open(bctx, 0, m.cfg.RootUFS, m.cfg.RootUFSOptions); err != nil {
			return fmt.Errorf("open root UFS %s: %w", m.cfg.RootUFS, err)
		}
		_, err := m.j.Apply(bctx, state.EntryMount, &sluicepb.MountEntry{
			Path: "/", UfsUri: m.cfg.RootUFS, Options: maps.Clone(m.cfg.RootUFSOptions),
			Owner: m.cfg.DefaultOwner, Group: m.cfg.DefaultGroup, Mode: 0o755, TimeMs: nowMs(),
		})
		if err != nil {
			return fmt.Errorf("mount root UFS: %w", err)
		}
		m.log.Info("root UFS mounted", "ufs_uri", m.cfg.RootUFS)
	}
	m.ids.Store(state.NewIDAllocator(m.st.View().NextID()))
	return nil
}

// apply journals one entry and wakes the waiters on state changes.
func (m *Master) apply(ctx context.Context, t state.EntryType, msg proto.Message) (state.Result, error) {
	res, err := m.j.Apply(ctx, t, msg)
	if err == nil {
		m.notify()
	}
	return res, err
}

// notify wakes every goroutine waiting in changed().
func (m *Master) notify() {
	m.notifyMu.Lock()
	if m.notifyCh != nil {
		close(m.notifyCh)
		m.notifyCh = nil
	}
	m.notifyMu.Unlock()
}

// changed returns a channel closed at the next journaled change.
func (m *Master) changed() <-chan struct{} {
	m.notifyMu.Lock()
	defer m.notifyMu.Unlock()
	if m.notifyCh == nil {
		m.notifyCh = make(chan struct{})
	}
	return m.notifyCh
}

// allocator returns the leader's ID allocator, or ErrUnavailable before leadership.
func (m *Master) allocator() (*state.IDAllocator, error) {
	a := m.ids.Load()
	if a == nil {
		return nil, fmt.Errorf("no ID allocator yet: %w", ErrUnavailable)
	}
	return a, nil
}

// checkLeader returns nil when this master leads and is ready, a NOT_LEADER error naming
// the leader's gRPC address when another master leads, and ErrUnavailable otherwise.
func (m *Master) checkLeader() error {
	if m.ready.Load() && m.j.IsLeader() {
		return nil
	}
	if m.j.IsLeader() {
		return fmt.Errorf("leadership not yet established: %w", ErrUnavailable)
	}
	leader := m.j.LeaderAddr()
	if leader == "" {
		return fmt.Errorf("no leader elected: %w", ErrUnavailable)
	}
	return &notLeaderError{leaderRPC: m.leaderRPC(leader)}
}

// leaderRPC maps a master's Raft address to its gRPC address (Config.PeerRPCAddrs).
func (m *Master) leaderRPC(raftAddr string) string {
	if raftAddr == "" {
		return ""
	}
	if m.j != nil && raftAddr == m.j.Addr() {
		return m.rpcAddr
	}
	return m.cfg.PeerRPCAddrs[raftAddr]
}

// ReportExecutorLost declares an executor lost at once (the framework scheduler's loss
// report), by its executor ID (decimal) or its framework task ID. Its blocks are dropped
// and un-persisted files left without a copy become LOST. It fails with ErrNotFound for
// an unknown executor and a NOT_LEADER or ErrUnavailable error off the leader.
func (m *Master) ReportExecutorLost(ctx context.Context, executorOrTaskID string) error {
	if !m.serving.Load() {
		// Run has not opened the journal yet (or is stopping).
		return fmt.Errorf("master not running: %w", ErrUnavailable)
	}
	if err := m.checkLeader(); err != nil {
		return err
	}
	id, ok := m.blocks.find(executorOrTaskID)
	if !ok {
		return fmt.Errorf("executor %q: %w", executorOrTaskID, ErrNotFound)
	}
	return m.executorLost(ctx, id, "reported lost")
}

// waitChange waits for the next journaled change, ctx or shutdown.
func (m *Master) waitChange(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.done:
		return fmt.Errorf("shutting down: %w", ErrUnavailable)
	}
}

// answerBefore returns a ctx that ends a little before ctx's deadline (a tenth of the
// time left, at most 250 ms), so a server-side wait can still answer with its own error
// (TIMEOUT, FILE_LOST) before the caller gives up.
func answerBefore(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := min(time.Until(d)/10, 250*time.Millisecond)
	return context.WithDeadline(ctx, d.Add(-margin))
}

// clusterID identifies the cluster by its root UFS: the journaled root mount's URI
// (Config.RootUFS before the root is mounted), hashed.
func (m *Master) clusterID() string {
	uri := m.cfg.RootUFS
	if mounts := m.st.View().Mounts(); len(mounts) > 0 && mounts[0].Path == "/" {
		uri = mounts[0].UFSURI
	}
	sum := sha256.Sum256([]byte(uri))
	return hex.EncodeToString(sum[:8])
}

// streamWorkers is the number of the gRPC server's stream workers: enough for the calls
// that wait on the journal at once (each client has at most a few in flight).
const streamWorkers = 64

// streamWindow and connWindow are the gRPC server's flow-control windows per stream and
// per connection: room for large listings without waiting for window updates.
const (
	streamWindow = 4 << 20
	connWindow   = 16 << 20
)

func nowMs() int64 { return time.Now().UnixMilli() }
