package master

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

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
		// Slower Raft timing than the single-node tests: fewer elections under -race.
		cfg.Journal.HeartbeatTimeout = 200 * time.Millisecond
		cfg.Journal.ElectionTimeout = 200 * time.Millisecond
		cfg.Journal.LeaderLeaseTimeout = 100 * time.Millisecond
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
	currentLeader := func() *testMaster {
		for _, tm := range tms {
			if tm.m.IsLeader() {
				return tm
			}
		}
		return nil
	}
	// Like a client, retry until some leader accepts the change.
	waitFor(t, "a leader to accept a change", func() bool {
		l := currentLeader()
		if l == nil {
			return false
		}
		_, err := l.fs.CreateDirectory(callCtx(t), &sluicepb.CreateDirectoryRequest{Path: "/replicated", AllowExists: true})
		return err == nil
	})
	leader := currentLeader()
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
			waitFor(t, name+" on a follower naming the leader", func() bool {
				err = call()
				st, _ := status.FromError(err)
				l := currentLeader()
				for _, d := range st.Details() {
					if ed, ok := d.(*sluicepb.ErrorDetail); ok && l != nil && ed.GetLeaderAddress() == l.m.Addr() {
						return true
					}
				}
				return tm.m.IsLeader() // leadership moved here: nothing to check
			})
			if !tm.m.IsLeader() {
				wantReason(t, err, codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_NOT_LEADER)
			}
		}
		// GetMasterInfo is answered by followers.
		var info *sluicepb.GetMasterInfoResponse
		waitFor(t, "master info naming the leader", func() bool {
			var err error
			info, err = tm.meta.GetMasterInfo(callCtx(t), &sluicepb.GetMasterInfoRequest{})
			l := currentLeader()
			return err == nil && l != nil && info.GetLeaderAddress() == l.m.Addr() && info.GetIsLeader() == (l == tm)
		})
		if len(info.GetPeers()) != 3 || info.GetRpcAddress() != tm.m.Addr() {
			t.Fatalf("master info: %v", info)
		}
		// A follower's /healthz is 200 too.
		resp, err := http.Get("http://" + tm.m.HTTPAddr() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "ok ") {
			t.Fatalf("follower healthz: %d %q", resp.StatusCode, body)
		}
	}
	// The namespace is replicated: after the leader stops, a new one knows /replicated.
	leader = currentLeader()
	if leader == nil {
		waitFor(t, "a leader", func() bool { leader = currentLeader(); return leader != nil })
	}
	for i, tr := range transports {
		if tms[i] != leader {
			tr.Disconnect(raft.ServerAddress(raftAddrs[slices.Index(tms, leader)]))
		}
	}
	leader.trans.DisconnectAll()
	leader.stop()
	waitFor(t, "a new leader that knows /replicated", func() bool {
		for _, tm := range tms {
			if tm != leader && tm.m.IsLeader() {
				r, err := tm.fs.GetStatus(callCtx(t), &sluicepb.GetStatusRequest{Path: "/replicated",
					LoadMetadata: sluicepb.LoadMetadataType_LOAD_METADATA_TYPE_NEVER})
				return err == nil && r.GetFile().GetIsDir()
			}
		}
		return false
	})
}
