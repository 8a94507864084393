package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
)

// payload returns n pseudo-random bytes, the same for the same seed.
func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// put writes data to path with the write type and fails the test on error.
func put(t *testing.T, cl *client.Client, path string, wt client.WriteType, data []byte) client.FileInfo {
	t.Helper()
	w, err := cl.Create(t.Context(), path, client.CreateOptions{WriteType: wt, Recursive: true})
	if err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close %s: %v", path, err)
	}
	return w.Info()
}

// get reads path whole with the read type.
func get(ctx context.Context, cl *client.Client, path string, rt client.ReadType) ([]byte, error) {
	r, err := cl.Open(ctx, path, client.OpenOptions{ReadType: rt})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// mustGet reads path and compares it with want.
func mustGet(t *testing.T, cl *client.Client, path string, rt client.ReadType, want []byte) {
	t.Helper()
	got, err := get(t.Context(), cl, path, rt)
	if err != nil {
		t.Fatalf("read %s (%v): %v", path, rt, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %s (%v): %d bytes differ from the %d written", path, rt, len(got), len(want))
	}
}

// waitPersistence polls path's persistence state until it is want (up to 30 s).
func waitPersistence(t *testing.T, cl *client.Client, path string, want sluicepb.PersistenceState) {
	t.Helper()
	var last client.FileInfo
	ok := poll(30*time.Second, func() bool {
		fi, err := cl.Stat(t.Context(), path)
		last = fi
		return err == nil && fi.Persistence == want
	})
	if !ok {
		t.Fatalf("%s: persistence %s, want %s", path, last.PersistenceName(), want)
	}
}

func TestCluster_WriteAndReadTypes(t *testing.T) {
	c := New(t, Config{Executors: 2})
	cl := c.Client(t)
	// Two and a half blocks, so that every path crosses block boundaries.
	data := payload(5<<19, 1)
	writeTypes := []client.WriteType{client.WriteMustCache, client.WriteCacheThrough, client.WriteThrough, client.WriteAsyncThrough}
	readTypes := []client.ReadType{client.ReadCache, client.ReadNoCache, client.ReadCachePromote}
	for _, wt := range writeTypes {
		t.Run(wt.String(), func(t *testing.T) {
			p := "/types/" + wt.String()
			fi := put(t, cl, p, wt, data)
			if fi.Length != int64(len(data)) || !fi.Complete {
				t.Fatalf("after close: length %d complete %v, want %d true", fi.Length, fi.Complete, len(data))
			}
			switch wt {
			case client.WriteMustCache:
				waitPersistence(t, cl, p, sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED)
			case client.WriteCacheThrough, client.WriteThrough:
				// Persisted when Close returns: no waiting.
				st, err := cl.Stat(t.Context(), p)
				if err != nil || st.Persistence != sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED {
					t.Fatalf("stat after close: %s, %v; want PERSISTED", st.PersistenceName(), err)
				}
			case client.WriteAsyncThrough:
				waitPersistence(t, cl, p, sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED)
			}
			if wt != client.WriteMustCache {
				ufsCopy, err := os.ReadFile(filepath.Join(c.UFSDir(), "types", wt.String()))
				if err != nil || !bytes.Equal(ufsCopy, data) {
					t.Fatalf("UFS copy: %d bytes, %v; want the %d bytes written", len(ufsCopy), err, len(data))
				}
			}
			for _, rt := range readTypes {
				mustGet(t, cl, p, rt, data)
			}
		})
	}
}

func TestCluster_ShortCircuit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		host  func(int) string
		local bool
	}{
		{"same host", nil, true},
		{"other host", func(i int) string { return fmt.Sprintf("elsewhere-%d.invalid", i) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(t, Config{Executors: 1, ExecutorHost: tc.host})
			cl := c.Client(t)
			data := payload(3<<20, 2)
			put(t, cl, "/sc", client.WriteMustCache, data)
			mustGet(t, cl, "/sc", client.ReadCache, data)
			st := cl.Stats()
			n := int64(len(data))
			want := client.Stats{BytesWrittenRemote: n, BytesReadRemote: n}
			if tc.local {
				want = client.Stats{BytesWrittenShortCircuit: n, BytesReadShortCircuit: n}
			}
			got := client.Stats{
				BytesWrittenShortCircuit: st.BytesWrittenShortCircuit, BytesWrittenRemote: st.BytesWrittenRemote,
				BytesReadShortCircuit: st.BytesReadShortCircuit, BytesReadRemote: st.BytesReadRemote,
			}
			if got != want {
				t.Fatalf("stats %+v, want %+v", got, want)
			}
		})
	}
}

