package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/integrations/mesos/mesostest"
)

// threeMasterPortBase is where the agents' port ranges of TestMesos_ThreeMasters begin:
// apart from TestMesos_Framework's (21000 up), which may run at the same time, and below
// the kernel's ephemeral range.
const threeMasterPortBase = 26000

// masterInfo asks the master at addr itself (not the leader) about itself and Raft.
func masterInfo(ctx context.Context, addr string) (*sluicepb.GetMasterInfoResponse, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return sluicepb.NewMetaMasterClient(cc).GetMasterInfo(ctx, &sluicepb.GetMasterInfoRequest{})
}

// waitLeader waits until every master in addrs but those in down answers and names one
// leader among them, not notLeader; it returns the leader's address.
func waitLeader(t *testing.T, addrs []string, notLeader string) string {
	t.Helper()
	var leader string
	eventually(t, waitLong, "the masters agree on a leader", func() error {
		leader = ""
		for _, a := range addrs {
			info, err := masterInfo(t.Context(), a)
			if err != nil {
				return fmt.Errorf("master %s: %w", a, err)
			}
			l := info.GetLeaderAddress()
			if info.GetIsLeader() {
				l = a
			}
			switch {
			case l == "":
				return fmt.Errorf("master %s (%s) knows no leader", a, info.GetRaftState())
			case leader != "" && l != leader:
				return fmt.Errorf("master %s names leader %s, another %s", a, l, leader)
			case len(info.GetPeers()) != 3:
				return fmt.Errorf("master %s has %d Raft peers", a, len(info.GetPeers()))
			}
			leader = l
		}
		if leader == notLeader {
			return fmt.Errorf("%s still leads", leader)
		}
		return nil
	})
	return leader
}

