package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
)

// Executor is the storage daemon of one node. Build it with New and run it with Run;
// its methods are safe for concurrent use.
type Executor struct {
	sluicepb.UnimplementedBlockServiceServer

	cfg     Config
	log     *slog.Logger
	metrics *metrics
	master  *masterConn
	peers   *connCache
	ufs     *ufsCache
	loads   singleflight.Group
	bufs    *bufPool
	reg     registration
	deltas  deltas
	leases  leases
	persist persistTracker
	removes removeTracker
	guards  guards
	// hbKick wakes the heartbeat loop for an early heartbeat.
	hbKick  chan struct{}
	started atomic.Bool
	start   time.Time

	// store is set by Run before any goroutine that uses it starts, and stays set.
	store atomic.Pointer[blocks.Store]
	// life is cancelled (by stop) when Run begins to shut down; work detached from a
	// caller's context (shared UFS loads, removals, persists) ends with it. It is a
	// lifetime signal owned by the Executor, not a request context.
	life context.Context
	stop context.CancelFunc
	// ready is closed once the servers listen.
	ready chan struct{}
	// wg tracks the goroutines Run waits for before closing the store.
	wg sync.WaitGroup

	// addrMu guards rpcAddr and httpAddr.
	addrMu   sync.Mutex
	rpcAddr  string
	httpAddr string
}

// New checks cfg and builds an Executor. It starts nothing and touches no disk: Run does.
func New(cfg Config) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Store.Logger == nil {
		cfg.Store.Logger = cfg.Logger.With("component", "executor.blocks")
	}
	log := cfg.Logger.With("component", "executor")
	e := &Executor{
		cfg:    cfg,
		log:    log,
		ready:  make(chan struct{}),
		hbKick: make(chan struct{}, 1),
	}
	e.life, e.stop = context.WithCancel(context.Background())
	e.bufs = &bufPool{size: cfg.ChunkSize}
	e.master = newMasterConn(cfg.Masters, cfg.RPCTimeout, e.dialOptions(), log)
	e.peers = newConnCache(append(e.dialOptions(), grpc.WithDefaultCallOptions(grpc.ForceCodecV2(newChunkCodec(e.bufs)))))
	e.ufs = &ufsCache{reg: cfg.UFS, fss: map[string]*ufsEntry{}}
	e.reg.init()
	e.deltas.init()
	e.leases.init()
	e.persist.init(cfg.PersistConcurrency)
	e.removes.init()
	e.guards.init()
	m, err := newMetrics(cfg.Registry, e)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	return e, nil
}

// dialOptions are the options of every connection the executor opens (masters, other
// executors): plaintext, the configured message sizes and flow-control windows.
func (e *Executor) dialOptions() []grpc.DialOption {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(e.cfg.MaxMessageSize), grpc.MaxCallSendMsgSize(e.cfg.MaxMessageSize)),
	}
	if e.cfg.StreamWindow >= 64<<10 {
		opts = append(opts, grpc.WithInitialWindowSize(e.cfg.StreamWindow))
	}
	if e.cfg.ConnWindow >= 64<<10 {
		opts = append(opts, grpc.WithInitialConnWindowSize(e.cfg.ConnWindow))
	}
	if e.cfg.IOBufferSize > 0 {
		opts = append(opts, grpc.WithReadBufferSize(e.cfg.IOBufferSize), grpc.WithWriteBufferSize(e.cfg.IOBufferSize), grpc.WithSharedWriteBuffer(true))
	}
	return opts
}

// serverOptions are the options of the BlockService server.
func (e *Executor) serverOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(e.cfg.MaxMessageSize),
		grpc.MaxSendMsgSize(e.cfg.MaxMessageSize),
		// Handlers start tracked goroutines (background commits of cached blocks), so
		// Stop must wait for them before Run waits for its goroutines.
		grpc.WaitForHandlers(true),
		grpc.ForceServerCodecV2(newChunkCodec(e.bufs)),
		// Clients that keep idle connections alive with pings are not cut off.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if e.cfg.StreamWindow >= 64<<10 {
		opts = append(opts, grpc.InitialWindowSize(e.cfg.StreamWindow))
	}
	if e.cfg.ConnWindow >= 64<<10 {
		opts = append(opts, grpc.InitialConnWindowSize(e.cfg.ConnWindow))
	}
	if e.cfg.IOBufferSize > 0 {
		opts = append(opts, grpc.ReadBufferSize(e.cfg.IOBufferSize), grpc.WriteBufferSize(e.cfg.IOBufferSize), grpc.SharedWriteBuffer(true))
	}
	return opts
}

// Ready is closed once Run listens on its addresses (and Addr and HTTPAddr tell them).
// It stays open when Run fails before that, so wait on it together with Run's return.
func (e *Executor) Ready() <-chan struct{} { return e.ready }

// Addr returns the address the BlockService listens on, or "" before Run listens.
func (e *Executor) Addr() string {
	e.addrMu.Lock()
	defer e.addrMu.Unlock()
	return e.rpcAddr
}

// HTTPAddr returns the address of /healthz and /metrics, or "" before Run listens or
// when HTTP is off.
func (e *Executor) HTTPAddr() string {
	e.addrMu.Lock()
	defer e.addrMu.Unlock()
	return e.httpAddr
}

