package mesos

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/sluicedata/sluice/scheduler"
)

// res builds a scalar resource, reserved for role unless role is "" or "*".
func res(name string, v float64, role string) mesosv1.Resource {
	r := mesosv1.Resource{Name: name, Type: mesosv1.SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: v}}
	if role != "" {
		r.Role = &role
	}
	return r
}

// portRes builds a ports resource of one range.
func portRes(lo, hi uint64, role string) mesosv1.Resource {
	r := mesosv1.Resource{Name: resPorts, Type: mesosv1.RANGES.Enum(), Ranges: &mesosv1.Value_Ranges{
		Range: []mesosv1.Value_Range{{Begin: lo, End: hi}},
	}}
	if role != "" {
		r.Role = &role
	}
	return r
}

func offer(agent string, rs ...mesosv1.Resource) mesosv1.Offer {
	return mesosv1.Offer{
		ID:        mesosv1.OfferID{Value: "offer-" + agent},
		AgentID:   mesosv1.AgentID{Value: agent},
		Hostname:  agent + ".example",
		Resources: rs,
	}
}

// big is an agent with room for anything the cases ask.
func big(agent string) mesosv1.Offer {
	return offer(agent, res(resCPUs, 8, ""), res(resMem, 8192, ""), res(resDisk, 10000, ""), portRes(31000, 31009, ""))
}

// pend builds a pending task queued at base+queuedAt, seq in order of the list.
func pend(name string, kind scheduler.Kind, cpu float64, mem int64, mods ...func(*scheduler.Task)) *pendingTask {
	t := scheduler.Task{Name: name, Kind: kind, Command: []string{"true"}, Resources: scheduler.Resources{CPU: cpu, MemMB: mem}}
	for _, m := range mods {
		m(&t)
	}
	return &pendingTask{id: scheduler.TaskID(name), task: t}
}

func withPorts(names ...string) func(*scheduler.Task) {
	return func(t *scheduler.Task) { t.Resources.Ports = names }
}

func withPriority(p int) func(*scheduler.Task) {
	return func(t *scheduler.Task) { t.Priority = p }
}

func labeled(k, v string) func(*scheduler.Task) {
	return func(t *scheduler.Task) {
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		t.Labels[k] = v
	}
}

func preferring(nodes ...string) func(*scheduler.Task) {
	return func(t *scheduler.Task) { t.PreferNodes = nodes }
}

// describe renders a placement as "task@agent" with its ports and the roles of what it
// took ("cpus:1(sluice)").
func describe(in matchInput, p placement) string {
	s := string(p.task.id) + "@" + in.offers[p.offer].AgentID.Value
	if len(p.ports) > 0 {
		s += fmt.Sprintf(" ports=%v", p.ports)
	}
	return s
}

// took renders the resources of a placement: "cpus:1.5(sluice)".
func took(rs []mesosv1.Resource) string {
	var parts []string
	for _, r := range rs {
		v := ""
		switch {
		case r.Scalar != nil:
			v = fmt.Sprint(r.Scalar.Value)
		case r.Ranges != nil:
			v = fmt.Sprint(r.Ranges.Range[0].Begin)
		}
		role := r.GetRole()
		parts = append(parts, fmt.Sprintf("%s:%s(%s)", r.Name, v, role))
	}
	return strings.Join(parts, " ")
}

