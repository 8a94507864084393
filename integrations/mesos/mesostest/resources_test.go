package mesostest

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

func TestPool_Arithmetic(t *testing.T) {
	agent := pool{
		unreserved: bucketFrom(Resources{CPUs: 2, MemMB: 1024, Ports: []PortRange{{31000, 31009}}}),
		"sluice":   bucketFrom(Resources{CPUs: 1}),
	}
	task := pool{unreserved: bucketFrom(Resources{CPUs: 0.3, MemMB: 100, Ports: []PortRange{{31002, 31003}}})}
	if !agent.contains(task) {
		t.Fatal("agent does not contain the task")
	}
	left := agent.sub(task)
	want := Resources{CPUs: 1.7, MemMB: 924, Ports: []PortRange{{31000, 31001}, {31004, 31009}}}
	if diff := cmp.Diff(want, left[unreserved].resources()); diff != "" {
		t.Errorf("agent minus task (-want +got):\n%s", diff)
	}
	if back := left.add(task); !back.contains(agent) || !agent.contains(back) {
		t.Errorf("adding the task back gives %v", back.toResources(resourceFormat{}))
	}
	for _, tc := range []struct {
		name string
		need pool
		ok   bool
	}{
		{"more cpus", pool{unreserved: bucketFrom(Resources{CPUs: 2.5})}, false},
		{"port outside", pool{unreserved: bucketFrom(Resources{Ports: []PortRange{{30999, 31000}}})}, false},
		{"reserved for another role", pool{"other": bucketFrom(Resources{CPUs: 0.1})}, false},
		{"reserved", pool{"sluice": bucketFrom(Resources{CPUs: 1})}, true},
		{"reserved too much", pool{"sluice": bucketFrom(Resources{CPUs: 1.5})}, false},
		{"empty", pool{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := agent.contains(tc.need); got != tc.ok {
				t.Errorf("contains = %v, want %v", got, tc.ok)
			}
		})
	}
	if got := agent.forRole("*").roles(); !cmp.Equal(got, []string{"*"}) {
		t.Errorf("role * may use %v", got)
	}
	if got := agent.forRole("sluice").roles(); !cmp.Equal(got, []string{"*", "sluice"}) {
		t.Errorf("role sluice may use %v", got)
	}
}

func TestPool_ResourceFormats(t *testing.T) {
	p := pool{"sluice": bucketFrom(Resources{CPUs: 1}), unreserved: bucketFrom(Resources{MemMB: 64})}
	for _, tc := range []struct {
		name   string
		format resourceFormat
		check  func(t *testing.T, rs []mesos.Resource)
	}{
		{"pre-refinement", resourceFormat{}, func(t *testing.T, rs []mesos.Resource) {
			if rs[0].GetRole() != "*" || rs[1].GetRole() != "sluice" || len(rs[1].Reservations) != 0 {
				t.Errorf("resources %v", rs)
			}
		}},
		{"refinement", resourceFormat{refinement: true}, func(t *testing.T, rs []mesos.Resource) {
			if rs[0].Role != nil || rs[1].Role != nil || rs[1].ReservationRole() != "sluice" ||
				rs[1].Reservations[0].GetType() != mesos.Resource_ReservationInfo_STATIC {
				t.Errorf("resources %v", rs)
			}
		}},
		{"multi-role", resourceFormat{allocationRole: "sluice"}, func(t *testing.T, rs []mesos.Resource) {
			for _, r := range rs {
				if r.AllocationInfo.GetRole() != "sluice" {
					t.Errorf("resource %v", r)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := p.toResources(tc.format)
			if len(rs) != 2 {
				t.Fatalf("resources %v", rs)
			}
			tc.check(t, rs)
			back, err := fromResources(rs, tc.format.allocationRole)
			if err != nil {
				t.Fatal(err)
			}
			if !back.contains(p) || !p.contains(back) {
				t.Errorf("round trip gives %v", back.toResources(resourceFormat{}))
			}
		})
	}
}

func TestFromResources_Errors(t *testing.T) {
	neg := scalarResource("cpus", -1)
	gpu := scalarResource("gpus", 1)
	inverted := mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(),
		Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 10, End: 5}}}}
	otherRole := scalarResource("cpus", 1)
	otherRole.AllocationInfo = &mesos.Resource_AllocationInfo{Role: ptr("other")}
	for _, tc := range []struct {
		name string
		r    mesos.Resource
		want string
	}{
		{"negative", neg, "non-negative"},
		{"unknown", gpu, "not provided"},
		{"inverted range", inverted, "inverted"},
		{"allocation role", otherRole, "allocated to role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fromResources([]mesos.Resource{tc.r}, "sluice")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestMesosDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{5 * time.Second, "5secs"},
		{250 * time.Millisecond, "250ms"},
		{2 * time.Minute, "2mins"},
		{90 * time.Second, "90secs"},
		{3 * time.Hour, "3hrs"},
		{1500 * time.Microsecond, "1500us"},
		{7, "7ns"},
	} {
		if got := mesosDuration(tc.d); got != tc.want {
			t.Errorf("mesosDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestConfig_Validate(t *testing.T) {
	valid := DefaultConfig()
	valid.WorkDir = t.TempDir()
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"valid", func(*Config) {}, true},
		{"no work dir", func(c *Config) { c.WorkDir = "" }, false},
		{"zero heartbeat", func(c *Config) { c.HeartbeatInterval = 0 }, false},
		{"retry above max", func(c *Config) { c.StatusUpdateRetryInterval = time.Hour }, false},
		{"negative offer timeout", func(c *Config) { c.OfferTimeout = -1 }, false},
		{"bad principal", func(c *Config) { c.Credentials = map[string]string{"a:b": "c"} }, false},
		{"reserved for *", func(c *Config) { c.Agents = []AgentConfig{{Reserved: map[string]Resources{"*": {}}}} }, false},
		{"negative grace", func(c *Config) { c.Agents = []AgentConfig{{KillGracePeriod: -1}} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.mutate(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
