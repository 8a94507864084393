package mesostest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// checkAccounting fails t if an agent's used and offered resources exceed its total, or two
// outstanding offers share a port.
func checkAccounting(t *testing.T, m *Master) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.agents {
		held := a.usedLocked()
		seen := pool{}
		for _, o := range m.offers {
			if o.agent != a {
				continue
			}
			for role, b := range o.res {
				for _, r := range b.ports {
					for _, prev := range seen[role].ports {
						if r.Begin <= prev.End && prev.Begin <= r.End {
							t.Fatalf("agent %s: ports %v offered twice", a.id, r)
						}
					}
				}
			}
			seen = seen.add(o.res)
			held = held.add(o.res)
		}
		if !a.total.contains(held) {
			t.Fatalf("agent %s holds %v, more than its total %v", a.id,
				held.toResources(resourceFormat{}), a.total.toResources(resourceFormat{}))
		}
	}
}

// TestMaster_AccountingUnderChurn has two frameworks launch, finish and kill random tasks on
// two agents, checking after each step that offers never include resources in use.
func TestMaster_AccountingUnderChurn(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1"), smallAgent("a2")} })
	rng := rand.New(rand.NewPCG(1, 2))
	scheds := []*testSched{
		subscribe(t, m, frameworkInfo("churn-1", 0), nil),
		subscribe(t, m, frameworkInfo("churn-2", 0), nil),
	}
	running := map[*testSched][]string{}
	for step := range 24 {
		s := scheds[step%2]
		offers := s.awaitOffers()
		o := offers[0]
		for _, other := range offers[1:] {
			s.mustCall(declineCall(other, 0))
		}
		cpus, mem := scalar(o.Resources, "cpus"), scalar(o.Resources, "mem")
		free := ports(o.Resources)
		id := fmt.Sprintf("c%d", step)
		var tasks []mesos.TaskInfo
		if cpus >= 0.2 && mem >= 64 && len(free) > 0 {
			cmd := "exit 0"
			if rng.IntN(2) == 0 {
				cmd = "exec sleep 1000"
			}
			tasks = append(tasks, mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
				Resources: taskResources(0.2, 64, free[0].Begin), Command: &mesos.CommandInfo{Value: ptr(cmd)}})
			if cmd != "exit 0" {
				running[s] = append(running[s], id)
			}
		}
		call := acceptCall(o, tasks...)
		call.Accept.Filters = &mesos.Filters{RefuseSeconds: ptr(0.0)}
		s.mustCall(call)
		checkAccounting(t, m)
		if len(tasks) > 0 {
			s.awaitState(id, mesos.TASK_RUNNING)
			checkAccounting(t, m)
		}
		if ids := running[s]; len(ids) > 2 {
			victim := ids[rng.IntN(len(ids))]
			s.mustCall(&scheduler.Call{Type: scheduler.Call_KILL, Kill: &scheduler.Call_Kill{TaskID: mesos.TaskID{Value: victim}}})
			s.awaitState(victim, mesos.TASK_KILLED)
			checkAccounting(t, m)
			kept := ids[:0]
			for _, id := range ids {
				if id != victim {
					kept = append(kept, id)
				}
			}
			running[s] = kept
		}
	}
}