func TestMatch(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	type tc struct {
		name    string
		role    string
		offers  []mesosv1.Offer
		pending []*pendingTask
		// running executors and masters, by agent
		execAgents, masterAgents []string
		// now is base plus this much; tasks are queued at base
		after time.Duration
		want  []string
		// wantTook, when set, is took() of each placement's task resources, then
		// executor resources after a " | "
		wantTook []string
		wantHold bool
	}
	cases := []tc{
		{
			name:    "ports missing",
			offers:  []mesosv1.Offer{offer("a", res(resCPUs, 4, ""), res(resMem, 4096, ""))},
			pending: []*pendingTask{pend("m", scheduler.KindMaster, 1, 256, withPorts("rpc"))},
		},
		{
			name:    "ports from the offer's ranges, lowest first",
			offers:  []mesosv1.Offer{offer("a", res(resCPUs, 4, ""), res(resMem, 4096, ""), portRes(31005, 31006, ""), portRes(31000, 31000, ""))},
			pending: []*pendingTask{pend("m", scheduler.KindMaster, 1, 256, withPorts("rpc", "http", "raft"))},
			want:    []string{"m@a ports=[31000 31005 31006]"},
		},
		{
			name:    "too few ports",
			offers:  []mesosv1.Offer{offer("a", res(resCPUs, 4, ""), res(resMem, 4096, ""), portRes(31000, 31001, ""))},
			pending: []*pendingTask{pend("m", scheduler.KindMaster, 1, 256, withPorts("rpc", "http", "raft"))},
		},
		{
			name:    "too little memory",
			offers:  []mesosv1.Offer{offer("a", res(resCPUs, 4, ""), res(resMem, 512, ""))},
			pending: []*pendingTask{pend("j", scheduler.KindJob, 1, 1024)},
		},
		{
			name:    "memory from two offers of one agent is not pooled",
			offers:  []mesosv1.Offer{offer("a", res(resCPUs, 4, ""), res(resMem, 512, "")), offer("b", res(resCPUs, 4, ""), res(resMem, 512, ""))},
			pending: []*pendingTask{pend("j", scheduler.KindJob, 1, 1024)},
		},
		{
			name:    "too little disk",
			offers:  []mesosv1.Offer{offer("a", res(resCPUs, 4, ""), res(resMem, 4096, ""), res(resDisk, 10, ""))},
			pending: []*pendingTask{pend("j", scheduler.KindJob, 1, 64, func(t *scheduler.Task) { t.Resources.DiskMB = 100 })},
		},
		{
			name:    "two executors on one agent refused",
			offers:  []mesosv1.Offer{big("a")},
			pending: []*pendingTask{pend("e0", scheduler.KindExecutor, 1, 512), pend("e1", scheduler.KindExecutor, 1, 512)},
			want:    []string{"e0@a"},
		},
		{
			name:       "no executor where one runs",
			offers:     []mesosv1.Offer{big("a"), big("b")},
			pending:    []*pendingTask{pend("e0", scheduler.KindExecutor, 1, 512), pend("e1", scheduler.KindExecutor, 1, 512)},
			execAgents: []string{"a"},
			want:       []string{"e0@b"},
		},
		{
			name:    "executors spread over agents",
			offers:  []mesosv1.Offer{big("a"), big("b"), big("c")},
			pending: []*pendingTask{pend("e0", scheduler.KindExecutor, 1, 512), pend("e1", scheduler.KindExecutor, 1, 512), pend("e2", scheduler.KindExecutor, 1, 512)},
			want:    []string{"e0@a", "e1@b", "e2@c"},
		},
		{
			name:         "two masters on one agent refused",
			offers:       []mesosv1.Offer{big("a"), big("b")},
			pending:      []*pendingTask{pend("m0", scheduler.KindMaster, 1, 512), pend("m1", scheduler.KindMaster, 1, 512)},
			masterAgents: []string{"b"},
			want:         []string{"m0@a"},
		},
		{
			name:    "executor's own resources counted",
			offers:  []mesosv1.Offer{offer("a", res(resCPUs, 1, ""), res(resMem, 4096, ""))},
			pending: []*pendingTask{pend("e0", scheduler.KindExecutor, 1, 512)},
		},
		{
			name:     "executor's own resources go to the executor",
			offers:   []mesosv1.Offer{offer("a", res(resCPUs, 1.1, ""), res(resMem, 544, ""))},
			pending:  []*pendingTask{pend("e0", scheduler.KindExecutor, 1, 512)},
			want:     []string{"e0@a"},
			wantTook: []string{"cpus:1(*) mem:512(*) | cpus:0.1(*) mem:32(*)"},
		},
		{
			name:     "reserved for our role used first",
			role:     "sluice",
			offers:   []mesosv1.Offer{offer("a", res(resCPUs, 2, ""), res(resCPUs, 1, "sluice"), res(resMem, 4096, "*"))},
			pending:  []*pendingTask{pend("j", scheduler.KindJob, 1.5, 64)},
			want:     []string{"j@a"},
			wantTook: []string{"cpus:1(sluice) cpus:0.5(*) mem:64(*) | "},
		},
		{
			name:    "reserved for another role not usable",
			role:    "sluice",
			offers:  []mesosv1.Offer{offer("a", res(resCPUs, 4, "analytics"), res(resMem, 4096, ""))},
			pending: []*pendingTask{pend("j", scheduler.KindJob, 1, 64)},
		},
		{
			name:    "the default role uses no reserved resources",
			role:    "*",
			offers:  []mesosv1.Offer{offer("a", res(resCPUs, 4, "sluice"), res(resMem, 4096, "sluice"))},
			pending: []*pendingTask{pend("j", scheduler.KindJob, 1, 64)},
		},
		{
			name:     "reserved ports for our role",
			role:     "sluice",
			offers:   []mesosv1.Offer{offer("a", res(resCPUs, 4, ""), res(resMem, 4096, ""), portRes(31000, 31010, ""), portRes(4000, 4000, "sluice"))},
			pending:  []*pendingTask{pend("m", scheduler.KindMaster, 1, 64, withPorts("rpc", "http"))},
			want:     []string{"m@a ports=[4000 31000]"},
			wantTook: []string{"cpus:1(*) mem:64(*) ports:4000(sluice) ports:31000(*) | "},
		},
		{
			name:   "masters first",
			offers: []mesosv1.Offer{offer("a", res(resCPUs, 1, ""), res(resMem, 1024, ""))},
			pending: []*pendingTask{
				pend("j", scheduler.KindJob, 1, 512, withPriority(100)),
				pend("e", scheduler.KindExecutor, 0.5, 256),
				pend("m", scheduler.KindMaster, 1, 512),
			},
			want: []string{"m@a"},
		},
		{
			name:   "executors before jobs",
			offers: []mesosv1.Offer{offer("a", res(resCPUs, 1.1, ""), res(resMem, 1024, ""))},
			pending: []*pendingTask{
				pend("j", scheduler.KindJob, 1, 512, withPriority(100)),
				pend("e", scheduler.KindExecutor, 1, 512),
			},
			want: []string{"e@a"},
		},
		{
			name:   "jobs by priority, then launch order",
			offers: []mesosv1.Offer{offer("a", res(resCPUs, 2, ""), res(resMem, 1024, ""))},
			pending: []*pendingTask{
				pend("low", scheduler.KindJob, 1, 256, withPriority(1)),
				pend("first", scheduler.KindJob, 1, 256, withPriority(5)),
				pend("second", scheduler.KindJob, 1, 256, withPriority(5)),
			},
			want: []string{"first@a", "second@a"},
		},
		{
			name:    "job goes to its preferred agent",
			offers:  []mesosv1.Offer{big("a"), big("b"), big("c")},
			pending: []*pendingTask{pend("j", scheduler.KindJob, 1, 256, preferring("c", "b"))},
			want:    []string{"j@c"},
		},
		{
			name:    "preferred by host name",
			offers:  []mesosv1.Offer{big("a"), big("b")},
			pending: []*pendingTask{pend("j", scheduler.KindJob, 1, 256, preferring("b.example"))},
			want:    []string{"j@b"},
		},
		{
			name:    "second choice when the first does not fit",
			offers:  []mesosv1.Offer{big("a"), big("b"), offer("c", res(resCPUs, 0.5, ""), res(resMem, 64, ""))},
			pending: []*pendingTask{pend("j", scheduler.KindJob, 1, 256, preferring("c", "b"))},
			want:    []string{"j@b"},
		},
		{
			name:     "job held for its preferred agent",
			offers:   []mesosv1.Offer{big("a")},
			pending:  []*pendingTask{pend("j", scheduler.KindJob, 1, 256, preferring("b")), pend("other", scheduler.KindJob, 1, 256)},
			after:    time.Second,
			want:     []string{"other@a"},
			wantHold: true,
		},
		{
			name:    "job takes any agent after the locality wait",
			offers:  []mesosv1.Offer{big("a")},
			pending: []*pendingTask{pend("j", scheduler.KindJob, 1, 256, preferring("b"))},
			after:   time.Minute,
			want:    []string{"j@a"},
		},
		{
			name:   "static ports where the offer has them, dynamic ones around them",
			offers: []mesosv1.Offer{offer("a", res(resCPUs, 4, ""), res(resMem, 4096, ""), portRes(19000, 19999, ""))},
			pending: []*pendingTask{pend("m", scheduler.KindMaster, 1, 256, withPorts("raft", "rpc", "http"),
				labeled(LabelStaticPorts, "rpc=19000, http=19999"))},
			want: []string{"m@a ports=[19001 19000 19999]"},
		},
		{
			name: "an offer without the static ports is passed over",
			offers: []mesosv1.Offer{
				offer("a", res(resCPUs, 4, ""), res(resMem, 4096, ""), portRes(31000, 32000, "")),
				offer("b", res(resCPUs, 4, ""), res(resMem, 4096, ""), portRes(19998, 19999, "")),
			},
			pending: []*pendingTask{pend("m", scheduler.KindMaster, 1, 256, withPorts("rpc"), labeled(LabelStaticPorts, "rpc=19998"))},
			want:    []string{"m@b ports=[19998]"},
		},
		{
			name:    "no offer has the static port",
			offers:  []mesosv1.Offer{big("a")},
			pending: []*pendingTask{pend("m", scheduler.KindMaster, 1, 256, withPorts("rpc"), labeled(LabelStaticPorts, "rpc=19998"))},
		},
		{
			name:    "pinned to an agent by ID",
			offers:  []mesosv1.Offer{big("a"), big("b"), big("c")},
			pending: []*pendingTask{pend("m", scheduler.KindMaster, 1, 256, labeled(LabelAgent, "c"))},
			want:    []string{"m@c"},
		},
		{
			name:    "pinned to an agent by host name, which offers nothing",
			offers:  []mesosv1.Offer{big("a")},
			pending: []*pendingTask{pend("m", scheduler.KindMaster, 1, 256, labeled(LabelAgent, "b.example"))},
		},
		{
			name:    "several tasks share an offer",
			offers:  []mesosv1.Offer{offer("a", res(resCPUs, 3, ""), res(resMem, 3000, ""), portRes(31000, 31003, ""))},
			pending: []*pendingTask{pend("m", scheduler.KindMaster, 1, 1000, withPorts("rpc", "http")), pend("e", scheduler.KindExecutor, 0.9, 968, withPorts("rpc", "http")), pend("j", scheduler.KindJob, 1, 1000)},
			want:    []string{"m@a ports=[31000 31001]", "e@a ports=[31002 31003]", "j@a"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range c.pending {
				p.queued = base
			}
			for i, p := range c.pending {
				p.seq = uint64(i + 1)
				var err error
				if p.agent, p.static, err = placementOf(p.task); err != nil {
					t.Fatal(err)
				}
			}
			role := c.role
			if role == "" {
				role = "*"
			}
			in := matchInput{
				offers: c.offers, pending: c.pending, role: role,
				executor:       ExecutorSpec{CPU: 0.1, MemMB: 32},
				executorAgents: set(c.execAgents), masterAgents: set(c.masterAgents),
				now: base.Add(c.after), localityWait: 3 * time.Second,
			}
			got := match(in)
			var desc, tookDesc []string
			for _, p := range got.placements {
				desc = append(desc, describe(in, p))
				tookDesc = append(tookDesc, took(p.taskRes)+" | "+took(p.execRes))
			}
			if diff := cmp.Diff(c.want, desc); diff != "" {
				t.Errorf("placements (-want +got):\n%s", diff)
			}
			if c.wantTook != nil {
				if diff := cmp.Diff(c.wantTook, tookDesc); diff != "" {
					t.Errorf("resources taken (-want +got):\n%s", diff)
				}
			}
			if hold := !got.holdUntil.IsZero(); hold != c.wantHold {
				t.Errorf("held = %v (until %v), want %v", hold, got.holdUntil, c.wantHold)
			} else if hold && !got.holdUntil.Equal(base.Add(in.localityWait)) {
				t.Errorf("held until %v, want %v", got.holdUntil, base.Add(in.localityWait))
			}
			// The offers themselves are never changed.
			for _, o := range c.offers {
				for _, r := range o.Resources {
					if r.Scalar != nil && r.Scalar.Value <= 0 {
						t.Errorf("offer %s changed: %v", o.AgentID.Value, r)
					}
				}
			}
		})
	}
}

