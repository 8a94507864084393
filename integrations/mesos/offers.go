package mesos

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/sluicedata/sluice/scheduler"
)

// Offer matching is a pure function of the offers, the pending tasks and what already
// runs, so that it can be tested as a table: match places pending tasks on offers and
// the backend turns the placements into ACCEPT calls and the rest into DECLINEs.
//
// Rules, in order:
//   - masters first, then executors, then jobs by Priority (higher first), each kind in
//     the order it was launched;
//   - at most one executor of this framework per agent, and one master per agent;
//   - a job with PreferNodes takes only an offer of one of those agents (by agent ID or
//     host name) until LocalityWait has passed since its launch; then any agent, the
//     preferred ones still first;
//   - a task takes cpus, mem, disk (when it asks for disk) and one port per named port
//     from resources its role may use: reserved for the framework's role first, then
//     unreserved; resources reserved for other roles, revocable resources and disks
//     with a source or persistence are never used;
//   - an executor task also takes the executor's own resources (ExecutorSpec).

// Labels of a task that constrain its placement on Mesos. The Scheduler passes
// Task.Labels through, so MasterTask and ExecutorTask can set them per slot.
const (
	// LabelAgent pins a task to one agent, by agent ID or host name: it waits for that
	// agent's offers. Masters of a multi-master cluster use it with LabelStaticPorts, so
	// that their addresses (--peers) are known before they start.
	LabelAgent = "sluice.mesos.agent"
	// LabelStaticPorts gives some of Task.Resources.Ports fixed numbers, as
	// "rpc=19998,http=19999": only offers holding those ports can take the task.
	LabelStaticPorts = "sluice.mesos.static-ports"
)

// placementOf reads the placement labels of t. Errors wrap scheduler.ErrInvalidTask.
func placementOf(t scheduler.Task) (agent string, static map[string]uint64, err error) {
	spec := strings.TrimSpace(t.Labels[LabelStaticPorts])
	if spec == "" {
		return t.Labels[LabelAgent], nil, nil
	}
	static = make(map[string]uint64)
	used := make(map[uint64]bool)
	for _, part := range strings.Split(spec, ",") {
		name, num, ok := strings.Cut(strings.TrimSpace(part), "=")
		port, perr := strconv.ParseUint(num, 10, 16)
		switch {
		case !ok || perr != nil || port == 0:
			return "", nil, fmt.Errorf("task %q: label %s: %q is not NAME=PORT: %w", t.Name, LabelStaticPorts, part, scheduler.ErrInvalidTask)
		case !slices.Contains(t.Resources.Ports, name):
			return "", nil, fmt.Errorf("task %q: label %s: port %q is not among the task's ports %v: %w", t.Name, LabelStaticPorts, name, t.Resources.Ports, scheduler.ErrInvalidTask)
		case used[port] || static[name] != 0:
			return "", nil, fmt.Errorf("task %q: label %s: port %s=%d given twice: %w", t.Name, LabelStaticPorts, name, port, scheduler.ErrInvalidTask)
		}
		static[name], used[port] = port, true
	}
	return t.Labels[LabelAgent], static, nil
}

// Resource names of the Mesos resources the backend uses.
const (
	resCPUs  = "cpus"
	resMem   = "mem"
	resDisk  = "disk"
	resPorts = "ports"
)

// pendingTask is a launched task that waits for an offer.
type pendingTask struct {
	id   scheduler.TaskID
	task scheduler.Task
	// queued is when Launch queued it; seq breaks ties in launch order.
	queued time.Time
	seq    uint64
	// agent, when set, is the only agent (ID or host name) the task may run on
	// (LabelAgent); static maps port names to the exact ports they need
	// (LabelStaticPorts).
	agent  string
	static map[string]uint64
}

// matchInput is what match decides on.
type matchInput struct {
	offers  []mesosv1.Offer
	pending []*pendingTask
	// executorAgents and masterAgents hold the agents that already run a live executor or
	// master of this framework.
	executorAgents map[string]bool
	masterAgents   map[string]bool
	role           string
	executor       ExecutorSpec
	now            time.Time
	localityWait   time.Duration
	// pick chooses a dynamic port: it returns an index below n into the ports the task
	// may take. Nil picks the lowest port (tests); the backend picks at random, so that
	// a task relaunched after a port clash is unlikely to meet the same port.
	pick func(n uint64) uint64
}

// placement is one task placed on one offer, with the resources it takes.
type placement struct {
	task  *pendingTask
	offer int // index in matchInput.offers
	// taskRes go to the TaskInfo, execRes to the ExecutorInfo (executors only).
	taskRes []mesosv1.Resource
	execRes []mesosv1.Resource
	// ports are the ports given to Task.Resources.Ports, in that order.
	ports []uint64
}

// matchResult is match's decision.
type matchResult struct {
	placements []placement
	// holdUntil is the earliest end of a locality wait of a job left pending because
	// only non-preferred agents could take it; zero when no job waits so.
	holdUntil time.Time
}

