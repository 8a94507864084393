package mesostest

import (
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

func declineCall(o mesos.Offer, refuse time.Duration) *scheduler.Call {
	return &scheduler.Call{Type: scheduler.Call_DECLINE, Decline: &scheduler.Call_Decline{
		OfferIDs: []mesos.OfferID{o.ID}, Filters: &mesos.Filters{RefuseSeconds: ptr(refuse.Seconds())}}}
}

func TestMaster_DeclineFilter(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	s := subscribe(t, m, frameworkInfo("decline", 0), nil)
	s.mustCall(declineCall(s.awaitOffers("a1")[0], time.Hour))
	// A new agent is offered; the declined one stays filtered, so the first offers after the
	// decline come from a2 only.
	if _, err := m.AddAgent(smallAgent("a2")); err != nil {
		t.Fatal(err)
	}
	ev := s.await(func(e *scheduler.Event) bool { return e.Type == scheduler.Event_OFFERS })
	for _, o := range ev.Offers.Offers {
		if o.AgentID.Value != "a2" {
			t.Fatalf("offer from %s despite a one-hour decline filter", o.AgentID.Value)
		}
	}
	// REVIVE clears the filter.
	s.mustCall(calls.Revive())
	s.mustCall(declineCall(s.awaitOffers("a1")[0], time.Millisecond))
	// A short filter expires by itself.
	s.awaitOffers("a1")
}

func TestMaster_DefaultFilterLiftedWhenResourcesFree(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	s := subscribe(t, m, frameworkInfo("refilter", 0), nil)
	o := s.awaitOffers("a1")[0]
	// The accept leaves the rest of the offer filtered for the default 5 seconds...
	s.launch(o, "t1", "exit 0", taskResources(1, 256, 31000))
	s.awaitState("t1", mesos.TASK_FINISHED)
	// ...but once the task's resources return, the agent has more than was refused and is
	// offered again, with all of them.
	o = s.awaitOffers("a1")[0]
	if scalar(o.Resources, "cpus") != 2 || scalar(o.Resources, "mem") != 1024 {
		t.Errorf("re-offer has cpus %v mem %v, want 2 and 1024", scalar(o.Resources, "cpus"), scalar(o.Resources, "mem"))
	}
}

func TestMaster_SuppressRevive(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	s1 := subscribe(t, m, frameworkInfo("first", 0), nil)
	o := s1.awaitOffers("a1")[0]
	s1.mustCall(calls.Suppress())
	s1.mustCall(declineCall(o, 0))
	// A second framework witnesses an allocation of a1's resources; the suppressed framework,
	// which sorts first, must not get them.
	s2 := subscribe(t, m, frameworkInfo("second", 0), nil)
	o2 := s2.awaitOffers("a1")[0]
	if fws := m.Frameworks(); len(fws[0].SuppressedRoles) != 1 {
		t.Errorf("suppressed roles %v, want [*]", fws[0].SuppressedRoles)
	}
	for _, off := range m.Offers() {
		if off.FrameworkID == s1.fwID {
			t.Fatalf("suppressed framework holds offer %s", off.ID)
		}
	}
	if _, err := s1.tryAwait(func(e *scheduler.Event) bool { return e.Type == scheduler.Event_OFFERS }, 0); err == nil {
		t.Fatal("suppressed framework received offers")
	}
	s2.mustCall(declineCall(o2, time.Hour))
	s1.mustCall(calls.Revive())
	s1.awaitOffers("a1")
}

func TestMaster_OffersExcludeUsedResources(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	s := subscribe(t, m, frameworkInfo("used", 0), nil)
	o := s.awaitOffers("a1")[0]
	ti := mesos.TaskInfo{Name: "t1", TaskID: mesos.TaskID{Value: "t1"}, AgentID: o.AgentID,
		Resources: taskResources(1.5, 512, 31003, 31004), Command: &mesos.CommandInfo{Value: ptr("exec sleep 1000")}}
	call := acceptCall(o, ti)
	call.Accept.Filters = &mesos.Filters{RefuseSeconds: ptr(0.0)}
	s.mustCall(call)
	s.awaitState("t1", mesos.TASK_RUNNING)
	o = s.awaitOffers("a1")[0]
	if c, mem := scalar(o.Resources, "cpus"), scalar(o.Resources, "mem"); c != 0.5 || mem != 512 {
		t.Errorf("offer while t1 runs: cpus %v mem %v, want 0.5 and 512", c, mem)
	}
	want := mesos.Ranges{{Begin: 31000, End: 31002}, {Begin: 31005, End: 31009}}
	if got := ports(o.Resources); !got.Equivalent(want) {
		t.Errorf("offered ports %v, want %v", got, want)
	}
	// Asking for a port in use fails the task.
	clash := mesos.TaskInfo{Name: "t2", TaskID: mesos.TaskID{Value: "t2"}, AgentID: o.AgentID,
		Resources: taskResources(0.1, 32, 31004), Command: &mesos.CommandInfo{Value: ptr("true")}}
	s.mustCall(acceptCall(o, clash))
	s.awaitUpdate("t2", mesos.TASK_ERROR)
	if a := m.Agents()[0]; scalar(a.Used, "cpus") != 1.5 {
		t.Errorf("agent uses %v cpus, want 1.5", scalar(a.Used, "cpus"))
	}
}

func TestMaster_ReservedResources(t *testing.T) {
	agent := smallAgent("a1")
	agent.Reserved = map[string]Resources{"sluice": {CPUs: 1, MemMB: 256}}
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{agent} })
	other := subscribe(t, m, frameworkInfo("other", 0), nil)
	o := other.awaitOffers("a1")[0]
	for _, r := range o.Resources {
		if r.GetRole() != "*" {
			t.Errorf("framework of role * offered %s of role %s", r.Name, r.GetRole())
		}
	}
	other.mustCall(declineCall(o, time.Hour))

	info := frameworkInfo("sluice", 0, mesos.FrameworkInfo_Capability_MULTI_ROLE)
	info.Roles = []string{"sluice"}
	s := subscribe(t, m, info, nil)
	o = s.awaitOffers("a1")[0]
	if o.AllocationInfo.GetRole() != "sluice" {
		t.Errorf("offer allocated to %q, want sluice", o.AllocationInfo.GetRole())
	}
	var reservedCPUs float64
	for _, r := range o.Resources {
		if r.AllocationInfo.GetRole() != "sluice" {
			t.Errorf("resource %s allocated to %q", r.Name, r.AllocationInfo.GetRole())
		}
		if r.IsReserved("sluice") && r.Name == "cpus" {
			reservedCPUs += r.GetScalar().GetValue()
		}
	}
	if reservedCPUs != 1 {
		t.Errorf("reserved cpus offered %v, want 1", reservedCPUs)
	}
	// A task on the reserved resources, named as offered (role and allocation info).
	var res []mesos.Resource
	for _, r := range o.Resources {
		if r.IsReserved("sluice") {
			res = append(res, r)
		}
	}
	s.launch(o, "r1", "exit 0", res)
	s.awaitState("r1", mesos.TASK_FINISHED)
}

func TestMaster_OfferTimeoutRescinds(t *testing.T) {
	m := newTestMaster(t, func(c *Config) {
		c.Agents = []AgentConfig{smallAgent("a1")}
		c.OfferTimeout = 50 * time.Millisecond
	})
	s := subscribe(t, m, frameworkInfo("rescind", 0), nil)
	o := s.awaitOffers("a1")[0]
	s.await(func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_RESCIND && e.Rescind.OfferID == o.ID
	})
	// The resources are offered again in a new offer.
	if o2 := s.awaitOffers("a1")[0]; o2.ID == o.ID {
		t.Errorf("rescinded offer %s offered again", o.ID.Value)
	}
}