// holder returns the slot of the executor that holds the first block of path.
func holder(t *testing.T, c *Cluster, cl *client.Client, path string) int {
	t.Helper()
	loc, err := cl.BlockLocations(t.Context(), path)
	if err != nil {
		t.Fatalf("locations of %s: %v", path, err)
	}
	for _, b := range loc.GetBlocks() {
		for _, l := range b.GetLocations() {
			if i := c.ExecutorIndex(l.GetExecutorId()); i >= 0 {
				return i
			}
		}
	}
	t.Fatalf("no running executor holds %s: %v", path, loc)
	return -1
}

func TestCluster_ExecutorLost(t *testing.T) {
	c := New(t, Config{Executors: 2})
	cl := c.Client(t)
	cached := payload(1<<20, 3)
	persisted := payload(2<<20, 4)
	put(t, cl, "/lost/cached", client.WriteMustCache, cached)
	put(t, cl, "/lost/persisted", client.WriteCacheThrough, persisted)
	victim := holder(t, c, cl, "/lost/cached")

	c.KillExecutor(victim)

	waitPersistence(t, cl, "/lost/cached", sluicepb.PersistenceState_PERSISTENCE_STATE_LOST)
	if _, err := get(t.Context(), cl, "/lost/cached", client.ReadCache); !errors.Is(err, client.ErrFileLost) {
		t.Fatalf("read of a lost file: %v, want ErrFileLost", err)
	}
	mustGet(t, cl, "/lost/persisted", client.ReadCache, persisted)
	c.WaitForExecutors(1)

	// The node comes back empty: it registers again and takes new blocks.
	c.RestartExecutor(victim)
	c.WaitForExecutors(2)
	if info, err := cl.Stat(t.Context(), "/lost/cached"); err != nil || info.Persistence != sluicepb.PersistenceState_PERSISTENCE_STATE_LOST {
		t.Fatalf("after the restart: %s, %v; want still LOST", info.PersistenceName(), err)
	}
	again := payload(1<<20, 5)
	put(t, cl, "/lost/again", client.WriteMustCache, again)
	mustGet(t, cl, "/lost/again", client.ReadNoCache, again)
}

func TestCluster_MasterRestart(t *testing.T) {
	c := New(t, Config{Executors: 2})
	cl := c.Client(t)
	cached := payload(3<<19, 6)
	persisted := payload(1<<19, 7)
	put(t, cl, "/restart/a/cached", client.WriteMustCache, cached)
	put(t, cl, "/restart/persisted", client.WriteCacheThrough, persisted)

	c.RestartMaster(0)
	c.WaitForLeader()
	c.WaitForExecutors(2) // the executors registered again, with the blocks they hold

	list, err := cl.List(t.Context(), "/restart", client.ListOptions{Recursive: true})
	if err != nil {
		t.Fatalf("list after restart: %v", err)
	}
	var paths []string
	for _, fi := range list {
		paths = append(paths, fi.Path)
	}
	want := []string{"/restart/a", "/restart/a/cached", "/restart/persisted"}
	if fmt.Sprint(paths) != fmt.Sprint(want) {
		t.Fatalf("namespace after restart: %v, want %v", paths, want)
	}
	// The MUST_CACHE blocks are known again from the executors' registrations.
	mustGet(t, cl, "/restart/a/cached", client.ReadNoCache, cached)
	mustGet(t, cl, "/restart/persisted", client.ReadNoCache, persisted)
	put(t, cl, "/restart/new", client.WriteAsyncThrough, persisted)
}

