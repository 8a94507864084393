package mesostest

import (
	"math"
	"sort"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// defaultRefuseSeconds is Filters.refuse_seconds' default in mesos.proto.
const defaultRefuseSeconds = 5.0

// usedLocked returns what a's tasks and executors hold.
func (a *agent) usedLocked() pool {
	used := pool{}
	for _, t := range a.tasks {
		if !t.released {
			used = used.add(t.res)
		}
	}
	for _, e := range a.executors {
		used = used.add(e.res)
	}
	return used
}

// freeLocked returns a's resources neither used nor offered.
func (m *Master) freeLocked(a *agent) pool {
	free := a.total.sub(a.usedLocked())
	for _, o := range m.offers {
		if o.agent == a {
			free = free.sub(o.res)
		}
	}
	return free
}

// allocatedCPUs is the share measure of the allocator's fairness order.
func (m *Master) allocatedCPUs(fw *framework) float64 {
	var cpus float64
	for _, t := range fw.tasks {
		if !t.released {
			for _, b := range t.res {
				cpus += b.cpus
			}
		}
	}
	for _, o := range m.offers {
		if o.fw == fw {
			for _, b := range o.res {
				cpus += b.cpus
			}
		}
	}
	return cpus
}

// allocateLocked runs one allocation round: each agent's free resources go to active
// frameworks in order of least allocated cpus (tasks and outstanding offers, re-sorted for each
// agent), one offer per (framework, agent, role), skipping
// suppressed roles and resources a filter refuses. Offers of one round to one framework are sent
// in a single OFFERS event.
func (m *Master) allocateLocked(now time.Time) {
	var fws []*framework
	for _, f := range m.frameworks {
		if !f.removed && f.sub != nil {
			fws = append(fws, f)
		}
	}
	if len(fws) == 0 {
		return
	}
	agents := make([]*agent, 0, len(m.agents))
	for _, a := range m.agents {
		agents = append(agents, a)
	}
	sort.Slice(agents, func(i, j int) bool { return agents[i].id < agents[j].id })
	made := map[*framework][]mesos.Offer{}
	for _, a := range agents {
		free := m.freeLocked(a)
		// Shares change with every offer made, so the order is computed per agent.
		sort.Slice(fws, func(i, j int) bool {
			ci, cj := m.allocatedCPUs(fws[i]), m.allocatedCPUs(fws[j])
			if ci != cj {
				return ci < cj
			}
			return fws[i].id < fws[j].id
		})
		for _, f := range fws {
			for _, role := range f.roles {
				if f.suppressed[role] {
					continue
				}
				avail := free.forRole(role)
				if avail.empty() || !avail.allocatable() || m.filteredLocked(f, a, role, avail) {
					continue
				}
				o := &offer{id: m.newOfferID(), fw: f, agent: a, role: role, res: avail, made: now}
				m.offers[o.id] = o
				free = free.sub(avail)
				made[f] = append(made[f], m.offerProto(o))
			}
		}
	}
	for f, offers := range made {
		m.sendLocked(f, &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: offers}})
	}
}

func (m *Master) newOfferID() string {
	m.nextOffer++
	return m.id + "-O" + itoa(m.nextOffer)
}

// filteredLocked reports whether a filter of f refuses avail from a to role.
func (m *Master) filteredLocked(f *framework, a *agent, role string, avail pool) bool {
	for _, flt := range f.filters {
		if flt.agentID == a.id && flt.role == role && flt.refused.contains(avail) {
			return true
		}
	}
	return false
}

// offerProto renders o as the framework sees it.
func (m *Master) offerProto(o *offer) mesos.Offer {
	a := o.agent
	host, port := a.cfg.Hostname, agentPort(a)
	pb := mesos.Offer{
		ID:          mesos.OfferID{Value: o.id},
		FrameworkID: mesos.FrameworkID{Value: o.fw.id},
		AgentID:     mesos.AgentID{Value: a.id},
		Hostname:    host,
		URL: &mesos.URL{Scheme: "http", Address: mesos.Address{Hostname: &host, IP: ptr("127.0.0.1"), Port: port},
			Path: ptr("/slave(1)")},
		Resources:  o.res.toResources(o.fw.format(o.role)),
		Attributes: agentAttributes(a),
	}
	if o.fw.hasCapability(mesos.FrameworkInfo_Capability_MULTI_ROLE) {
		pb.AllocationInfo = &mesos.Resource_AllocationInfo{Role: ptr(o.role)}
	}
	var ids []string
	for _, e := range a.executors {
		if e.fw == o.fw && !e.terminated {
			ids = append(ids, e.id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		pb.ExecutorIDs = append(pb.ExecutorIDs, mesos.ExecutorID{Value: id})
	}
	return pb
}

// declineLocked returns offers' resources and filters them for refuse_seconds (default 5).
func (m *Master) declineLocked(fw *framework, ids []mesos.OfferID, filters *mesos.Filters) {
	now := time.Now()
	for _, id := range ids {
		o := m.offers[id.Value]
		if o == nil || o.fw != fw {
			continue
		}
		delete(m.offers, o.id)
		m.addFilterLocked(fw, o.agent, o.role, o.res, filters, now)
	}
	m.allocateSoon()
}

// addFilterLocked refuses res from a to fw's role for the filter's refuse_seconds.
func (m *Master) addFilterLocked(fw *framework, a *agent, role string, res pool, filters *mesos.Filters, now time.Time) {
	secs := defaultRefuseSeconds
	if filters != nil {
		secs = filters.GetRefuseSeconds()
	}
	if secs <= 0 || math.IsNaN(secs) || res.empty() {
		return
	}
	secs = math.Min(secs, 365*24*3600)
	fw.filters = append(fw.filters, &offerFilter{agentID: a.id, role: role, refused: res.clone(),
		expires: now.Add(time.Duration(secs * float64(time.Second)))})
}

// reviveLocked clears the filters of roles (all roles when empty) and stops suppressing them.
func (m *Master) reviveLocked(fw *framework, roles []string) {
	if len(roles) == 0 {
		roles = fw.roles
	}
	for _, r := range roles {
		delete(fw.suppressed, r)
	}
	kept := fw.filters[:0]
	for _, flt := range fw.filters {
		if !contains(roles, flt.role) {
			kept = append(kept, flt)
		}
	}
	clear(fw.filters[len(kept):])
	fw.filters = kept
	m.allocateSoon()
}

// suppressLocked stops offers to roles (all roles when empty); outstanding offers stay valid.
func (m *Master) suppressLocked(fw *framework, roles []string) {
	if len(roles) == 0 {
		roles = fw.roles
	}
	for _, r := range roles {
		fw.suppressed[r] = true
	}
}

// removeOffersLocked drops fw's outstanding offers, sending RESCIND events when rescind is set.
func (m *Master) removeOffersLocked(fw *framework, rescind bool) {
	for _, o := range m.offers {
		if o.fw == fw {
			if rescind {
				m.rescindOfferLocked(o)
			} else {
				delete(m.offers, o.id)
			}
		}
	}
	m.allocateSoon()
}

// rescindOfferLocked withdraws o with a RESCIND event.
func (m *Master) rescindOfferLocked(o *offer) {
	delete(m.offers, o.id)
	m.sendLocked(o.fw, &scheduler.Event{Type: scheduler.Event_RESCIND,
		Rescind: &scheduler.Event_Rescind{OfferID: mesos.OfferID{Value: o.id}}})
	m.allocateSoon()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