func set(keys []string) map[string]bool {
	m := make(map[string]bool)
	for _, k := range keys {
		m[k] = true
	}
	return m
}

func TestPlacementOf(t *testing.T) {
	task := scheduler.Task{Name: "m", Resources: scheduler.Resources{Ports: []string{"rpc", "http"}}}
	with := func(spec string) scheduler.Task {
		t := task.Clone()
		t.Labels = map[string]string{LabelStaticPorts: spec, LabelAgent: "agent-1"}
		return t
	}
	agent, static, err := placementOf(with(" rpc=19998 ,http=19999"))
	if err != nil || agent != "agent-1" || static["rpc"] != 19998 || static["http"] != 19999 {
		t.Errorf("placementOf = %q, %v, %v", agent, static, err)
	}
	for _, bad := range []string{"rpc", "rpc=", "rpc=0", "rpc=70000", "raft=1", "rpc=1,http=1", "rpc=1,rpc=2"} {
		if _, _, err := placementOf(with(bad)); !errors.Is(err, scheduler.ErrInvalidTask) {
			t.Errorf("placementOf(%q) = %v, want ErrInvalidTask", bad, err)
		}
	}
	if agent, static, err := placementOf(task); agent != "" || static != nil || err != nil {
		t.Errorf("placementOf without labels = %q, %v, %v", agent, static, err)
	}
}

