package journal

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
)

func TestConfig_Validate(t *testing.T) {
	ok := DefaultConfig()
	ok.Dir = "/tmp/x"
	_, trans := raft.NewInmemTransport("a")
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"peers", func(c *Config) { c.Peers = []string{"127.0.0.1:19200", "127.0.0.2:19200"} }, true},
		{"port 0", func(c *Config) { c.BindAddr = "127.0.0.1:0" }, true},
		{"any address advertised", func(c *Config) { c.BindAddr, c.AdvertiseAddr = "0.0.0.0:19200", "10.0.0.1:19200" }, true},
		{"transport", func(c *Config) { c.Transport, c.BindAddr, c.Peers = trans, "", []string{"a", "b"} }, true},
		{"no dir", func(c *Config) { c.Dir = "" }, false},
		{"bad bind", func(c *Config) { c.BindAddr = "nope" }, false},
		{"any address", func(c *Config) { c.BindAddr = "0.0.0.0:19200" }, false},
		{"hostname advertised", func(c *Config) { c.AdvertiseAddr = "master:19200" }, false},
		{"peers without self", func(c *Config) { c.Peers = []string{"127.0.0.2:19200"} }, false},
		{"peer twice", func(c *Config) { c.Peers = []string{"127.0.0.1:19200", "127.0.0.1:19200"} }, false},
		{"bad peer", func(c *Config) { c.Peers = []string{"127.0.0.1:19200", "x"} }, false},
		{"no threshold", func(c *Config) { c.SnapshotThreshold = 0 }, false},
		{"no interval", func(c *Config) { c.SnapshotInterval = 0 }, false},
		{"no trailing logs", func(c *Config) { c.TrailingLogs = 0 }, false},
		{"no retain", func(c *Config) { c.SnapshotRetain = 0 }, false},
		{"lease too long", func(c *Config) { c.LeaderLeaseTimeout = c.HeartbeatTimeout * 2 }, false},
		{"tiny timeout", func(c *Config) { c.ElectionTimeout = 1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestJournal_SingleNodeReopen(t *testing.T) {
	dir := t.TempDir()
	open := func() (*Journal, *state.State) {
		_, trans := raft.NewInmemTransport("node1")
		st := state.New()
		j, err := Open(fastConfig(t, dir, trans), st)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = j.Close() })
		return j, st
	}
	j, st := open()
	c := newClient(t, j, st)
	for i := range 20 {
		c.create(fmt.Sprintf("/d%d/f%d", i%3, i))
	}
	// A state error comes back as an error, with nothing applied.
	before := st.View().Counts()
	if _, err := c.apply(state.EntryCreateFile, c.createEntry("/d0/f0")); !errors.Is(err, state.ErrExists) {
		t.Fatalf("duplicate create = %v, want state.ErrExists", err)
	}
	if st.View().Counts() != before {
		t.Fatal("failed entry changed the state")
	}
	// An acknowledged entry is applied on return.
	r := c.must(state.EntryRename, &sluicepb.RenameEntry{Src: "/d0/f0", Dst: "/d0/g0"})
	if r.Index == 0 || r.Inode.Path != "/d0/g0" || st.View().AppliedIndex() < r.Index {
		t.Fatalf("rename result %+v, applied %d", r, st.View().AppliedIndex())
	}
	ctx := t.Context()
	if err := j.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	// The tail after the snapshot.
	for i := range 10 {
		c.create(fmt.Sprintf("/tail/f%d", i))
	}
	c.must(state.EntryDelete, &sluicepb.DeleteEntry{Path: "/d1", Recursive: true})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Apply(ctx, state.EntryDelete, &sluicepb.DeleteEntry{Path: "/d2"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close = %v, want ErrClosed", err)
	}

	j2, st2 := open()
	becomeLeader(t, j2)
	sameState(t, st, st2)
	// The reopened journal goes on from where it was.
	c2 := newClient(t, j2, st2)
	if in := c2.create("/after"); in.ID < st.View().NextID() {
		t.Errorf("ID %d reused (next was %d)", in.ID, st.View().NextID())
	}
}

func TestJournal_TCPTransport(t *testing.T) {
	cfg := fastConfig(t, t.TempDir(), nil)
	cfg.BindAddr = "127.0.0.1:0"
	st := state.New()
	j, err := Open(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	c := newClient(t, j, st)
	c.create("/f")
	if _, err := st.View().Get("/f"); err != nil {
		t.Fatal(err)
	}
	// A ctx that cannot end waits for the entry directly.
	if r, err := j.Apply(context.Background(), state.EntryCreateFile, c.createEntry("/g")); err != nil || r.Inode.Path != "/g" {
		t.Fatalf("Apply(Background) = %+v, %v", r, err)
	}
	if j.LeaderAddr() != j.Addr() || j.Addr() == "127.0.0.1:0" {
		t.Errorf("leader %q, self %q", j.LeaderAddr(), j.Addr())
	}
}

func TestJournal_ApplyContext(t *testing.T) {
	_, trans := raft.NewInmemTransport("node1")
	st := state.New()
	j, err := Open(fastConfig(t, t.TempDir(), trans), st)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	c := newClient(t, j, st)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := j.Apply(ctx, state.EntryCreateFile, c.createEntry("/x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply(cancelled) = %v", err)
	}
	if err := j.Barrier(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Barrier(cancelled) = %v", err)
	}
	if _, err := st.View().Get("/x"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("entry cancelled before submission was applied: %v", err)
	}
	if _, err := j.Apply(t.Context(), state.EntryDelete, &sluicepb.RenameEntry{}); !errors.Is(err, state.ErrInvalidArgument) {
		t.Errorf("Apply(mismatched payload) = %v", err)
	}
}

func TestOpen_InvalidConfig(t *testing.T) {
	if _, err := Open(Config{}, state.New()); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Open(zero Config) = %v", err)
	}
}
