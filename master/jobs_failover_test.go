package master

import (
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/mastertest"
)

// TestJobMaster_Failover: three masters share one framework scheduler. A job running
// when its leader stops stays RUNNING on the new leader, which then records its end,
// and the lineage is there.
func TestJobMaster_Failover(t *testing.T) {
	if testing.Short() {
		t.Skip("three-master cluster")
	}
	stores := &mastertest.Stores{}
	fl := newFakeLauncher()
	raftAddrs := []string{"m0", "m1", "m2"}
	var tms []*testMaster
	var transports []*raft.InmemTransport
	for _, ra := range raftAddrs {
		cfg, trans := testConfig(t, t.TempDir(), ra, stores)
		cfg.Journal.Peers = raftAddrs
		cfg.Journal.HeartbeatTimeout = 200 * time.Millisecond
		cfg.Journal.ElectionTimeout = 200 * time.Millisecond
		cfg.Journal.LeaderLeaseTimeout = 100 * time.Millisecond
		cfg.Jobs = fl
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
	for _, tm := range tms {
		tm.start()
	}
	t.Cleanup(func() {
		for _, tr := range transports {
			tr.DisconnectAll()
		}
	})
	leaderOf := func(skip *testMaster) *testMaster {
		for _, tm := range tms {
			if tm != skip && tm.m.IsLeader() && tm.m.jobRunner.Load() != nil {
				return tm
			}
		}
		return nil
	}
	var leader *testMaster
	var first, second *sluicepb.JobInfo
	waitFor(t, "a leader to run a job", func() bool {
		if leader = leaderOf(nil); leader == nil {
			return false
		}
		jm := sluicepb.NewJobMasterClient(leader.conn)
		var err error
		if first == nil {
			first, err = submit(t, jm, nil, []string{"/f/a"})
			if err != nil {
				first = nil
				return false
			}
		}
		second, err = submit(t, jm, []string{"/f/a"}, []string{"/f/b"})
		return err == nil
	})
	if first.GetState() != sluicepb.JobState_JOB_STATE_RUNNING || second.GetState() != sluicepb.JobState_JOB_STATE_PENDING {
		t.Fatalf("before failover: %v %v", first, second)
	}
	writeOutput(t, leader, first.GetJobId(), "/f/a")

	for i, tr := range transports {
		if tms[i] != leader {
			tr.Disconnect(raft.ServerAddress(raftAddrs[slices.Index(tms, leader)]))
		}
	}
	leader.trans.DisconnectAll()
	leader.stop()
	var next *testMaster
	waitFor(t, "a new leader", func() bool { next = leaderOf(leader); return next != nil })
	jm := sluicepb.NewJobMasterClient(next.conn)
	waitJob(t, jm, first.GetJobId(), sluicepb.JobState_JOB_STATE_RUNNING)
	fl.emit(JobEvent{TaskID: first.GetTaskId(), State: TaskFinished})
	waitJob(t, jm, first.GetJobId(), sluicepb.JobState_JOB_STATE_COMPLETED)
	// The job that waited for it runs now, launched by the new leader.
	b := waitJob(t, jm, second.GetJobId(), sluicepb.JobState_JOB_STATE_RUNNING)
	if l := fl.launched(); len(l) != 2 || l[1].JobID != 2 || b.GetParentJobIds()[0] != first.GetJobId() {
		t.Errorf("after failover: %v, launches %+v", b, l)
	}
}