func TestPickPort(t *testing.T) {
	offered := []mesosv1.Resource{portRes(100, 101, ""), portRes(200, 202, ""), res(resCPUs, 1, "")}
	withReserved := append([]mesosv1.Resource{portRes(7, 8, "sluice")}, offered...)
	cases := []struct {
		name   string
		rs     []mesosv1.Resource
		pick   func(uint64) uint64
		want   []uint64 // ports taken one after the other
		wantOK bool
	}{
		{"lowest", offered, nil, []uint64{100, 101, 200}, true},
		{"highest", offered, func(n uint64) uint64 { return n - 1 }, []uint64{202, 201, 200, 101, 100}, true},
		{"third", offered, func(n uint64) uint64 { return min(2, n-1) }, []uint64{200, 201, 202, 101}, true},
		{"reserved first", withReserved, func(n uint64) uint64 { return n - 1 }, []uint64{8, 7, 202}, true},
		{"too many", offered, nil, []uint64{100, 101, 200, 201, 202, 0}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			av := usable(c.rs, "sluice")
			var got []uint64
			ok := true
			for range c.want {
				var p uint64
				_, p, ok = takePort(av, 0, c.pick)
				got = append(got, p)
			}
			if diff := cmp.Diff(c.want, got); diff != "" || ok != c.wantOK {
				t.Errorf("ports taken (-want +got):\n%s (last ok %v)", diff, ok)
			}
		})
	}
}

func FuzzPlacementOf(f *testing.F) {
	for _, s := range []string{"rpc=1", "rpc=19998,http=19999", " rpc = 5", "rpc=1,rpc=1", "=,", "http=65536"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		task := scheduler.Task{Resources: scheduler.Resources{Ports: []string{"rpc", "http", "raft"}},
			Labels: map[string]string{LabelStaticPorts: spec}}
		_, static, err := placementOf(task)
		if err != nil {
			if !errors.Is(err, scheduler.ErrInvalidTask) {
				t.Fatalf("placementOf(%q): %v, not ErrInvalidTask", spec, err)
			}
			return
		}
		seen := map[uint64]bool{}
		for name, port := range static {
			if !slices.Contains(task.Resources.Ports, name) || port == 0 || port > 65535 || seen[port] {
				t.Fatalf("placementOf(%q) = %v", spec, static)
			}
			seen[port] = true
		}
	})
}