// kindRank orders the kinds: masters, executors, jobs.
func kindRank(k scheduler.Kind) int {
	switch k {
	case scheduler.KindMaster:
		return 0
	case scheduler.KindExecutor:
		return 1
	}
	return 2
}

// orderPending sorts tasks in placement order (see the rules above).
func orderPending(ps []*pendingTask) []*pendingTask {
	out := slices.Clone(ps)
	slices.SortStableFunc(out, func(a, b *pendingTask) int {
		return cmp.Or(
			cmp.Compare(kindRank(a.task.Kind), kindRank(b.task.Kind)),
			cmp.Compare(b.task.Priority, a.task.Priority),
			cmp.Compare(a.seq, b.seq),
		)
	})
	return out
}

// match places what it can of in.pending on in.offers.
func match(in matchInput) matchResult {
	var res matchResult
	remaining := make([][]avail, len(in.offers))
	for i := range in.offers {
		remaining[i] = usable(in.offers[i].Resources, in.role)
	}
	execAgents := cloneSet(in.executorAgents)
	masterAgents := cloneSet(in.masterAgents)
	for _, p := range orderPending(in.pending) {
		best, bestRank := -1, math.MaxInt
		var bestTake take
		heldOut := false
		waiting := len(p.task.PreferNodes) > 0 && in.now.Before(p.queued.Add(in.localityWait))
		for i, o := range in.offers {
			agent := o.AgentID.Value
			if p.agent != "" && p.agent != agent && p.agent != o.Hostname {
				continue
			}
			switch p.task.Kind {
			case scheduler.KindExecutor:
				if execAgents[agent] {
					continue
				}
			case scheduler.KindMaster:
				if masterAgents[agent] {
					continue
				}
			}
			rank := preferRank(p.task.PreferNodes, agent, o.Hostname)
			if rank >= bestRank {
				continue
			}
			t, ok := takeFor(remaining[i], p.task, p.static, in.executor, in.pick)
			if !ok {
				continue
			}
			if waiting && rank == len(p.task.PreferNodes) {
				heldOut = true
				continue
			}
			best, bestRank, bestTake = i, rank, t
		}
		if best < 0 {
			if heldOut {
				until := p.queued.Add(in.localityWait)
				if res.holdUntil.IsZero() || until.Before(res.holdUntil) {
					res.holdUntil = until
				}
			}
			continue
		}
		remaining[best] = bestTake.left
		agent := in.offers[best].AgentID.Value
		switch p.task.Kind {
		case scheduler.KindExecutor:
			execAgents[agent] = true
		case scheduler.KindMaster:
			masterAgents[agent] = true
		}
		res.placements = append(res.placements, placement{
			task: p, offer: best, taskRes: bestTake.task, execRes: bestTake.exec, ports: bestTake.ports,
		})
	}
	return res
}

// preferRank is the position of the agent in prefer (by ID or host name), len(prefer)
// when it is not there (or prefer is empty: every agent ranks the same).
func preferRank(prefer []string, agentID, host string) int {
	for i, n := range prefer {
		if n == agentID || (host != "" && n == host) {
			return i
		}
	}
	return len(prefer)
}

func cloneSet(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		if v {
			out[k] = true
		}
	}
	return out
}

// avail is an amount of one offered resource the framework may use, with the
// resource's metadata (role, reservations, allocation) to copy into what is taken.
type avail struct {
	meta     mesosv1.Resource // Scalar and Ranges unset
	reserved bool
	scalar   float64
	ranges   mesosv1.Ranges
}

// usable returns the resources of an offer that role may use, reserved ones first.
func usable(rs []mesosv1.Resource, role string) []avail {
	var out []avail
	for _, r := range rs {
		if !r.IsAllocatableTo(role) || r.IsRevocable() || r.GetShared() != nil || r.GetDisk() != nil || r.GetProviderID() != nil {
			continue
		}
		a := avail{meta: r, reserved: !r.IsUnreserved()}
		a.meta.Scalar, a.meta.Ranges, a.meta.Set = nil, nil, nil
		switch {
		case r.GetType() == mesosv1.SCALAR && r.Scalar != nil:
			a.scalar = round3(r.Scalar.Value)
		case r.GetType() == mesosv1.RANGES && r.Ranges != nil:
			for _, rg := range r.Ranges.Range {
				lo, hi := min(rg.Begin, rg.End), max(rg.Begin, rg.End)
				a.ranges = append(a.ranges, mesosv1.Value_Range{Begin: lo, End: hi})
			}
			a.ranges = a.ranges.Sort().Squash()
		default:
			continue
		}
		out = append(out, a)
	}
	slices.SortStableFunc(out, func(a, b avail) int {
		switch {
		case a.reserved == b.reserved:
			return 0
		case a.reserved:
			return -1
		}
		return 1
	})
	return out
}