func TestCluster_NotLeaderRedirect(t *testing.T) {
	c := New(t, Config{Masters: 3, Executors: 1})
	leader := c.WaitForLeader()
	follower := (leader + 1) % 3
	// A client that knows only a follower follows its NOT_LEADER answer to the leader.
	cl := c.Client(t, func(cfg *client.Config) { cfg.Masters = []string{c.MasterAddrs()[follower]} })
	data := payload(1<<20, 8)
	put(t, cl, "/ha/file", client.WriteMustCache, data)
	// On the wire, the follower answers Unavailable with the leader's gRPC address.
	checkNotLeader(t, c.MasterAddrs()[follower], c.MasterAddrs()[leader])

	// The leader goes away: the others elect a new one, which has the namespace, and
	// the executor registers with it.
	full := c.Client(t)
	c.StopMaster(leader)
	next := c.WaitForLeader()
	if next == leader {
		t.Fatalf("master %d still leads after being stopped", next)
	}
	c.WaitForExecutors(1)
	mustGet(t, full, "/ha/file", client.ReadNoCache, data)
	put(t, full, "/ha/after", client.WriteMustCache, data)

	// The old leader comes back as a follower and catches up.
	c.RestartMaster(leader)
	c.WaitForLeader()

	// A partitioned leader steps down and the majority elects another; after healing,
	// the old leader follows and redirects to the new one.
	old := c.WaitForLeader()
	c.Partition(old)
	if !poll(30*time.Second, func() bool {
		if c.Master(old).IsLeader() {
			return false
		}
		for i := range 3 {
			if i != old && c.Master(i).IsLeader() {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no other master leads after partitioning master %d", old)
	}
	put(t, full, "/ha/partitioned", client.WriteMustCache, data)
	c.Heal(old)
	viaOld := c.Client(t, func(cfg *client.Config) { cfg.Masters = []string{c.MasterAddrs()[old]} })
	if !poll(30*time.Second, func() bool {
		_, err := viaOld.Stat(t.Context(), "/ha/partitioned")
		return err == nil
	}) {
		t.Fatalf("master %d does not lead clients to the new leader after healing", old)
	}
}

// checkNotLeader calls GetStatus on the master at addr and expects the NOT_LEADER answer
// of the contract: codes.Unavailable, reason NOT_LEADER, the leader's gRPC address.
func checkNotLeader(t *testing.T, addr, leader string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = sluicepb.NewFileSystemMasterClient(conn).GetStatus(t.Context(), &sluicepb.GetStatusRequest{Path: "/"})
	st := status.Convert(err)
	var detail *sluicepb.ErrorDetail
	for _, d := range st.Details() {
		if ed, ok := d.(*sluicepb.ErrorDetail); ok {
			detail = ed
		}
	}
	if st.Code() != codes.Unavailable || detail.GetReason() != sluicepb.ErrorReason_ERROR_REASON_NOT_LEADER || detail.GetLeaderAddress() != leader {
		t.Fatalf("GetStatus on follower %s: %v (detail %v), want Unavailable NOT_LEADER naming %s", addr, err, detail, leader)
	}
}

func TestCluster_HeartbeatTimeout(t *testing.T) {
	// No loss report this time: the master finds the silent executor on its own.
	c := New(t, Config{Executors: 2, HeartbeatTimeout: time.Second})
	cl := c.Client(t)
	data := payload(1<<19, 9)
	put(t, cl, "/silent/cached", client.WriteMustCache, data)
	victim := holder(t, c, cl, "/silent/cached")
	c.StopExecutor(victim)
	waitPersistence(t, cl, "/silent/cached", sluicepb.PersistenceState_PERSISTENCE_STATE_LOST)
	c.WaitForExecutors(1)

	// A clean stop kept the storage: the executor registers again and serves.
	c.RestartExecutor(victim)
	c.WaitForExecutors(2)
	put(t, cl, "/silent/again", client.WriteMustCache, data)
	mustGet(t, cl, "/silent/again", client.ReadCache, data)
}

func TestCluster_ReadFallsBackToUFS(t *testing.T) {
	// Executors on "other hosts", so that blocks stream over gRPC and an executor that
	// stops fails the stream.
	c := New(t, Config{Executors: 2, ExecutorHost: func(i int) string { return fmt.Sprintf("node-%d.invalid", i) }})
	cl := c.Client(t)
	data := payload(3<<20, 10)
	put(t, cl, "/fallback", client.WriteCacheThrough, data)
	victim := holder(t, c, cl, "/fallback")

	r, err := cl.Open(t.Context(), "/fallback", client.OpenOptions{ReadType: client.ReadNoCache})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(r, got[:1<<20]); err != nil {
		t.Fatalf("first block: %v", err)
	}
	c.StopExecutor(victim) // the master does not know yet: its locations are stale
	if _, err := io.ReadFull(r, got[1<<20:]); err != nil {
		t.Fatalf("rest after the executor stopped: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("bytes read differ from those written")
	}
	if st := cl.Stats(); st.BytesReadUFS == 0 {
		t.Fatalf("no bytes read from the UFS after the holder stopped (stats %+v)", st)
	}
}
