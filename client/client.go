package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// Client talks to a Sluice cluster: metadata calls go to the leader master, block bytes
// to and from executors (short-circuit through files when an executor shares the host).
// A Client is safe for concurrent use; Close releases its connections.
type Client struct {
	cfg       Config
	log       *slog.Logger
	clientID  string
	transport blockTransport
	stats     counters

	// mu guards the fields below.
	mu sync.Mutex
	// conns are the gRPC connections by address (masters and executors), dialed lazily.
	conns map[string]*grpc.ClientConn
	// leader is the address of the master believed to lead ("" until known).
	leader string
	// noShortCircuit lists executors whose block files this process cannot open.
	noShortCircuit map[string]bool
	// execCache is the last executor list and when it was fetched.
	execCache     []*sluicepb.ExecutorInfo
	execCacheTime time.Time
	closed        bool
}

// executorCacheTTL bounds how long the executor list is reused before asking again.
const executorCacheTTL = 5 * time.Second

// New validates cfg, fills its zero fields with defaults and connects to the masters: it
// asks each configured master in turn (each within DialTimeout) for the leader and returns
// once one answers. It fails with an error wrapping ErrUnavailable when none does, or with
// ErrInvalidArgument for a bad configuration.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Hostname == "" {
		if h, err := os.Hostname(); err == nil {
			cfg.Hostname = h
		}
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	c := &Client{
		cfg:            cfg,
		log:            cfg.Logger.With("component", "client"),
		clientID:       hex.EncodeToString(id),
		conns:          make(map[string]*grpc.ClientConn),
		noShortCircuit: make(map[string]bool),
	}
	c.transport = &grpcTransport{c: c, chunk: cfg.ChunkSize}
	if err := c.findLeader(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes every connection. Readers and writers still open fail afterwards.
func (c *Client) Close() error {
	c.mu.Lock()
	conns := c.conns
	c.conns = map[string]*grpc.ClientConn{}
	c.closed = true
	c.mu.Unlock()
	var errs []error
	for _, cc := range conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Config returns the client's configuration with defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// conn returns the connection to addr, dialing it on first use. gRPC connects lazily, so
// an unreachable address fails at the first call with codes.Unavailable.
func (c *Client) conn(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	bc := backoff.DefaultConfig
	bc.MaxDelay = 2 * time.Second
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bc, MinConnectTimeout: c.cfg.DialTimeout}),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(c.cfg.MaxMessageSize),
			grpc.MaxCallSendMsgSize(c.cfg.MaxMessageSize)),
		grpc.WithInitialWindowSize(4<<20),
		grpc.WithInitialConnWindowSize(16<<20),
		grpc.WithReadBufferSize(1<<20),
		grpc.WithWriteBufferSize(1<<20),
	)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %v: %w", addr, err, ErrInvalidArgument)
	}
	c.conns[addr] = cc
	return cc, nil
}

// findLeader asks the masters for the leader until one answers.
func (c *Client) findLeader(ctx context.Context) error {
	var last error
	for _, addr := range c.cfg.Masters {
		cc, err := c.conn(addr)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
		// Without WaitForReady a refused connection fails at once and the next master is
		// asked; an address that does not answer costs at most DialTimeout.
		info, err := sluicepb.NewMetaMasterClient(cc).GetMasterInfo(cctx, &sluicepb.GetMasterInfoRequest{})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			last = decodeError(err)
			continue
		}
		leader := addr
		if !info.GetIsLeader() && info.GetLeaderAddress() != "" {
			leader = info.GetLeaderAddress()
		}
		c.setLeader(leader)
		return nil
	}
	return fmt.Errorf("no master reachable among %v: %v: %w", c.cfg.Masters, last, ErrUnavailable)
}

func (c *Client) setLeader(addr string) {
	c.mu.Lock()
	c.leader = addr
	c.mu.Unlock()
}

func (c *Client) currentLeader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader == "" {
		return c.cfg.Masters[0]
	}
	return c.leader
}

// callOpts tune one master call.
type callOpts struct {
	// noTimeout leaves the call bounded by the caller's context only.
	noTimeout bool
}

