package mesostest

import (
	"fmt"
	"math"
	"slices"
	"sort"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// unreserved is the role name Mesos gives resources that no role reserved.
const unreserved = "*"

// PortRange is an inclusive range of TCP ports, as in a Mesos "ports" resource.
type PortRange struct {
	Begin, End uint64
}

// Resources is one role's share of an agent: scalar cpus, mem (MB) and disk (MB), and port ranges.
type Resources struct {
	CPUs  float64
	MemMB float64
	// DiskMB is the disk resource in megabytes.
	DiskMB float64
	// Ports are the port ranges; they are sorted and merged when used.
	Ports []PortRange
}

// bucket is the internal form of Resources: ports as sorted, squashed mesos.Ranges.
type bucket struct {
	cpus, mem, disk float64
	ports           mesos.Ranges
}

// pool is a set of resources on one agent keyed by reservation role ("*" = unreserved).
// A pool is a value: every operation returns a new pool and never mutates its arguments.
type pool map[string]bucket

// round3 rounds to the three decimals Mesos' fixed-point scalars keep.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func bucketFrom(r Resources) bucket {
	b := bucket{cpus: round3(r.CPUs), mem: round3(r.MemMB), disk: round3(r.DiskMB)}
	for _, p := range r.Ports {
		b.ports = append(b.ports, mesos.Value_Range{Begin: p.Begin, End: p.End})
	}
	b.ports = squash(b.ports)
	return b
}

func (b bucket) resources() Resources {
	r := Resources{CPUs: b.cpus, MemMB: b.mem, DiskMB: b.disk}
	for _, p := range b.ports {
		r.Ports = append(r.Ports, PortRange{Begin: p.Begin, End: p.End})
	}
	return r
}

func squash(rs mesos.Ranges) mesos.Ranges {
	if len(rs) == 0 {
		return nil
	}
	rs = slices.Clone(rs)
	return rs.Sort().Squash()
}

func (b bucket) empty() bool {
	return b.cpus <= 0 && b.mem <= 0 && b.disk <= 0 && len(b.ports) == 0
}

// allocatable reports whether b is worth offering: Mesos' minimum allocatable resources
// (0.01 cpus or 32 MB of memory).
func (b bucket) allocatable() bool { return b.cpus >= 0.01 || b.mem >= 32 }

func addRanges(a, b mesos.Ranges) mesos.Ranges {
	return squash(append(slices.Clone(a), b...))
}