// round3 rounds to the three decimals of Mesos' fixed-point scalars.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// take is what one task takes from an offer, and what is left of it.
type take struct {
	task, exec []mesosv1.Resource
	ports      []uint64
	left       []avail
}

// takeFor takes t's resources (and the executor's, for an executor task) from av
// without changing it; static names the ports that must be exactly those, pick chooses
// the others (see matchInput.pick). ok is false when they do not fit.
func takeFor(av []avail, t scheduler.Task, static map[string]uint64, ex ExecutorSpec, pick func(uint64) uint64) (take, bool) {
	left := make([]avail, len(av))
	for i, a := range av {
		left[i] = a
		left[i].ranges = slices.Clone(a.ranges)
	}
	out := take{left: left}
	var ok bool
	grab := func(dst *[]mesosv1.Resource, name string, amount float64) {
		if !ok || amount <= 0 {
			return
		}
		var got []mesosv1.Resource
		got, ok = takeScalar(left, name, round3(amount))
		*dst = append(*dst, got...)
	}
	ok = true
	grab(&out.task, resCPUs, t.Resources.CPU)
	grab(&out.task, resMem, float64(t.Resources.MemMB))
	grab(&out.task, resDisk, float64(t.Resources.DiskMB))
	if t.Kind == scheduler.KindExecutor {
		grab(&out.exec, resCPUs, ex.CPU)
		grab(&out.exec, resMem, float64(ex.MemMB))
	}
	if !ok {
		return out, false
	}
	// Static ports first, so that no dynamic port takes one of them.
	portRes := make([]mesosv1.Resource, len(t.Resources.Ports))
	out.ports = make([]uint64, len(t.Resources.Ports))
	for pass := range 2 {
		for i, name := range t.Resources.Ports {
			want, isStatic := static[name]
			if isStatic != (pass == 0) {
				continue
			}
			portRes[i], out.ports[i], ok = takePort(left, want, pick)
			if !ok {
				return out, false
			}
		}
	}
	out.task = append(out.task, portRes...)
	return out, true
}

// takeScalar takes amount of the scalar resource name from av, reserved resources
// first, and returns the pieces taken; ok is false when there is not enough.
func takeScalar(av []avail, name string, amount float64) ([]mesosv1.Resource, bool) {
	var got []mesosv1.Resource
	need := amount
	for i := range av {
		a := &av[i]
		if a.meta.Name != name || a.meta.GetType() != mesosv1.SCALAR || a.scalar <= 0 {
			continue
		}
		n := round3(min(a.scalar, need))
		a.scalar = round3(a.scalar - n)
		need = round3(need - n)
		r := a.meta
		r.Scalar = &mesosv1.Value_Scalar{Value: n}
		got = append(got, r)
		if need <= 0 {
			return got, true
		}
	}
	return nil, false
}

// takePort takes port want from av, or when want is 0 a port chosen by pick among
// those of av (reserved ports first; the lowest when pick is nil), and returns it as a
// resource of its own.
func takePort(av []avail, want uint64, pick func(uint64) uint64) (mesosv1.Resource, uint64, bool) {
	at, p := -1, want
	if want != 0 {
		for i, a := range av {
			if a.meta.Name == resPorts && a.ranges.Search(want) >= 0 {
				at = i
				break
			}
		}
	} else {
		at, p = pickPort(av, pick)
	}
	if at < 0 {
		return mesosv1.Resource{}, 0, false
	}
	a := &av[at]
	a.ranges = a.ranges.Remove(mesosv1.Value_Range{Begin: p, End: p})
	r := a.meta
	r.Ranges = &mesosv1.Value_Ranges{Range: []mesosv1.Value_Range{{Begin: p, End: p}}}
	return r, p, true
}

// pickPort chooses a port of av: among the reserved ports if there are any, else among
// the unreserved ones; the pick-th of them, the lowest when pick is nil. It returns the
// index of its avail, -1 when av has no port.
func pickPort(av []avail, pick func(uint64) uint64) (int, uint64) {
	reserved, total := false, uint64(0)
	for _, a := range av {
		if a.meta.Name == resPorts && a.reserved && a.ranges.Size() > 0 {
			reserved = true
		}
	}
	var lowest uint64
	lowAt := -1
	for i, a := range av {
		if a.meta.Name != resPorts || a.reserved != reserved || len(a.ranges) == 0 {
			continue
		}
		total += a.ranges.Size()
		if lowAt < 0 || a.ranges[0].Begin < lowest {
			lowAt, lowest = i, a.ranges[0].Begin
		}
	}
	if total == 0 {
		return -1, 0
	}
	if pick == nil {
		return lowAt, lowest
	}
	n := pick(total)
	for i, a := range av {
		if a.meta.Name != resPorts || a.reserved != reserved {
			continue
		}
		for _, r := range a.ranges {
			if size := r.End - r.Begin + 1; n >= size {
				n -= size
				continue
			}
			return i, r.Begin + n
		}
	}
	return lowAt, lowest // unreachable: n < total
}
