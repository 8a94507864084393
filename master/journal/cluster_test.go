package journal

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sluicedata/sluice/master/state"
)

// cluster is three masters on connected in-memory transports.
type cluster struct {
	journals   []*Journal
	states     []*state.State
	transports []*raft.InmemTransport
}

func newCluster(t *testing.T, n int) *cluster {
	c := &cluster{}
	var addrs []string
	for i := range n {
		addr, trans := raft.NewInmemTransportWithTimeout(raft.ServerAddress(fmt.Sprintf("master%d", i)), 5*time.Second)
		addrs = append(addrs, string(addr))
		c.transports = append(c.transports, trans)
	}
	for i, a := range c.transports {
		for j, b := range c.transports {
			if i != j {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	for i := range n {
		cfg := fastConfig(t, t.TempDir(), c.transports[i])
		cfg.Peers = addrs
		// Leases long enough that a loaded machine running -race does not depose a
		// healthy leader.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
		st := state.New()
		j, err := Open(cfg, st)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = j.Close() })
		c.journals = append(c.journals, j)
		c.states = append(c.states, st)
	}
	return c
}

// leader waits for exactly one leader among the live masters and returns its index.
func (c *cluster) leader(t *testing.T, live func(int) bool) int {
	t.Helper()
	found := -1
	waitFor(t, "a single leader", func() bool {
		found = -1
		for i, j := range c.journals {
			if !live(i) || !j.IsLeader() {
				continue
			}
			if found >= 0 {
				return false
			}
			found = i
		}
		return found >= 0
	})
	return found
}

// converge waits until every live master has applied what master i has.
func (c *cluster) converge(t *testing.T, i int, live func(int) bool) {
	t.Helper()
	want := c.states[i].View().AppliedIndex()
	for k, st := range c.states {
		if live(k) {
			waitFor(t, fmt.Sprintf("master%d to apply index %d", k, want), func() bool {
				return st.View().AppliedIndex() >= want
			})
			sameState(t, c.states[i], st)
		}
	}
}

func TestJournal_ThreeNodes(t *testing.T) {
	c := newCluster(t, 3)
	all := func(int) bool { return true }
	li := c.leader(t, all)
	leader := newClient(t, c.journals[li], c.states[li])
	for i := range 30 {
		leader.create(fmt.Sprintf("/dir%d/f%d", i%4, i))
	}
	c.converge(t, li, all)

	// A follower refuses, naming the leader.
	fi := (li + 1) % 3
	follower := &client{t: t, j: c.journals[fi], st: c.states[fi], ids: state.NewIDAllocator(c.states[fi].View().NextID())}
	_, err := follower.apply(state.EntryCreateFile, follower.createEntry("/nope"))
	var nl *NotLeaderError
	if !errors.Is(err, ErrNotLeader) || !errors.As(err, &nl) || nl.Leader != c.journals[li].Addr() {
		t.Fatalf("follower Apply = %v, want ErrNotLeader naming %s", err, c.journals[li].Addr())
	}
	if c.journals[fi].LeaderAddr() != c.journals[li].Addr() {
		t.Errorf("follower's LeaderAddr() = %q", c.journals[fi].LeaderAddr())
	}

	// The leader dies; a new one keeps every committed entry and goes on.
	committed := c.states[li]
	if err := c.journals[li].Close(); err != nil {
		t.Fatal(err)
	}
	c.transports[li].DisconnectAll()
	for k := range c.transports {
		c.transports[k].Disconnect(c.transports[li].LocalAddr())
	}
	alive := func(k int) bool { return k != li }
	ni := c.leader(t, alive)
	next := newClient(t, c.journals[ni], c.states[ni])
	sameState(t, committed, c.states[ni])
	if in := next.create("/after-failover"); in.ID < committed.View().NextID() {
		t.Errorf("new leader reused ID %d (next was %d)", in.ID, committed.View().NextID())
	}
	c.converge(t, ni, alive)
}
