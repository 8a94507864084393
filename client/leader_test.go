package client

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client/clienttest"
)

func TestLeader_FollowsNotLeader(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{Masters: 3})
	addrs := c.MasterAddresses()
	cl := newClient(t, c, func(cfg *Config) { cfg.Masters = addrs })
	if _, err := cl.Mkdir(t.Context(), "/a", MkdirOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := cl.Stats().LeaderRedirects; got != 0 {
		t.Fatalf("redirects before the leader change = %d", got)
	}
	// Leadership moves to master 2: master 0 answers NOT_LEADER naming it.
	c.SetLeader(2)
	fi, err := cl.Stat(t.Context(), "/a")
	if err != nil || !fi.IsDir {
		t.Fatalf("Stat after the leader change = %+v, %v", fi, err)
	}
	if got := cl.Stats().LeaderRedirects; got != 1 {
		t.Errorf("redirects = %d, want 1", got)
	}
	// Later calls go to the new leader directly.
	if _, err := cl.Stat(t.Context(), "/a"); err != nil {
		t.Fatal(err)
	}
	if got := cl.Stats().LeaderRedirects; got != 1 {
		t.Errorf("redirects after settling = %d, want 1", got)
	}
	info, err := cl.MasterInfo(t.Context())
	if err != nil || !info.GetIsLeader() || info.GetRpcAddress() != addrs[2] {
		t.Errorf("MasterInfo = %v, %v; want master 2 leading", info, err)
	}
}

func TestLeader_NewFindsLeaderFromFollower(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{Masters: 2})
	c.SetLeader(1)
	addrs := c.MasterAddresses()
	cl := newClient(t, c, func(cfg *Config) { cfg.Masters = addrs[:1] })
	if _, err := cl.Stat(t.Context(), "/"); err != nil {
		t.Fatal(err)
	}
	if got := cl.Stats().LeaderRedirects; got != 0 {
		t.Errorf("redirects = %d, want 0: New should have learnt the leader from GetMasterInfo", got)
	}
}

func TestLeader_SkipsUnreachableMaster(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{Masters: 2})
	addrs := c.MasterAddresses()
	cl := newClient(t, c, func(cfg *Config) { cfg.Masters = addrs })
	// Master 0 (the leader the client knows) dies; master 1 takes over, and the client,
	// finding 0 unreachable, tries 1.
	c.StopMaster(0)
	c.SetLeader(1)
	if _, err := cl.Mkdir(t.Context(), "/after", MkdirOptions{}); err != nil {
		t.Fatalf("Mkdir with the old leader down: %v", err)
	}
}

func TestLeader_NoLeaderFailsAfterBoundedRetries(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{Masters: 2})
	addrs := c.MasterAddresses()
	cl := newClient(t, c, func(cfg *Config) { cfg.Masters = addrs; cfg.MaxRetries = 3 })
	c.SetLeader(-1)
	before := c.Calls("GetStatus")
	_, err := cl.Stat(t.Context(), "/")
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Stat without a leader = %v, want ErrNotLeader", err)
	}
	if got := c.Calls("GetStatus") - before; got != 3*len(addrs) {
		t.Errorf("attempts = %d, want %d (MaxRetries rounds over the masters)", got, 3*len(addrs))
	}
}

func TestLeader_TransientUnavailableIsRetried(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	unavailable := clienttest.Status(codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE, "starting")
	c.InjectError("GetStatus", unavailable, unavailable)
	if _, err := cl.Stat(t.Context(), "/"); err != nil {
		t.Fatalf("Stat after two transient failures: %v", err)
	}
	// Other errors are not retried.
	c.InjectError("GetStatus", clienttest.Status(codes.Internal, sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR, "disk"))
	before := c.Calls("GetStatus")
	if _, err := cl.Stat(t.Context(), "/"); !errors.Is(err, ErrUFS) {
		t.Fatalf("Stat = %v, want ErrUFS", err)
	}
	if got := c.Calls("GetStatus") - before; got != 1 {
		t.Errorf("a UFS error was tried %d times, want 1", got)
	}
}
