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
	dial    []grpc.DialOption

	// mu guards addrs, conns and cur.
	mu sync.Mutex
	// addrs are the configured masters followed by leaders learned from redirections.
	addrs []string
	conns map[string]*grpc.ClientConn
	cur   string
}

func newMasterConn(addrs []string, timeout time.Duration, dial []grpc.DialOption, log *slog.Logger) *masterConn {
	return &masterConn{
		log:     log,
		timeout: timeout,
		dial:    dial,
		addrs:   slices.Clone(addrs),
		conns:   make(map[string]*grpc.ClientConn),
		cur:     addrs[0],
	}
}

// client returns the ExecutorMaster client of addr, dialing it once (dialing is lazy and
// does no I/O).
func (m *masterConn) client(addr string) (sluicepb.ExecutorMasterClient, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cc, ok := m.conns[addr]
	if !ok {
		var err error
		cc, err = grpc.NewClient(addr, m.dial...)
		if err != nil {
			return nil, fmt.Errorf("dial master %s: %w", addr, err)
		}
		m.conns[addr] = cc
		if !slices.Contains(m.addrs, addr) {
			m.addrs = append(m.addrs, addr)
		}
	}
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
func (m *masterConn) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for a, cc := range m.conns {
		cc.Close()
		delete(m.conns, a)
	}
}