func subRanges(a, b mesos.Ranges) mesos.Ranges {
	out := squash(a)
	for _, r := range b {
		out = out.Remove(r)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// containsRanges reports whether every port of b lies in a.
func containsRanges(a, b mesos.Ranges) bool {
	a = squash(a)
	for _, r := range squash(b) {
		ok := false
		for _, x := range a {
			if r.Begin >= x.Begin && r.End <= x.End {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (b bucket) add(o bucket) bucket {
	return bucket{cpus: round3(b.cpus + o.cpus), mem: round3(b.mem + o.mem), disk: round3(b.disk + o.disk),
		ports: addRanges(b.ports, o.ports)}
}

func (b bucket) sub(o bucket) bucket {
	return bucket{cpus: round3(b.cpus - o.cpus), mem: round3(b.mem - o.mem), disk: round3(b.disk - o.disk),
		ports: subRanges(b.ports, o.ports)}
}

func (b bucket) contains(o bucket) bool {
	return b.cpus >= o.cpus && b.mem >= o.mem && b.disk >= o.disk && containsRanges(b.ports, o.ports)
}

func (p pool) clone() pool {
	out := make(pool, len(p))
	for k, v := range p {
		v.ports = slices.Clone(v.ports)
		out[k] = v
	}
	return out
}

func (p pool) add(q pool) pool {
	out := p.clone()
	for role, b := range q {
		out[role] = out[role].add(b)
	}
	return out.compact()
}

// sub returns p minus q; callers check contains first, as sub clamps nothing.
func (p pool) sub(q pool) pool {
	out := p.clone()
	for role, b := range q {
		out[role] = out[role].sub(b)
	}
	return out.compact()
}

func (p pool) contains(q pool) bool {
	for role, b := range q {
		if !p[role].contains(b) {
			return false
		}
	}
	return true
}

func (p pool) compact() pool {
	for role, b := range p {
		if b.empty() {
			delete(p, role)
		}
	}
	return p
}

func (p pool) empty() bool {
	for _, b := range p {
		if !b.empty() {
			return false
		}
	}
	return true
}

// forRole returns the part of p a framework role may use: unreserved resources and those
// reserved for the role itself.
func (p pool) forRole(role string) pool {
	out := pool{}
	if b, ok := p[unreserved]; ok {
		out[unreserved] = b
	}
	if role != unreserved {
		if b, ok := p[role]; ok {
			out[role] = b
		}
	}
	return out.clone().compact()
}

func (p pool) allocatable() bool {
	var sum bucket
	for _, b := range p {
		sum = sum.add(b)
	}
	return sum.allocatable()
}

func (p pool) roles() []string {
	out := make([]string, 0, len(p))
	for role := range p {
		out = append(out, role)
	}
	sort.Strings(out)
	return out
}

// resourceFormat says how resources are rendered for one framework and offer.
type resourceFormat struct {
	// allocationRole, when set, is written to each resource's allocation_info
	// (frameworks with the MULTI_ROLE capability).
	allocationRole string
	// refinement renders reservations as the reservations stack (RESERVATION_REFINEMENT
	// capability) instead of the pre-refinement role field.
	refinement bool
}

func scalarResource(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

// toResources renders p as Mesos resources in the given format, in a stable order.
func (p pool) toResources(f resourceFormat) []mesos.Resource {
	var out []mesos.Resource
	for _, role := range p.roles() {
		b := p[role]
		var rs []mesos.Resource
		if b.cpus > 0 {
			rs = append(rs, scalarResource("cpus", b.cpus))
		}
		if b.mem > 0 {
			rs = append(rs, scalarResource("mem", b.mem))
		}
		if b.disk > 0 {
			rs = append(rs, scalarResource("disk", b.disk))
		}
		if len(b.ports) > 0 {
			rs = append(rs, mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(),
				Ranges: &mesos.Value_Ranges{Range: slices.Clone(b.ports)}})
		}
		for i := range rs {
			r := &rs[i]
			switch {
			case role == unreserved && !f.refinement:
				r.Role = ptr(unreserved)
			case role != unreserved && f.refinement:
				r.Reservations = []mesos.Resource_ReservationInfo{{
					Type: mesos.Resource_ReservationInfo_STATIC.Enum(), Role: ptr(role)}}
			case role != unreserved:
				r.Role = ptr(role)
			}
			if f.allocationRole != "" {
				r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: ptr(f.allocationRole)}
			}
		}
		out = append(out, rs...)
	}
	return out
}

// fromResources parses task or executor resources into a pool. allocationRole, when not empty,
// is the role the resources must be allocated to (the offer's role): a resource that names
// another allocation role is an error.
func fromResources(rs []mesos.Resource, allocationRole string) (pool, error) {
	out := pool{}
	for i := range rs {
		r := &rs[i]
		if r.AllocationInfo != nil && allocationRole != "" && r.AllocationInfo.GetRole() != allocationRole {
			return nil, fmt.Errorf("resource %s is allocated to role %q, not the offer's role %q",
				r.Name, r.AllocationInfo.GetRole(), allocationRole)
		}
		role := unreserved
		if !r.IsUnreserved() {
			role = r.ReservationRole()
		}
		b := out[role]
		switch r.Name {
		case "cpus", "mem", "disk":
			if r.GetType() != mesos.SCALAR || r.Scalar == nil || r.Scalar.Value < 0 {
				return nil, fmt.Errorf("resource %s must be a non-negative scalar", r.Name)
			}
			v := round3(r.Scalar.Value)
			switch r.Name {
			case "cpus":
				b.cpus = round3(b.cpus + v)
			case "mem":
				b.mem = round3(b.mem + v)
			default:
				b.disk = round3(b.disk + v)
			}
		case "ports":
			if r.GetType() != mesos.RANGES || r.Ranges == nil {
				return nil, fmt.Errorf("resource ports must be ranges")
			}
			for _, pr := range r.Ranges.Range {
				if pr.Begin > pr.End {
					return nil, fmt.Errorf("port range [%d-%d] is inverted", pr.Begin, pr.End)
				}
			}
			b.ports = addRanges(b.ports, r.Ranges.Range)
		default:
			return nil, fmt.Errorf("resource %q is not provided by this agent", r.Name)
		}
		out[role] = b
	}
	return out.compact(), nil
}

func ptr[T any](v T) *T { return &v }
