package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedata/sluice/integrations/mesos"
	"github.com/sluicedata/sluice/scheduler"
)

// Three masters on Mesos (--masters 3). A Raft group needs every member's address before
// any member starts, and Mesos hands out ports only with each task's offer, so the
// masters are pinned: once Mesos has offered at least three agents, three distinct
// agents are chosen (those with room for a master, by agent ID) and master i runs on
// agent i (mesos.LabelAgent) with static ports (mesos.LabelStaticPorts):
// --master-rpc-port, --master-http-port and --master-raft-port plus i times
// --master-port-stride. The stride is for agents that share one host (the stand-in, a
// test rig): the choice is refused when two chosen agents share a host and the stride
// is 0. Every master gets --peers listing all three (RAFT_ADDR=RPC_ADDR), its own Raft
// address (its Raft ID) and its own journal, --master-journal-dir/master-<i> on its
// agent; the executors get the three RPC addresses.
//
// The choice is kept beside the framework ID (--framework-id-file + ".masters.json"),
// so a restarted framework scheduler pins the same masters to the same agents. A lost
// master is relaunched on its agent with the same ports, Raft ID and journal, and
// rejoins the group. If its agent is gone, the master waits for that agent: putting a
// Raft member on another agent would need a Raft membership change, which this
// framework does not make (the two other masters keep a quorum meanwhile).

// mastersFileSuffix names the file, beside the framework ID file, holding the pins.
const mastersFileSuffix = ".masters.json"

// mesosMasterPin places one master of a three-master group.
type mesosMasterPin struct {
	// Agent is the Mesos agent ID and Host the host the master advertises.
	Agent string `json:"agent"`
	Host  string `json:"host"`
	// RPC, HTTP and Raft are the master's ports.
	RPC  int `json:"rpc"`
	HTTP int `json:"http"`
	Raft int `json:"raft"`
}

func (p mesosMasterPin) rpcAddr() string  { return net.JoinHostPort(p.Host, strconv.Itoa(p.RPC)) }
func (p mesosMasterPin) raftAddr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Raft)) }

// mastersFile is where the pins are kept, "" without a framework ID file.
func (o mesosRunOptions) mastersFile() string {
	if o.FrameworkIDFile == "" {
		return ""
	}
	return o.FrameworkIDFile + mastersFileSuffix
}

// masterPorts are master i's rpc, http and raft ports.
func (o mesosRunOptions) masterPortsOf(i int) (rpc, http, raft int) {
	d := i * o.MasterPortStride
	return o.MasterRPCPort + d, o.MasterHTTPPort + d, o.MasterRaftPort + d
}

// validateMasterPorts checks the static ports of a three-master group.
func (o mesosRunOptions) validateMasterPorts() error {
	if o.Masters == 1 {
		return nil
	}
	if o.MasterPortStride < 0 {
		return fmt.Errorf("--master-port-stride %d is negative: %w", o.MasterPortStride, errBadFlag)
	}
	seen := make(map[int]bool)
	for i := range o.Masters {
		rpc, http, raft := o.masterPortsOf(i)
		for _, p := range []int{rpc, http, raft} {
			if p < 1 || p > 65535 {
				return fmt.Errorf("master %d: port %d out of range (--master-*-port, --master-port-stride): %w", i, p, errBadFlag)
			}
			if o.MasterPortStride > 0 && seen[p] {
				return fmt.Errorf("master %d: port %d used twice (--master-*-port, --master-port-stride): %w", i, p, errBadFlag)
			}
			seen[p] = true
		}
		if rpc == http || rpc == raft || http == raft {
			return fmt.Errorf("--master-rpc-port, --master-http-port and --master-raft-port must differ: %w", errBadFlag)
		}
	}
	if o.JournalDir == "" {
		return fmt.Errorf("--masters %d needs --master-journal-dir (a persistent directory on the agents: a relaunched master must find its Raft journal): %w", o.Masters, errBadFlag)
	}
	return nil
}

// pinMasters decides where the masters of a three-master group run: the pins kept by an
// earlier run, or three agents chosen now, once Mesos has offered that many (at most
// --wait-agents). It does nothing for a single master.
func (f *mesosFramework) pinMasters(ctx context.Context) error {
	o := f.o
	if o.Masters == 1 {
		return nil
	}
	if pins, err := readMasterPins(o.mastersFile()); err != nil {
		return err
	} else if len(pins) == o.Masters {
		f.pins = pins
		fmt.Fprintf(f.out, "masters pinned as before (%s)\n", o.mastersFile())
		f.printPins()
		return nil
	}
	fmt.Fprintf(f.out, "waiting for %d Mesos agents for the masters (up to %v)\n", o.Masters, o.WaitAgents)
	wctx, cancel := context.WithTimeout(ctx, o.WaitAgents)
	defer cancel()
	nodes, err := f.backend.NodesAtLeast(wctx, o.Masters)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("--masters %d needs %d distinct Mesos agents, and fewer offered resources within --wait-agents %v: %w",
				o.Masters, o.Masters, o.WaitAgents, err)
		}
		return fmt.Errorf("wait for agents: %w", err)
	}
	pins, err := o.choosePins(nodes)
	if err != nil {
		return err
	}
	if err := writeMasterPins(o.mastersFile(), pins); err != nil {
		return err
	}
	f.pins = pins
	f.printPins()
	return nil
}