// callMaster runs fn against the leader master. It follows NOT_LEADER answers to the named
// leader, moves on to the next configured master when one is unreachable or knows no
// leader, and after a round over all masters pauses (RetryBackoff, doubling) before the
// next, for at most MaxRetries rounds. The returned error is decoded (see decodeError).
func (c *Client) callMaster(ctx context.Context, o callOpts, fn func(ctx context.Context, cc *grpc.ClientConn) error) error {
	addr := c.currentLeader()
	redirects := 0
	failures := 0
	pause := c.cfg.RetryBackoff
	for {
		cc, err := c.conn(addr)
		if err != nil {
			return err
		}
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if c.cfg.RPCTimeout > 0 && !o.noTimeout {
			cctx, cancel = context.WithTimeout(ctx, c.cfg.RPCTimeout)
		}
		err = decodeError(fn(cctx, cc))
		cancel()
		if err == nil {
			c.setLeader(addr)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *Error
		isStatus := errors.As(err, &se)
		switch {
		case isStatus && errors.Is(err, ErrNotLeader) && se.LeaderAddress != "" && se.LeaderAddress != addr && redirects < 2*len(c.cfg.Masters)+2:
			redirects++
			c.stats.leaderRedirects.Add(1)
			c.log.Debug("following leader", "from", addr, "to", se.LeaderAddress)
			addr = se.LeaderAddress
			c.setLeader(addr)
			continue
		case errors.Is(err, ErrNotLeader), isStatus && se.Code == codes.Unavailable && errors.Is(err, ErrUnavailable):
			// codes.Unavailable: unreachable, or a master without a known leader.
		default:
			return err
		}
		failures++
		if failures >= c.cfg.MaxRetries*len(c.cfg.Masters) {
			return fmt.Errorf("after %d attempts: %w", failures, err)
		}
		addr = c.nextMaster(addr)
		if failures%len(c.cfg.Masters) == 0 {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			pause = min(2*pause, 2*time.Second)
		}
	}
}

// nextMaster returns the configured master after addr (the first one when addr is a leader
// address that is not configured).
func (c *Client) nextMaster(addr string) string {
	for i, m := range c.cfg.Masters {
		if m == addr {
			return c.cfg.Masters[(i+1)%len(c.cfg.Masters)]
		}
	}
	return c.cfg.Masters[0]
}

// fsMaster runs fn with a FileSystemMaster client on the leader; see callMaster.
func (c *Client) fsMaster(ctx context.Context, o callOpts, fn func(ctx context.Context, m sluicepb.FileSystemMasterClient) error) error {
	return c.callMaster(ctx, o, func(ctx context.Context, cc *grpc.ClientConn) error {
		return fn(ctx, sluicepb.NewFileSystemMasterClient(cc))
	})
}

// metaMaster runs fn with a MetaMaster client on the leader; see callMaster.
func (c *Client) metaMaster(ctx context.Context, fn func(ctx context.Context, m sluicepb.MetaMasterClient) error) error {
	return c.callMaster(ctx, callOpts{}, func(ctx context.Context, cc *grpc.ClientConn) error {
		return fn(ctx, sluicepb.NewMetaMasterClient(cc))
	})
}

// blockService returns a BlockService client for the executor at addr.
func (c *Client) blockService(addr string) (sluicepb.BlockServiceClient, error) {
	cc, err := c.conn(addr)
	if err != nil {
		return nil, err
	}
	return sluicepb.NewBlockServiceClient(cc), nil
}

// rpcContext bounds an executor control call by RPCTimeout.
func (c *Client) rpcContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.cfg.RPCTimeout > 0 {
		return context.WithTimeout(ctx, c.cfg.RPCTimeout)
	}
	return context.WithCancel(ctx)
}

// isLocal reports whether an executor with this host name and address runs on the
// client's host: its host name equals the client's, or it reported none and its address
// is a loopback address.
func (c *Client) isLocal(host, addr string) bool {
	if host != "" {
		return host == c.cfg.Hostname
	}
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// shortCircuitOK reports whether short-circuit access to the executor at addr on host is
// allowed and has not failed before.
func (c *Client) shortCircuitOK(host, addr string) bool {
	if !c.cfg.ShortCircuit || !c.isLocal(host, addr) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.noShortCircuit[addr]
}

// disableShortCircuit remembers that the executor's block files are not accessible here.
func (c *Client) disableShortCircuit(addr string, err error) {
	c.log.Warn("short-circuit unavailable, using gRPC", "executor", addr, "err", err)
	c.mu.Lock()
	c.noShortCircuit[addr] = true
	c.mu.Unlock()
}

// liveExecutors returns the LIVE executors, this host's first, from a list cached for a few
// seconds; refresh forces a new list.
func (c *Client) liveExecutors(ctx context.Context, refresh bool) ([]*sluicepb.ExecutorInfo, error) {
	c.mu.Lock()
	if !refresh && c.execCache != nil && time.Since(c.execCacheTime) < executorCacheTTL {
		l := c.execCache
		c.mu.Unlock()
		return l, nil
	}
	c.mu.Unlock()
	all, err := c.Executors(ctx, false)
	if err != nil {
		return nil, err
	}
	var local, remote []*sluicepb.ExecutorInfo
	for _, e := range all {
		if e.GetState() == sluicepb.ExecutorState_EXECUTOR_STATE_LOST {
			continue
		}
		if c.isLocal(e.GetHost(), e.GetRpcAddress()) {
			local = append(local, e)
		} else {
			remote = append(remote, e)
		}
	}
	l := append(local, remote...)
	c.mu.Lock()
	c.execCache, c.execCacheTime = l, time.Now()
	c.mu.Unlock()
	return l, nil
}
