package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// masterConn calls the leader among the configured masters. It remembers the master that
// last answered, follows NOT_LEADER redirections (Unavailable with leader_address) and
// moves on to the next configured master when one does not answer. It is safe for
// concurrent use.
type masterConn struct {
	log     *slog.Logger
	timeout time.Duration
	conns   *connCache

	// mu guards addrs and cur.
	mu sync.Mutex
	// addrs are the configured masters followed by leaders learned from redirections.
	addrs []string
	cur   string
}

func newMasterConn(addrs []string, timeout time.Duration, dial []grpc.DialOption, log *slog.Logger) *masterConn {
	return &masterConn{
		log:     log,
		timeout: timeout,
		conns:   newConnCache(dial),
		addrs:   slices.Clone(addrs),
		cur:     addrs[0],
	}
}

// client returns the ExecutorMaster client of addr and remembers addr as a master.
func (m *masterConn) client(addr string) (sluicepb.ExecutorMasterClient, error) {
	cc, err := m.conns.get(addr)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if !slices.Contains(m.addrs, addr) {
		m.addrs = append(m.addrs, addr)
	}
	m.mu.Unlock()
	return sluicepb.NewExecutorMasterClient(cc), nil
}

func (m *masterConn) current() (string, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur, slices.Clone(m.addrs)
}

func (m *masterConn) setCurrent(addr string) {
	m.mu.Lock()
	m.cur = addr
	m.mu.Unlock()
}

// call runs fn against the leader. On Unavailable it follows the leader address of a
// NOT_LEADER answer, or tries the next master it has not tried in this call; any other
// error, or running out of masters, returns the last error. Each attempt is bounded by
// the configured RPC timeout.
func (m *masterConn) call(ctx context.Context, fn func(context.Context, sluicepb.ExecutorMasterClient) error) error {
	addr, all := m.current()
	tried := make(map[string]bool)
	var last error
	for hops := 0; hops < 2*len(all)+2; hops++ {
		tried[addr] = true
		c, err := m.client(addr)
		if err == nil {
			actx, cancel := context.WithTimeout(ctx, m.timeout)
			err = fn(actx, c)
			cancel()
			if err == nil {
				m.setCurrent(addr)
				return nil
			}
		}
		last = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded {
			return err
		}
		if d := errorDetail(err); d != nil && d.GetReason() == sluicepb.ErrorReason_ERROR_REASON_NOT_LEADER && d.GetLeaderAddress() != "" && d.GetLeaderAddress() != addr {
			m.log.Debug("following leader", "from", addr, "leader", d.GetLeaderAddress())
			addr = d.GetLeaderAddress()
			_, all = m.current()
			continue
		}
		next := ""
		for _, a := range all {
			if !tried[a] {
				next = a
				break
			}
		}
		if next == "" {
			break
		}
		addr = next
	}
	if last == nil {
		last = errors.New("no master to call")
	}
	return fmt.Errorf("no master answered: %w", last)
}

// close closes every master connection.
func (m *masterConn) close() { m.conns.close() }

// connCache keeps one gRPC connection per address (masters, other executors). Dialing
// is lazy and does no I/O. It is safe for concurrent use.
type connCache struct {
	dial []grpc.DialOption
	// mu guards conns.
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func newConnCache(dial []grpc.DialOption) *connCache {
	return &connCache{dial: dial, conns: make(map[string]*grpc.ClientConn)}
}

// get returns the connection to addr, dialing it the first time.
func (c *connCache) get(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient(addr, c.dial...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c.conns[addr] = cc
	return cc, nil
}

// close closes every connection.
func (c *connCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for a, cc := range c.conns {
		cc.Close()
		delete(c.conns, a)
	}
}