// masterTasks maps the masters' addresses to their current tasks, from the framework's
// last "master ADDR (task ID)" line for each address.
func (mc *mesosCluster) masterTasks() map[string]string {
	out := make(map[string]string)
	for _, m := range regexp.MustCompile(`(?m)^master (\S+) \(task (\S+)\)$`).FindAllStringSubmatch(mc.fw.stdout(), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// TestMesos_ThreeMasters runs `sluice framework mesos run --masters 3` on the stand-in
// with three agents of one host (distinct port ranges, a port stride): the masters are
// pinned one per agent with static ports, elect a leader and serve `sluice fs`; the
// leader's process is killed (TASK_FAILED), another master leads and serves, and the
// killed master is relaunched on its agent with its address and journal and rejoins as
// a follower. A restarted framework scheduler keeps the pins. A follower's agent removed
// from Mesos is reported gone, and the two other masters serve on.
func TestMesos_ThreeMasters(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dir := t.TempDir()
	var agents []mesostest.AgentConfig
	for i := range 3 {
		a := mesosAgent(i)
		base := uint64(threeMasterPortBase + i*1000)
		a.Resources.Ports = []mesostest.PortRange{{Begin: base, End: base + 999}}
		agents = append(agents, a)
	}
	mc := &mesosCluster{dir: dir, mesos: startMesosAgents(t, dir, agents), fwPort: freePort(t)}
	rpcPort := threeMasterPortBase + 900
	mc.extra = []string{"--masters", "3", "--wait-agents", "60s",
		"--master-rpc-port", strconv.Itoa(rpcPort), "--master-http-port", strconv.Itoa(rpcPort + 1),
		"--master-raft-port", strconv.Itoa(rpcPort + 2), "--master-port-stride", "1000"}
	mc.startFramework(t)
	fwID := mc.frameworkID(t)
	t.Cleanup(func() { mc.cleanup(t, fwID) })

	var addrs []string
	for i := range 3 {
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(rpcPort+i*1000))
	}
	eventually(t, waitLong, "three masters running", func() error {
		if mc.fw.exited() {
			t.Fatalf("framework exited:\n%s\n%s", mc.fw.stdout(), mc.fw.stderr())
		}
		if got := slices.Sorted(func(yield func(string) bool) {
			for a := range mc.masterTasks() {
				if !yield(a) {
					return
				}
			}
		}); !slices.Equal(got, addrs) {
			return fmt.Errorf("masters %v, want %v:\n%s", got, addrs, mc.fw.stdout())
		}
		return nil
	})
	for i := range 3 {
		want := fmt.Sprintf("master-%d pinned to agent agent-%d: rpc %s", i, i, addrs[i])
		if !strings.Contains(mc.fw.stdout(), want) {
			t.Errorf("framework output lacks %q:\n%s", want, mc.fw.stdout())
		}
	}
	leader := waitLeader(t, addrs, "")
	mc.master = leader
	mc.env = sluiceEnv(masterEnv(strings.Join(addrs, ",")))
	mc.waitExecutors(t, 3, nil)
	t.Logf("framework %s: masters %v, leader %s", fwID, addrs, leader)

	src := filepath.Join(dir, "hello.txt")
	if err := os.WriteFile(src, []byte("three masters\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, mc.env, "fs", "put", src, "/hello")
	if got := mustRun(t, dir, mc.env, "fs", "cat", "/hello"); got != "three masters\n" {
		t.Fatalf("fs cat /hello: %q", got)
	}

	// The leader dies: another master leads, and the killed one is relaunched on its
	// agent at the same address and rejoins.
	oldTask := mc.masterTasks()[leader]
	var oldAgent string
	for _, ts := range mc.mesos.Tasks() {
		if ts.ID == oldTask {
			oldAgent = ts.AgentID
		}
	}
	if err := mc.mesos.KillTaskProcess(oldTask); err != nil {
		t.Fatal(err)
	}
	var others []string
	for _, a := range addrs {
		if a != leader {
			others = append(others, a)
		}
	}
	newLeader := waitLeader(t, others, leader)
	t.Logf("leader %s killed (task %s on %s): %s leads", leader, oldTask, oldAgent, newLeader)
	if got := mustRun(t, dir, mc.env, "fs", "cat", "/hello"); got != "three masters\n" {
		t.Errorf("fs cat /hello after the leader's death: %q", got)
	}
	mustRun(t, dir, mc.env, "fs", "put", src, "/after-kill")

	var newTask string
	eventually(t, waitLong, "the killed master is relaunched", func() error {
		newTask = mc.masterTasks()[leader]
		if newTask == oldTask {
			return fmt.Errorf("no new task for master %s yet:\n%s", leader, mc.fw.stdout())
		}
		return nil
	})
	for _, ts := range mc.mesos.Tasks() {
		if ts.ID == newTask && ts.AgentID != oldAgent {
			t.Errorf("master %s relaunched on agent %s, want its agent %s", leader, ts.AgentID, oldAgent)
		}
	}
	for _, want := range []string{"master task " + oldTask + " failed", "is relaunched on its agent " + oldAgent} {
		if !strings.Contains(mc.fw.stdout(), want) {
			t.Errorf("framework output lacks %q:\n%s", want, mc.fw.stdout())
		}
	}
	// It rejoins: all three agree on the leader again, and the relaunched master has
	// applied the entries written while it was down.
	waitLeader(t, addrs, "")
	eventually(t, waitLong, "the relaunched master catches up", func() error {
		li, err := masterInfo(t.Context(), newLeader)
		if err != nil {
			return err
		}
		ri, err := masterInfo(t.Context(), leader)
		if err != nil {
			return err
		}
		if ri.GetRaftState() != "Follower" || ri.GetRaftAppliedIndex() < li.GetRaftAppliedIndex() {
			return fmt.Errorf("relaunched master %s: %s at index %d, leader at %d", leader, ri.GetRaftState(),
				ri.GetRaftAppliedIndex(), li.GetRaftAppliedIndex())
		}
		return nil
	})
	if got := mustRun(t, dir, mc.env, "fs", "cat", "/after-kill"); got != "three masters\n" {
		t.Errorf("fs cat /after-kill: %q", got)
	}

	// A restarted framework scheduler keeps the pins and takes the masters back.
	if err := mc.fw.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := mc.fw.wait(t, waitLong); code != 0 {
		t.Fatalf("framework exited %d after Ctrl-C:\n%s", code, mc.fw.stderr())
	}
	mc.startFramework(t)
	mc.env = sluiceEnv(masterEnv(strings.Join(addrs, ",")))
	if !strings.Contains(mc.fw.stdout(), "masters pinned as before") {
		t.Errorf("restarted framework did not keep the pins:\n%s", mc.fw.stdout())
	}
	eventually(t, waitLong, "the restarted framework takes the three masters back", func() error {
		running := 0
		for _, ts := range mc.mesos.Tasks() {
			if ts.Active && ts.State == mesosv1.TASK_RUNNING && strings.HasPrefix(ts.ID, "master-") {
				running++
			}
		}
		if n := len(mc.masterTasks()); n != 3 || running != 3 {
			return fmt.Errorf("%d masters printed, %d master tasks running:\n%s", n, running, mc.fw.stdout())
		}
		return nil
	})
	if got := mustRun(t, dir, mc.env, "fs", "cat", "/hello"); got != "three masters\n" {
		t.Errorf("fs cat /hello after the framework's restart: %q", got)
	}

	// A follower's agent is removed: the framework says that master waits for its agent
	// (no Raft membership change), and the two others serve on.
	leader = waitLeader(t, addrs, "")
	follower := slices.IndexFunc(addrs, func(a string) bool { return a != leader })
	if err := mc.mesos.RemoveAgent("agent-" + strconv.Itoa(follower)); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("master-%d's agent agent-%d is gone", follower, follower)
	eventually(t, waitLong, "framework reports the master's agent gone", func() error {
		if !strings.Contains(mc.fw.stdout(), want) {
			return fmt.Errorf("no %q line:\n%s", want, mc.fw.stdout())
		}
		return nil
	})
	mustRun(t, dir, mc.env, "fs", "put", src, "/two-masters")
	if got := mustRun(t, dir, mc.env, "fs", "cat", "/two-masters"); got != "three masters\n" {
		t.Errorf("fs cat /two-masters with two masters: %q", got)
	}
}
