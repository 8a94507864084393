package journal

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fastConfig returns a Config for tests: fast elections, logs to w at Info.
func fastConfig(t testing.TB, dir string, trans raft.Transport) Config {
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.Transport = trans
	cfg.HeartbeatTimeout = 50 * time.Millisecond
	cfg.ElectionTimeout = 50 * time.Millisecond
	cfg.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	if tt, ok := t.(*testing.T); ok {
		cfg.Logger = slog.New(slog.NewTextHandler(tt.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return cfg
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// becomeLeader waits for j to lead and for its state to catch up.
func becomeLeader(t testing.TB, j *Journal) {
	t.Helper()
	waitFor(t, "leadership of "+j.Addr(), j.IsLeader)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := j.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
}

// client applies entries the way the master does.
type client struct {
	t   testing.TB
	j   *Journal
	st  *state.State
	ids *state.IDAllocator
}

func newClient(t testing.TB, j *Journal, st *state.State) *client {
	becomeLeader(t, j)
	c := &client{t: t, j: j, st: st, ids: state.NewIDAllocator(st.View().NextID())}
	if !st.View().HasRootMount() {
		c.must(state.EntryMount, &sluicepb.MountEntry{Path: "/", UfsUri: "file:///ufs"})
	}
	return c
}

func (c *client) apply(typ state.EntryType, msg proto.Message) (state.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.j.Apply(ctx, typ, msg)
}

func (c *client) must(typ state.EntryType, msg proto.Message) state.Result {
	c.t.Helper()
	r, err := c.apply(typ, msg)
	if err != nil {
		c.t.Fatalf("apply %v: %v", typ, err)
	}
	return r
}

func (c *client) createEntry(p string) *sluicepb.CreateFileEntry {
	ids, err := c.ids.ReserveForPath(p)
	if err != nil {
		c.t.Fatal(err)
	}
	return &sluicepb.CreateFileEntry{Path: p, Ids: ids, Recursive: true, BlockSize: 1 << 20, TimeMs: time.Now().UnixMilli()}
}

func (c *client) create(p string) state.Inode {
	c.t.Helper()
	return c.must(state.EntryCreateFile, c.createEntry(p)).Inode
}

// snapshotOf is what a state holds, for comparisons across replicas and restarts.
type snapshotOf struct {
	Inodes []state.Inode
	Mounts []state.Mount
	NextID uint64
}

func dump(t testing.TB, st *state.State) snapshotOf {
	t.Helper()
	v := st.View()
	d := snapshotOf{Mounts: v.Mounts(), NextID: v.NextID()}
	if err := v.Walk("/", func(in state.Inode) error { d.Inodes = append(d.Inodes, in); return nil }); err != nil {
		t.Fatal(err)
	}
	return d
}

func sameState(t testing.TB, want, got *state.State) {
	t.Helper()
	if diff := cmp.Diff(dump(t, want), dump(t, got)); diff != "" {
		t.Fatalf("states differ (-want +got):\n%s", diff)
	}
}
