package master

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/mastertest"
)

func TestMaster_NotLeaderRedirect(t *testing.T) {
	if testing.Short() {
		t.Skip("three-master cluster")
	}
	stores := &mastertest.Stores{}
	raftAddrs := []string{"m0", "m1", "m2"}
	var tms []*testMaster
	var transports []*raft.InmemTransport
	for _, ra := range raftAddrs {
		cfg, trans := testConfig(t, t.TempDir(), ra, stores)
		cfg.Journal.Peers = raftAddrs
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		tms = append(tms, dialMaster(t, m, trans))
		transports = append(transports, trans)
	}
	for _, a := range transports {
		for _, b := range transports {
			if a != b {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	// Each master maps Raft addresses to gRPC addresses, known once all are bound.
	peers := map[string]string{}
	for i, tm := range tms {
		peers[raftAddrs[i]] = tm.m.Addr()
	}
	for _, tm := range tms {
		tm.m.cfg.PeerRPCAddrs = peers
		tm.start()
	}
	// A stopped master's transport would make the others wait for its answers until
	// the transport timeout: disconnect everything before the masters stop.
	t.Cleanup(func() {
		for _, tr := range transports {
			tr.DisconnectAll()
		}
	})
	var leader *testMaster
	waitFor(t, "a leader", func() bool {
		for _, tm := range tms {
			if tm.m.IsLeader() {
				leader = tm
				return true
			}
		}
		return false
	})
	if _, err := leader.fs.CreateDirectory(callCtx(t), &sluicepb.CreateDirectoryRequest{Path: "/replicated"}); err != nil {
		t.Fatal(err)
	}
	for _, tm := range tms {
		if tm == leader {
			continue
		}
		// Followers answer NOT_LEADER naming the leader's gRPC address, on every service.
		calls := map[string]func() error{
			"GetStatus": func() error {
				_, err := tm.fs.GetStatus(callCtx(t), &sluicepb.GetStatusRequest{Path: "/replicated"})
				return err
			},
			"Heartbeat": func() error {
				_, err := tm.ex.Heartbeat(callCtx(t), &sluicepb.HeartbeatRequest{ExecutorId: 1})
				return err
			},
			"GetReport": func() error {
				_, err := tm.meta.GetReport(callCtx(t), &sluicepb.GetReportRequest{})
				return err
			},
		}
		for name, call := range calls {
			var err error
			waitFor(t, "a follower that knows the leader", func() bool {
				err = call()
				st, _ := status.FromError(err)
				for _, d := range st.Details() {
					if ed, ok := d.(*sluicepb.ErrorDetail); ok && ed.GetLeaderAddress() != "" {
						return true
					}
				}
				return false
			})
			wantReason(t, err, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_NOT_LEADER)
			st, _ := status.FromError(err)
			if d := st.Details()[0].(*sluicepb.ErrorDetail); d.GetLeaderAddress() != leader.m.Addr() {
				t.Fatalf("%s: leader address %q, want %q", name, d.GetLeaderAddress(), leader.m.Addr())
			}
		}
		// GetMasterInfo is answered by followers.
		info, err := tm.meta.GetMasterInfo(callCtx(t), &sluicepb.GetMasterInfoRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if info.GetIsLeader() || info.GetLeaderAddress() != leader.m.Addr() || len(info.GetPeers()) != 3 || info.GetRpcAddress() != tm.m.Addr() {
			t.Fatalf("follower info: %v", info)
		}
		// A follower's /healthz is 200 too.
		resp, err := http.Get("http://" + tm.m.HTTPAddr() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "follower") {
			t.Fatalf("follower healthz: %d %q", resp.StatusCode, body)
		}
	}
	// The namespace is replicated: after the leader stops, a new one knows /replicated.
	for i, tr := range transports {
		if tms[i] != leader {
			tr.Disconnect(raft.ServerAddress(raftAddrs[slices.Index(tms, leader)]))
		}
	}
	leader.trans.DisconnectAll()
	leader.stop()
	var next *testMaster
	waitFor(t, "a new leader", func() bool {
		for _, tm := range tms {
			if tm != leader && tm.m.IsLeader() {
				next = tm
				return true
			}
		}
		return false
	})
	if !next.status("/replicated").GetIsDir() {
		t.Fatal("new leader lost /replicated")
	}
}
