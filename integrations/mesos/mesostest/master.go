package mesostest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Sentinel errors of the test controls.
var (
	// ErrNotFound is returned for an unknown agent, task or framework.
	ErrNotFound = errors.New("mesostest: not found")
	// ErrClosed is returned once the master is closed.
	ErrClosed = errors.New("mesostest: closed")
	// ErrExists is returned when adding an agent whose ID is taken.
	ErrExists = errors.New("mesostest: already exists")
)

// Master is an in-process stand-in Mesos master with its agents. Its methods are safe for
// concurrent use. Close stops every process it started.
type Master struct {
	cfg Config
	log *slog.Logger
	id  string
	ln  net.Listener
	srv *http.Server

	// ctx is cancelled by Close; it bounds URI fetches.
	ctx    context.Context
	cancel context.CancelFunc
	// wg tracks the housekeeping loop, launches and process waiters.
	wg sync.WaitGroup
	// kick asks the housekeeping loop for an allocation round now.
	kick chan struct{}

	// mu guards every field below and all framework, agent, offer, executor and task records.
	mu            sync.Mutex
	closed        bool
	frameworks    map[string]*framework
	agents        map[string]*agent
	removedAgents map[string]bool
	offers        map[string]*offer
	nextFramework int
	nextAgent     int
	nextOffer     int
}

// New starts a master listening on 127.0.0.1 with the configured agents.
func New(cfg Config) (*Master, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("mesostest: listen: %w", err)
	}
	_, id := newUUID()
	m := &Master{
		cfg:           cfg,
		log:           logger.With("component", "mesostest.master"),
		id:            id,
		ln:            ln,
		kick:          make(chan struct{}, 1),
		frameworks:    map[string]*framework{},
		agents:        map[string]*agent{},
		removedAgents: map[string]bool{},
		offers:        map[string]*offer{},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/scheduler", m.serveScheduler)
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("serve", "err", err)
		}
	}()
	go func() {
		defer m.wg.Done()
		m.loop()
	}()
	for _, a := range cfg.Agents {
		if _, err := m.AddAgent(a); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

// ID returns the master's ID, the prefix of framework, agent and offer IDs.
func (m *Master) ID() string { return m.id }

// Addr returns the master's HOST:PORT on 127.0.0.1.
func (m *Master) Addr() string { return m.ln.Addr().String() }

// URL returns the master's base URL, "http://127.0.0.1:PORT".
func (m *Master) URL() string { return "http://" + m.Addr() }

// SchedulerURL returns the scheduler API endpoint, URL()+"/api/v1/scheduler".
func (m *Master) SchedulerURL() string { return m.URL() + "/api/v1/scheduler" }

// Close stops the master and its agents, SIGKILLs every task and executor process, ends all
// streams and waits for its goroutines. It is idempotent.
func (m *Master) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var servers []*http.Server
	for _, f := range m.frameworks {
		if f.sub != nil {
			f.sub.q.close()
		}
	}
	for _, a := range m.agents {
		m.killAgentProcessesLocked(a)
		servers = append(servers, a.srv)
	}
	m.mu.Unlock()
	m.cancel()
	servers = append(servers, m.srv)
	for _, s := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Shutdown(ctx); err != nil {
			_ = s.Close()
		}
		cancel()
	}
	m.wg.Wait()
	return nil
}

// killAgentProcessesLocked SIGKILLs every process on a and ends its executor streams.
func (m *Master) killAgentProcessesLocked(a *agent) {
	for _, e := range a.executors {
		e.proc.signal(sigKill)
		if e.sub != nil {
			e.sub.q.close()
			e.sub = nil
		}
	}
	for _, t := range a.tasks {
		t.proc.signal(sigKill)
	}
}

// allocateSoon asks the housekeeping loop for an allocation round without waiting.
func (m *Master) allocateSoon() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// loop is the housekeeping goroutine: allocation rounds, filter and offer expiry, update
// re-sends, failover and executor timeouts.
func (m *Master) loop() {
	tick := time.NewTicker(m.cfg.AllocationInterval)
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
		case <-m.kick:
		}
		m.mu.Lock()
		if !m.closed {
			m.housekeepLocked(time.Now())
			m.allocateLocked(time.Now())
		}
		m.mu.Unlock()
	}
}

// housekeepLocked runs every timeout the stand-in has.
func (m *Master) housekeepLocked(now time.Time) {
	for _, f := range m.frameworks {
		if f.removed {
			continue
		}
		if f.sub == nil && !f.failoverDeadline.IsZero() && !now.Before(f.failoverDeadline) {
			m.log.Info("framework failover timeout", "framework_id", f.id)
			m.removeFrameworkLocked(f)
			continue
		}
		kept := f.filters[:0]
		for _, flt := range f.filters {
			if now.Before(flt.expires) {
				kept = append(kept, flt)
			}
		}
		clear(f.filters[len(kept):])
		f.filters = kept
		if f.sub != nil {
			for _, t := range f.tasks {
				if len(t.pending) > 0 && !now.Before(t.nextRetry) {
					m.sendHeadUpdateLocked(t, now)
				}
			}
		}
	}
	if m.cfg.OfferTimeout > 0 {
		for _, o := range m.offers {
			if now.Sub(o.made) >= m.cfg.OfferTimeout {
				m.rescindOfferLocked(o)
			}
		}
	}
	for _, a := range m.agents {
		for _, e := range a.executors {
			m.executorTimeoutsLocked(e, now)
		}
	}
}

// masterInfo describes this master in SUBSCRIBED events.
func (m *Master) masterInfo() *mesos.MasterInfo {
	addr := m.ln.Addr().(*net.TCPAddr)
	host := "127.0.0.1"
	port := uint32(addr.Port)
	return &mesos.MasterInfo{
		ID:       m.id,
		IP:       0x0100007f, // 127.0.0.1 in network byte order read as a little-endian integer, as Mesos does
		Port:     &port,
		PID:      ptr("master@127.0.0.1:" + strconv.Itoa(addr.Port)),
		Hostname: &host,
		Version:  ptr("1.11.0"),
		Address:  &mesos.Address{Hostname: &host, IP: &host, Port: int32(addr.Port)},
	}
}