// choosePins picks the first agents (by ID) with room for a master, one per master.
func (o mesosRunOptions) choosePins(nodes []scheduler.Node) ([]mesosMasterPin, error) {
	nodes = slices.Clone(nodes)
	slices.SortFunc(nodes, func(a, b scheduler.Node) int { return strings.Compare(a.ID, b.ID) })
	var pins []mesosMasterPin
	hosts := make(map[string]string)
	for _, n := range nodes {
		if len(pins) == o.Masters {
			break
		}
		if n.Resources.CPU < o.MasterCPU || n.Resources.MemMB < o.MasterMemMB {
			continue
		}
		host := o.TaskBindHost
		if host == "" {
			host = n.Host
		}
		if other, ok := hosts[host]; ok && o.MasterPortStride == 0 {
			return nil, fmt.Errorf("agents %s and %s share host %s: give --master-port-stride so that their masters' ports differ: %w",
				other, n.ID, host, errBadFlag)
		}
		hosts[host] = n.ID
		rpc, http, raft := o.masterPortsOf(len(pins))
		pins = append(pins, mesosMasterPin{Agent: n.ID, Host: host, RPC: rpc, HTTP: http, Raft: raft})
	}
	if len(pins) < o.Masters {
		return nil, fmt.Errorf("--masters %d: only %d of %d agents have room for a master (%v CPUs, %d MiB)",
			o.Masters, len(pins), len(nodes), o.MasterCPU, o.MasterMemMB)
	}
	return pins, nil
}

// printPins prints where each master runs.
func (f *mesosFramework) printPins() {
	for i, p := range f.pins {
		fmt.Fprintf(f.out, "master-%d pinned to agent %s: rpc %s, raft %s, http port %d\n", i, p.Agent, p.rpcAddr(), p.raftAddr(), p.HTTP)
	}
}

// readMasterPins reads the pins an earlier run kept; none when path is "" or absent.
func readMasterPins(path string) ([]mesosMasterPin, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the masters' agents: %w", err)
	}
	var pins []mesosMasterPin
	if err := json.Unmarshal(b, &pins); err != nil {
		return nil, fmt.Errorf("read the masters' agents from %s: %w", path, err)
	}
	return pins, nil
}

// writeMasterPins keeps the pins in path (atomically); nothing when path is "".
func writeMasterPins(path string, pins []mesosMasterPin) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(pins, "", "  ")
	if err != nil {
		return fmt.Errorf("keep the masters' agents: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("keep the masters' agents: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("keep the masters' agents: %w", err)
	}
	return nil
}

// pinnedMaster completes master slot i's task t with its pin: agent, static ports,
// peers, Raft identity and journal.
func (f *mesosFramework) pinnedMaster(i int, t *scheduler.Task) {
	p := f.pins[i]
	t.Labels = map[string]string{
		mesos.LabelAgent:       p.Agent,
		mesos.LabelStaticPorts: fmt.Sprintf("rpc=%d,http=%d,raft=%d", p.RPC, p.HTTP, p.Raft),
	}
	t.Env["SLUICE_MESOS_RAFT_ID"] = p.raftAddr()
	t.Env["SLUICE_MESOS_ADVERTISE_HOST"] = p.Host
	t.Command = append(t.Command, "--journal-dir", filepath.Join(f.o.JournalDir, "master-"+strconv.Itoa(i)))
	for _, q := range f.pins {
		t.Command = append(t.Command, "--peers", q.raftAddr()+"="+q.rpcAddr())
	}
}

// reportPinnedLoss says where a lost pinned master comes back, or that it cannot while
// its agent is gone.
func (f *mesosFramework) reportPinnedLoss(ctx context.Context, ev scheduler.TaskEvent) {
	// Master i runs only on its own agent, so the event's agent names the slot.
	idx := slices.IndexFunc(f.pins, func(p mesosMasterPin) bool { return p.Agent == ev.Node })
	if idx < 0 {
		return
	}
	p := f.pins[idx]
	if f.agentGone(ctx, p.Agent, ev.State == scheduler.StateLost) {
		fmt.Fprintf(f.out, "master-%d's agent %s is gone: master-%d waits for it (moving a Raft member to another agent needs a membership change, which this framework does not make); the other masters keep the quorum\n",
			idx, p.Agent, idx)
		f.log.Warn("master_agent_gone", "slot", idx, "agent", p.Agent)
		return
	}
	fmt.Fprintf(f.out, "master-%d is relaunched on its agent %s with its Raft ID %s and journal\n", idx, p.Agent, p.raftAddr())
}

// agentGone reports whether Mesos no longer has the agent. A lost task's agent may be
// removed just after the task's update arrives, so for a loss it looks again for up to
// nodeWait before saying the agent is there.
func (f *mesosFramework) agentGone(ctx context.Context, agent string, lost bool) bool {
	ctx, cancel := context.WithTimeout(ctx, nodeWait)
	defer cancel()
	gone := func() bool {
		// Nodes waits while no agent is known at all: then this one is gone too.
		nctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		nodes, err := f.backend.Nodes(nctx)
		return err != nil || !slices.ContainsFunc(nodes, func(n scheduler.Node) bool { return n.ID == agent })
	}
	if !lost {
		return gone()
	}
	return waitUntil(ctx, gone) == nil
}

// waitAgentsDefault is how long --masters 3 waits for three agents by default.
const waitAgentsDefault = 5 * time.Minute