// ExecutorID returns the ID the master gave this executor, or 0 before registration.
func (e *Executor) ExecutorID() uint64 { return e.reg.id() }

// BlockPinned reports whether this executor holds block id and whether its store pins it
// (guarded or pinned by a user: never evicted). It returns false, false before Run opens
// the store. Safe for concurrent use; meant for inspection (tests, tools).
func (e *Executor) BlockPinned(id uint64) (held, pinned bool) {
	store, err := e.storeOrErr()
	if err != nil {
		return false, false
	}
	m, err := store.Stat(blocks.ID(id))
	if err != nil {
		return false, false
	}
	return true, m.Pinned
}

// Run opens the block store, serves the BlockService over gRPC and /healthz and /metrics
// over HTTP, registers with the master and heartbeats until ctx ends. It then stops
// serving (in-flight calls get Config.ShutdownGrace to finish), waits for its persists
// and removals to stop, releases short-circuit locks and closes the store. While no
// master answers it keeps retrying with backoff and keeps serving reads. Run returns nil
// after a clean stop, or the error that kept it from starting or stopped a server. It
// may be called once.
func (e *Executor) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	e.start = time.Now()
	scfg := e.cfg.Store
	userHook := scfg.OnEvent
	scfg.OnEvent = func(ev blocks.Event) {
		e.onStoreEvent(ev)
		if userHook != nil {
			userHook(ev)
		}
	}
	store, err := blocks.Open(ctx, scfg)
	if err != nil {
		return fmt.Errorf("executor: open block store: %w", err)
	}
	e.store.Store(store)
	// Until the master answers, any block held may be the only copy of its data.
	e.guards.guardAll(store)
	e.checkHost(ctx)

	lis, err := net.Listen("tcp", e.cfg.RPCAddr)
	if err != nil {
		store.Close()
		return fmt.Errorf("executor: listen on %s: %w", e.cfg.RPCAddr, err)
	}
	var hlis net.Listener
	if e.cfg.HTTPAddr != "" {
		if hlis, err = net.Listen("tcp", e.cfg.HTTPAddr); err != nil {
			lis.Close()
			store.Close()
			return fmt.Errorf("executor: listen on %s: %w", e.cfg.HTTPAddr, err)
		}
	}
	gs := grpc.NewServer(e.serverOptions()...)
	sluicepb.RegisterBlockServiceServer(gs, e)
	var hs *http.Server
	e.addrMu.Lock()
	e.rpcAddr = lis.Addr().String()
	if hlis != nil {
		e.httpAddr = hlis.Addr().String()
		hs = &http.Server{Handler: e.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
	}
	e.addrMu.Unlock()
	close(e.ready)
	e.log.Info("executor serving", "rpc_addr", e.Addr(), "http_addr", e.HTTPAddr(), "host", e.cfg.AdvertiseHost)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	var servers sync.WaitGroup
	servers.Go(func() {
		if err := gs.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errc <- fmt.Errorf("executor: serve gRPC: %w", err)
		}
	})
	if hs != nil {
		servers.Go(func() {
			if err := hs.Serve(hlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("executor: serve HTTP: %w", err)
			}
		})
	}
	e.wg.Go(func() { e.heartbeatLoop(runCtx) })
	e.wg.Go(func() { e.leases.sweep(runCtx, e.cfg.LocalLockTimeout, e.log) })
	e.wg.Go(func() { store.SpaceReserver().Run(runCtx) })

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	e.log.Info("executor stopping")
	e.stop()
	cancel()
	e.stopGRPC(gs)
	if hs != nil {
		sctx, scancel := context.WithTimeout(context.Background(), e.cfg.ShutdownGrace)
		if err := hs.Shutdown(sctx); err != nil {
			hs.Close()
		}
		scancel()
	}
	servers.Wait()
	e.wg.Wait()
	e.leases.releaseAll()
	e.master.close()
	e.peers.close()
	e.ufs.close()
	if err := store.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("executor: close block store: %w", err)
	}
	return runErr
}

// stopGRPC stops the gRPC server gracefully, cutting off calls still running after the
// shutdown grace.
func (e *Executor) stopGRPC(gs *grpc.Server) {
	done := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(e.cfg.ShutdownGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		gs.Stop()
		<-done
	}
}

// httpHandler serves /healthz and /metrics.
func (e *Executor) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if e.reg.id() == 0 {
			fmt.Fprintln(w, "ok (not registered with a master)")
			return
		}
		fmt.Fprintf(w, "ok (executor %d)\n", e.reg.id())
	})
	mux.Handle("/metrics", promhttp.HandlerFor(e.cfg.Registry, promhttp.HandlerOpts{Registry: e.cfg.Registry}))
	return mux
}

// detached returns a context that ends when the executor stops, not when ctx does, and
// keeps ctx's values: for work shared by several callers, such as one UFS load.
func (e *Executor) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(e.life, cancel)
	return dctx, func() { stop(); cancel() }
}

// storeOrErr returns the block store, or ErrUnavailable before Run opened it.
func (e *Executor) storeOrErr() (*blocks.Store, error) {
	s := e.store.Load()
	if s == nil {
		return nil, fmt.Errorf("block store not open: %w", ErrUnavailable)
	}
	return s, nil
}
